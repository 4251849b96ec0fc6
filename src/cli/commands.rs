//! One handler per command: turn the parsed command line into a job, run it, and render
//! its result as lines (and the fields of the final `--json` result event).

use super::args::{Command, DriveOpts, Method};
use super::legacy;
use crate::chips::{self, Bus, ChipId};
use crate::connect::{Connect, Target};
use crate::error::{Failure, Kind};
use crate::files::Backup;
use crate::firmware::family::Family;
use crate::jobs;
use crate::ops::{check, scan, EnterOptions, Identity, Report, WriteOptions};
use crate::report::{Event, Ui};
use std::io::Write;
use std::path::Path;

/// `--family`, parsed (clap checked the name).
fn family_opt(d: &DriveOpts) -> Option<Family> {
    d.family.as_deref().and_then(|f| Family::parse(f).ok())
}

fn enter_opts(d: &DriveOpts) -> Result<EnterOptions, Failure> {
    let chip = match &d.chip {
        None => None,
        Some(n) => Some(chips::by_name(n).ok_or_else(|| {
            Failure::usage(
                format!("unknown chip '{n}'"),
                "`mtkflash chips` lists the known chips",
            )
        })?),
    };
    Ok(EnterOptions {
        attempts: d.retries.max(1),
        chip,
        force: d.force,
    })
}

pub(super) fn summary(ui: &mut dyn Ui, r: &Report) {
    let mut s = if let (true, Some(f)) = (r.dry_run, r.family) {
        format!(
            "Dry run done: {} KiB would be uploaded to the {} updater; nothing was sent",
            r.program_bytes / 1024,
            f.name()
        )
    } else if r.dry_run {
        format!(
            "Dry run done: the plan would erase {} KiB and program {} bytes; nothing was written",
            r.erase_bytes / 1024,
            r.program_bytes
        )
    } else if r.atapi {
        format!(
            "Done: {} KiB uploaded to the drive's own updater",
            r.program_bytes / 1024
        )
    } else if r.nothing_to_do {
        "Done: nothing changed".to_string()
    } else {
        format!(
            "Done: {} bytes changed (erased {} KiB, programmed {} bytes)",
            r.changed_bytes,
            r.erase_bytes / 1024,
            r.program_bytes
        )
    };
    s.push_str(&format!(", Check Sum : {:04X}", r.sum16));
    if let Some(m) = r.modelled {
        s.push_str(&format!(
            ", device time {:.2} s (modelled)",
            m.as_secs_f64()
        ));
    }
    if let Some(n) = r.bus_ops {
        s.push_str(&format!(", {n} bus operations"));
    }
    s.push_str(&format!(", wall {:.2} s", r.wall.as_secs_f64()));
    ui.emit(&Event::Summary { text: s });
}

/// Scan and print the numbered list.
fn scan_and_list(force: bool, intro: bool, ui: &mut dyn Ui) -> Vec<scan::Found> {
    let found = scan::scan(Path::new("/"), Path::new("."), force, intro, ui);
    for l in scan::render(&found) {
        ui.line(&l);
    }
    found
}

/// The classic form without a port: scan, list, and let the user choose.
fn resolve_port(port: String, force: bool, ui: &mut dyn Ui) -> Result<String, Failure> {
    if port != legacy::SCAN_PORT {
        return Ok(port);
    }
    ui.line("drive scaned:");
    let found = scan_and_list(force, false, ui);
    if found.is_empty() {
        return Err(Failure::new(
            Kind::NoDrive,
            "no port given and no drive found",
            crate::error::UNTOUCHED,
            "check cables, power and jumpers; run as root for the legacy ports; or give the port, e.g. mtkflash 3 r /m orig.bin",
        ));
    }
    match ui.choose("chose one drive:", found.len()) {
        Some(i) => Ok(found[i].port.clone()),
        None => Err(Failure::usage(
            "no port given, and no terminal to choose a drive on",
            "put the port first, e.g. mtkflash 3 r /m orig.bin (the list above shows what answers)",
        )),
    }
}

/// Fields of the final `result` event.
pub(super) type Fields = serde_json::Map<String, serde_json::Value>;

