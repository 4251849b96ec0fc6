//! Drives of the later families (MT1959, MT1339) through their own updater: what they
//! are, their memory window read twice, a write that keeps the unit's own data, and the
//! read-back (protocol.md section 7; `mtk::family` has the commands).

use super::write::{Report, WriteOptions};
use crate::error::{Failure, Kind, UNTOUCHED};
use crate::files;
use crate::firmware::family::{self as fam, Family, UnitBackup, UnitData};
use crate::firmware::{sum16, Image};
use crate::mtk::family::{get_configuration_cdb, read_buffer_cdb, upload_steps, Step};
use crate::report::Ui;
use crate::transport::scsi::{Dir, ScsiResult, ScsiTransport};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);
/// How long the drive may program after the last chunk (FMK waits up to 45 s).
pub const PROGRAM_LIMIT: Duration = Duration::from_secs(60);
/// READ BUFFER block size (within every path's transfer limit).
const READ_BLOCK: usize = 0x8000;
/// Reads of a block that disagree are repeated up to this many reads in all.
const MAX_READS: usize = 7;

/// Spans the drive would not give: (start, length).
pub type Gaps = Vec<(usize, usize)>;

/// What a drive of a later family says about itself.
#[derive(Clone, Debug)]
pub struct Facts {
    pub family: Family,
    pub vendor: String,
    pub product: String,
    pub revision: String,
    /// INQUIRY's 96 bytes and the GET CONFIGURATION answers, as received.
    pub inquiry: Vec<u8>,
    pub config_serial: Vec<u8>,
    pub config_date: Vec<u8>,
    pub serial: Option<String>,
    pub fw_date: Option<String>,
    /// The boot config (MT1959, 0x3000, 0x20 bytes) and its ID.
    pub boot_config: Option<Vec<u8>>,
    pub boot_config_id: Option<String>,
    /// The model the identity page names (MT1959).
    pub identity: Option<(String, String, String)>,
    /// Only its loader runs (INQUIRY revision "BOOT", inference I21).
    pub loader_only: bool,
}

fn gone(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(
        Kind::DriveError,
        format!("{what}: {e}"),
        UNTOUCHED,
        "check the device, its cable or USB bridge, and permissions",
    )
}

fn run(
    t: &mut dyn ScsiTransport,
    cdb: &[u8],
    dir: Dir<'_>,
    what: &str,
) -> Result<ScsiResult, Failure> {
    t.execute(cdb, dir, TIMEOUT).map_err(|e| gone(what, e))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_matches(|c: char| c == ' ' || c == '\0')
        .to_string()
}

/// The body of a one-feature GET CONFIGURATION answer (after the 8-byte header and
/// the 4-byte feature descriptor header).
fn feature_text(d: &[u8]) -> Option<String> {
    let len = *d.get(11)? as usize;
    let body = d.get(12..(12 + len).min(d.len()))?;
    let s = text(body);
    (!s.is_empty() && s.chars().all(|c| c.is_ascii_graphic() || c == ' ')).then_some(s)
}

/// Read `len` bytes of the window at `off`; None when the drive refuses the span.
fn read_span(
    t: &mut dyn ScsiTransport,
    off: usize,
    len: usize,
) -> Result<Option<Vec<u8>>, Failure> {
    let r = run(t, &read_buffer_cdb(off, len), Dir::In(len), "READ BUFFER")?;
    Ok((r.good() && r.data.len() == len).then_some(r.data))
}

/// Which family the drive behind `t` belongs to, from INQUIRY and the READ BUFFER
/// probe of the identity page (FMK's first command); None for any other drive.
pub fn detect(t: &mut dyn ScsiTransport) -> Result<Option<Family>, Failure> {
    let r = run(t, &[0x12, 0, 0, 0, 96, 0], Dir::In(96), "INQUIRY")?;
    if !r.good() || r.data.len() < 36 {
        return Ok(None);
    }
    // An optical drive (peripheral device type 5, MMC) that names its vendor: a path
    // that answers GOOD with nothing filled in is not asked further.
    if r.data[0] & 0x1F != 0x05 || text(&r.data[8..16]).is_empty() {
        return Ok(None);
    }
    if read_span(t, fam::IDENTITY.at, fam::IDENTITY.len)?.is_some() {
        return Ok(Some(Family::Mt1959));
    }
    let (vendor, product) = (text(&r.data[8..16]), text(&r.data[16..32]));
    let listed = fam::MT1339_VENDORS
        .iter()
        .any(|v| v.eq_ignore_ascii_case(&vendor))
        && fam::MT1339_PRODUCTS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&product));
    Ok(listed.then_some(Family::Mt1339))
}

