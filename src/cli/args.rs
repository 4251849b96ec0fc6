//! The command line's shape: clap definitions of every command and option.

use super::VERSION;
use crate::error::EXIT_CODE_HELP;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub const ABOUT: &str = "Flasher for MediaTek-chipset optical drives: CD/DVD writers of the IDE and SATA era (vendor mode, BTC update), MT1959/MT1939 Blu-ray writers (LG/HL-DT-ST, ASUS) and MT1339 drives (TSST) through their own updaters";

#[cfg(not(windows))]
pub const AFTER_HELP: &str = "\
Classic form (as MTKFlash under DOS; case-insensitive):
  mtkflash <port> <r|w> [/b] [/m] <file>
    r  read the whole flash into <file>          w  write <file> to the flash
    /b also write the boot code (0x0000-0x3FFF)  /m accepted, no effect
  e.g.  mtkflash 3 w /m rpc1v758.bin    mtkflash 3 r backup.bin    mtkflash sim w /m fw.hex

Ports: 1 primary master (0x1F0), 2 primary slave, 3 secondary master (0x170),
4 secondary slave; 0x970:master style bases; sim (default virtual drive), sim:PATH.
/dev/sgN (Linux) or a drive letter (Windows) for SATA and USB drives.

MT1959/MT1939 (--family mt1959) and MT1339 (--family mt1339) drives are found by asking
them (INQUIRY, READ BUFFER); their own boot config and calibration are always kept.
  e.g.  mtkflash write /dev/sg2 HL-DT-ST-BD-RE_WH16NS60-1.05.bin --dry-run
";

#[cfg(windows)]
pub const AFTER_HELP: &str = "\
Drives on Windows: a drive letter (E:) or \\\\.\\CdRom0 for IDE, SATA and USB drives (run from
an elevated prompt: \"Run as administrator\"). The drive's own update by default;
--method vendor for vendor mode through ATA pass-through (experimental). Ports 1-4 need
raw port access, which Windows gives no program: use the rescue image or Linux for them.
  e.g.  mtkflash write E: rpc1v758.bin    mtkflash read E: backup.bin --method vendor

Classic form (as MTKFlash under DOS; case-insensitive):
  mtkflash <port> <r|w> [/b] [/m] <file>
    r  read the whole flash into <file>          w  write <file> to the flash
    /b also write the boot code (0x0000-0x3FFF)  /m accepted, no effect
  e.g.  mtkflash E: w /m C:\\Firmware\\rpc1v758.bin    mtkflash sim w /m fw.hex