pub(super) fn put(out: &mut Fields, v: serde_json::Value) {
    if let serde_json::Value::Object(m) = v {
        out.extend(m);
    }
}

/// A generated text (completions, man page): as it is, or with `--json` inside the result
/// event, so stdout stays one JSON object per line.
fn print_text(text: &[u8], json: bool, out: &mut Fields) {
    if json {
        put(
            out,
            serde_json::json!({"text": String::from_utf8_lossy(text)}),
        );
    } else {
        let _ = std::io::stdout().write_all(text);
    }
}

/// Run one parsed command; `out` collects the fields of the final result event.
pub(super) fn run(
    command: Command,
    conn: &Connect,
    json: bool,
    ui: &mut dyn Ui,
    out: &mut Fields,
) -> Result<(), Failure> {
    match command {
        Command::Info { port, drive } => info(&port, &drive, conn, ui, out),
        Command::Read { port, file, drive } => read(port, &file, &drive, conn, ui, out),
        Command::Write {
            port,
            file,
            boot,
            backup,
            no_backup,
            verify_all,
            dry_run,
            classic_m,
            method,
            drive,
        } => {
            let t = Target::parse(&resolve_port(port, drive.force, ui)?)?;
            if classic_m {
                log::info!("/m: {}", crate::inference::SLASH_M_MEANING);
            }
            let opts = WriteOptions {
                write_boot: boot,
                force: drive.force,
                backup: if no_backup {
                    Backup::Skip
                } else {
                    backup.map(Backup::To).unwrap_or(Backup::Auto)
                },
                enter: enter_opts(&drive)?,
                verify_all,
                dry_run,
            };
            if method.is_none() && jobs::ask_family(&t, family_opt(&drive)) {
                let r = jobs::own_updater_write(&t, conn, family_opt(&drive), &file, &opts, ui)?;
                summary(ui, &r);
                put(out, write_fields(&r));
                return Ok(());
            }
            let atapi = match method {
                Some(m) => m == Method::Atapi,
                None => matches!(t, Target::Scsi(_)),
            };
            write(&t, &file, atapi, &opts, conn, ui, out)
        }
        Command::Verify {
            port,
            file,
            boot,
            drive,
        } => {
            let t = Target::parse(&port)?;
            if family_opt(&drive).is_some()
                || !matches!(t, Target::Scsi(_)) && jobs::ask_family(&t, None)
            {
                let fam = jobs::family_verify(&t, conn, family_opt(&drive), &file, ui)?;
                put(
                    out,
                    serde_json::json!({"family": fam.name(), "matches": true}),
                );
                return Ok(());
            }
            let r = jobs::verify(&t, conn, &file, boot, &enter_opts(&drive)?, ui)?;
            timing(ui, r.modelled, r.wall);
            put(
                out,
                serde_json::json!({"chip": r.chip, "checksum": format!("{:04X}", r.sum16), "matches": true}),
            );
            Ok(())
        }
        Command::Erase {
            port,
            boot,
            destroy_boot_code,
            yes,
            backup,
            no_backup,
            drive,
        } => {
            if boot && !destroy_boot_code {
                return Err(Failure::usage(
                    "erase --boot also erases the boot code: afterwards no software can revive the drive, only an external flash programmer",
                    "to erase the firmware and keep the boot code, leave out --boot; if you have a programmer and mean it, add --destroy-boot-code",
                ));
            }
            let backup = if no_backup {
                Backup::Skip
            } else {
                backup.map(Backup::To).unwrap_or(Backup::Auto)
            };
            erase(&port, boot, yes, &backup, &drive, conn, ui, out)
        }
        Command::Check { file } => check_file(&file, ui, out),
        Command::Scan { force, intro } => scan_command(force, intro, ui, out),
        Command::Chips => {
            chips_table(ui);
            Ok(())
        }
        Command::Sim(s) => super::sim_cmd::sim_command(s, ui),
        Command::Trace(t) => trace_command(t, ui),
        Command::Report { log } => report(log, conn, ui),
        Command::Update {
            manifest,
            stop_on_error,
        } => update(&manifest, stop_on_error, conn, ui, out),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = super::args::Cli::command();
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, "mtkflash", &mut text);
            print_text(&text, json, out);
            Ok(())
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut text = Vec::new();
            clap_mangen::Man::new(super::args::Cli::command())
                .render(&mut text)
                .map_err(|e| {
                    Failure::file(format!("cannot render the man page: {e}"), "report this")
                })?;
            print_text(&text, json, out);
            Ok(())
        }
    }
}

