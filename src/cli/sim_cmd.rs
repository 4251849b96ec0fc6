//! `mtkflash sim ...`: creating, inspecting and faulting virtual drives, and replaying
//! traces against them. The one part of the command line that knows the simulator.

use super::args::SimCommand;
use crate::chips;
use crate::error::{Failure, Kind};
use crate::files;
use crate::firmware::family::Family;
use crate::report::Ui;
use crate::sim::store::{NewDrive, Stored};
use crate::sim::Settings;
use std::path::{Path, PathBuf};

/// A virtual drive file for the `sim` commands.
fn load_sim(path: &Path) -> Result<Stored, Failure> {
    Stored::load(path)
        .map_err(|e| Failure::file(e.to_string(), "give a file made by `mtkflash sim new`"))
}

pub fn sim_command(cmd: SimCommand, ui: &mut dyn Ui) -> Result<(), Failure> {
    match cmd {
        SimCommand::New {
            path,
            chip,
            family: Some(family),
            drive,
            unit,
            firmware,
            ..
        } => {
            let _ = chip;
            new_family(path, &family, drive, unit, firmware, ui)
        }
        SimCommand::New {
            path,
            chip,
            drive,
            firmware,
            bricked,
            intro,
            ..
        } => new(
            path,
            chip.unwrap_or_default(),
            drive.unwrap_or_else(|| "BTC|DVDRW IDE1008|0055".into()),
            firmware,
            bricked,
            intro,
            ui,
        ),
        SimCommand::Show { path } => show(path, ui),
        #[cfg(unix)]
        SimCommand::Serve {
            path,
            socket,
            log,
            time_scale,
        } => crate::sim::serve::serve(&path, &socket, log.as_deref(), time_scale)
            .map_err(|e| Failure::file(e, "check the paths")),
        #[cfg(not(unix))]
        SimCommand::Serve { .. } => Err(Failure::usage(
            "sim serve needs Unix sockets",
            "run it on Linux",
        )),
        SimCommand::Fault { path, spec, clear } => fault(path, spec, clear, ui),
        SimCommand::PowerCycle { path } => power_cycle(path, ui),
        SimCommand::Replay {
            trace,
            drive,
            firmware,
            explain,
        } => replay(trace, drive, firmware, explain, ui),
        SimCommand::Export { path, out } => export(path, out, ui),
    }
}

/// "VENDOR|PRODUCT|REV" as settings.
fn parse_drive(drive: &str) -> Result<Settings, Failure> {
    let parts: Vec<&str> = drive.split('|').collect();
    if parts.len() != 3 {
        return Err(Failure::usage(
            format!("--drive '{drive}' is not VENDOR|PRODUCT|REV"),
            "e.g. --drive \"BTC|DVDRW IDE1008|0055\"",
        ));
    }
    Ok(Settings {
        vendor: parts[0].into(),
        product: parts[1].into(),
        revision: parts[2].into(),
    })
}

/// `sim new --family`: a drive of a later family.
fn new_family(
    path: PathBuf,
    family: &str,
    drive: Option<String>,
    unit: Option<u64>,
    firmware: Option<PathBuf>,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    let family = Family::parse(family).map_err(|e| Failure::usage(e, "use mt1959 or mt1339"))?;
    let settings = parse_drive(&drive.unwrap_or_else(|| {
        match family {
            Family::Mt1959 => "HL-DT-ST|BD-RE WH16NS60|1.05",
            Family::Mt1339 => "TSSTcorp|DVD-ROM SH-D162D|BC06",
        }
        .into()
    }))?;
    files::check_output(&path, None)?;
    let unit = unit.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        t ^ u64::from(std::process::id()).rotate_left(32)
    });
    let label = format!(
        "{} {} {}",
        settings.vendor, settings.product, settings.revision
    );
    let mut s = Stored::create_family(family, settings, unit)
        .map_err(|e| Failure::file(e.to_string(), "check the folder"))?;
    if let Some(f) = firmware {
        let fw = files::load_firmware(&f)?.data;
        if fw.len() != s.flash.len() {
            return Err(Failure::usage(
                format!(
                    "{} is {} bytes; an {} drive holds {} bytes",
                    f.display(),
                    fw.len(),
                    family.name(),
                    s.flash.len()
                ),
                "give an image of the family's size, or leave --firmware out",
            ));
        }
        // The unit keeps its own calibration, as a drive does.
        if let Some(cal) = family
            .unit_regions()
            .iter()
            .find(|r| r.what == "calibration")
        {
            let own = s.flash[cal.range()].to_vec();
            s.flash = fw;
            s.flash[cal.range()].copy_from_slice(&own);
        } else {
            s.flash = fw;
        }
    }
    s.save(&path)
        .map_err(|e| Failure::file(e.to_string(), "choose a folder you can write to"))?;
    let serial = s
        .meta
        .unit
        .as_ref()
        .map(|u| u.serial.clone())
        .unwrap_or_default();
    ui.line(&format!(
        "Created virtual drive {} ({label}, {}, {} KiB, serial {serial})",
        path.display(),
        family.describe(),
        s.flash.len() / 1024
    ));
    Ok(())
}