/// Which family to use on an open drive: `--family` when given, else what the drive
/// answers (INQUIRY and the READ BUFFER probe).
pub fn family_here(
    t: &mut dyn ScsiTransport,
    given: Option<Family>,
) -> Result<Option<Family>, Failure> {
    match given {
        Some(f) => Ok(Some(f)),
        None => detect(t),
    }
}

/// Ask the drive what it is (INQUIRY, GET CONFIGURATION 0x0108/0x010C, and on MT1959
/// the boot config and the identity page). Changes nothing.
pub fn facts(t: &mut dyn ScsiTransport, family: Family) -> Result<Facts, Failure> {
    let r = run(t, &[0x12, 0, 0, 0, 96, 0], Dir::In(96), "INQUIRY")?;
    if !r.good() || r.data.len() < 36 {
        return Err(Failure::new(
            Kind::NoDrive,
            format!("INQUIRY failed: {}", r.describe()),
            UNTOUCHED,
            "check the device; a drive that does not answer INQUIRY cannot be updated through its own firmware",
        ));
    }
    let inquiry = r.data;
    let mut config = |feature: u16| -> Result<Vec<u8>, Failure> {
        let r = run(
            t,
            &get_configuration_cdb(feature, 0x40),
            Dir::In(0x40),
            "GET CONFIGURATION",
        )?;
        Ok(if r.good() { r.data } else { Vec::new() })
    };
    let config_serial = config(fam::FEATURE_SERIAL)?;
    let config_date = config(fam::FEATURE_DATE)?;
    let (mut boot_config, mut identity) = (None, None);
    if family == Family::Mt1959 {
        boot_config = read_span(t, fam::BOOT_CONFIG.at, fam::BOOT_CONFIG.len)?;
        if let Some(page) = read_span(t, fam::IDENTITY.at, fam::IDENTITY.len)? {
            let mut w = vec![0xFF; fam::IDENTITY.at];
            w.extend_from_slice(&page);
            identity = fam::identity_of(&w);
        }
    }
    let boot_config_id = boot_config.as_ref().and_then(|c| {
        let mut w = vec![0xFF; fam::BOOT_CONFIG.at];
        w.extend_from_slice(c);
        fam::boot_config_id(&w)
    });
    let revision = text(&inquiry[32..36]);
    Ok(Facts {
        family,
        vendor: text(&inquiry[8..16]),
        product: text(&inquiry[16..32]),
        loader_only: revision == "BOOT",
        revision,
        serial: feature_text(&config_serial),
        fw_date: feature_text(&config_date),
        inquiry,
        config_serial,
        config_date,
        boot_config,
        boot_config_id,
        identity,
    })
}

/// `info`: what the drive is, in lines.
pub fn show(f: &Facts, ui: &mut dyn Ui) {
    ui.line(&format!("Drive: {} {} {}", f.vendor, f.product, f.revision));
    ui.line(&format!(
        "Family: {} ({}); updated through its own firmware, no vendor mode",
        f.family.name(),
        f.family.describe()
    ));
    ui.line(&format!(
        "Serial: {}",
        f.serial.as_deref().unwrap_or("not given")
    ));
    ui.line(&format!(
        "Firmware date: {}",
        f.fw_date.as_deref().unwrap_or("not given")
    ));
    if f.family == Family::Mt1959 {
        ui.line(&format!(
            "Boot config: {}",
            f.boot_config_id
                .as_deref()
                .map(|s| format!("\"{s}\""))
                .unwrap_or_else(|| "not readable".into())
        ));
        ui.line(&format!(
            "Model signature (identity page 0x{:06X}): {}",
            fam::IDENTITY.at,
            f.identity
                .as_ref()
                .map(|(v, p, r)| format!("{v} {p} {r}"))
                .unwrap_or_else(|| "not readable".into())
        ));
    }
    ui.line(&format!(
        "Running: {}",
        if f.loader_only {
            "its loader only (a programming was cut short): write the firmware again"
        } else {
            "its firmware"
        }
    ));
}