fn info(
    port: &str,
    drive: &DriveOpts,
    conn: &Connect,
    ui: &mut dyn Ui,
    out: &mut Fields,
) -> Result<(), Failure> {
    let t = Target::parse(port)?;
    if jobs::ask_family(&t, family_opt(drive)) {
        if let Some(f) = jobs::own_updater_info(&t, conn, family_opt(drive), drive.force, ui)? {
            put(
                out,
                serde_json::json!({
                    "family": f.family.name(), "identity": format!("{} {} {}", f.vendor, f.product, f.revision),
                    "serial": f.serial, "firmware_date": f.fw_date, "boot_config": f.boot_config_id,
                    "model_signature": f.identity.as_ref().map(|(v, p, r)| format!("{v} {p} {r}")),
                    "loader_only": f.loader_only,
                }),
            );
        }
        return Ok(());
    }
    if let Target::Scsi(_) = t {
        return jobs::atapi_info(&t, conn, drive.force, ui);
    }
    let i = jobs::info(&t, conn, &enter_opts(drive)?, ui)?;
    put(
        out,
        serde_json::json!({
            "identity": i.identity.describe(),
            "boot_only": matches!(i.identity, Identity::BootOnly),
            "chip": i.chip, "size": i.size, "ids": i.ids,
            "firmware": i.flash_identity, "checksum": format!("{:04X}", i.sum16),
            "bootable": i.bootable, "end_sum_ok": i.embedded_ok, "bad_banks": i.bad_banks,
        }),
    );
    ui.line(&format!(
        "Flash:     {} ({}), {} KiB, {}",
        i.chip_label,
        i.chip,
        i.size / 1024,
        i.ids
    ));
    ui.line(&format!(
        "Firmware:  {}",
        i.flash_identity
            .as_deref()
            .unwrap_or("no identity found in flash")
    ));
    ui.line(&format!("Check Sum: {:04X}", i.sum16));
    if !i.bad_banks.is_empty() {
        ui.line(&format!(
            "Damage:    bank(s) {:?} do not start with LJMP",
            i.bad_banks
        ));
    }
    timing(ui, i.modelled, i.wall);
    Ok(())
}

fn read(
    port: String,
    file: &Path,
    drive: &DriveOpts,
    conn: &Connect,
    ui: &mut dyn Ui,
    out: &mut Fields,
) -> Result<(), Failure> {
    let t = Target::parse(&resolve_port(port, drive.force, ui)?)?;
    if family_opt(drive).is_some() || !matches!(t, Target::Scsi(_)) && jobs::ask_family(&t, None) {
        let start = std::time::Instant::now();
        let (fam, len, gaps) = jobs::family_read(&t, conn, family_opt(drive), file, ui)?;
        put(
            out,
            serde_json::json!({"file": file.display().to_string(), "family": fam.name(), "size": len,
                "gaps": gaps.iter().map(|(a, n)| serde_json::json!({"at": a, "len": n})).collect::<Vec<_>>()}),
        );
        timing(ui, None, start.elapsed());
        return Ok(());
    }
    let r = jobs::read(&t, conn, file, &enter_opts(drive)?, ui)?;
    put(
        out,
        serde_json::json!({"file": file.display().to_string(), "chip": r.chip, "checksum": format!("{:04X}", r.sum16), "modelled_s": r.modelled.map(|d| d.as_secs_f64())}),
    );
    timing(ui, r.modelled, r.wall);
    Ok(())
}

