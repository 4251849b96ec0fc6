//! Writing through the drive's own ATAPI update protocol (BTC WRITE BUFFER), for working
//! drives reached by OS pass-through, or by PIO PACKET on a task file / virtual drive.

use super::write::{Report, WriteOptions};
use crate::error::{Failure, Kind, UNTOUCHED};
use crate::files::Backup;
use crate::firmware::{sum16, Format, Image};
use crate::mtk::update::{btc_update_with, inquiry, Inquiry, UpdateError, BTC_IMAGE_LEN, SETTLE};
use crate::report::{Event, Ui};
use crate::transport::scsi::ScsiTransport;
use std::time::Instant;

fn update_failure(e: UpdateError) -> Failure {
    match e {
        UpdateError::Transport(t) => Failure::new(Kind::DriveError, t.to_string(), UNTOUCHED, "check the device and permissions"),
        UpdateError::Command { step, result, sent_any: false } => Failure::new(
            Kind::NoUpdater,
            format!("{step} failed: {result}: the drive does not speak the BTC update protocol"),
            UNTOUCHED,
            "for a MediaTek drive, use vendor mode through a task-file port (1-4, BASE:POSITION)",
        ),
        UpdateError::Command { step, result, sent_any: true } => Failure::new(
            Kind::WriteFailed,
            format!("{step} failed: {result}"),
            "an upload was started but not committed: the drive keeps its old firmware (the upload buffer is discarded when it resets)",
            "power-cycle the drive, then run the same command again; if it fails again use vendor mode",
        ),
        UpdateError::Cancelled => Failure::new(
            Kind::Interrupted,
            "interrupted during the upload, before the commit",
            "flash not changed: the upload was not committed (the drive discards it when it resets)",
            "run the same command again",
        ),
        UpdateError::Size { len } => Failure::file_kind(
            Kind::SizeMismatch,
            format!("the drive's own update takes exactly 1 MiB; the image is {len} bytes"),
            "use the whole 1 MiB firmware, or vendor mode",
        ),
        UpdateError::NotReady { secs } => Failure::new(
            Kind::WriteFailed,
            format!("the drive did not come back within {secs} s after the commit"),
            "the drive was rewriting its flash; its state is unknown",
            "leave it powered for a few minutes, then power-cycle it and run `mtkflash info`; if it runs boot code only, write the firmware through vendor mode",
        ),
    }
}

/// `--dry-run` of the BTC update: the exact command sequence, nothing sent.
fn show_commands(image: &[u8], ui: &mut dyn Ui) {
    use crate::mtk::update::{write_buffer_cdb, CHUNK, READY_LIMIT};
    let mut steps: Vec<(String, u32, u32)> = image
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, c)| {
            let off = i * CHUNK + crate::inference::BTC_HEADER;
            (
                format!(
                    "WRITE BUFFER {} (mode 6, {} bytes at buffer offset 0x{off:06X})",
                    hex::encode_upper(write_buffer_cdb(6, off, c.len())),
                    c.len()
                ),
                (i * CHUNK) as u32,
                c.len() as u32,
            )
        })
        .collect();
    steps.push((
        format!(
            "WRITE BUFFER {} (mode 6, 32-byte block at 0 with the sum {:04X} in bytes 30-31)",
            hex::encode_upper(write_buffer_cdb(6, 0, crate::inference::BTC_HEADER)),
            sum16(image)
        ),
        0,
        crate::inference::BTC_HEADER as u32,
    ));
    steps.push((
        format!(
            "WRITE BUFFER {} (mode 7: commit; the drive rewrites its flash)",
            hex::encode_upper(write_buffer_cdb(7, 0, 0))
        ),
        0,
        0,
    ));
    steps.push((
        format!(
            "wait {} s, then TEST UNIT READY once a second for up to {} min, then INQUIRY",
            SETTLE.as_secs(),
            READY_LIMIT.as_secs() / 60
        ),
        0,
        0,
    ));
    ui.line(&format!(
        "Plan: {} commands to the drive's own updater (nothing is sent in a dry run):",
        steps.len()
    ));
    let n = steps.len();
    for (i, (detail, start, len)) in steps.into_iter().enumerate() {
        if i < 3 || i + 4 > n {
            ui.line(&format!("  {i:>4}  {detail}"));
        } else if i == 3 {
            ui.line(&format!("        ... {} more 4 KiB chunks ...", n - 7));
        }
        ui.event(&Event::PlanStep {
            index: i,
            bank: start / crate::firmware::BANK as u32,
            op: "command".into(),
            start,
            len,
            detail,
            chip_ms: 0.0,
            commit: i + 2 == n,
        });
    }
}