/// `sim new`: create a virtual drive file.
fn new(
    path: PathBuf,
    chip: String,
    drive: String,
    firmware: Option<PathBuf>,
    bricked: bool,
    intro: Option<String>,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    let info = chips::by_name(&chip).ok_or_else(|| {
        Failure::usage(
            format!("unknown chip '{chip}'"),
            "`mtkflash chips` lists the known chips",
        )
    })?;
    let settings = parse_drive(&drive)?;
    let fw = firmware
        .map(|f| files::load_firmware(&f))
        .transpose()?
        .map(|f| f.data);
    files::check_output(&path, None)?;
    let label = format!(
        "{} {} {}",
        settings.vendor, settings.product, settings.revision
    );
    let intro = match intro {
        Some(_) if info.bus() != chips::Bus::Spi => {
            return Err(Failure::usage(
                format!("--intro is for serial-flash drives; {} is a parallel chip (its drive answers 0x70)", info.name),
                "leave --intro out, or pick an SPI chip from `mtkflash chips`",
            ))
        }
        Some(i) => Some(u8::from_str_radix(&i, 16).expect("clap checked the value")),
        None => None,
    };
    let mut s = Stored::create(NewDrive {
        chip: info,
        settings,
        firmware: fw,
        bricked,
    })
    .map_err(|e| Failure::file(e.to_string(), "give a firmware of the chip's size"))?;
    s.meta.intro = intro;
    s.save(&path)
        .map_err(|e| Failure::file(e.to_string(), "choose a folder you can write to"))?;
    ui.line(&format!(
        "Created virtual drive {} ({label}, {})",
        path.display(),
        info.label()
    ));
    Ok(())
}

/// The faults line of `sim show`.
fn faults_line(meta: &crate::sim::store::Meta) -> String {
    let f = if meta.faults.is_empty() {
        "none"
    } else {
        &meta.faults
    };
    format!("Faults:    {f}")
}

