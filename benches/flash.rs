//! `cargo bench --bench flash`: mtkflash's real engine against virtual drives, one line per
//! case with modelled device time, the lower bound any tool could reach (src/limit.rs),
//! their ratio, what a classic full rewrite needs, wall time and bus operations. Then host
//! CPU for parsing and planning a 2 MiB image, and the peak memory of a 2 MiB flash.

use mtkflash::chips::by_name;
use mtkflash::connect::{Connect, Target};
use mtkflash::files::Backup;
use mtkflash::firmware::synth::{self, Spec};
use mtkflash::inference::{seal_embedded_checksum, BOOT_LEN};
use mtkflash::jobs;
use mtkflash::limit;
use mtkflash::ops::{Recorder, WriteOptions};
use mtkflash::sim::store::{NewDrive, Stored};
use std::time::{Duration, Instant};

fn spec(rev: &str, size: usize) -> Spec {
    Spec {
        vendor: "BTC".into(),
        product: "DVDRW IDE1008".into(),
        revision: rev.into(),
        size,
    }
}

fn case(name: &str, chip: &str, current: &[u8], wanted: &[u8], backup: bool) {
    let info = by_name(chip).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let drive = dir.path().join("d.mtksim");
    let st = Stored::create(NewDrive {
        chip: info,
        settings: mtkflash::sim::btc_settings("0055"),
        firmware: Some(current.to_vec()),
        bricked: false,
    })
    .unwrap();
    st.save(&drive).unwrap();
    let fw = dir.path().join("fw.bin");
    std::fs::write(&fw, wanted).unwrap();
    let opts = WriteOptions {
        backup: if backup {
            Backup::To(dir.path().join("backup.bin"))
        } else {
            Backup::Skip
        },
        ..WriteOptions::default()
    };
    let t = Instant::now();
    let r = jobs::write(
        &Target::Sim(drive.clone()),
        &Connect::default(),
        &fw,
        &opts,
        &mut Recorder::default(),
    )
    .unwrap_or_else(|f| panic!("{name} {chip}: {f}"));
    let wall = t.elapsed();
    assert_eq!(
        Stored::load(&drive).unwrap().flash,
        wanted,
        "{name} {chip}: flash differs"
    );
    if backup {
        assert_eq!(
            std::fs::read(dir.path().join("backup.bin")).unwrap(),
            current,
            "{name} {chip}: the backup differs from what the flash held"
        );
    }
    let modelled = r.modelled.unwrap().as_secs_f64();
    let safe = limit::safe_limit(info, current, wanted, false, backup);
    let lim = safe.limit.total().as_secs_f64();
    let full = limit::full_rewrite(info, wanted).total().as_secs_f64();
    // The classic rewrite plus the proof it skipped: a read-back of what it programmed
    // (onto a blank chip the cheapest plan programs the same bytes).
    let full_proved = full + safe.read_back.as_secs_f64();
    let ops = r.bus_ops.unwrap();
    println!(
        "bench {name} {chip} backup={} modelled={modelled:.3} limit={lim:.3} safe_limit={:.3} guarded_limit={:.3} ratio={:.3} safe_ratio={:.3} guarded_ratio={:.3} full_rewrite={full:.3} full_rewrite_proved={full_proved:.3} wall={:.3} ops={ops} ops_per_s={:.0}",
        if backup { "yes" } else { "no" },
        safe.total().as_secs_f64(),
        safe.guarded().as_secs_f64(),
        modelled / lim,
        modelled / safe.total().as_secs_f64(),
        modelled / safe.guarded().as_secs_f64(),
        wall.as_secs_f64(),
        ops as f64 / wall.as_secs_f64()
    );
}