/// Read the window's `range` in blocks, each read twice; a block whose reads disagree is
/// read again (up to 7 reads) and the content seen most often wins. Refused blocks are
/// gaps, filled with FF. `progress` hears the bytes done.
fn read_range(
    t: &mut dyn ScsiTransport,
    range: std::ops::Range<usize>,
    mut progress: impl FnMut(usize),
) -> Result<(Vec<u8>, Gaps), Failure> {
    let mut out = Vec::with_capacity(range.len());
    let mut gaps: Gaps = Vec::new();
    let block = READ_BLOCK.min(t.max_transfer().max(512));
    let mut off = range.start;
    while off < range.end {
        if crate::interrupt::requested() {
            return Err(super::interrupted(
                &format!("while reading at 0x{off:06X}"),
                UNTOUCHED,
                "run the command again",
            ));
        }
        let len = block.min(range.end - off);
        let mut seen: Vec<(Vec<u8>, usize)> = Vec::new();
        let mut refused = false;
        for n in 0..MAX_READS {
            match read_span(t, off, len)? {
                None => {
                    refused = true;
                    break;
                }
                Some(d) => match seen.iter_mut().find(|(s, _)| *s == d) {
                    Some(e) => e.1 += 1,
                    None => seen.push((d, 1)),
                },
            }
            let best = seen.iter().map(|s| s.1).max().unwrap_or(0);
            // Two equal reads; or, once they disagreed, a clear majority.
            if (n == 1 && best == 2) || (n >= 4 && best * 2 > n + 1) {
                break;
            }
        }
        if refused {
            match gaps.last_mut() {
                Some(g) if g.0 + g.1 == off => g.1 += len,
                _ => gaps.push((off, len)),
            }
            out.resize(out.len() + len, 0xFF);
        } else {
            seen.sort_by_key(|s| std::cmp::Reverse(s.1));
            let (d, votes) = &seen[0];
            if *votes < 2 {
                return Err(Failure::new(
                    Kind::DriveError,
                    format!("the drive's memory at 0x{off:06X} read differently every time ({MAX_READS} reads)"),
                    UNTOUCHED,
                    "check the cable or USB bridge and run the command again",
                ));
            }
            out.extend_from_slice(d);
        }
        off += len;
        progress(off - range.start);
    }
    Ok((out, gaps))
}

/// Read the whole window (every block twice); gaps are filled with FF and reported.
pub fn read_window(
    t: &mut dyn ScsiTransport,
    family: Family,
    ui: &mut dyn Ui,
) -> Result<(Vec<u8>, Gaps), Failure> {
    let len = family.image_lens()[family.image_lens().len() - 1];
    ui.begin("Reading", len as u64);
    let mut last = 0;
    let r = read_range(t, 0..len, |done| {
        ui.advance((done - last) as u64);
        last = done;
    });
    ui.end();
    let (data, gaps) = r?;
    if gaps.len() == 1 && gaps[0] == (0, len) {
        return Err(Failure::new(
            Kind::NotSupported,
            "the drive refused every READ BUFFER: its memory cannot be read this way",
            UNTOUCHED,
            "nothing to save; writing works without a read-back only with --no-backup",
        ));
    }
    for (at, n) in &gaps {
        ui.warn(&format!(
            "0x{at:06X}..0x{:06X} ({n} bytes) could not be read; filled with FF",
            at + n
        ));
    }
    Ok((data, gaps))
}