/// The closing timing line of read, verify, erase and info.
fn timing(ui: &mut dyn Ui, modelled: Option<std::time::Duration>, wall: std::time::Duration) {
    let device = match modelled {
        Some(m) => format!("device time {:.2} s (modelled), ", m.as_secs_f64()),
        None => String::new(),
    };
    ui.line(&format!("{device}wall {:.2} s", wall.as_secs_f64()));
}

fn write(
    t: &Target,
    file: &Path,
    atapi: bool,
    opts: &WriteOptions,
    conn: &Connect,
    ui: &mut dyn Ui,
    out: &mut Fields,
) -> Result<(), Failure> {
    let r = if atapi {
        jobs::atapi_write(t, conn, file, opts, ui)?
    } else {
        jobs::write(t, conn, file, opts, ui)?
    };
    summary(ui, &r);
    put(out, write_fields(&r));
    Ok(())
}

/// The `--json` result fields of a write.
fn write_fields(r: &Report) -> serde_json::Value {
    if let Some(f) = r.family {
        return serde_json::json!({
            "method": f.name(), "dry_run": r.dry_run,
            "uploaded_bytes": r.program_bytes, "checksum": format!("{:04X}", r.sum16),
            "backup": r.backup.as_ref().map(|b| b.display().to_string()),
            "identity_before": r.identity_before, "identity_after": r.identity_after,
            "modelled_s": r.modelled.map(|d| d.as_secs_f64()), "wall_s": r.wall.as_secs_f64(),
        });
    }
    serde_json::json!({
            "method": if r.atapi { "atapi" } else { "vendor" }, "dry_run": r.dry_run,
            "chip": r.chip, "changed_bytes": r.changed_bytes, "erased_bytes": r.erase_bytes,
            "programmed_bytes": r.program_bytes, "checksum": format!("{:04X}", r.sum16),
            "backup": r.backup.as_ref().map(|b| b.display().to_string()),
            "identity_before": r.identity_before, "identity_after": r.identity_after,
            "nothing_to_do": r.nothing_to_do, "drive_not_booting": r.drive_not_booting,
            "modelled_s": r.modelled.map(|d| d.as_secs_f64()), "bus_ops": r.bus_ops,
            "wall_s": r.wall.as_secs_f64(),
    })
}

#[allow(clippy::too_many_arguments)]
fn erase(
    port: &str,
    boot: bool,
    yes: bool,
    backup: &Backup,
    drive: &DriveOpts,
    conn: &Connect,
    ui: &mut dyn Ui,
    out: &mut Fields,
) -> Result<(), Failure> {
    let t = Target::parse(port)?;
    let q = format!(
        "Erase the flash of {}{}? The drive will not work until a firmware is written",
        t.describe(),
        if boot {
            " INCLUDING THE BOOT CODE (it cannot be recovered without a programmer)"
        } else {
            " (the boot code is kept)"
        }
    );
    if !(yes || ui.ask(&q)) {
        return Err(Failure::new(
            Kind::NotConfirmed,
            "erase not confirmed",
            crate::error::UNTOUCHED,
            "add --yes to erase without asking",
        ));
    }
    let r = jobs::erase(&t, conn, boot, backup, &enter_opts(drive)?, ui)?;
    timing(ui, r.modelled, r.wall);
    put(
        out,
        serde_json::json!({"chip": r.chip, "erased_bytes": r.erase_bytes, "boot_erased": boot}),
    );
    Ok(())
}

fn check_file(file: &Path, ui: &mut dyn Ui, out: &mut Fields) -> Result<(), Failure> {
    let r = check::check(file)?;
    put(
        out,
        serde_json::json!({
            "format": r.format.to_string(), "size": r.analysis.size,
            "identity": r.analysis.identity.as_ref().map(|i| serde_json::json!({"vendor": i.vendor, "product": i.product, "revision": i.revision, "offset": i.offset})),
            "checksum": format!("{:04X}", r.analysis.sum16), "end_sum_ok": r.analysis.embedded_ok(),
            "bootable": r.analysis.bootable(), "problems": r.problems,
        }),
    );
    for l in &r.lines {
        ui.line(l);
    }
    if r.problems.is_empty() {
        ui.line("Writable: yes");
        Ok(())
    } else {
        Err(Failure::file_kind(
            Kind::BadImage,
            format!("{}: {}", file.display(), r.problems.join("; ")),
            "use a complete firmware image made for this drive",
        ))
    }
}