fn atapi_case() {
    use mtkflash::sim::drive::boot_crc;
    use mtkflash::sim::packet::{SimPacket, PASSTHROUGH_NS};
    use mtkflash::sim::{Drive, Flash};
    let info = by_name("SST39VF080").unwrap();
    let old = synth::generate(&spec("0055", 0x100000));
    let new = synth::generate(&spec("0758", 0x100000));
    let drive = Drive::new(
        Flash::new(info, old.clone()),
        mtkflash::sim::btc_settings("0055"),
        boot_crc(&old),
    );
    let mut t = SimPacket::new(drive);
    let w = Instant::now();
    mtkflash::mtk::update::btc_update(&mut t, &new, |_, _| true).unwrap();
    let wall = w.elapsed();
    let modelled = t.ch.clock.now_dur();
    // The drive's own updater rewrites everything: its floor is the upload (258 commands)
    // and then a full rewrite inside the drive plus the reboot, or the 50 s settle time.
    let units = (new.len() as u64).div_ceil(info.program_unit() as u64);
    let inner =
        Duration::from_micros(info.chip_eraser().unwrap().time.us + units * info.program.us);
    let upload = Duration::from_nanos(
        258 * (PASSTHROUGH_NS + mtkflash::sim::timing::PACKET_EXEC_NS)
            + (new.len() as u64 / 2) * mtkflash::sim::timing::DATA_WORD_NS,
    );
    // btcflash leaves the drive alone for 50 s after the commit, and so does mtkflash:
    // that fixed wait of the protocol as practised is part of the floor.
    let floor = upload
        + (inner + Duration::from_nanos(mtkflash::inference::BOOT_NS))
            .max(mtkflash::mtk::update::SETTLE);
    println!(
        "bench atapi-newrev SST39VF080 modelled={:.3} limit={:.3} ratio={:.3} full_rewrite={:.3} wall={:.3} ops={}",
        modelled.as_secs_f64(),
        floor.as_secs_f64(),
        modelled.as_secs_f64() / floor.as_secs_f64(),
        floor.as_secs_f64(),
        wall.as_secs_f64(),
        t.commands
    );
}

trait NowDur {
    fn now_dur(&self) -> Duration;
}
impl NowDur for mtkflash::clock::VirtualClock {
    fn now_dur(&self) -> Duration {
        Duration::from_nanos(self.ns())
    }
}

fn cpu() {
    let img = synth::generate(&spec("0758", 0x200000));
    let old = synth::generate(&spec("0055", 0x200000));
    let hex = mtkflash::firmware::to_intel_hex(&img);
    let chip = by_name("W25X16").unwrap();
    let n = 10;
    let t = Instant::now();
    for _ in 0..n {
        let fw = mtkflash::firmware::parse(hex.as_bytes()).unwrap();
        let p = mtkflash::plan::plan(
            chip,
            chip.erasers,
            &old,
            &fw.data,
            false,
            &mtkflash::plan::Cost::default(),
        );
        std::hint::black_box(p);
    }
    let per = t.elapsed() / n;
    println!(
        "bench cpu parse+plan 2MiB-hex W25X16 wall={:.4} limit=0.010 ratio={:.3}",
        per.as_secs_f64(),
        per.as_secs_f64() / 0.010
    );
    let t = Instant::now();
    for _ in 0..n {
        let fw = mtkflash::firmware::parse(&img).unwrap();
        let p = mtkflash::plan::plan_owned(
            chip,
            chip.erasers,
            &old,
            fw.data,
            false,
            &mtkflash::plan::Cost::default(),
        )
        .unwrap();
        std::hint::black_box(p);
    }
    let per = t.elapsed() / n;
    println!(
        "bench cpu parse+plan 2MiB-bin W25X16 wall={:.4} limit=0.010 ratio={:.3}",
        per.as_secs_f64(),
        per.as_secs_f64() / 0.010
    );
}

/// Recording a trace (format 2) against not recording: wall time of `info` and of a
/// whole write of a 1 MiB flash, best of five each, and the trace's size. The virtual
/// drive is the worst case: its bus costs nothing, so the recorder's own cost shows.
fn trace_overhead() {
    use mtkflash::ops::EnterOptions;
    for chip in ["SST39VF080", "MX25L8005"] {
        let info_ = by_name(chip).unwrap();
        let size = info_.size as usize;
        let old = synth::generate(&spec("0055", size));
        let new = synth::generate(&spec("0758", size));
        for job in ["info", "write"] {
            let mut best = [f64::MAX; 2];
            let mut bytes = 0;
            for _ in 0..5 {
                for (k, traced) in [false, true].into_iter().enumerate() {
                    let dir = tempfile::tempdir().unwrap();
                    let drive = dir.path().join("d.mtksim");
                    Stored::create(NewDrive {
                        chip: info_,
                        settings: mtkflash::sim::btc_settings("0055"),
                        firmware: Some(old.clone()),
                        bricked: false,
                    })
                    .unwrap()
                    .save(&drive)
                    .unwrap();
                    let fw = dir.path().join("fw.bin");
                    std::fs::write(&fw, &new).unwrap();
                    let trace = dir.path().join("t.trace");
                    let conn = Connect {
                        trace: traced.then(|| trace.clone()),
                        ..Connect::default()
                    };
                    let t = Instant::now();
                    if job == "info" {
                        jobs::info(
                            &Target::Sim(drive),
                            &conn,
                            &EnterOptions::default(),
                            &mut Recorder::default(),
                        )
                        .unwrap();
                    } else {
                        let opts = WriteOptions {
                            backup: Backup::Skip,
                            ..WriteOptions::default()
                        };
                        jobs::write(
                            &Target::Sim(drive),
                            &conn,
                            &fw,
                            &opts,
                            &mut Recorder::default(),
                        )
                        .unwrap();
                    }
                    best[k] = best[k].min(t.elapsed().as_secs_f64());
                    if traced {
                        bytes = std::fs::metadata(&trace).unwrap().len();
                    }
                }
            }
            println!(
                "bench trace-overhead {job} {chip} wall_plain={:.3} wall_traced={:.3} trace_bytes={bytes} overhead={:.3} limit=1.3 ratio={:.3}",
                best[0],
                best[1],
                best[1] / best[0],
                best[1] / best[0] / 1.3
            );
        }
    }
}