/// The unit backup of this drive: its window plus what it answered.
pub fn backup_of(f: &Facts, window: &[u8], gaps: &[(usize, usize)]) -> Vec<u8> {
    fam::encode_backup(
        &UnitBackup {
            family: f.family,
            vendor: f.vendor.clone(),
            product: f.product.clone(),
            revision: f.revision.clone(),
            serial: f.serial.clone().unwrap_or_default(),
            fw_date: f.fw_date.clone().unwrap_or_default(),
            inquiry: hex::encode_upper(&f.inquiry),
            config_serial: hex::encode_upper(&f.config_serial),
            config_date: hex::encode_upper(&f.config_date),
            gaps: gaps.to_vec(),
            crc32: 0,
        },
        window,
    )
}

/// The model checks, before anything is sent: exit 6 with nothing sent when they fail.
fn check_model(f: &Facts, image: &Image, force: bool, ui: &mut dyn Ui) -> Result<(), Failure> {
    let data = image.data();
    let refuse =
        |what: String, next: &str| Failure::new(Kind::ModelMismatch, what, UNTOUCHED, next);
    match f.family {
        Family::Mt1959 => {
            let img_cfg = fam::boot_config_id(data);
            match (&img_cfg, &f.boot_config_id) {
                (Some(i), Some(d)) if i != d => {
                    // RD refuses this even when forced: the boot differs.
                    return Err(refuse(
                        format!("the image's boot config is \"{i}\" but the drive's is \"{d}\": it is firmware for another hardware platform"),
                        "use the firmware for this drive's platform; --force does not override this (a drive with another boot config does not start it)",
                    ));
                }
                (None, _) => {
                    return Err(Failure::file_kind(
                        Kind::BadImage,
                        format!("{}: no boot config ID at 0x3000: not a whole MT1959 firmware image, and its platform cannot be checked", image.name),
                        "use the whole firmware image for this drive (RD refuses any other)",
                    ))
                }
                (_, None) => ui.warn("the drive's boot config could not be read; the platform cannot be checked"),
                _ => {}
            }
            match fam::identity_of(data) {
                Some((v, p, r)) => {
                    ui.line(&format!("Firmware is for:    [{v}][{p}][{r}]"));
                    if !p.eq_ignore_ascii_case(&f.product) && !f.loader_only {
                        let what = format!(
                            "the firmware is for {v} {p}, but the drive is {} {}",
                            f.vendor, f.product
                        );
                        if !force {
                            return Err(refuse(
                                what,
                                "use the firmware for this model; if you are sure (drives with the same boot config are cross-flashed), add --force",
                            ));
                        }
                        ui.warn(&format!("{what}; writing anyway (--force)"));
                    }
                }
                None => {
                    ui.warn("the image's identity page names no model; the model cannot be checked")
                }
            }
        }
        Family::Mt1339 => {
            if let Some(id) = &image.analysis.identity {
                ui.line(&format!(
                    "Firmware is for:    [{}][{}][{}]",
                    id.vendor, id.product, id.revision
                ));
                if !id.same_model(&f.vendor, &f.product) && !f.loader_only {
                    let what = format!(
                        "the firmware is for {} {}, but the drive is {} {}",
                        id.vendor, id.product, f.vendor, f.product
                    );
                    if !force {
                        return Err(refuse(
                            what,
                            "use the firmware for this model; if you are sure, add --force",
                        ));
                    }
                    ui.warn(&format!("{what}; writing anyway (--force)"));
                }
            }
        }
    }
    Ok(())
}

/// Check an image for a family before any drive is touched: its size.
pub fn check_image(family: Family, image: &Image) -> Result<(), Failure> {
    upload_steps(family, image.data().len())
        .map(|_| ())
        .map_err(|e| {
            Failure::file_kind(
                Kind::SizeMismatch,
                format!("{}: {e}", image.name),
                "use the whole firmware image made for this drive",
            )
        })
}

/// Show the exact command sequence (a dry run).
fn show_steps(steps: &[Step], ui: &mut dyn Ui) {
    ui.line(&format!(
        "Plan: {} commands to the drive's own updater, then TEST UNIT READY until it has programmed (nothing is sent in a dry run):",
        steps.len()
    ));
    for (i, s) in steps.iter().enumerate() {
        ui.line(&format!("  {:3}. {}", i + 1, s.describe()));
    }
}

