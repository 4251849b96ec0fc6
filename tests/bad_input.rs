//! Every mistake a user can make with files, ports, switches and argument orders: each
//! must give a clear message (error/drive/next lines), a documented exit code, and leave
//! the drive's flash exactly as it was.
//!
//! Prints `bad-input: N cases, M wrote to the drive, K unclear` (also written to
//! target/bad-input.txt); fails unless M = K = 0.

use assert_cmd::Command;
use mtkflash::firmware::synth::{self, Spec};
use std::path::{Path, PathBuf};

fn fixture(n: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(n)
        .display()
        .to_string()
}

struct Case {
    name: &'static str,
    args: Vec<std::ffi::OsString>,
    code: i32,
}

fn case(name: &'static str, args: &[&str], code: i32) -> Case {
    Case {
        name,
        args: args.iter().map(std::ffi::OsString::from).collect(),
        code,
    }
}

/// A word that is not UTF-8 (Latin-1 "café"): Linux file names may hold any bytes.
#[cfg(unix)]
fn latin1(prefix: &str, suffix: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let mut b = prefix.as_bytes().to_vec();
    b.push(0xE9);
    b.extend_from_slice(suffix.as_bytes());
    std::ffi::OsString::from_vec(b)
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

fn hex_line(addr: u16, ty: u8, data: &[u8]) -> String {
    let mut b = vec![data.len() as u8, (addr >> 8) as u8, addr as u8, ty];
    b.extend_from_slice(data);
    let sum = (0u8).wrapping_sub(b.iter().fold(0u8, |a, &x| a.wrapping_add(x)));
    format!(":{}{:02X}\n", hex::encode_upper(&b), sum)
}

fn flash(dir: &Path) -> Vec<u8> {
    mtkflash::sim::store::Stored::load(&dir.join("d.mtksim"))
        .unwrap()
        .flash
}

#[test]
fn bad_input_walk() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bin = env!("CARGO_BIN_EXE_mtkflash");
    assert!(std::process::Command::new(bin)
        .current_dir(d)
        .args(["sim", "new", "d.mtksim", "--chip", "SST39VF080"])
        .status()
        .unwrap()
        .success());
    let good = fixture("btc-ide1008-0758.bin");
    let empty = write_file(d, "empty.bin", b"");
    std::fs::create_dir(d.join("folder.bin")).unwrap();
    let oversize = write_file(d, "big.bin", &vec![0x02; 0x300000]);
    let bad_type = write_file(
        d,
        "type.hex",
        format!("{}{}", hex_line(0, 0x07, &[]), hex_line(0, 1, &[])).as_bytes(),
    );
    let overlap = write_file(
        d,
        "overlap.hex",
        format!(
            "{}{}{}",
            hex_line(0, 0, &[2, 1, 0, 4]),
            hex_line(2, 0, &[9, 9]),
            hex_line(0, 1, &[])
        )
        .as_bytes(),
    );
    let far = write_file(
        d,
        "far.hex",
        format!(
            "{}{}{}",
            hex_line(0, 4, &[0x00, 0x30]),
            hex_line(0, 0, &[1]),
            hex_line(0, 1, &[])
        )
        .as_bytes(),
    );
    let after_eof = write_file(
        d,
        "after.hex",
        format!(
            "{}{}{}",
            hex_line(0, 0, &[2]),
            hex_line(0, 1, &[]),
            hex_line(1, 0, &[3])
        )
        .as_bytes(),
    );
    let mut btc = String::from(&hex_line(0, 0, &[2]));
    for _ in 0..16 {
        btc.push_str(":00000155AA\n");
    }
    btc.push_str(&hex_line(0, 1, &[]));
    let many_banks = write_file(d, "many.hex", btc.as_bytes());
    let other_model = {
        let img = synth::generate(&Spec {
            vendor: "LITE-ON".into(),
            product: "DVDRW SHW-160P6S".into(),
            revision: "PS0A".into(),
            size: 0x100000,
        });
        write_file(d, "liteon.bin", &img)
    };
    let no_banks = {
        let mut img = std::fs::read(&good).unwrap();
        img[0x30000] = 0xAB;
        write_file(d, "nobanks.bin", &img)
    };
    let no_boot = {
        let mut img = std::fs::read(&good).unwrap();
        img[0] = 0xFF;
        write_file(d, "noboot.bin", &img)
    };
    let exists = write_file(d, "exists.bin", b"keep");
    let missing_dir = d.join("no/such/dir/b.bin").display().to_string();
    let input_copy = write_file(d, "fw.bin", &std::fs::read(&good).unwrap());
    let s = "sim:d.mtksim";
    // More files for the second half of the walk.
    let empty_bank = {
        let mut img = std::fs::read(&good).unwrap();
        img[0x50000..0x60000].fill(0xFF);
        write_file(d, "emptybank.bin", &img)
    };
    let png = write_file(
        d,
        "logo.png",
        &[b"\x89PNG\r\n\x1a\n".as_slice(), &[0; 61]].concat(),
    );
    let text = write_file(d, "readme.txt", b"this is not firmware\n");
    let zip = write_file(d, "fw.zip", &[b"PK\x03\x04".as_slice(), &[0; 300]].concat());
    let bad_char = write_file(d, "badchar.hex", b":10000000ZZ\n");
    let combo = fixture("liteon-combo-nk0d-512k.hex");
    let empty_trace = write_file(d, "empty.trace", b"");
    let manifest = |name: &str, text: &str| write_file(d, name, text.as_bytes());
    let m_not_json = manifest("m1.json", "drives: [3]");
    let m_no_rules = manifest("m2.json", r#"{"rules": []}"#);
    let m_missing_fw = manifest(
        "m3.json",
        r#"{"drives": ["sim:d.mtksim"], "rules": [{"vendor": "BTC", "product": "DVDRW IDE1008", "firmware": "none.hex"}]}"#,
    );
    let m_unknown = manifest("m4.json", r#"{"rules": [], "colour": "red"}"#);
    // A drive another process holds for the whole walk.
    std::fs::copy(d.join("d.mtksim"), d.join("busy.mtksim")).unwrap();
    let held = std::fs::File::open(d.join("busy.mtksim")).unwrap();
    held.try_lock().unwrap();

    let cases = vec![
        case("missing file", &[s, "w", "/m", "missing.bin"], 3),
        case("unreadable file", &["write", s, "/proc/self/mem"], 3),
        case("empty file", &["write", s, &empty], 3),
        case("directory", &["write", s, "folder.bin"], 3),
        case(
            "truncated bin",
            &["write", s, &fixture("broken-truncated.bin")],
            3,
        ),
        case("oversize bin", &["write", s, &oversize], 3),
        case(
            "undersize bin",
            &["write", s, &fixture("broken-wrong-size.bin")],
            3,
        ),
        case(
            "hex bad checksum",
            &["write", s, &fixture("broken-bad-checksum.hex")],
            3,
        ),
        case(
            "hex truncated",
            &["write", s, &fixture("broken-truncated.hex")],
            3,
        ),
        case("hex bad record type", &["write", s, &bad_type], 3),
        case("hex overlapping records", &["write", s, &overlap], 3),
        case("hex out of range", &["write", s, &far], 3),
        case("hex data after EOF", &["write", s, &after_eof], 3),
        case("btc hex too many banks", &["write", s, &many_banks], 3),
        case("image for another model", &["write", s, &other_model], 6),
        case(
            "image without valid bank starts",
            &["write", s, &no_banks],
            3,
        ),
        case(
            "image without boot code, with /b",
            &[s, "w", "/b", &no_boot],
            3,
        ),
        case(
            "image of the wrong size for the chip",
            &["write", s, &fixture("liteon-combo-nk0d-512k.hex")],
            3,
        ),
        case("port 9", &["9", "w", "/m", &good], 2),
        case("port x", &["x", "w", "/m", &good], 2),
        case(
            "port on the floppy controller",
            &["0x3F0:master", "w", &good],
            2,
        ),
        case("odd port base", &["0x171:master", "w", &good], 2),
        case("unknown switch", &[s, "w", "/z", &good], 2),
        case("switch glued wrongly", &[s, "wz", &good], 2),
        case("command before port", &["w", "3", &good], 2),
        case("file before command", &[&good, "w", s], 2),
        case("two files", &[s, "w", &good, &good], 2),
        case("no file", &[s, "w"], 2),
        case("unknown subcommand", &["flash", s, &good], 2),
        case("missing argument", &["write", s], 2),
        case("unknown chip", &["write", s, &good, "--chip", "XYZ123"], 2),
        case(
            "backup path exists",
            &["write", s, &good, "--backup", &exists],
            3,
        ),
        case(
            "backup path not writable",
            &["write", s, &good, "--backup", &missing_dir],
            3,
        ),
        case(
            "input given as backup",
            &["write", s, &input_copy, "--backup", &input_copy],
            3,
        ),
        case("read output exists", &["read", s, &exists], 3),
        case(
            "backup with the ATAPI method",
            &["write", s, &good, "--method", "atapi", "--backup", "x.bin"],
            2,
        ),
        case("erase without --yes", &["erase", s], 2),
        case(
            "bad fault spec",
            &["sim", "fault", "d.mtksim", "power-loss@op=banana"],
            2,
        ),
        case(
            "virtual drive that does not exist",
            &["write", "sim:none.mtksim", &good],
            4,
        ),
        // The hostile user's reproducers about input, and more.
        case("port beyond 0xFFFF", &["info", "0x10000:master"], 2),
        case(
            "port base with a bad position",
            &["0x170:third", "r", "x.bin"],
            2,
        ),
        case(
            "chip that conflicts with the identified one",
            &["read", s, "x1.bin", "--chip", "SST39SF010A"],
            6,
        ),
        case(
            "erase --boot without its own confirmation",
            &["erase", s, "--boot", "--yes"],
            2,
        ),
        case(
            "--destroy-boot-code without --boot",
            &["erase", s, "--destroy-boot-code", "--yes"],
            2,
        ),
        case(
            "erase backup path exists",
            &["erase", s, "--yes", "--backup", &exists],
            3,
        ),
        case("trace file exists", &["--trace", &exists, "info", s], 3),
        case(
            "trace in a missing folder",
            &["--trace", &missing_dir, "info", s],
            3,
        ),
        case(
            "image the drive would not start (an empty bank)",
            &["write", s, &empty_bank, "--no-backup"],
            6,
        ),
        case("PNG image as firmware", &["write", s, &png], 3),
        case("text file as firmware", &["write", s, &text], 3),
        case("ZIP archive as firmware", &["write", s, &zip], 3),
        case("HEX with a bad character", &["write", s, &bad_char], 3),
        case("check of a folder", &["check", "folder.bin"], 3),
        case("check of an empty file", &["check", &empty], 3),
        case("check of a PNG", &["check", &png], 3),
        case(
            "verify with a missing file",
            &["verify", s, "missing.bin"],
            3,
        ),
        case(
            "verify with a file of another size",
            &["verify", s, &combo],
            3,
        ),
        case("read into a missing folder", &["read", s, &missing_dir], 3),
        case(
            "--backup and --no-backup together",
            &["write", s, &good, "--backup", "b.bin", "--no-backup"],
            2,
        ),
        case(
            "unknown method",
            &["write", s, &good, "--method", "magic"],
            2,
        ),
        case(
            "ATAPI update with an image that is not 1 MiB",
            &["write", s, &combo, "--method", "atapi"],
            3,
        ),
        case("busy drive", &["write", "sim:busy.mtksim", &good], 4),
        case(
            "erase of a missing drive",
            &["erase", "sim:none.mtksim", "--yes"],
            4,
        ),
        case(
            "sim new over an existing file",
            &["sim", "new", "d.mtksim", "--chip", "SST39VF080"],
            3,
        ),
        case(
            "sim new with an unknown chip",
            &["sim", "new", "n.mtksim", "--chip", "XYZ"],
            2,
        ),
        case(
            "sim new with a bad identity",
            &[
                "sim",
                "new",
                "n.mtksim",
                "--chip",
                "SST39VF080",
                "--drive",
                "onlyone",
            ],
            2,
        ),
        case(
            "sim new --intro on a parallel chip",
            &[
                "sim",
                "new",
                "n.mtksim",
                "--chip",
                "SST39VF080",
                "--intro",
                "73",
            ],
            2,
        ),
        case(
            "sim export over an existing file",
            &["sim", "export", "d.mtksim", &exists],
            3,
        ),
        case("sim show of a firmware file", &["sim", "show", &good], 3),
        case(
            "sim fault on a missing drive",
            &["sim", "fault", "none.mtksim", "no-intro"],
            3,
        ),
        case(
            "sim power-cycle of a missing drive",
            &["sim", "power-cycle", "none.mtksim"],
            3,
        ),
        case(
            "replay of an empty trace",
            &["sim", "replay", &empty_trace, "--drive", "d.mtksim"],
            3,
        ),
        case(
            "replay of a missing trace",
            &["sim", "replay", "none.trace", "--drive", "d.mtksim"],
            3,
        ),
        case(
            "manifest missing",
            &["update", "--manifest", "none.json"],
            3,
        ),
        case(
            "manifest not JSON",
            &["update", "--manifest", &m_not_json],
            3,
        ),
        case(
            "manifest without rules",
            &["update", "--manifest", &m_no_rules],
            3,
        ),
        case(
            "manifest naming a missing firmware",
            &["update", "--manifest", &m_missing_fw],
            3,
        ),
        case(
            "manifest with an unknown field",
            &["update", "--manifest", &m_unknown],
            3,
        ),
        case(
            "completions for an unknown shell",
            &["completions", "tcsh"],
            2,
        ),
    ];
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut cases = cases;
    #[cfg(unix)]
    {
        cases.push(case(
            "drive letter on a system without them",
            &["info", "E:"],
            2,
        ));
        cases.push(case(
            "trace to /dev/full",
            &["--trace", "/dev/full", "info", s],
            3,
        ));
        cases.push(case(
            "info on a device that takes no SG_IO",
            &["info", "/dev/null"],
            4,
        ));
    }
    #[cfg(unix)]
    for (name, args, code) in [
        (
            "file name that is not UTF-8 (missing)",
            vec!["write".into(), s.into(), latin1("caf", ".bin")],
            3,
        ),
        (
            "classic form, file name that is not UTF-8 (missing)",
            vec![s.into(), "w".into(), "/m".into(), latin1("caf", ".hex")],
            3,
        ),
        (
            "port that is not UTF-8",
            vec!["info".into(), latin1("sim:caf", ".mtksim")],
            2,
        ),
        (
            "backup name that is not UTF-8, in a folder that does not exist",
            vec![
                "write".into(),
                s.into(),
                good.clone().into(),
                latin1("--backup=no/such/caf", ".bin"),
            ],
            3,
        ),
    ] {
        cases.push(Case { name, args, code });
    }
    let before = flash(d);
    let (mut wrote, mut unclear) = (0, 0);
    for c in &cases {
        let o = Command::cargo_bin("mtkflash")
            .unwrap()
            .current_dir(d)
            .args(&c.args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        let code = o.status.code().unwrap_or(-1);
        let clear = code == c.code
            && err.contains("error:")
            && (err.contains("drive: not touched") || err.contains("drive: flash not changed"))
            && err.contains("next:");
        let now = flash(d);
        if now != before {
            wrote += 1;
            eprintln!("WROTE: {}", c.name);
        }
        if !clear {
            unclear += 1;
            eprintln!(
                "UNCLEAR: {} (exit {code}, wanted {}):\n{err}",
                c.name, c.code
            );
        }
        assert_eq!(
            std::fs::read(&exists).unwrap(),
            b"keep",
            "{}: an existing file was overwritten",
            c.name
        );
    }
    assert!(PathBuf::from(&input_copy).exists());
    drop(held);
    let line = format!(
        "bad-input: {} cases, {wrote} wrote to the drive, {unclear} unclear",
        cases.len()
    );
    eprintln!("{line}");
    let _ = std::fs::write(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bad-input.txt"),
        format!("{line}\n"),
    );
    assert_eq!((wrote, unclear), (0, 0), "{line}");
}