/// `sim show`: what a virtual drive holds.
fn show(path: PathBuf, ui: &mut dyn Ui) -> Result<(), Failure> {
    let s = load_sim(&path)?;
    let a = crate::firmware::Analysis::of(&s.flash);
    let (meta, chip) = (s.meta.clone(), s.chip);
    let powered = s.into_channel();
    ui.line(&format!("Virtual drive: {}", path.display()));
    if let Some(u) = &meta.unit {
        ui.line(&format!(
            "Family:    {} ({}); serial {}, firmware date {}",
            u.family.name(),
            u.family.describe(),
            u.serial,
            u.fw_date
        ));
        ui.line(&format!(
            "Flash:     {} KiB; no vendor mode, updated by its own firmware",
            chip.size / 1024
        ));
        let id = crate::firmware::family::identity_of(powered.drive.flash.mem());
        ui.line(&format!(
            "Made as:   {} | {} | {} (given by `sim new`)",
            meta.vendor, meta.product, meta.revision
        ));
        ui.line(&format!(
            "Firmware:  {}",
            match (u.family, id) {
                (Family::Mt1959, Some((v, p, r))) => format!("{v} {p} {r} (identity page)"),
                _ => a
                    .identity
                    .as_ref()
                    .map(|i| i.display())
                    .unwrap_or_else(|| "no identity in flash".into()),
            }
        ));
        ui.line(&format!(
            "State:     {}",
            if u.loader_only {
                "loader only (a programming was cut short; it takes a new upload)"
            } else {
                "working"
            }
        ));
        ui.line(&faults_line(&meta));
        return Ok(());
    }
    ui.line(&format!(
        "Chip:      {} ({} KiB, {:?}; vendor intro answers 0x{:02X})",
        chip.label(),
        chip.size / 1024,
        chip.bus(),
        powered.drive.vendor_status()
    ));
    ui.line(&format!(
        "Made as:   {} | {} | {} (given by `sim new`; the firmware line below is what it runs now)",
        meta.vendor, meta.product, meta.revision
    ));
    ui.line(&format!(
        "Firmware:  {}",
        a.identity
            .as_ref()
            .map(|i| i.display())
            .unwrap_or_else(|| "no identity in flash".into())
    ));
    ui.line(&format!(
        "State:     {}",
        match powered.drive.mode {
            crate::sim::Mode::Normal => "working (firmware valid)",
            crate::sim::Mode::BootOnly => "bricked: boot code only (firmware invalid)",
            crate::sim::Mode::Dead => "dead: boot code damaged",
            crate::sim::Mode::Vendor => "in vendor mode",
            crate::sim::Mode::Outro => "left vendor mode, waiting for reset",
        }
    ));
    ui.line(&format!("Check Sum: {:04X}", a.sum16));
    ui.line(&faults_line(&meta));
    Ok(())
}

/// `sim fault`: set or clear faults.
fn fault(path: PathBuf, spec: Option<String>, clear: bool, ui: &mut dyn Ui) -> Result<(), Failure> {
    let mut st = load_sim(&path)?;
    let f = if clear {
        crate::sim::fault::Faults::default()
    } else {
        crate::sim::fault::Faults::parse(spec.as_deref().unwrap_or("")).map_err(|e| {
            Failure::usage(
                format!("bad fault specification: {e}"),
                "see `mtkflash sim fault --help` or docs/faults.md",
            )
        })?
    };
    st.meta.faults = f.to_string();
    st.save(&path)
        .map_err(|e| Failure::file(e.to_string(), "check the folder"))?;
    ui.line(&format!(
        "Faults on {}: {}",
        path.display(),
        if f.is_empty() {
            "none".to_string()
        } else {
            f.to_string()
        }
    ));
    Ok(())
}

/// `sim power-cycle`: off and on again.
fn power_cycle(path: PathBuf, ui: &mut dyn Ui) -> Result<(), Failure> {
    let st = load_sim(&path)?;
    let meta = st.meta.clone();
    let mut ch = st.into_channel();
    ch.power_cycle(0);
    let mode = ch.drive.mode;
    let mut st = Stored::from_channel(ch, meta);
    st.meta.mode = "off".into(); // the next command starts right after power-on
    st.save(&path)
        .map_err(|e| Failure::file(e.to_string(), "check the folder"))?;
    ui.line(&format!("Power-cycled {}: {:?}", path.display(), mode));
    Ok(())
}

/// `sim replay`: play a trace against a virtual drive, in memory.
fn replay(
    trace: PathBuf,
    drive: PathBuf,
    firmware: Option<PathBuf>,
    explain: bool,
    ui: &mut dyn Ui,
) -> Result<(), Failure> {
    let text = crate::transport::trace::read_bytes(&trace).map_err(|e| {
        Failure::file(
            format!("cannot read {}: {e}", trace.display()),
            "check the path",
        )
    })?;
    let st = load_sim(&drive)?;
    let image = firmware
        .map(|f| files::load_firmware(&f))
        .transpose()?
        .map(|f| f.data);
    let mut ch = st.into_channel();
    let r = crate::sim::replay::replay(&text, &mut ch, image.as_deref()).map_err(|e| {
        Failure::file(
            format!("{}: {e}", trace.display()),
            "give a trace written by --trace",
        )
    })?;
    if r.compared == 0 && r.redacted_writes == 0 && r.lines == 0 {
        return Err(Failure::file(
            format!(
                "{}: the trace holds no accesses, so there is nothing to compare",
                trace.display()
            ),
            "give a trace written by --trace during a command that reached the drive",
        ));
    }
    match r.divergence {
        None => {
            ui.line(&format!(
                "replay: {} accesses, {} answers compared, {} payload writes{}: the model answered as recorded",
                r.lines,
                r.compared,
                r.redacted_writes,
                if r.skipped_commands > 0 { format!(", {} pass-through commands not replayed", r.skipped_commands) } else { String::new() }
            ));
            Ok(())
        }
        Some(d) => {
            if explain {
                ui.line(&explain_divergence(&d));
            }
            Err(Failure::new(
            Kind::ReplayDiverged,
            format!("the model differs at {} of {}: `{}` recorded 0x{:X}, the model answered 0x{:X}", d.at, trace.display(), d.text, d.recorded, d.answered),
            "virtual drive file not changed (replays run in memory)",
            "if the trace comes from real hardware, this is where the model (src/inference.rs, src/sim) needs correcting",
        ))
        }
    }
}

