//! Command-line definitions (clap), the classic-form normaliser, and rendering.

pub mod legacy;
pub mod render;

use crate::chips::{self, Bus, ChipId};
use crate::error::{Exit, Failure, EXIT_CODE_HELP};
use crate::ops::device::EnterOptions;
use crate::ops::flash::{self, Backup, Report, WriteOptions};
use crate::ops::{check, Target, Ui};
use crate::sim::store::{NewDrive, Stored};
use crate::sim::Settings;
use clap::{Args, Parser, Subcommand};
use render::TermUi;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `0.1.0 (git 1a2b3c4d5e6f)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("MTKFLASH_GIT_REV"),
    ")"
);

const ABOUT: &str =
    "Flasher for MediaTek-chipset optical drives (CD/DVD writers of the IDE and SATA era)";

const AFTER_HELP: &str = "\
Classic form (as MTKFlash under DOS; case-insensitive):
  mtkflash <port> <r|w> [/b] [/m] <file>
    r  read the whole flash into <file>          w  write <file> to the flash
    /b also write the boot code (0x0000-0x3FFF)  /m accepted, no effect
  e.g.  mtkflash 3 w /m rpc1v758.bin    mtkflash 3 r backup.bin    mtkflash sim w /m fw.hex

Ports: 1 primary master (0x1F0), 2 primary slave, 3 secondary master (0x170),
4 secondary slave; 0x970:master style bases; sim (default virtual drive), sim:PATH.
";

#[derive(Parser, Debug)]
#[command(name = "mtkflash", version = VERSION, about = ABOUT, after_help = format!("{AFTER_HELP}\n{EXIT_CODE_HELP}"))]
pub struct Cli {
    /// More detail (-v info, -vv debug); RUST_LOG works too.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors and the final summary.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// One JSON object per line on stdout (schema: docs/events.schema.json); errors too.
    #[arg(long, global = true)]
    pub json: bool,
    /// Record every register access, data word, wait and CDB to FILE (firmware payload
    /// left out; format: docs/trace-format.md). `mtkflash sim replay` plays it back.
    #[arg(long, global = true, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct DriveOpts {
    /// Vendor-intro attempts before giving up (interactive: then asks to power-cycle).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Use this chip's geometry whatever its ID reads (see `mtkflash chips`).
    #[arg(long, value_name = "NAME")]
    pub chip: Option<String>,
    /// Go ahead despite a safety refusal: firmware for another drive model, or ports that
    /// a kernel driver owns.
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Vendor,
    Atapi,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show the drive's identity, mode, flash chip, firmware revision and checksum; writes nothing.
    #[command(after_help = "Examples:\n  mtkflash info 3\n  mtkflash info sim:drive.mtksim")]
    Info {
        /// 1-4, BASE:master|slave, sim or sim:PATH
        port: String,
        #[command(flatten)]
        drive: DriveOpts,
    },
    /// Read the whole flash into a new file (never overwrites).
    #[command(
        after_help = "Examples:\n  mtkflash read 3 backup.bin\n  mtkflash 3 r backup.bin   (classic form)"
    )]
    Read {
        port: String,
        file: PathBuf,
        #[command(flatten)]
        drive: DriveOpts,
    },
    /// Write a firmware file (.bin, Intel HEX, BTC HEX): backup, differential write, verify.
    #[command(
        after_help = "Examples:\n  mtkflash write 3 fw.bin\n  mtkflash write sim fixtures/btc-ide1008-0758.hex\n  mtkflash 3 w /m fw.bin   (classic form)\n\nThe current flash is saved first next to the input as <name>.backup.bin\n(or .backup-2.bin, ...; an identical existing backup is reused)."
    )]
    Write {
        port: String,
        file: PathBuf,
        /// Also write the boot code 0x0000-0x3FFF (classic /b). Without it the drive's boot code is kept byte for byte.
        #[arg(short = 'b', long)]
        boot: bool,
        /// Save the current flash to FILE (must not exist) before writing.
        #[arg(long, value_name = "FILE", conflicts_with = "no_backup")]
        backup: Option<PathBuf>,
        /// Do not save the current flash first.
        #[arg(long)]
        no_backup: bool,
        /// Read back the whole flash after writing, not only what changed.
        #[arg(long)]
        verify_all: bool,
        /// Enter vendor mode, identify the chip, read the flash and check the model, then
        /// print the plan in the order it would run (erase units, program ranges, per
        /// bank, chip time) and leave: nothing is erased or programmed. With the ATAPI
        /// method: the command sequence, nothing sent after INQUIRY.
        #[arg(long)]
        dry_run: bool,
        /// The classic /m switch: accepted, no effect.
        #[arg(long, hide = true)]
        classic_m: bool,
        /// vendor: flash through vendor mode (task-file ports, virtual drives; works on
        /// dead drives; backup and byte-for-byte verify; on /dev/sgN through ATA
        /// PASS-THROUGH, experimental). atapi: the drive's own BTC WRITE BUFFER update
        /// (working drives; pass-through devices). Default: atapi for /dev/sgN, /dev/srN
        /// and drive letters, vendor otherwise.
        #[arg(long, value_enum)]
        method: Option<Method>,
        #[command(flatten)]
        drive: DriveOpts,
    },
    /// Compare the flash with a file without writing (boot code excluded unless --boot).
    #[command(after_help = "Example:\n  mtkflash verify 3 fw.bin")]
    Verify {
        port: String,
        file: PathBuf,
        #[arg(short = 'b', long)]
        boot: bool,
        #[command(flatten)]
        drive: DriveOpts,
    },
    /// Erase the flash except the boot code (all of it with --boot). Asks first unless --yes.
    #[command(
        after_help = "Example:\n  mtkflash erase 3 --yes\n\nAfter an erase the drive runs boot code only until a firmware is written."
    )]
    Erase {
        port: String,
        #[arg(short = 'b', long)]
        boot: bool,
        #[arg(short = 'y', long)]
        yes: bool,
        #[command(flatten)]
        drive: DriveOpts,
    },
    /// Inspect a firmware file offline: format, size, identity, banks, checksum, boot code.
    #[command(after_help = "Example:\n  mtkflash check fixtures/btc-ide1008-0758.hex")]
    Check { file: PathBuf },
    /// List the flash chips this tool knows, with IDs, erase units and timings.
    Chips,
    /// List drives: legacy ports 1-4, PCI IDE channels, /dev/sgN devices, virtual drives
    /// in this folder; each with its identity and whether it answers the MTK vendor intro.
    #[command(
        after_help = "Example:\n  sudo mtkflash scan\n\nThe classic form without a port (mtkflash r /m orig.bin) scans and asks."
    )]
    Scan {
        /// Probe ports even when a kernel driver owns them.
        #[arg(long)]
        force: bool,
    },
    /// Virtual drives for testing and practice.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Update many drives from a manifest: each matching drive gets the usual checked,
    /// backed-up, verified write; drives already at the target revision are skipped.
    #[command(
        after_help = "Manifest (JSON; firmware paths relative to the manifest):\n  {\n    \"drives\": [\"3\", \"4\", \"sim:a.mtksim\"],          (optional; default: every drive scan finds)\n    \"rules\": [\n      { \"vendor\": \"BTC\", \"product\": \"DVDRW IDE1008\", \"firmware\": \"v0758.hex\",\n        \"min_revision\": \"0050\", \"max_revision\": \"0757\", \"boot\": false, \"force\": false }\n    ]\n  }\n\nExample:\n  mtkflash update --manifest drives.json --json\n\nExit code: 0 when no drive failed, else the first failing drive's code."
    )]
    Update {
        #[arg(long)]
        manifest: PathBuf,
        /// Stop at the first drive that fails (default: go on with the others).
        #[arg(long)]
        stop_on_error: bool,
    },
    /// Print shell completions (bash, zsh, fish, powershell, elvish) to stdout.
    #[command(
        after_help = "Install, e.g.:\n  mtkflash completions bash > /etc/bash_completion.d/mtkflash\n  mtkflash completions zsh > \"${fpath[1]}/_mtkflash\"\n  mtkflash completions fish > ~/.config/fish/completions/mtkflash.fish\n  mtkflash completions powershell >> $PROFILE"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: mtkflash man > /usr/local/share/man/man1/mtkflash.1
    Man,
}

#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Create a virtual drive file.
    #[command(
        after_help = "Example:\n  mtkflash sim new d.mtksim --chip MX25L8005 --drive \"BTC|DVDRW IDE1008|0055\"\n\nWithout --firmware the drive gets a synthetic image for that identity."
    )]
    New {
        path: PathBuf,
        /// Flash chip (see `mtkflash chips`).
        #[arg(long)]
        chip: String,
        /// Identity as "VENDOR|PRODUCT|REV".
        #[arg(long, default_value = "BTC|DVDRW IDE1008|0055")]
        drive: String,
        /// Initial flash content (.bin or HEX) instead of a synthetic image.
        #[arg(long)]
        firmware: Option<PathBuf>,
        /// Start misflashed: the firmware is damaged, the boot code intact.
        #[arg(long)]
        bricked: bool,
        /// Serial-flash drives: the vendor intro's answer, 72 (SPI staging at 0x8800,
        /// lengths low byte first; the default) or 73 (staging at 0x0000, lengths high
        /// byte first); 52 makes a drive that answers 0x52, which no known tool flashes.
        #[arg(long, value_parser = ["72", "73", "52"])]
        intro: Option<String>,
    },
    /// Show a virtual drive's chip, identity, state and checksum.
    Show { path: PathBuf },
    /// Write a virtual drive's raw flash content to a new file (no protocol involved).
    Export { path: PathBuf, out: PathBuf },
    /// Set (or --clear) faults on a virtual drive; see docs/faults.md for the grammar.
    #[command(
        after_help = "Examples:\n  mtkflash sim fault d.mtksim 'power-loss@op=200000'\n  mtkflash sim fault d.mtksim 'program-fail@addr=0x5000;read-flip@rate=0.0001,seed=7'\n  mtkflash sim fault d.mtksim --clear\n\nGrammar: FAULT[;FAULT...] with FAULT one of power-loss@op=N, program-fail@addr=A,\nerase-fail@sector=N, stuck-busy@op=N, read-flip@rate=R,seed=S, intro-window=MS,\nno-intro, bus-float."
    )]
    Fault {
        path: PathBuf,
        /// The fault specification (replaces what was set).
        #[arg(required_unless_present = "clear")]
        spec: Option<String>,
        #[arg(long)]
        clear: bool,
    },
    /// Switch a virtual drive off and on again (it boots from its flash).
    PowerCycle { path: PathBuf },
    /// Play a trace recorded with --trace against a virtual drive and report the first
    /// answer that differs from the recording (the drive file is not changed).
    #[command(
        after_help = "Example:\n  mtkflash --trace session.trace 3 w /m fw.bin       (on real hardware)\n  mtkflash sim new d.mtksim --chip SST39VF080 --firmware before.bin\n  mtkflash sim replay session.trace --drive d.mtksim --firmware fw.bin"
    )]
    Replay {
        trace: PathBuf,
        #[arg(long)]
        drive: PathBuf,
        /// The image that was written: fills the payload bytes the trace leaves out.
        #[arg(long)]
        firmware: Option<PathBuf>,
    },
    /// Serve the drive's packet face on a Unix socket (for the SG_IO interop shim).
    #[command(hide = true)]
    Serve {
        path: PathBuf,
        #[arg(long)]
        socket: PathBuf,
        /// Log every CDB to this file.
        #[arg(long)]
        log: Option<PathBuf>,
    },
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

fn summary(ui: &mut dyn Ui, r: &Report) {
    let mut s = if r.dry_run {
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
    ui.line(&s);
}

/// Scan and print the numbered list.
fn scan_and_list(force: bool, ui: &mut dyn Ui) -> Vec<crate::ops::scan::Found> {
    let found = crate::ops::scan::scan(Path::new("/"), Path::new("."), force, ui);
    for l in crate::ops::scan::render(&found) {
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
    let found = scan_and_list(force, ui);
    if found.is_empty() {
        return Err(Failure::new(
            Exit::Drive,
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
type Fields = serde_json::Map<String, serde_json::Value>;

fn put(out: &mut Fields, v: serde_json::Value) {
    if let serde_json::Value::Object(m) = v {
        out.extend(m);
    }
}

fn run_command(cli: Cli, ui: &mut dyn Ui, out: &mut Fields) -> Result<(), Failure> {
    match cli.command {
        Command::Info { port, drive } => {
            let t = Target::parse(&port)?;
            if let Target::Scsi(_) = t {
                return crate::ops::atapi::info(&t, drive.force, ui);
            }
            let i = flash::info(&t, &enter_opts(&drive)?, ui)?;
            put(
                out,
                serde_json::json!({
                    "identity": i.identity.describe(),
                    "boot_only": matches!(i.identity, crate::ops::device::Identity::BootOnly),
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
            Ok(())
        }
        Command::Read { port, file, drive } => {
            let t = Target::parse(&resolve_port(port, drive.force, ui)?)?;
            let r = flash::read_to_file(&t, &file, &enter_opts(&drive)?, ui)?;
            put(
                out,
                serde_json::json!({"file": file.display().to_string(), "chip": r.chip, "checksum": format!("{:04X}", r.sum16), "modelled_s": r.modelled.map(|d| d.as_secs_f64())}),
            );
            if let Some(m) = r.modelled {
                ui.line(&format!(
                    "device time {:.2} s (modelled), wall {:.2} s",
                    m.as_secs_f64(),
                    r.wall.as_secs_f64()
                ));
            }
            Ok(())
        }
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
            let atapi = match method {
                Some(m) => m == Method::Atapi,
                None => matches!(t, Target::Scsi(_)),
            };
            let r = if atapi {
                crate::ops::atapi::write(&t, &file, &opts, ui)?
            } else {
                flash::write(&t, &file, &opts, ui)?
            };
            summary(ui, &r);
            put(
                out,
                serde_json::json!({
                    "method": if r.atapi { "atapi" } else { "vendor" }, "dry_run": r.dry_run,
                    "chip": r.chip, "changed_bytes": r.changed_bytes, "erased_bytes": r.erase_bytes,
                    "programmed_bytes": r.program_bytes, "checksum": format!("{:04X}", r.sum16),
                    "backup": r.backup.as_ref().map(|b| b.display().to_string()),
                    "identity_before": r.identity_before, "identity_after": r.identity_after,
                    "nothing_to_do": r.nothing_to_do, "drive_not_booting": r.drive_not_booting,
                    "modelled_s": r.modelled.map(|d| d.as_secs_f64()), "bus_ops": r.bus_ops,
                    "wall_s": r.wall.as_secs_f64(),
                }),
            );
            Ok(())
        }
        Command::Verify {
            port,
            file,
            boot,
            drive,
        } => {
            let t = Target::parse(&port)?;
            flash::verify(&t, &file, boot, &enter_opts(&drive)?, ui).map(|r| {
                put(out, serde_json::json!({"chip": r.chip, "checksum": format!("{:04X}", r.sum16), "matches": true}));
            })
        }
        Command::Erase {
            port,
            boot,
            yes,
            drive,
        } => {
            let t = Target::parse(&port)?;
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
                return Err(Failure::usage(
                    "erase not confirmed",
                    "add --yes to erase without asking",
                ));
            }
            flash::erase(&t, boot, &enter_opts(&drive)?, ui).map(|r| {
                put(out, serde_json::json!({"chip": r.chip, "erased_bytes": r.erase_bytes, "boot_erased": boot}));
            })
        }
        Command::Check { file } => {
            let r = check::check(&file)?;
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
                Err(Failure::file(
                    format!("{}: {}", file.display(), r.problems.join("; ")),
                    "use a complete firmware image made for this drive",
                ))
            }
        }
        Command::Scan { force } => {
            let found = scan_and_list(force, ui);
            for f in &found {
                ui.event(&crate::ops::Event::Drive {
                    port: f.port.clone(),
                    what: f.what.clone(),
                    identity: f.identity.clone(),
                    vendor_intro: f.vendor.clone(),
                });
            }
            put(out, serde_json::json!({"drives": found.len()}));
            if found.is_empty() {
                return Err(Failure::new(
                    Exit::Drive,
                    "no drive found",
                    crate::error::UNTOUCHED,
                    "check cables, power and jumpers; run as root for the legacy ports",
                ));
            }
            Ok(())
        }
        Command::Chips => {
            ui.line(&format!(
                "{:<12} {:<9} {:<4} {:>5}  {:<16} {:<24} {}",
                "chip", "vendor", "bus", "KiB", "id", "erase units", "program"
            ));
            for c in chips::CHIPS {
                let id = match c.id {
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
                let bus = if c.bus == Bus::Spi { "SPI" } else { "par" };
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
            Ok(())
        }
        Command::Sim(s) => sim_command(s, ui),
        Command::Update {
            manifest,
            stop_on_error,
        } => {
            let outcomes = crate::ops::update::run(&manifest, stop_on_error, ui)?;
            let count = |st: &str| outcomes.iter().filter(|o| o.status == st).count();
            let summary = format!(
                "{} drive(s): {} updated, {} skipped, {} without a rule, {} failed",
                outcomes.len(),
                count("updated"),
                count("skipped"),
                count("no-rule"),
                count("failed")
            );
            ui.line(&summary);
            match crate::ops::update::exit_of(&outcomes) {
                Exit::Ok => {
                    put(
                        out,
                        serde_json::json!({"drives": outcomes.len(), "updated": count("updated"), "skipped": count("skipped"), "no_rule": count("no-rule"), "failed": 0}),
                    );
                    Ok(())
                }
                code => {
                    let first = outcomes
                        .iter()
                        .find(|o| o.status == "failed")
                        .expect("a failure");
                    Err(Failure::new(
                        code,
                        format!("{summary}; first failure on {}: {}", first.port, first.detail),
                        "each drive's state is in its line above; drives not listed as failed are done",
                        "fix the failing drive and run the same update again: updated drives are skipped",
                    ))
                }
            }
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "mtkflash", &mut out);
            let _ = std::io::stdout().write_all(&out);
            Ok(())
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| {
                    Failure::file(format!("cannot render the man page: {e}"), "report this")
                })?;
            let _ = std::io::stdout().write_all(&out);
            Ok(())
        }
    }
}

/// A virtual drive file for the `sim` commands.
fn load_sim(path: &Path) -> Result<Stored, Failure> {
    Stored::load(path)
        .map_err(|e| Failure::file(e.to_string(), "give a file made by `mtkflash sim new`"))
}

fn sim_command(cmd: SimCommand, ui: &mut dyn Ui) -> Result<(), Failure> {
    match cmd {
        SimCommand::New {
            path,
            chip,
            drive,
            firmware,
            bricked,
            intro,
        } => {
            let info = chips::by_name(&chip).ok_or_else(|| {
                Failure::usage(
                    format!("unknown chip '{chip}'"),
                    "`mtkflash chips` lists the known chips",
                )
            })?;
            let parts: Vec<&str> = drive.split('|').collect();
            if parts.len() != 3 {
                return Err(Failure::usage(
                    format!("--drive '{drive}' is not VENDOR|PRODUCT|REV"),
                    "e.g. --drive \"BTC|DVDRW IDE1008|0055\"",
                ));
            }
            let fw = firmware
                .map(|f| flash::load_firmware(&f))
                .transpose()?
                .map(|f| f.data);
            flash::check_output(&path, None)?;
            let settings = Settings {
                vendor: parts[0].into(),
                product: parts[1].into(),
                revision: parts[2].into(),
            };
            let intro = match intro {
                Some(_) if info.bus != chips::Bus::Spi => {
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
                "Created virtual drive {} ({} {} {}, {})",
                path.display(),
                parts[0],
                parts[1],
                parts[2],
                info.label()
            ));
            Ok(())
        }
        SimCommand::Show { path } => {
            let s = load_sim(&path)?;
            let a = crate::firmware::Analysis::of(&s.flash);
            let (meta, chip) = (s.meta.clone(), s.chip);
            let powered = s.into_channel();
            ui.line(&format!("Virtual drive: {}", path.display()));
            ui.line(&format!(
                "Chip:      {} ({} KiB, {:?}; vendor intro answers 0x{:02X})",
                chip.label(),
                chip.size / 1024,
                chip.bus,
                powered.drive.vendor_status()
            ));
            ui.line(&format!(
                "Settings:  {} | {} | {}",
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
            ui.line(&format!(
                "Faults:    {}",
                if meta.faults.is_empty() {
                    "none"
                } else {
                    &meta.faults
                }
            ));
            Ok(())
        }
        #[cfg(unix)]
        SimCommand::Serve { path, socket, log } => {
            crate::sim::serve::serve(&path, &socket, log.as_deref())
                .map_err(|e| Failure::file(e, "check the paths"))
        }
        #[cfg(not(unix))]
        SimCommand::Serve { .. } => Err(Failure::usage(
            "sim serve needs Unix sockets",
            "run it on Linux",
        )),
        SimCommand::Fault { path, spec, clear } => {
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
        SimCommand::PowerCycle { path } => {
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
        SimCommand::Replay {
            trace,
            drive,
            firmware,
        } => {
            let text = crate::transport::trace::read(&trace).map_err(|e| {
                Failure::file(
                    format!("cannot read {}: {e}", trace.display()),
                    "check the path",
                )
            })?;
            let st = load_sim(&drive)?;
            let image = firmware
                .map(|f| flash::load_firmware(&f))
                .transpose()?
                .map(|f| f.data);
            let mut ch = st.into_channel();
            let r = crate::sim::replay::replay(&text, &mut ch, image.as_deref()).map_err(|e| {
                Failure::file(
                    format!("{}: {e}", trace.display()),
                    "give a trace written by --trace",
                )
            })?;
            match r.divergence {
                None => {
                    ui.line(&format!(
                        "replay: {} lines, {} answers compared, {} payload writes{}: the model answered as recorded",
                        r.lines,
                        r.compared,
                        r.redacted_writes,
                        if r.skipped_commands > 0 { format!(", {} pass-through commands not replayed", r.skipped_commands) } else { String::new() }
                    ));
                    Ok(())
                }
                Some(d) => Err(Failure::new(
                    Exit::Write,
                    format!("the model differs at line {} of {}: `{}` recorded 0x{:X}, the model answered 0x{:X}", d.line, trace.display(), d.text, d.recorded, d.answered),
                    "virtual drive file not changed (replays run in memory)",
                    "if the trace comes from real hardware, this is where the model (src/inference.rs, src/sim) needs correcting",
                )),
            }
        }
        SimCommand::Export { path, out } => {
            let s = load_sim(&path)?;
            flash::write_new_file(&out, &s.flash)?;
            ui.line(&format!(
                "Exported {} KiB to {}",
                s.flash.len() / 1024,
                out.display()
            ));
            Ok(())
        }
    }
}

/// Run the tool with `args` (program name first); returns the exit code.
/// A usage error before the command line is understood: a JSON error event when
/// `--json` was asked for, the three-line message otherwise.
fn early_error(json: bool, f: &Failure) -> i32 {
    if json {
        let e = crate::ops::Event::Error {
            exit: f.code(),
            error: f.what.clone(),
            drive: f.drive.clone(),
            next: f.next.clone(),
        };
        let _ = writeln!(std::io::stdout(), "{}", e.to_line());
    } else {
        let _ = writeln!(std::io::stderr(), "{f}");
    }
    f.code()
}

pub fn main_with(args: Vec<String>) -> i32 {
    main_os(args.into_iter().map(std::ffi::OsString::from).collect())
}

/// [`main_with`] for the arguments as the OS gives them: file names need not be UTF-8
/// (Linux allows any bytes but / and NUL), so they are passed on as they are.
pub fn main_os(args: Vec<std::ffi::OsString>) -> i32 {
    use std::ffi::OsString;
    let lossy: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let json = lossy.iter().any(|a| a == "--json");
    let rest = &lossy[1.min(lossy.len())..];
    let args: Vec<OsString> = if legacy::is_legacy(rest) {
        match legacy::normalise(rest) {
            Ok(v) => {
                // The normaliser works on text; every word it passes on is given back
                // as the OS gave it (a file name with bytes that are not UTF-8 stays so).
                let mut used = vec![false; args.len()];
                let mut out = vec![args[0].clone()];
                for w in v {
                    match (1..args.len()).find(|&j| !used[j] && lossy[j] == w) {
                        Some(j) => {
                            used[j] = true;
                            out.push(args[j].clone());
                        }
                        None => out.push(OsString::from(w)),
                    }
                }
                out
            }
            Err(f) => return early_error(json, &f),
        }
    } else {
        args
    };
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            if !json {
                let _ = e.print();
            }
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ if json => {
                    let what = e
                        .to_string()
                        .lines()
                        .next()
                        .unwrap_or("usage error")
                        .trim_start_matches("error: ")
                        .to_string();
                    early_error(
                        true,
                        &Failure::usage(
                            what,
                            "see `mtkflash --help` (or `mtkflash <command> --help`) for the forms",
                        ),
                    )
                }
                _ => {
                    let _ = writeln!(std::io::stderr(), "drive: {}", crate::error::UNTOUCHED);
                    let _ = writeln!(std::io::stderr(), "next:  see `mtkflash --help` (or `mtkflash <command> --help`) for the forms");
                    Exit::Usage as i32
                }
            };
        }
    };
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .try_init();
    crate::transport::trace::set_path(cli.trace.clone());
    let (command, port, file) = describe_command(&cli.command);
    let mut fields = Fields::new();
    if cli.json {
        let mut ui = render::JsonUi::default();
        ui.emit(&crate::ops::Event::Start {
            version: crate::ops::events::SCHEMA_VERSION,
            tool: VERSION.into(),
            command,
            port,
            file,
        });
        match run_command(cli, &mut ui, &mut fields) {
            Ok(()) => {
                ui.emit(&crate::ops::Event::Result {
                    ok: true,
                    exit: 0,
                    fields,
                });
                0
            }
            Err(f) => {
                ui.emit(&crate::ops::Event::Error {
                    exit: f.code(),
                    error: f.what.clone(),
                    drive: f.drive.clone(),
                    next: f.next.clone(),
                });
                f.code()
            }
        }
    } else {
        let mut ui = TermUi::new(cli.quiet, false);
        match run_command(cli, &mut ui, &mut fields) {
            Ok(()) => 0,
            Err(f) => {
                ui.end();
                let _ = writeln!(std::io::stderr(), "{f}");
                f.code()
            }
        }
    }
}

/// (command, port, file) for the start event.
fn describe_command(c: &Command) -> (String, Option<String>, Option<String>) {
    let f = |p: &PathBuf| Some(p.display().to_string());
    match c {
        Command::Info { port, .. } => ("info".into(), Some(port.clone()), None),
        Command::Read { port, file, .. } => ("read".into(), Some(port.clone()), f(file)),
        Command::Write { port, file, .. } => ("write".into(), Some(port.clone()), f(file)),
        Command::Verify { port, file, .. } => ("verify".into(), Some(port.clone()), f(file)),
        Command::Erase { port, .. } => ("erase".into(), Some(port.clone()), None),
        Command::Check { file } => ("check".into(), None, f(file)),
        Command::Scan { .. } => ("scan".into(), None, None),
        Command::Chips => ("chips".into(), None, None),
        Command::Sim(_) => ("sim".into(), None, None),
        Command::Completions { .. } => ("completions".into(), None, None),
        Command::Update { manifest, .. } => ("update".into(), None, f(manifest)),
        Command::Man => ("man".into(), None, None),
    }
}
