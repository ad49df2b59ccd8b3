//! `etcd-backup save`: sets up the backup dir (created 0700, checked for `--prune`, locked) and
//! the store, runs the save engine ([`crate::backup::save`]), prints what it did and picks the
//! exit code.

use crate::backup::catalog;
use crate::backup::save::{self, one_off, Outcome, Saved, Skipped};
use crate::backup::set;
use crate::cli::{OutputFormat, SaveArgs};
use crate::diagnostics::{exit, ExitStatus};
use crate::metrics::SaveReport;
use crate::output::Printer;
use crate::settings::Settings;

/// Saves a backup; `report` receives what `--metrics-file` needs beyond the exit code.
pub(crate) fn run(
    settings: &Settings,
    printer: &Printer,
    args: &SaveArgs,
    report: &mut SaveReport,
) -> anyhow::Result<ExitStatus> {
    report.backup_dir = Some(settings.backup_dir.clone());
    let clock = save::begin(args.timeout)?;
    let prep = save::prepare(settings, args, printer)?;
    // A bad URL or store setting is refused before any work; an unreachable store or wrong
    // credentials only show at upload time, after the local backup is safe.
    let remote = set::open_remote(settings)?;
    // `save FILE`, etcdctl's habit: that one file, written and checked as any backup is, in
    // FILE's directory (clap keeps --prune, --label, --with-pki and --remote away from it).
    let one_off = args
        .file
        .as_deref()
        .map(|f| one_off::target(f, prep.layers, &settings.backup_dir))
        .transpose()?;
    let dir = match &one_off {
        Some(t) => &t.dir,
        None => &settings.backup_dir,
    };
    super::create_backup_dir(dir)?;
    if args.prune {
        // Refuse before streaming what could not be pruned afterwards.
        set::check_dir(dir)?;
    }
    // A one-off file outside the backup dir races no save or prune, and gets no lock file.
    let lock = match &one_off {
        Some(t) if !t.in_backup_dir => None,
        _ => Some(set::lock_dir(dir)?),
    };
    if let Some(lock) = &lock {
        printer.detail(format!("holding {}", lock.path().display()));
    }
    let place = save::Place {
        dir,
        one_off: one_off.as_ref(),
        lock,
        remote: remote.as_ref(),
    };
    // `--prune`: the backup dir, then the store, each by the retention rules.
    let prune = args.prune.then_some(&settings.retention);
    let mut saved = match save::save(clock, prep, args, place, prune, printer, report)? {
        Outcome::Skipped(skip) => {
            print_skipped(&skip, printer);
            report.skipped = true;
            return Ok(exit::SUCCESS);
        }
        Outcome::Saved(saved) => saved,
    };
    print_saved(&saved, args.prune, remote.is_some(), printer)?;
    if let Some(e) = saved.after.stop_error(&saved.path, printer) {
        return Err(e);
    }
    Ok(exit_code(&mut saved, printer))
}

/// The exit code of a save that committed and was not stopped: a failed upload is an error
/// (already reported), a failed prune a partial success.
fn exit_code(saved: &mut Saved, printer: &Printer) -> ExitStatus {
    if let Some(Err(_)) = saved.after.uploaded {
        // Already reported after the upload; the local backup stands, the run failed.
        return exit::ERROR;
    }
    let after = &mut saved.after;
    let prune_error = match (after.prune_error.take(), after.remote_prune_error.take()) {
        (Some(e), _) | (None, Some(e)) => Some(e),
        (None, None) => None,
    };
    if let Some(e) = prune_error {
        printer.error(&e);
        printer.warn(format!(
            "the backup {} was saved, but pruning failed",
            saved.path.display()
        ));
        return exit::PARTIAL;
    }
    exit::SUCCESS
}

/// `--skip-unless-leader` found another member leading.
fn print_skipped(skip: &Skipped, printer: &Printer) {
    let why = format!(
        "skipped: member {:x} at {} is not the leader (member {:x} is), and \
         --skip-unless-leader is set",
        skip.member_id, skip.endpoint, skip.leader
    );
    printer.phase(&why);
    if printer.format == OutputFormat::Json {
        printer.json(&serde_json::json!({
            "skipped": true,
            "reason": "not the leader",
            "member_id": catalog::id_hex(skip.member_id),
            "leader_id": catalog::id_hex(skip.leader),
            "endpoint": skip.endpoint,
        }));
    }
}

/// The result: the path (and the store's URL, and the prune tables), or with `-w json` the
/// sidecar with where everything went.
fn print_saved(
    saved: &Saved,
    prune: bool,
    remote_given: bool,
    printer: &Printer,
) -> anyhow::Result<()> {
    let after = &saved.after;
    match printer.format {
        OutputFormat::Table | OutputFormat::Simple | OutputFormat::Fields => {
            printer.result(saved.path.display().to_string());
            if let Some(Ok(up)) = &after.uploaded {
                printer.result(&up.url);
            }
            if let Some(p) = &after.pruned {
                p.print(printer);
            }
            if let Some(p) = &after.remote_pruned {
                p.print(printer);
            }
        }
        OutputFormat::Json => {
            let mut v = serde_json::to_value(&saved.sidecar)?;
            v["path"] = serde_json::Value::String(saved.path.display().to_string());
            v["sidecar"] = serde_json::Value::String(saved.sidecar_path.display().to_string());
            if let Some(b) = &saved.bundle_path {
                v["pki_bundle_path"] = serde_json::Value::String(b.display().to_string());
            }
            if let Some(up) = &after.uploaded {
                v["remote"] = match up {
                    Ok(up) => up.to_json(),
                    Err(e) => serde_json::json!({ "error": format!("{e:#}") }),
                };
            }
            if prune {
                v["prune"] = after
                    .pruned
                    .as_ref()
                    .map_or(serde_json::Value::Null, |p| p.to_json());
                if remote_given {
                    v["remote_prune"] = after
                        .remote_pruned
                        .as_ref()
                        .map_or(serde_json::Value::Null, |p| p.to_json());
                }
            }
            printer.json(&v);
        }
    }
    Ok(())
}