#[cfg(unix)]
fn memory() {
    // Peak resident memory of the release binary flashing a 2 MiB image.
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/mtkflash");
    if !bin.exists() {
        println!("bench memory SKIPPED (build the release binary first: cargo build --release)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let old = synth::generate(&spec("0055", 0x200000));
    let new = synth::generate(&spec("0758", 0x200000));
    Stored::create(NewDrive {
        chip: by_name("W25X16").unwrap(),
        settings: mtkflash::sim::btc_settings("0055"),
        firmware: Some(old),
        bricked: false,
    })
    .unwrap()
    .save(&dir.path().join("d.mtksim"))
    .unwrap();
    std::fs::write(
        dir.path().join("fw.hex"),
        mtkflash::firmware::to_intel_hex(&new),
    )
    .unwrap();
    // GNU time reports the child's own peak (a parent's rusage can count pages the child
    // shared with the parent before exec).
    let time = std::path::Path::new("/usr/bin/time");
    if !time.exists() {
        println!("bench memory SKIPPED (no /usr/bin/time: apt-get install time)");
        return;
    }
    let st = std::process::Command::new(time)
        .current_dir(dir.path())
        .arg("-f")
        .arg("peak_kib=%M")
        .arg(&bin)
        .args(["sim:d.mtksim", "w", "/m", "fw.hex"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(st.status.success(), "{err}");
    let kib: f64 = err
        .lines()
        .find_map(|l| l.strip_prefix("peak_kib="))
        .and_then(|v| v.trim().parse().ok())
        .expect("peak");
    let mib = kib / 1024.0;
    println!(
        "bench memory write-2MiB-hex W25X16 peak_rss_mib={mib:.1} limit=12.0 ratio={:.3}",
        mib / 12.0
    );
}

#[cfg(not(unix))]
fn memory() {}

fn main() {
    // `cargo bench --bench flash -- NAME` runs only the groups whose name contains NAME
    // (flash, atapi, cpu, trace, memory).
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |group: &str| only.is_empty() || only.iter().any(|o| group.contains(o.as_str()));
    // One chip of each family: SST 4 KiB sectors, AMD 64 KiB sectors, a boot-block
    // layout, a page-write EEPROM, SPI page, SST AAI and SPI byte programming.
    let chips = [
        "SST39VF080",
        "Am29LV040B",
        "Am29LV800BB",
        "W29C020",
        "MX25L8005",
        "SST25VF080B",
        "SST25LF020",
    ];
    for chip in chips.into_iter().filter(|_| run("flash")) {
        let size = by_name(chip).unwrap().size as usize;
        let old = synth::generate(&spec("0055", size));
        let new = synth::generate(&spec("0758", size));
        let mut blank = old.clone();
        blank[BOOT_LEN..].fill(0xFF);
        let mut one = new.clone();
        let at = 0x51000 % size;
        for b in &mut one[at..at + 0x1000] {
            *b ^= 0x5A;
        }
        seal_embedded_checksum(&mut one);
        for backup in [false, true] {
            case("full-blank", chip, &blank, &new, backup);
            case("newrev-0055-0758", chip, &old, &new, backup);
            case("one-sector", chip, &new, &one, backup);
            case("identical", chip, &new, &new, backup);
        }
    }
    if run("atapi") {
        atapi_case();
    }
    if run("cpu") {
        cpu();
    }
    if run("trace") {
        trace_overhead();
    }
    if run("memory") {
        memory();
    }
}
