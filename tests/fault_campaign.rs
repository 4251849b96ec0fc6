//! The fault campaign: flash images onto virtual drives of every chip family while cutting
//! power at every bank boundary, inside sectors, during erases and during the boot-code
//! rewrite of 64 KiB-sector chips, and while injecting the other faults; then power-cycle,
//! run the same command again, and classify every run.
//!
//! silent: the tool exited 0 but the flash differs from the image, or failed without
//!   saying what state the drive is in, or said "not changed" about a changed flash.
//! unrecoverable: after the power cycle, the same command did not bring the drive to the
//!   image with its firmware running.
//! window: the cut fell inside the boot-code rewrite that a 64 KiB-sector chip forces
//!   (erase of sector 0 until the kept boot code is programmed back). A real drive is
//!   dead then too; these runs are counted and reported apart, with the window's length.
//! half-written boot: after the fault and a power cycle the flash differs from both the
//!   old image and the new one, yet byte 0 and every bank start hold a jump: under the
//!   weakest boot rule the sources allow, the drive would start a half-written image.
//!   (The virtual drive's own embedded-checksum rule, inference I10, would refuse such
//!   an image; the campaign does not lean on it.)
//!
//! Serial chips run twice, behind a 0x72 and a 0x73 SPI bridge.
//!
//! Last line: `fault-campaign: R runs, U unrecoverable, S silent, H half-written boots`;
//! fails unless U = S = H = 0.
//! Run alone: `cargo nextest run --test fault_campaign --no-capture`.

use mtkflash::chips::{by_name, ChipInfo};
use mtkflash::connect::{Connect, Target};
use mtkflash::error::{NOT_CHANGED, UNTOUCHED};
use mtkflash::files::Backup;
use mtkflash::firmware::synth::{self, Spec};
use mtkflash::inference::BOOT_LEN;
use mtkflash::jobs;
use mtkflash::ops::{EnterOptions, Recorder, WriteOptions};
use mtkflash::sim::store::{NewDrive, Stored};
use mtkflash::sim::taskfile::{EventKind, FlashEvent};
use mtkflash::sim::{Mode, Settings};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Default, Debug, Clone)]
struct Tally {
    runs: u64,
    unrecoverable: u64,
    silent: u64,
    window: u64,
    half_boots: u64,
    failures: Vec<String>,
    faults: std::collections::BTreeSet<String>,
}

fn settings() -> Settings {
    Settings {
        vendor: "ACME".into(),
        product: "DVDRW TEST".into(),
        revision: "0001".into(),
    }
}

fn images(chip: &ChipInfo, liteon: bool) -> (Vec<u8>, Vec<u8>) {
    let spec = |rev: &str| Spec {
        vendor: "ACME".into(),
        product: "DVDRW TEST".into(),
        revision: rev.into(),
        size: chip.size as usize,
    };
    let make = if liteon {
        synth::liteon
    } else {
        synth::generate
    };
    (make(&spec("0001")), make(&spec("0002")))
}

fn make_drive(
    dir: &Path,
    chip: &'static ChipInfo,
    intro: u8,
    old: &[u8],
    faults: &str,
    record: bool,
) -> PathBuf {
    let p = dir.join("d.mtksim");
    let mut s = Stored::create(NewDrive {
        chip,
        settings: settings(),
        firmware: Some(old.to_vec()),
        bricked: false,
    })
    .unwrap();
    s.meta.faults = faults.to_string();
    s.meta.intro = Some(intro);
    if record {
        s.meta.events = Some(Vec::new());
    }
    s.save(&p).unwrap();
    p
}

fn opts() -> WriteOptions {
    WriteOptions {
        backup: Backup::Skip,
        enter: EnterOptions {
            attempts: 2,
            chip: None,
            force: false,
        },
        ..WriteOptions::default()
    }
}

/// The same command a user would run: write `fw` to the drive.
fn write(drive: &Path, fw: &Path) -> Result<(), mtkflash::error::Failure> {
    let mut ui = Recorder {
        answer: true,
        ..Recorder::default()
    };
    let target = Target::Sim(drive.to_path_buf());
    jobs::write(&target, &Connect::default(), fw, &opts(), &mut ui).map(|_| ())
}

fn power_cycle(drive: &Path) {
    let mut st = Stored::load(drive).unwrap();
    st.meta.faults.clear();
    let meta = st.meta.clone();
    let mut ch = st.into_channel();
    ch.power_cycle(7);
    Stored::from_channel(ch, meta).save(drive).unwrap();
}

