//! `update --manifest FILE`: update many drives one after another.
//!
//! Manifest (JSON; paths relative to the manifest's folder):
//! ```json
//! {
//!   "drives": ["3", "sim:a.mtksim"],
//!   "rules": [
//!     { "vendor": "BTC", "product": "DVDRW IDE1008", "firmware": "v0758.hex",
//!       "min_revision": "0050", "max_revision": "0757", "boot": false, "force": false },
//!     { "vendor": "HL-DT-ST", "product": "BD-RE WH16NS60", "firmware": "wh16ns60-1.03.bin",
//!       "family": "mt1959" }
//!   ]
//! }
//! ```
//! Without "drives", every drive `scan` finds is considered. For each drive the first
//! rule whose vendor and product match (ignoring case and padding) applies; drives at the
//! firmware's revision are skipped, and so are revisions outside the rule's range
//! (compared as strings, as revisions are written: "0055" < "0758"). Each update is a
//! full `write` with its checks, backup and verification. A rule with "family" (mt1959,
//! mt1339) is for drives of that later family: its image is checked as theirs, and the
//! drive is written through its own updater (its calibration kept).

use crate::connect::{self, Connect, Target};
use crate::error::{Exit, Failure, Kind};
use crate::files::Backup;
use crate::firmware::Image;
use crate::ops::session::{identify, in_vendor_mode, EnterOptions, Identity};
use crate::ops::{family, WriteOptions};
use crate::report::{Event, Recorder, Ui};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub drives: Option<Vec<String>>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub vendor: String,
    pub product: String,
    pub firmware: PathBuf,
    #[serde(default)]
    pub min_revision: Option<String>,
    #[serde(default)]
    pub max_revision: Option<String>,
    #[serde(default)]
    pub boot: bool,
    #[serde(default)]
    pub force: bool,
    /// A later family's drives (mt1959, mt1339), written through their own updater.
    #[serde(default)]
    pub family: Option<String>,
}

/// What happened to one drive of the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Updated,
    Skipped,
    Failed(Kind),
    NoRule,
    /// `--stop-on-error` stopped before this drive.
    NotTried,
}

impl Status {
    /// The `drive-result` event's status word.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Updated => "updated",
            Status::Skipped => "skipped",
            Status::Failed(_) => "failed",
            Status::NoRule => "no-rule",
            Status::NotTried => "not-tried",
        }
    }
    pub fn exit(self) -> Exit {
        match self {
            Status::Failed(k) => k.exit(),
            _ => Exit::Ok,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub port: String,
    pub status: Status,
    pub detail: String,
}

/// A rule's family, when it names one.
fn rule_family(r: &Rule) -> Result<Option<crate::firmware::family::Family>, Failure> {
    r.family
        .as_deref()
        .map(|f| {
            crate::firmware::family::Family::parse(f).map_err(|e| {
                Failure::usage(
                    format!("rule for {} {}: {e}", r.vendor, r.product),
                    "use \"family\": \"mt1959\" or \"mt1339\", or leave it out for vendor mode",
                )
            })
        })
        .transpose()
}

pub fn load_manifest(path: &Path) -> Result<(Manifest, PathBuf), Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::file(
            format!("cannot read the manifest {}: {e}", path.display()),
            "check the path",
        )
    })?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| {
        Failure::file(
            format!("{}: not a valid manifest: {e}", path.display()),
            "see `mtkflash update --help` for the format",
        )
    })?;
    if m.rules.is_empty() {
        return Err(Failure::file(
            format!("{}: the manifest has no rules", path.display()),
            "add at least one rule",
        ));
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((m, base))
}