/// After the last chunk: TEST UNIT READY once a second until the drive has programmed
/// (NOT READY while it does; UNIT ATTENTION once after it restarts).
fn wait_programmed(t: &mut dyn ScsiTransport, ui: &mut dyn Ui) -> Result<(), Failure> {
    ui.begin("Programming (s)", PROGRAM_LIMIT.as_secs());
    let mut waited = Duration::ZERO;
    let second = Duration::from_secs(1);
    // Ready twice in a row (as RD waits): GOOD, or NOT READY with no disc.
    let mut ready = 0;
    let r = loop {
        let now_ready = match t.execute(&[0, 0, 0, 0, 0, 0], Dir::None, TIMEOUT) {
            Ok(r) if r.good() => true,
            Ok(r) => r.sense_info().is_some_and(|s| s.key == 2 && s.asc == 0x3A),
            Err(_) => false, // it may drop off the bus while it restarts
        };
        ready = if now_ready { ready + 1 } else { 0 };
        if ready == 2 {
            break Ok(());
        }
        if waited >= PROGRAM_LIMIT {
            break Err(());
        }
        if crate::interrupt::requested() {
            break Ok(()); // reported by the caller
        }
        t.sleep(second);
        waited += second;
        ui.advance(1);
    };
    ui.end();
    r.map_err(|()| {
        Failure::new(
            Kind::WriteFailed,
            format!("the drive did not become ready within {} s of the last chunk", PROGRAM_LIMIT.as_secs()),
            "the whole image was sent and the drive was programming it; its state is unknown",
            "leave it powered for a few minutes, then run `mtkflash info` on it; if it runs its loader only, run the same write again",
        )
    })
}