/// A divergence in words: which register, what each side said (status and error bits
/// by name), and the accesses before it.
fn explain_divergence(d: &crate::sim::replay::Divergence) -> String {
    use crate::transport::compact::Reg;
    let bits = |v: u32, names: [&str; 8]| -> String {
        let set: Vec<&str> = (0..8)
            .rev()
            .filter(|b| v & (1 << b) != 0)
            .map(|b| names[7 - b])
            .collect();
        if set.is_empty() {
            "no bit set".into()
        } else {
            set.join(" ")
        }
    };
    const STATUS: [&str; 8] = ["BSY", "DRDY", "DF", "DSC", "DRQ", "CORR", "IDX", "ERR"];
    const ERROR: [&str; 8] = ["ICRC", "UNC", "MC", "IDNF", "MCR", "ABRT", "TK0NF", "AMNF"];
    let (name, says) = match d.reg {
        Reg::Cmd(7) | Reg::Ctl | Reg::Cmd(1) => {
            let (name, names) = match d.reg {
                Reg::Ctl => ("the alternate status register", STATUS),
                Reg::Cmd(1) => ("the error register", ERROR),
                _ => ("the status register", STATUS),
            };
            (
                name,
                format!(
                    "recorded {:02X} ({}), the model {:02X} ({})",
                    d.recorded,
                    bits(d.recorded, names),
                    d.answered,
                    bits(d.answered, names)
                ),
            )
        }
        Reg::Cmd(0) => (
            "the data register",
            format!("recorded {:X}, the model {:X}", d.recorded, d.answered),
        ),
        Reg::Cmd(2) => (
            "the sector count (interrupt reason) register",
            format!("recorded {:02X}, the model {:02X}", d.recorded, d.answered),
        ),
        Reg::Cmd(3) => (
            "LBA low (the vendor protocol's data byte)",
            format!("recorded {:02X}, the model {:02X}", d.recorded, d.answered),
        ),
        Reg::Cmd(n) => (
            [
                "",
                "",
                "",
                "",
                "LBA mid",
                "LBA high",
                "the device register",
                "",
            ][n as usize & 7],
            format!("recorded {:02X}, the model {:02X}", d.recorded, d.answered),
        ),
        Reg::Port(_) => (
            "a port outside the task file",
            format!("recorded {:X}, the model {:X}", d.recorded, d.answered),
        ),
    };
    let mut s = format!("At {}: a read of {name}: {says}.", d.at);
    if matches!(d.reg, Reg::Cmd(7) | Reg::Ctl) {
        s.push_str(" (ATA bit names; in vendor mode the drive answers with codes such as 70, 72 or 73: docs/inferences.md, I1 and I2.)");
    }
    if !d.before.is_empty() {
        s.push_str("\nThe accesses before it (oldest first):");
        for l in &d.before {
            s.push_str("\n  ");
            s.push_str(l);
        }
        s.push_str("\n  ");
        s.push_str(&d.text);
        s.push_str("   <- here");
    }
    s
}

/// `sim export`: the raw flash content to a new file.
fn export(path: PathBuf, out: PathBuf, ui: &mut dyn Ui) -> Result<(), Failure> {
    let s = load_sim(&path)?;
    files::write_new_file(&out, &s.flash)?;
    ui.line(&format!(
        "Exported {} KiB to {}",
        s.flash.len() / 1024,
        out.display()
    ));
    Ok(())
}