/// The drive's (vendor, product, revision). A drive running boot code only has no
/// INQUIRY; its model is read from the INQUIRY template in its flash (vendor mode), and
/// its revision is reported as "boot-only" so that it is always (re)written; a later
/// family's drive running its loader only says "BOOT" and is always written too. The
/// question is not traced (the write after it is).
fn identity_of(port: &str, conn: &Connect) -> Result<Option<(String, String, String)>, Failure> {
    let t = Target::parse(port)?;
    let quiet = &mut Recorder::default();
    let conn = &Connect {
        trace: None,
        log_trace: None,
        ..conn.clone()
    };
    if super::ask_family(&t, None) {
        let asked = connect::with_packet(&t, conn, quiet, |tr, _| {
            match family::family_here(tr, None)? {
                Some(f) => family::facts(tr, f).map(|x| {
                    let rev = if x.loader_only {
                        "boot-only".into()
                    } else {
                        x.revision
                    };
                    Some((x.vendor, x.product, rev))
                }),
                None => Ok(None),
            }
        })?;
        if asked.is_some() || !matches!(t, Target::Scsi(_)) {
            return Ok(asked);
        }
    }
    connect::with_device(&t, conn, quiet, |dev, ui| match identify(dev)? {
        Identity::Atapi {
            vendor,
            product,
            revision,
            ..
        } => Ok(Some((vendor, product, revision))),
        Identity::BootOnly => {
            let opts = EnterOptions {
                attempts: 3,
                chip: None,
                force: false,
            };
            let window = in_vendor_mode(dev, &opts, ui, |s, _| {
                let mut window = vec![0u8; 0x5000];
                s.driver()
                    .read(0x4000, &mut window[0x4000..])
                    .map_err(|e| {
                        Failure::new(
                            Kind::DriveError,
                            e.to_string(),
                            crate::error::NOT_CHANGED,
                            "power-cycle the drive",
                        )
                    })?;
                Ok(window)
            })?;
            Ok(crate::firmware::find_identity(&window)
                .map(|i| (i.vendor, i.product, "boot-only".to_string())))
        }
    })
}

/// One trace per drive: `t.trace` becomes `t.sim_a.mtksim.trace` for `sim:a.mtksim`
/// (a trace never replaces a file, so the drives cannot share one).
fn per_drive(trace: &Path, port: &str) -> PathBuf {
    let tag: String = port
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = trace
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let (stem, ext) = match name.split_once('.') {
        Some((s, e)) => (s.to_string(), format!(".{e}")),
        None => (name, String::new()),
    };
    trace.with_file_name(format!("{stem}.{tag}{ext}"))
}

/// Run the batch. Returns every drive's outcome; stops after the first failure when
/// `stop_on_error`.
pub fn run(
    manifest: &Path,
    conn: &Connect,
    stop_on_error: bool,
    ui: &mut dyn Ui,
) -> Result<Vec<Outcome>, Failure> {
    let (m, base) = load_manifest(manifest)?;
    // Check every firmware file before touching any drive.
    let mut images = Vec::new();
    for r in &m.rules {
        let p = base.join(&r.firmware);
        let fam = rule_family(r)?;
        let image = match fam {
            Some(f) => {
                let image = crate::files::load_image(&p)?;
                family::check_image(f, &image)?;
                image
            }
            None => super::load_for_write(&p, r.boot, &mut Recorder::default())?,
        };
        let rev = match fam {
            Some(crate::firmware::family::Family::Mt1959) => {
                crate::firmware::family::identity_of(image.data()).map(|i| i.2)
            }
            _ => image.analysis.identity.as_ref().map(|i| i.revision.clone()),
        };
        let rev = rev.ok_or_else(|| {
            Failure::file(
                format!(
                    "{}: the image carries no identity, so its revision is unknown",
                    p.display()
                ),
                "use the drive maker's image",
            )
        })?;
        images.push((p, rev, image));
    }
    let ports: Vec<String> = match &m.drives {
        Some(d) => d.clone(),
        None => crate::ops::scan::scan(
            Path::new("/"),
            Path::new("."),
            false,
            false,
            &mut Recorder::default(),
        )
        .into_iter()
        .map(|f| f.port)
        .collect(),
    };
    let mut out = Vec::new();
    let mut stopped = false;
    for port in ports {
        if stopped {
            // Every drive is accounted for: the ones never tried are said to be.
            let o = Outcome {
                port: port.clone(),
                status: Status::NotTried,
                detail: "not tried (--stop-on-error stopped at an earlier failure)".into(),
            };
            ui.line(&format!("{port}: {} ({})", o.status.as_str(), o.detail));
            ui.event(&Event::DriveResult {
                port,
                status: o.status.as_str().into(),
                detail: o.detail.clone(),
                exit: 0,
                code: None,
            });
            out.push(o);
            continue;
        }
        let conn = Connect {
            trace: conn.trace.as_deref().map(|p| per_drive(p, &port)),
            ..conn.clone()
        };
        let o = one(&port, &conn, &m.rules, &images, ui);
        ui.line(&format!("{port}: {} ({})", o.status.as_str(), o.detail));
        ui.event(&Event::DriveResult {
            port: o.port.clone(),
            status: o.status.as_str().into(),
            detail: o.detail.clone(),
            exit: o.status.exit() as i32,
            code: match o.status {
                Status::Failed(k) => Some(k.code().into()),
                _ => None,
            },
        });
        let failed = matches!(o.status, Status::Failed(_));
        out.push(o);
        if failed && stop_on_error {
            ui.line("stopping at the first failure (--stop-on-error)");
            stopped = true;
        }
    }
    Ok(out)
}