/// Write `image` to a drive of `family`: facts, model checks, the unit's own data read
/// and carried into the image, the backup, the upload, the wait while it programs, and
/// the read-back of every programmed byte.
pub fn write(
    t: &mut dyn ScsiTransport,
    family: Family,
    image: &Image,
    opts: &WriteOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let start = Instant::now();
    check_image(family, image)?;
    let f = facts(t, family)?;
    show(&f, ui);
    check_model(&f, image, opts.force || opts.enter.force, ui)?;
    let data = image.data();
    // This very unit's backup keeps its own calibration; any other image gets the
    // drive's.
    let own =
        image.fw.unit.as_ref().is_some_and(|u| {
            f.serial.as_deref() == Some(u.serial.as_str()) && !u.serial.is_empty()
        });
    // A backup with spans the drive would not give would write FF over them.
    if let Some(u) = &image.fw.unit {
        let span = fam::programmed(family, data.len());
        if let Some((at, n)) = u
            .gaps
            .iter()
            .find(|(a, n)| a + n > span.start && *a < span.end)
        {
            return Err(Failure::new(
                Kind::UnitDataMissing,
                format!("{} lacks 0x{at:06X}..0x{:06X} (the drive would not give it when the backup was made); writing it would put FF there", image.name, at + n),
                UNTOUCHED,
                "use a firmware image, or a backup without gaps",
            ));
        }
    }
    let sent = match family {
        Family::Mt1959 => {
            let boot_config = f.boot_config.clone().ok_or_else(|| {
                Failure::new(
                    Kind::DriveError,
                    "the drive's boot config (0x3000) could not be read; it is sent with the image so the drive keeps its own",
                    UNTOUCHED,
                    "check the connection and run the command again",
                )
            })?;
            let calibration = if own {
                Vec::new()
            } else {
                let (c, gaps) = read_range(t, fam::CALIBRATION.range(), |_| {})?;
                if !gaps.is_empty() {
                    return Err(Failure::new(
                        Kind::DriveError,
                        "the drive's calibration region (0x1F0000, 64 KiB) could not be read: it would be lost",
                        UNTOUCHED,
                        "check the connection and run the command again",
                    ));
                }
                if c.iter().all(|&b| b == 0xFF) {
                    // A programming cut short erased it: carrying the blank over would
                    // make the loss permanent.
                    return Err(Failure::new(
                        Kind::UnitDataMissing,
                        "the drive's own calibration region (0x1F0000, 64 KiB) is blank (all FF): a programming was cut short, or it was never there",
                        UNTOUCHED,
                        "write this drive's backup first (the .backup.bin mtkflash saved before the earlier write): it carries the calibration back; then write the new firmware",
                    ));
                }
                c
            };
            let unit = UnitData {
                boot_config,
                calibration,
            };
            if own {
                ui.line("The image is a backup of this drive (same serial): its own calibration is written back");
            } else {
                ui.line("Keeping this drive's own boot config (0x3000) and calibration (0x1F0000, 64 KiB)");
            }
            fam::image_to_send(data, &unit, own)
        }
        Family::Mt1339 => data.to_vec(),
    };
    let steps = upload_steps(family, sent.len())
        .map_err(|e| Failure::file_kind(Kind::SizeMismatch, e, "use the whole image"))?;
    let mut report = Report {
        chip: format!("{} updater", family.name()),
        identity_before: Some(format!("{} {} {}", f.vendor, f.product, f.revision)),
        program_bytes: sent.len() as u64,
        sum16: sum16(&sent),
        atapi: true,
        family: Some(family),
        ..Report::default()
    };
    if opts.dry_run {
        show_steps(&steps, ui);
        report.dry_run = true;
        report.wall = start.elapsed();
        return Ok(report);
    }
    if !matches!(opts.backup, files::Backup::Skip) {
        let (window, gaps) = read_window(t, family, ui)?;
        let bytes = backup_of(&f, &window, &gaps);
        report.backup = files::save_backup(&opts.backup, image.source.as_deref(), &bytes)?;
        if let Some(b) = &report.backup {
            ui.line(&format!(
                "Backup saved to {} (the whole window, with its INQUIRY and serial)",
                b.display()
            ));
        }
    }
    if crate::interrupt::requested() {
        return Err(super::interrupted(
            "before the upload",
            "not changed (nothing was sent to the updater)",
            "run the same command again",
        ));
    }
    // Upload. The drive programs when the last chunk lands: an interruption is held
    // until then and reported after.
    ui.begin("Uploading", sent.len() as u64);
    for (i, s) in steps.iter().enumerate() {
        let dir = if s.data.is_empty() {
            Dir::None
        } else {
            Dir::Out(&sent[s.data.clone()])
        };
        let r = t.execute(&s.cdb, dir, TIMEOUT);
        let bad = match r {
            Ok(r) if r.good() => None,
            Ok(r) => Some(r.describe()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = bad {
            ui.end();
            let last = i + 1 == steps.len();
            return Err(if i == 0 {
                Failure::new(
                    Kind::NoUpdater,
                    format!(
                        "the drive refused the first update command ({}): {why}",
                        s.describe()
                    ),
                    UNTOUCHED,
                    "check that this is a drive of this family (`mtkflash info`), or give --family",
                )
            } else if last {
                Failure::new(
                    Kind::WriteFailed,
                    format!("the last chunk was refused: {why}"),
                    "the drive may have started programming; its state is unknown",
                    "leave it powered for a minute, then run `mtkflash info`; if it runs its loader only, run the same write again",
                )
            } else if family == Family::Mt1959 {
                Failure::new(
                    Kind::WriteFailed,
                    format!("the upload stopped at command {} of {}: {why}", i + 1, steps.len()),
                    "flash not changed: the drive programs only when the last chunk lands, and it discards a partial upload",
                    "power-cycle the drive and run the same command again",
                )
            } else {
                // No source says when an MT1339 programs.
                Failure::new(
                    Kind::WriteFailed,
                    format!(
                        "the upload stopped at block {} of {}: {why}",
                        i + 1,
                        steps.len()
                    ),
                    "unknown: the drive may have begun programming the blocks it took",
                    "do not power it off; run `mtkflash info` on it, then the same command again",
                )
            });
        }
        ui.advance(s.data.len() as u64);
    }
    ui.end();
    let interrupted = crate::interrupt::requested();
    if interrupted {
        return Err(Failure::new(
            Kind::Interrupted,
            format!("interrupted: {} came during the upload; it was held until the last chunk was sent, since the drive programs when that lands", crate::interrupt::what()),
            "the whole image was sent: the drive is programming it now (nothing was read back)",
            "leave the drive powered for a minute, then run `mtkflash verify` with the same image",
        ));
    }
    wait_programmed(t, ui)?;
    if crate::interrupt::requested() {
        return Err(super::interrupted(
            "while the drive programmed the image",
            "the whole image was sent and the drive programs it (it may still be at it); nothing was read back",
            "leave the drive powered for a minute, then run `mtkflash verify` with the same image",
        ));
    }
    // Read back every byte the drive programmed.
    let span = fam::programmed(family, sent.len());
    ui.begin("Verifying", span.len() as u64);
    let mut last = 0;
    let back = read_range(t, span.clone(), |d| {
        ui.advance((d - last) as u64);
        last = d;
    });
    ui.end();
    let (back, gaps) = back.map_err(|e| {
        e.with_drive("the image was sent and programmed, but its read-back stopped: not confirmed")
    })?;
    if !gaps.is_empty() {
        ui.warn("the drive does not let its memory be read back: the write is not confirmed byte for byte");
    } else if let Some(i) = back
        .iter()
        .zip(&sent[span.clone()])
        .position(|(a, b)| a != b)
    {
        return Err(Failure::new(
            Kind::VerifyFailed,
            format!(
                "the read-back differs from what was sent at 0x{:06X}",
                span.start + i
            ),
            "programmed by the drive, but not as sent",
            "run the same command again; if it differs again, restore the backup the same way",
        ));
    } else {
        ui.line(&format!("Verify OK, Check Sum : {:04X}", sum16(&sent)));
    }
    let after = facts(t, family).map_err(|e| {
        e.with_drive(
            "the image was written and read back correctly; asking the drive who it is now failed",
        )
    })?;
    report.identity_after = Some(format!(
        "{} {} {}",
        after.vendor, after.product, after.revision
    ));
    ui.line(&format!(
        "Drive now: {} {} {}",
        after.vendor, after.product, after.revision
    ));
    report.changed_bytes = sent.len() as u64;
    report.modelled = t.modelled();
    report.bus_ops = t.bus_ops();
    report.wall = start.elapsed();
    Ok(report)
}

/// Compare the drive's window with `image` as it would be sent to this drive (its own
/// boot area and, unless the image is its backup, calibration left out).
pub fn verify(
    t: &mut dyn ScsiTransport,
    family: Family,
    image: &Image,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    check_image(family, image)?;
    let f = facts(t, family)?;
    let data = image.data();
    let own = image
        .fw
        .unit
        .as_ref()
        .is_some_and(|u| f.serial.as_deref() == Some(u.serial.as_str()));
    let span = fam::programmed(family, data.len());
    let (back, gaps) = read_range(t, span.clone(), |_| {})?;
    if !gaps.is_empty() {
        return Err(Failure::new(
            Kind::NotSupported,
            "the drive does not let all of its memory be read",
            UNTOUCHED,
            "nothing can be compared on this drive",
        ));
    }
    let skip = if family == Family::Mt1959 && !own {
        Some(fam::CALIBRATION.range())
    } else {
        None
    };
    for (i, (a, b)) in back.iter().zip(&data[span.clone()]).enumerate() {
        let at = span.start + i;
        if a != b && !skip.as_ref().is_some_and(|s| s.contains(&at)) {
            return Err(Failure::new(
                Kind::Differs,
                format!(
                    "the drive's memory differs from {} at 0x{at:06X}",
                    image.name
                ),
                UNTOUCHED,
                "write the image (`mtkflash write`) if it is the one this drive should run",
            ));
        }
    }
    ui.line(&format!(
        "Verify OK: the drive holds {} ({}{})",
        image.name,
        if family == Family::Mt1959 {
            "from 0x010000 up"
        } else {
            "all of it"
        },
        if skip.is_some() {
            "; its own calibration not compared"
        } else {
            ""
        }
    ));
    Ok(())
}