/// Options this protocol cannot honour: a backup needs a read.
pub fn check_options(opts: &WriteOptions) -> Result<(), Failure> {
    if let Backup::To(_) = opts.backup {
        return Err(Failure::usage(
            "--backup needs vendor mode: the ATAPI update protocol cannot read the flash",
            "use --method vendor on a task-file port to get a backup, or drop --backup",
        ));
    }
    Ok(())
}

/// What can be refused before the drive is opened: a backup (the protocol cannot read)
/// and any image that is not exactly the 1 MiB the updater takes.
pub fn check(image: &Image, opts: &WriteOptions) -> Result<(), Failure> {
    check_options(opts)?;
    if image.data().len() != BTC_IMAGE_LEN {
        let what = match image.fw.format {
            Format::BtcHex => format!(
                "{}: the BTC HEX file describes {} of the 16 banks; the drive's updater takes all 1 MiB (btcflash refuses it too: \"Firmware file too small\")",
                image.name,
                image.data().len() / crate::firmware::BANK
            ),
            _ => format!(
                "{}: the drive's own update takes exactly 1 MiB (btcflash uploads and sums 1 MiB); this image is {} KiB",
                image.name,
                image.data().len() / 1024
            ),
        };
        return Err(Failure::file_kind(
            Kind::SizeMismatch,
            what,
            "use the whole 1 MiB firmware of this drive, or write through vendor mode (--method vendor on a task-file port), which takes any flash size",
        ));
    }
    Ok(())
}

/// The drive's own update: refuses another model's firmware unless forced; cannot back
/// up (the protocol has no read), says so.
pub fn write(
    t: &mut dyn ScsiTransport,
    image: &Image,
    opts: &WriteOptions,
    ui: &mut dyn Ui,
) -> Result<Report, Failure> {
    let start = Instant::now();
    check(image, opts)?;
    let fw = &image.fw;
    let analysis = &image.analysis;
    ui.line(&format!("Device: {}", t.describe()));
    let before = inquiry(t).map_err(update_failure)?;
    ui.event(&Event::Identity {
        vendor: before.vendor.clone(),
        product: before.product.clone(),
        revision: before.revision.clone(),
        mode: "firmware".into(),
    });
    ui.line(&format!(
        "Drive is currently: [{}][{}][{}]",
        before.vendor, before.product, before.revision
    ));
    check_model(&before, image, opts.force, ui)?;
    if opts.dry_run {
        show_commands(&fw.data, ui);
        return Ok(Report {
            identity_before: Some(format!(
                "{} {} {}",
                before.vendor, before.product, before.revision
            )),
            sum16: sum16(&fw.data),
            atapi: true,
            dry_run: true,
            wall: start.elapsed(),
            ..Report::default()
        });
    }
    if opts.backup == Backup::Auto {
        ui.warn(
            "no backup: the drive's own update protocol cannot read the flash (vendor mode can)",
        );
    }
    ui.line(&format!(
        "Uploading firmware (Check Sum : {:04X})....",
        sum16(&fw.data)
    ));
    let r = upload(t, &fw.data, ui);
    let after: Inquiry = r.map_err(update_failure)?;
    ui.line(&format!(
        "Drive is now:       [{}][{}][{}]",
        after.vendor, after.product, after.revision
    ));
    let want = analysis.identity.as_ref().map(|i| i.revision.clone());
    if let Some(w) = want {
        if w != after.revision {
            return Err(Failure::new(
                Kind::VerifyFailed,
                format!("after the update the drive reports revision {}, the firmware is {w}", after.revision),
                "the drive accepted the upload but does not run the new firmware",
                "power-cycle the drive and run `mtkflash info`; write through vendor mode for a verified write",
            ));
        }
    }
    ui.line("Updated by the drive's own updater: its checksum accepted the image and it now runs the new revision (byte-for-byte read-back needs vendor mode)");
    Ok(Report {
        chip: String::new(),
        identity_before: Some(format!(
            "{} {} {}",
            before.vendor, before.product, before.revision
        )),
        identity_after: Some(format!(
            "{} {} {}",
            after.vendor, after.product, after.revision
        )),
        program_bytes: fw.data.len() as u64,
        changed_bytes: fw.data.len() as u64,
        sum16: sum16(&fw.data),
        atapi: true,
        modelled: t.modelled(),
        wall: start.elapsed(),
        ..Report::default()
    })
}