/// Byte 0 and every 64 KiB bank start hold a jump (0x02 or 0x80), or the LiteOn marks
/// are all there.
fn weak_bootable(img: &[u8]) -> bool {
    mtkflash::firmware::weakly_bootable(img)
}

fn run_one(
    chip: &'static ChipInfo,
    intro: u8,
    old: &[u8],
    new: &[u8],
    fault: &str,
    tally: &Mutex<Tally>,
) {
    let dir = tempfile::tempdir().unwrap();
    let fw = dir.path().join("new.bin");
    std::fs::write(&fw, new).unwrap();
    let drive = make_drive(dir.path(), chip, intro, old, fault, false);
    let r1 = write(&drive, &fw);
    let after = Stored::load(&drive).unwrap().flash;
    let mut silent = None;
    match &r1 {
        Ok(()) if after != new => {
            silent = Some("exit 0 but the flash differs from the image".to_string())
        }
        Ok(()) => {}
        Err(f) => {
            if f.drive.trim().is_empty() {
                silent = Some(format!("failed without a drive state: {}", f.what));
            } else if (f.drive == NOT_CHANGED || f.drive == UNTOUCHED) && after != old {
                silent = Some(format!(
                    "said '{}' but the flash changed ({})",
                    f.drive, f.what
                ));
            }
        }
    }
    let boot_changed = after[..BOOT_LEN] != old[..BOOT_LEN];
    power_cycle(&drive);
    let cut = Stored::load(&drive).unwrap().flash;
    let boot_intact = cut[..BOOT_LEN] == old[..BOOT_LEN] || cut[..BOOT_LEN] == new[..BOOT_LEN];
    let half_boot = cut != old && cut != new && boot_intact && weak_bootable(&cut);
    let r2 = write(&drive, &fw);
    let st = Stored::load(&drive).unwrap();
    let mode = st.into_channel().drive.mode;
    let flash2 = Stored::load(&drive).unwrap().flash;
    let recovered = r2.is_ok() && flash2 == new && mode == Mode::Normal;
    let window = !recovered && boot_changed && chip.erasers[0].regions[0].size > BOOT_LEN as u32;
    let mut t = tally.lock().unwrap();
    t.runs += 1;
    t.faults.insert(
        fault
            .split('@')
            .next()
            .unwrap_or(fault)
            .split('=')
            .next()
            .unwrap_or(fault)
            .to_string(),
    );
    if half_boot {
        let first = cut.iter().zip(new).position(|(a, b)| a != b).unwrap_or(0);
        t.half_boots += 1;
        t.failures.push(format!(
            "HALF-WRITTEN BOOT {} 0x{intro:02X} [{fault}]: bank starts all valid, first difference from the new image at 0x{first:06X}",
            chip.name
        ));
    }
    if let Some(s) = silent {
        t.silent += 1;
        t.failures
            .push(format!("SILENT {} [{fault}]: {s}", chip.name));
    }
    if window {
        t.window += 1;
    } else if !recovered {
        t.unrecoverable += 1;
        t.failures.push(format!(
            "UNRECOVERABLE {} [{fault}]: first run {:?}; rerun {:?}, mode {mode:?}",
            chip.name,
            r1.err().map(|f| f.what),
            r2.err().map(|f| f.what)
        ));
    }
}

/// Power-cut points from a recorded clean run: bank boundaries, erases, between them.
fn cut_points(events: &[FlashEvent], total_hint: u64) -> Vec<u64> {
    let mut pts = Vec::new();
    for (i, e) in events.iter().enumerate() {
        pts.push(e.op);
        pts.push(e.op + 3);
        if e.kind == EventKind::Erase {
            pts.push(e.op + 1); // while the erase runs
        }
        let next = events.get(i + 1).map(|n| n.op).unwrap_or(total_hint);
        pts.push((e.op + next) / 2); // inside the sector being written
    }
    pts.sort();
    pts.dedup();
    // Keep the campaign bounded: at most 40 points, spread evenly.
    if pts.len() > 40 {
        let step = pts.len() as f64 / 40.0;
        pts = (0..40).map(|i| pts[(i as f64 * step) as usize]).collect();
    }
    pts
}

