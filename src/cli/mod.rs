//! The command line: clap definitions (`args`), the classic-form normaliser (`legacy`),
//! one handler per command (`commands`), the virtual-drive commands (`sim_cmd`) and
//! rendering (`render`). Here: the entry point that ties them together.

pub mod args;
mod commands;
pub mod legacy;
pub mod log;
pub mod render;
mod sim_cmd;

pub use args::{Cli, Command, DriveOpts, Method, SimCommand};

use crate::connect::Connect;
use crate::error::{Exit, Failure};
use crate::report::{Event, Ui};
use clap::Parser;
use commands::Fields;
use render::TermUi;
use std::io::Write;
use std::path::PathBuf;

/// `0.1.0 (git 1a2b3c4d5e6f, i686-unknown-linux-musl)`: the release, the revision and
/// the target it was built for (which of the downloads this is).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("MTKFLASH_GIT_REV"),
    ", ",
    env!("MTKFLASH_TARGET"),
    ")"
);

/// Run the tool with `args` (program name first); returns the exit code.
/// A usage error before the command line is understood: a JSON error event when
/// `--json` was asked for, the three-line message otherwise.
fn early_error(json: bool, f: &Failure) -> i32 {
    if json {
        let _ = writeln!(std::io::stdout(), "{}", Event::error(f).to_line());
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
    let line: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match parse(args) {
        Ok(cli) => run(cli, &line),
        Err(code) => code,
    }
}

/// The command line as clap understands it; the classic form is normalised first.
/// Errors are reported here (JSON or the three lines); the exit code comes back.
fn parse(args: Vec<std::ffi::OsString>) -> Result<Cli, i32> {
    let lossy: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let json = lossy.iter().any(|a| a == "--json");
    let rest = &lossy[1.min(lossy.len())..];
    let args = if legacy::is_legacy(rest) {
        let words = legacy::normalise(rest).map_err(|f| early_error(json, &f))?;
        as_given(&args, &lossy, words)
    } else {
        args
    };
    Cli::try_parse_from(&args).map_err(|e| clap_error(json, &e))
}

/// The normaliser works on text; every word it passes on is given back as the OS gave
/// it (a file name with bytes that are not UTF-8 stays so).
fn as_given(
    args: &[std::ffi::OsString],
    lossy: &[String],
    words: Vec<String>,
) -> Vec<std::ffi::OsString> {
    let mut used = vec![false; args.len()];
    let mut out = vec![args[0].clone()];
    for w in words {
        match (1..args.len()).find(|&j| !used[j] && lossy[j] == w) {
            Some(j) => {
                used[j] = true;
                out.push(args[j].clone());
            }
            None => out.push(std::ffi::OsString::from(w)),
        }
    }
    out
}

/// Report clap's refusal (or its help and version output) and give the exit code.
fn clap_error(json: bool, e: &clap::Error) -> i32 {
    const NEXT: &str = "see `mtkflash --help` (or `mtkflash <command> --help`) for the forms";
    if !json {
        let _ = e.print();
    }
    match e.kind() {
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
        _ if json => {
            let what = e
                .to_string()
                .lines()
                .next()
                .unwrap_or("usage error")
                .trim_start_matches("error: ")
                .to_string();
            early_error(true, &Failure::usage(what, NEXT))
        }
        _ => {
            let _ = writeln!(std::io::stderr(), "drive: {}", crate::error::UNTOUCHED);
            let _ = writeln!(std::io::stderr(), "next:  {NEXT}");
            Exit::Usage as i32
        }
    }
}

/// Run a parsed command with the renderer it asks for; the exit code. A command that
/// talks to a drive leaves a diagnostic log (`log`), named on stderr when it failed.
fn run(cli: Cli, line: &[String]) -> i32 {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .try_init();
    let (command, port, file) = describe_command(&cli.command);
    // (Every command that talks to a drive: the ones on one port, and `scan` and
    // `update`, which talk to several.)
    let touches =
        port.is_some() || matches!(cli.command, Command::Scan { .. } | Command::Update { .. });
    let mut run_log = match (touches, cli.no_log) {
        (true, false) => log::RunLog::start(line, &command, cli.trace.as_deref()),
        _ => None,
    };
    let conn = Connect {
        force: false,
        trace: cli.trace.clone(),
        log_trace: run_log.as_ref().and_then(|l| l.trace_path()),
    };
    let mut fields = Fields::new();
    if cli.json {
        let mut json = render::JsonUi::default();
        let mut ui = log::Tee {
            inner: &mut json,
            log: run_log.as_mut(),
        };
        ui.emit(&Event::Start {
            version: crate::report::events::SCHEMA_VERSION,
            tool: VERSION.into(),
            command,
            port,
            file,
        });
        let last = match commands::run(cli.command, &conn, cli.json, &mut ui, &mut fields) {
            Ok(()) => Event::Result {
                ok: true,
                exit: 0,
                fields,
            },
            Err(f) => Event::error(&f),
        };
        let exit = match last {
            Event::Error { exit, .. } => exit,
            _ => 0,
        };
        if let Some(l) = ui.log.as_deref_mut() {
            l.record_event(&last);
        }
        let written = run_log.and_then(|l| l.finish(exit));
        if let (Some(p), true) = (&written, exit != 0) {
            json.emit(&Event::info(&format!(
                "diagnostic log: {} (send it with `mtkflash report`)",
                p.display()
            )));
        }
        json.emit(&last);
        exit
    } else {
        let mut term = TermUi::new(cli.quiet, false);
        let mut ui = log::Tee {
            inner: &mut term,
            log: run_log.as_mut(),
        };
        let r = commands::run(cli.command, &conn, cli.json, &mut ui, &mut fields);
        if let (Err(f), Some(l)) = (&r, ui.log.as_deref_mut()) {
            l.record_event(&Event::error(f));
        }
        let exit = r.as_ref().map_or_else(|f| f.code(), |()| 0);
        let written = run_log.and_then(|l| l.finish(exit));
        match r {
            Ok(()) => 0,
            Err(f) => {
                term.end();
                let _ = writeln!(std::io::stderr(), "{f}");
                if let Some(p) = written {
                    let _ = writeln!(
                        std::io::stderr(),
                        "log:   {} (send it with `mtkflash report`)",
                        p.display()
                    );
                }
                exit
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
        Command::Trace(_) => ("trace".into(), None, None),
        Command::Report { log } => ("report".into(), None, log.as_ref().and_then(f)),
        Command::Completions { .. } => ("completions".into(), None, None),
        Command::Update { manifest, .. } => ("update".into(), None, f(manifest)),
        Command::Man => ("man".into(), None, None),
    }
}