/// Refuse an image whose identity names another model, unless forced.
fn check_model(
    before: &Inquiry,
    image: &Image,
    force: bool,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    if let Some(id) = &image.analysis.identity {
        ui.line(&format!(
            "Firmware is for:    [{}][{}][{}]",
            id.vendor, id.product, id.revision
        ));
        if !id.same_model(&before.vendor, &before.product) {
            let what = format!(
                "the firmware is for {} {}, but the drive is {} {}",
                id.vendor, id.product, before.vendor, before.product
            );
            if !force {
                return Err(Failure::new(
                    Kind::ModelMismatch,
                    what,
                    UNTOUCHED,
                    "use the firmware for this model; if you are sure, add --force",
                ));
            }
            ui.warn(&format!("{what}; writing anyway (--force)"));
        }
    }
    Ok(())
}

/// The BTC upload with progress, the commit and the wait for the drive to come back.
fn upload(t: &mut dyn ScsiTransport, data: &[u8], ui: &mut dyn Ui) -> Result<Inquiry, UpdateError> {
    ui.begin("Uploading", data.len() as u64);
    let mut last = 0usize;
    let mut waiting = false;
    let shared = std::cell::RefCell::new(&mut *ui);
    let r = btc_update_with(
        t,
        data,
        |done, _| {
            shared.borrow_mut().advance((done - last) as u64);
            last = done;
            !crate::interrupt::requested()
        },
        |waited, limit| {
            let mut ui = shared.borrow_mut();
            if !waiting {
                waiting = true;
                ui.end();
                ui.line(&format!(
                    "Committed. The drive rewrites its flash now: leaving it alone for {} s as btcflash does, then waiting up to {} min for it to answer; do not power it off",
                    SETTLE.as_secs(),
                    limit.as_secs() / 60
                ));
                ui.begin("Drive updating (s)", limit.as_secs());
            }
            if waited.as_secs() > 0 {
                ui.advance(1);
            }
        },
    );
    ui.end();
    r
}

/// `info` on a pass-through device: INQUIRY, IDENTIFY PACKET DEVICE and the vendor intro
/// through ATA PASS-THROUGH(16) (experimental). Writes nothing.
pub fn info(t: &mut dyn ScsiTransport, ui: &mut dyn Ui) -> Result<(), Failure> {
    use crate::mtk::vendor::{intro_answer, send_intro, IntroAnswer};
    use crate::transport::ata::ata_string;
    use crate::transport::atapt::PassThroughTaskFile;
    let inq = inquiry(t).map_err(update_failure)?;
    ui.line(&format!("Device:    {}", t.describe()));
    ui.line(&format!(
        "INQUIRY:   [{}][{}][{}]",
        inq.vendor, inq.product, inq.revision
    ));
    let at = t.describe();
    let mut tf = PassThroughTaskFile::new(t, false);
    match tf.identify_packet() {
        Some(w) => ui.line(&format!(
            "IDENTIFY:  {} revision {} (IDENTIFY PACKET DEVICE through ATA pass-through)",
            ata_string(&w[27..47]),
            ata_string(&w[23..27])
        )),
        None => ui.line("IDENTIFY:  no answer through ATA pass-through"),
    }
    let status = send_intro(&mut tf);
    match intro_answer(status) {
        IntroAnswer::Parallel | IntroAnswer::Serial(_) | IntroAnswer::Unsupported => {
            let kind = match intro_answer(status) {
                IntroAnswer::Parallel => "parallel flash",
                IntroAnswer::Serial(_) => "serial flash",
                _ => "a status no known flasher writes to",
            };
            ui.line(&format!(
                "Vendor:    answers the MTK vendor intro (status 0x{status:02X}, {kind}) through ATA pass-through (experimental)"
            ));
            crate::mtk::vendor::send_outro(&mut tf);
            Ok(())
        }
        IntroAnswer::Failed => Err(Failure::new(
            Kind::NotMediatek,
            format!("MTK vendor intro failed on {at} (status 0x{status:02X}): this is not a MediaTek drive, or the pass-through path does not carry vendor commands"),
            UNTOUCHED,
            "for a MediaTek drive, use a task-file port (1-4, BASE:POSITION) for vendor mode; its own update works through this device with --method atapi",
        )),
    }
}