fn scan_command(
    force: bool,
    intro: bool,
    ui: &mut dyn Ui,
    out: &mut Fields,
) -> Result<(), Failure> {
    let found = scan_and_list(force, intro, ui);
    for f in &found {
        ui.event(&Event::Drive {
            port: f.port.clone(),
            what: f.what.clone(),
            identity: f.identity.clone(),
            vendor_intro: f.vendor.clone(),
        });
    }
    put(out, serde_json::json!({"drives": found.len()}));
    if found.is_empty() {
        return Err(Failure::new(
            Kind::NoDrive,
            "no drive found",
            crate::error::UNTOUCHED,
            "check cables, power and jumpers; run as root for the legacy ports",
        ));
    }
    Ok(())
}

fn update(
    manifest: &Path,
    stop_on_error: bool,
    conn: &Connect,
    ui: &mut dyn Ui,
    out: &mut Fields,
) -> Result<(), Failure> {
    use jobs::update::Status;
    let outcomes = jobs::update::run(manifest, conn, stop_on_error, ui)?;
    let count = |st: Status| outcomes.iter().filter(|o| o.status == st).count();
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Failed(_)))
        .count();
    let mut summary = format!(
        "{} drive(s): {} updated, {} skipped, {} without a rule, {} failed",
        outcomes.len(),
        count(Status::Updated),
        count(Status::Skipped),
        count(Status::NoRule),
        failed
    );
    if count(Status::NotTried) > 0 {
        summary.push_str(&format!(", {} not tried", count(Status::NotTried)));
    }
    ui.line(&summary);
    match jobs::update::first_failure(&outcomes) {
        None => {
            put(
                out,
                serde_json::json!({"drives": outcomes.len(), "updated": count(Status::Updated), "skipped": count(Status::Skipped), "no_rule": count(Status::NoRule), "failed": 0}),
            );
            Ok(())
        }
        Some((first, kind)) => Err(Failure::new(
            kind,
            format!(
                "{summary}; first failure on {}: {}",
                first.port, first.detail
            ),
            "each drive's state is in its line above; drives not listed as failed are done",
            "fix the failing drive and run the same update again: updated drives are skipped",
        )),
    }
}

fn chips_table(ui: &mut dyn Ui) {
    ui.line(&format!(
        "{:<12} {:<9} {:<4} {:>5}  {:<16} {:<24} {}",
        "chip", "vendor", "bus", "KiB", "id", "erase units", "program"
    ));
    for c in chips::CHIPS {
        let id = match c.id() {
            ChipId::Jedec { mfr, dev } => format!("{mfr:02X}/{dev:02X}"),
            ChipId::Spi { rdid: Some(r), .. } => format!("9F {}", hex::encode_upper(r)),
            ChipId::Spi { rems, .. } => format!("90 {:02X}{:02X}", rems.0, rems.1),
        };
        let units: Vec<String> = c
            .erasers
            .iter()
            .filter(|e| !e.is_chip_erase(c.size))
            .map(|e| {
                let min = e.regions.iter().map(|r| r.size).min().unwrap_or(0) / 1024;
                let max = e.regions.iter().map(|r| r.size).max().unwrap_or(0) / 1024;
                // Boot-sector layouts: the range of unit sizes one opcode erases.
                let size = if min == max {
                    format!("{min}K")
                } else {
                    format!("{min}-{max}K")
                };
                format!("{size}@{:02X}({})", e.cmd, e.time.src.letter())
            })
            .collect();
        let bus = if c.bus() == Bus::Spi { "SPI" } else { "par" };
        ui.line(&format!(
            "{:<12} {:<9} {:<4} {:>5}  {:<16} {:<24} {} us ({})",
            c.name,
            c.vendor,
            bus,
            c.size / 1024,
            id,
            if units.is_empty() {
                "chip only".into()
            } else {
                units.join(" ")
            },
            c.program.us,
            c.program.src.letter()
        ));
    }
    ui.line("Timing sources: V datasheet, F sister part, M from memory (unconfirmed).");
}