fn campaign_for(chip_name: &str, intro: u8, liteon: bool, tally: &Mutex<Tally>) -> String {
    let chip = by_name(chip_name).unwrap();
    let (old, new) = images(chip, liteon);
    // A clean run with the event log on.
    let dir = tempfile::tempdir().unwrap();
    let fw = dir.path().join("new.bin");
    std::fs::write(&fw, &new).unwrap();
    let drive = make_drive(dir.path(), chip, intro, &old, "", true);
    let r = write(&drive, &fw);
    assert!(r.is_ok(), "{chip_name}: clean run failed: {:?}", r.err());
    let events = Stored::load(&drive).unwrap().meta.events.unwrap();
    assert!(!events.is_empty(), "{chip_name}: no flash events recorded");
    let last = events.last().unwrap().op;
    let mut window_note = String::new();
    if chip.erasers[0].regions[0].size > BOOT_LEN as u32 {
        if let (Some(e0), Some(p1)) = (
            events
                .iter()
                .find(|e| e.kind == EventKind::Erase && e.addr < 0x10000),
            events
                .iter()
                .skip_while(|e| !(e.kind == EventKind::Erase && e.addr < 0x10000))
                .find(|e| e.kind == EventKind::Program && e.addr >= 0x10000),
        ) {
            window_note = format!(
                "{chip_name}: boot window from op {} to at most op {}",
                e0.op, p1.op
            );
        }
    }
    let mut faults: Vec<String> = cut_points(&events, last + 10_000)
        .into_iter()
        .map(|n| format!("power-loss@op={n}"))
        .collect();
    // Power cuts during the kept boot code's rewrite (64 KiB-sector chips).
    if let Some(e0) = events
        .iter()
        .find(|e| e.kind == EventKind::Erase && e.addr < 0x10000)
    {
        for d in [1u64, 2_000, 20_000, 60_000] {
            faults.push(format!("power-loss@op={}", e0.op + d));
        }
    }
    let changed = (BOOT_LEN..new.len())
        .find(|&i| old[i] != new[i] && new[i] != 0xFF)
        .unwrap();
    faults.push(format!("program-fail@addr=0x{changed:X}"));
    faults.push(format!("erase-fail@sector={}", changed / 0x1000));
    faults.push(format!("stuck-busy@op={}", (events[0].op + last) / 2));
    faults.push("read-flip@rate=0.00002,seed=11".into());
    faults.push("read-flip@rate=0.001,seed=5".into());
    faults.push("intro-window=5000".into());
    faults.push("no-intro".into());
    faults.push("bus-float".into());
    for f in &faults {
        run_one(chip, intro, &old, &new, f, tally);
    }
    window_note
}

#[test]
fn fault_campaign() {
    let mut chips: Vec<(&str, u8, bool)> = [
        "SST39SF010A",
        "Pm39LV010",
        "Am29F040B",
        "W29C020",
        "MX25L2005",
        "SST25LF020",
        "SST25VF040B",
        "PM25LV020",
    ]
    .into_iter()
    .flat_map(|c| {
        let spi = by_name(c).unwrap().bus() == mtkflash::chips::Bus::Spi;
        let intros: &[u8] = if spi { &[0x72, 0x73] } else { &[0x70] };
        intros.iter().map(move |&i| (c, i, false))
    })
    .collect();
    // LiteOn-layout images, whose boot marks are the jump at 0x4000 and LITEONIT.
    chips.push(("SST39SF040", 0x70, true));
    chips.push(("MX25L4005", 0x73, true));
    let tally = Mutex::new(Tally::default());
    let notes = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(&(c, intro, liteon)) = chips.get(i) else {
                    break;
                };
                let note = campaign_for(c, intro, liteon, &tally);
                if !note.is_empty() {
                    notes.lock().unwrap().push(note);
                }
            });
        }
    });
    let t = tally.into_inner().unwrap();
    for f in &t.failures {
        eprintln!("{f}");
    }
    for n in notes.into_inner().unwrap() {
        eprintln!("{n}");
    }
    eprintln!(
        "faults covered: {}",
        t.faults.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    eprintln!("{} runs hit the boot-code rewrite window of 64 KiB-sector chips (a real drive dies there too)", t.window);
    let line = format!(
        "fault-campaign: {} runs, {} unrecoverable, {} silent, {} half-written boots",
        t.runs, t.unrecoverable, t.silent, t.half_boots
    );
    eprintln!("{line}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fault-campaign.txt");
    let _ = std::fs::write(
        out,
        format!(
            "faults covered: {}\nwindow: {}\n{line}\n",
            t.faults.iter().cloned().collect::<Vec<_>>().join(", "),
            t.window
        ),
    );
    assert!(t.runs >= 100, "the campaign ran only {} runs", t.runs);
    assert_eq!(
        (t.unrecoverable, t.silent, t.half_boots),
        (0, 0, 0),
        "{line}"
    );
}