MT1959/MT1939 (--family mt1959) and MT1339 (--family mt1339) drives are found by asking
them (INQUIRY, READ BUFFER); their own boot config and calibration are always kept.
  e.g.  mtkflash write E: HL-DT-ST-BD-RE_WH16NS60-1.05.bin --dry-run
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
    #[cfg_attr(
        not(windows),
        doc = "Leave no diagnostic log (by default a run that talks to a drive leaves one in $XDG_STATE_HOME/mtkflash/logs or ~/.cache/mtkflash/logs: its events and the trace of its session, never firmware; `mtkflash report` bundles it)."
    )]
    #[cfg_attr(
        windows,
        doc = "Leave no diagnostic log (by default a run that talks to a drive leaves one in %LOCALAPPDATA%\\mtkflash\\logs: its events and the trace of its session, never firmware; `mtkflash report` bundles it)."
    )]
    #[arg(long, global = true)]
    pub no_log: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct DriveOpts {
    /// The vendor intro: once, then every 50 ms for N - 1 more seconds (a drive still
    /// starting answers late); when interactive, then asks to power-cycle the drive.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// The chip, when its ID is unknown or shared by variants (see `mtkflash chips`); never overrides a chip that was identified.
    #[arg(long, value_name = "NAME")]
    pub chip: Option<String>,
    /// Go ahead despite a safety refusal: firmware for another drive model, or ports that
    /// a kernel driver owns.
    #[arg(long)]
    pub force: bool,
    /// The drive is of a later family, updated by its own firmware: mt1959 (MT1959/MT1939
    /// Blu-ray writers: LG/HL-DT-ST, ASUS) or mt1339 (TSST). Found by asking the drive
    /// when left out; give it when the drive runs its loader only.
    #[arg(long, value_name = "NAME", value_parser = ["mt1959", "mt1339"])]
    pub family: Option<String>,
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
        /// dead drives; backup and byte-for-byte verify; on /dev/sgN and drive letters
        /// through ATA pass-through, experimental). atapi: the drive's own BTC WRITE
        /// BUFFER update (working drives; pass-through devices). Default: atapi for
        /// /dev/sgN, /dev/srN and drive letters, vendor otherwise.
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
        /// Also erase the boot code. Afterwards NO software can revive the drive (only an
        /// external flash programmer): needs --destroy-boot-code as well, never asked.
        #[arg(short = 'b', long)]
        boot: bool,
        /// The separate confirmation --boot needs: "I have an external programmer".
        #[arg(long, requires = "boot")]
        destroy_boot_code: bool,
        #[arg(short = 'y', long)]
        yes: bool,
        /// Save the flash to FILE (must not exist) before erasing; default
        /// erase.backup.bin in this folder (or -2, -3, ...).
        #[arg(long, value_name = "FILE", conflicts_with = "no_backup")]
        backup: Option<PathBuf>,
        /// Do not save the flash first.
        #[arg(long)]
        no_backup: bool,
        #[command(flatten)]
        drive: DriveOpts,
    },
    /// Inspect a firmware file offline: format, size, identity, banks, checksum, boot code.
    #[command(after_help = "Example:\n  mtkflash check fixtures/btc-ide1008-0758.hex")]
    Check { file: PathBuf },
    /// List the flash chips this tool knows, with IDs, erase units and timings.
    Chips,
    #[cfg_attr(
        not(windows),
        doc = "List drives: legacy ports 1-4, PCI IDE channels, /dev/sgN devices, virtual drives in this folder; each with its identity and whether it answers the MTK vendor intro."
    )]
    #[cfg_attr(
        windows,
        doc = "List drives: the optical drives (\\\\.\\CdRomN) and virtual drives in this folder; each with its identity, and with --intro whether it answers the MTK vendor intro."
    )]
    #[cfg_attr(
        not(windows),
        command(
            after_help = "Example:\n  sudo mtkflash scan\n\nThe classic form without a port (mtkflash r /m orig.bin) scans and asks."
        )
    )]
    #[cfg_attr(
        windows,
        command(
            after_help = "Example (from an elevated prompt):\n  mtkflash scan --intro\n\nThe classic form without a port (mtkflash r /m orig.bin) scans and asks."
        )
    )]
    Scan {
        /// Probe ports even when a kernel driver owns them.
        #[arg(long)]
        force: bool,
        /// Also ask pass-through devices (/dev/sgN, drive letters) the MTK vendor intro
        /// through ATA pass-through. Not harmless: a drive that answers is in vendor
        /// mode until the outro and reset that follow; a drive behind a controller that
        /// mishandles it may need a power cycle.
        #[arg(long)]
        intro: bool,
    },
    /// Virtual drives for testing and practice.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Traces written by --trace.
    #[command(subcommand)]
    Trace(TraceCommand),
    /// Bundle a diagnostic log (the newest, or LOG) with what `scan` sees and the chip
    /// table's version into one file to send: no firmware is in it.
    #[command(after_help = "Example:\n  mtkflash report            (after a run that failed)")]
    Report { log: Option<PathBuf> },
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
        /// Flash chip (see `mtkflash chips`) of an 8032-era drive.
        #[arg(long, required_unless_present = "family")]
        chip: Option<String>,
        /// A drive of a later family instead: mt1959 (MT1959/MT1939 Blu-ray writer,
        /// 2 MiB) or mt1339 (TSST, 256 KiB), with its own random calibration and serial.
        #[arg(long, value_parser = ["mt1959", "mt1339"], conflicts_with_all = ["chip", "intro", "bricked"])]
        family: Option<String>,
        /// Identity as "VENDOR|PRODUCT|REV" (default: BTC|DVDRW IDE1008|0055; with
        /// --family, HL-DT-ST|BD-RE WH16NS60|1.05 or TSSTcorp|DVD-ROM SH-D162D|BC06).
        #[arg(long)]
        drive: Option<String>,
        /// With --family: the unit's seed (calibration and serial), for repeatable drives;
        /// random when left out.
        #[arg(long, requires = "family")]
        unit: Option<u64>,
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
        after_help = "Examples:\n  mtkflash sim fault d.mtksim 'power-loss@op=200000'\n  mtkflash sim fault d.mtksim 'program-fail@addr=0x5000;read-flip@rate=0.0001,seed=7'\n  mtkflash sim fault d.mtksim --clear\n\nGrammar: FAULT[;FAULT...] with FAULT one of power-loss@op=N, program-fail@addr=A,\nerase-fail@sector=N, stuck-busy@op=N, read-flip@rate=R,seed=S, intro-window=MS,\nintro-late=MS, signal@op=N,sig=INT|TERM|HUP, no-intro, bus-float."
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
        /// At a difference, say in words what was read and show the accesses before it.
        #[arg(long)]
        explain: bool,
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
        /// The real time between requests, times N, passes on the drive's clock too
        /// (for clients whose waits the shim cannot see, as under Wine). 0: only the
        /// client's own sleeps move the clock.
        #[arg(long, default_value_t = 0, value_name = "N")]
        time_scale: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// Print a trace (either version, gzip or not) as one access a line (the version 1
    /// text, docs/trace-format.md), to stdout.
    #[command(after_help = "Example:\n  mtkflash trace show info.trace | less")]
    Show { file: PathBuf },
}