fn one(
    port: &str,
    conn: &Connect,
    rules: &[Rule],
    images: &[(PathBuf, String, Image)],
    ui: &mut dyn Ui,
) -> Outcome {
    let done = |status: Status, detail: String| Outcome {
        port: port.to_string(),
        status,
        detail,
    };
    let (vendor, product, revision) = match identity_of(port, conn) {
        Ok(Some(i)) => i,
        Ok(None) => {
            return done(Status::Skipped, "the drive runs boot code only and its flash names no model; recover it with `mtkflash write`".into())
        }
        Err(f) => return done(Status::Failed(f.kind), f.what.clone()),
    };
    let boot_only = revision == "boot-only";
    let Some((i, rule)) = rules.iter().enumerate().find(|(_, r)| {
        r.vendor.trim().eq_ignore_ascii_case(vendor.trim())
            && r.product.trim().eq_ignore_ascii_case(product.trim())
    }) else {
        return done(Status::NoRule, format!("no rule for {vendor} {product}"));
    };
    let (path, target_rev, _) = &images[i];
    if revision == *target_rev {
        return done(Status::Skipped, format!("already at {revision}"));
    }
    let in_range = |r: &str| {
        rule.min_revision
            .as_ref()
            .map(|m| r >= m.as_str())
            .unwrap_or(true)
            && rule
                .max_revision
                .as_ref()
                .map(|m| r <= m.as_str())
                .unwrap_or(true)
    };
    if !boot_only && !in_range(&revision) {
        return done(
            Status::Skipped,
            format!("revision {revision} is outside the rule's range"),
        );
    }
    let t = match Target::parse(port) {
        Ok(t) => t,
        Err(f) => return done(Status::Failed(f.kind), f.what.clone()),
    };
    let opts = WriteOptions {
        write_boot: rule.boot,
        force: rule.force,
        backup: Backup::Auto,
        ..WriteOptions::default()
    };
    ui.line(&format!(
        "{port}: {vendor} {product} {revision} -> {target_rev}"
    ));
    let written = match rule_family(rule) {
        Ok(Some(f)) => {
            super::own_updater_write(&t, conn, Some(f), path, &opts, &mut Recorder::default())
        }
        Ok(None) => super::write(&t, conn, path, &opts, &mut Recorder::default()),
        Err(f) => Err(f),
    };
    match written {
        Ok(r) => done(
            Status::Updated,
            format!(
                "{revision} -> {}; backup {}",
                r.identity_after.unwrap_or_default(),
                r.backup
                    .map(|b| b.display().to_string())
                    .unwrap_or_else(|| "none".into())
            ),
        ),
        Err(f) => done(
            Status::Failed(f.kind),
            format!("{} (drive: {})", f.what, f.drive),
        ),
    }
}

/// The exit code of a batch: 0 when no drive failed, else the first failure's code.
pub fn exit_of(outcomes: &[Outcome]) -> Exit {
    first_failure(outcomes).map_or(Exit::Ok, |(_, k)| k.exit())
}

/// The first drive that failed, with the kind of its failure.
pub fn first_failure(outcomes: &[Outcome]) -> Option<(&Outcome, Kind)> {
    outcomes.iter().find_map(|o| match o.status {
        Status::Failed(k) => Some((o, k)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_drive_gets_its_own_trace() {
        assert_eq!(
            per_drive(Path::new("d/t.trace.gz"), "sim:a.mtksim"),
            Path::new("d/t.sim_a.mtksim.trace.gz")
        );
        assert_eq!(per_drive(Path::new("t"), "3"), Path::new("t.3"));
        assert_ne!(
            per_drive(Path::new("t.trace"), "3"),
            per_drive(Path::new("t.trace"), "4")
        );
    }
}