/// `trace show`: any trace as version 1 lines on stdout.
fn trace_command(t: super::args::TraceCommand, _ui: &mut dyn Ui) -> Result<(), Failure> {
    use std::io::Write;
    let super::args::TraceCommand::Show { file } = t;
    let bad = |e: String| {
        Failure::file(
            format!("{}: {e}", file.display()),
            "give a trace written by --trace",
        )
    };
    let bytes = crate::transport::trace::read_bytes(&file).map_err(|e| bad(e.to_string()))?;
    let p = crate::transport::trace::parse(&bytes).map_err(bad)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = None;
    let mut put = |l: &str| {
        if err.is_none() {
            if let Err(e) = writeln!(out, "{l}") {
                err = Some(e);
            }
        }
    };
    if p.version == 1 {
        for h in &p.header {
            put(h);
        }
        for l in String::from_utf8_lossy(p.body).lines() {
            put(l);
        }
    } else {
        put("# mtkflash trace 1");
        for h in p
            .header
            .iter()
            .filter(|h| !h.starts_with("# mtkflash trace"))
        {
            put(h);
        }
        crate::transport::trace::render(p.body, &mut put).map_err(bad)?;
    }
    match err.map_or_else(|| out.flush(), Err) {
        Ok(()) => Ok(()),
        // A pager closed early is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::file(
            format!("cannot write to stdout: {e}"),
            "check where stdout goes",
        )),
    }
}

/// `report`: the newest (or given) diagnostic log, what `scan` sees and the chip
/// table's version, in one new file in the current folder.
fn report(log: Option<std::path::PathBuf>, conn: &Connect, ui: &mut dyn Ui) -> Result<(), Failure> {
    let log =
        match log.or_else(super::log::latest) {
            Some(l) => l,
            None => return Err(Failure::file(
                format!("no diagnostic log in {}", super::log::dir().display()),
                "run the command that went wrong again (without --no-log), then `mtkflash report`",
            )),
        };
    let bytes = std::fs::read(&log).map_err(|e| {
        Failure::file(
            format!("cannot read {}: {e}", log.display()),
            "give the log's path: `mtkflash report FILE`",
        )
    })?;
    if !bytes.starts_with(b"# mtkflash log") {
        return Err(Failure::file(
            format!("{} is not an mtkflash diagnostic log", log.display()),
            "give a file from the log folder (`mtkflash report` with no argument takes the newest)",
        ));
    }
    let mut scan = crate::report::Recorder::default();
    let mut fields = Fields::new();
    let scanned = run(
        Command::Scan {
            force: false,
            intro: false,
        },
        conn,
        false,
        &mut scan,
        &mut fields,
    );
    const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    let mut names = CRC32.digest();
    for c in crate::chips::CHIPS.iter() {
        names.update(c.name.as_bytes());
    }
    let mut text = String::from("# mtkflash report 1\n");
    text.push_str(&format!("version: {}\n", super::VERSION));
    text.push_str(&format!(
        "chips: {} entries, table {:08X}\n",
        crate::chips::CHIPS.len(),
        names.finalize()
    ));
    text.push_str("## scan\n");
    for l in &scan.lines {
        text.push_str(l);
        text.push('\n');
    }
    if let Err(f) = scanned {
        text.push_str(&format!("scan failed: {}\n", f.what));
    }
    text.push_str(&format!("## log {}\n", log.display()));
    let mut all = text.into_bytes();
    all.extend_from_slice(&bytes);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.as_secs());
    let out = std::path::PathBuf::from(format!("mtkflash-report-{secs}.txt"));
    crate::files::write_new_file(&out, &all)?;
    ui.line(&format!(
        "Report: {} ({} KiB): the log {}, what scan sees, the chip table's version; no firmware. Attach it to your report (an issue, a mail).",
        out.display(),
        all.len().div_ceil(1024),
        log.display()
    ));
    Ok(())
}
