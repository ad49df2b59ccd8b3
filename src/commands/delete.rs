//! `etcd-backup delete FILE…`: delete named backups by hand, under prune's safety rules.
//!
//! The rules are prune's (see `prune.rs`), applied to the names given instead of the retention
//! rules: the backup dir must not be world-writable; only regular files whose names we generate
//! are deleted, never through a symlink and only after checking that the name still means the
//! file that was scanned; the sidecar and the DR bundle go with their backup (the backup first);
//! the newest backup that passes verification is never deleted, and when none passes nothing is
//! deleted (exit 1); the lock `save` and `prune` hold is held.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::anyhow;

use crate::backup::verify;
use crate::cli::{DeleteArgs, OutputFormat};
use crate::diagnostics::{ExitStatus, HintExt};
use crate::output::{human_bytes, Printer};
use crate::settings::Settings;

use crate::backup::prune::{self, Action, Entry, Kind, Outcome, Plan, Row};

pub(crate) fn run(
    settings: &Settings,
    printer: &Printer,
    args: &DeleteArgs,
) -> anyhow::Result<ExitStatus> {
    let dir = &settings.backup_dir;
    crate::backup::set::check_dir(dir)?;
    let wanted = args
        .files
        .iter()
        .map(|f| name_in(dir, f))
        .collect::<anyhow::Result<Vec<OsString>>>()?;
    // Without a terminal to ask on, refuse before any work.
    if !args.dry_run && !args.yes && !std::io::stdin().is_terminal() {
        return Err(anyhow!(
            "refusing to delete {} backup(s) in {} without confirmation",
            wanted.len(),
            dir.display()
        ))
        .hint("add --yes (there is no terminal to ask on); --dry-run shows what would go");
    }
    // A dry run writes nothing, not even the lock file.
    let lock = if args.dry_run {
        None
    } else {
        let lock = crate::backup::set::lock_dir(dir)?;
        printer.detail(format!("holding {}", lock.path().display()));
        Some(lock)
    };
    let entries = prune::scan(dir)?;
    for name in &wanted {
        check_named(dir, name, &entries)?;
    }

    // The newest backup that passes verification stays, whatever was named.
    let floor = floor(dir, &entries, printer);
    let Some(floor) = floor else {
        printer.warn(format!(
            "no backup in {} passes verification, so no backup is deleted; run `etcd-backup \
             verify --all` to see why, and take a new backup",
            dir.display()
        ));
        return Ok(ExitStatus::Failure);
    };
    if wanted.contains(&floor) {
        return Err(anyhow!(
            "refusing to delete {}: it is the newest backup that passes verification",
            dir.join(&floor).display()
        ))
        .hint("take a new backup first (etcd-backup save), then delete this one");
    }

    let mut plan = Plan {
        rows: rows_for(&entries, &wanted),
        withheld: false,
        newest_verified: Some(floor),
    };
    if !args.dry_run && !confirm(dir, &plan, args.yes)? {
        printer.phase("nothing deleted");
        return Ok(ExitStatus::Failure);
    }
    if !args.dry_run {
        prune::execute(dir, &mut plan)?;
    }
    drop(lock);
    report(printer, dir, &plan, args.dry_run)
}

/// The newest backup in `dir` that passes verification (warning about each one that fails on
/// the way), or `None` when none does.
fn floor(dir: &Path, entries: &[Entry], printer: &Printer) -> Option<OsString> {
    let mut backups: Vec<&Entry> = entries.iter().filter(|e| e.kind == Kind::Backup).collect();
    backups.sort_by(|a, b| {
        let key = |e: &Entry| e.backup.as_ref().map(|(_, n)| n.taken_at);
        key(b).cmp(&key(a)).then_with(|| b.name.cmp(&a.name))
    });
    // A backup whose time cannot be trusted (a future name, a newer name than its content) never
    // stands for the newest: it is tried last, as prune does.
    // `scan` read each backup's sidecar already (`Entry::content`).
    let backups =
        crate::backup::catalog::trusted_first(backups, |e| crate::backup::catalog::Facts {
            taken_at: e
                .backup
                .as_ref()
                .map_or_else(chrono::Utc::now, |(_, n)| n.taken_at),
            content: e.content.clone(),
        });
    for b in &backups {
        let path = dir.join(&b.name);
        printer.phase(format!(
            "verifying {} before deleting anything",
            path.display()
        ));
        match verify::verify_path(&path, &[], false) {
            Ok(v) if v.ok() => {
                return Some(b.name.clone());
            }
            Ok(v) => printer.warn(format!(
                "{} fails verification: {}",
                path.display(),
                v.problems.join("; ")
            )),
            Err(e) => printer.warn(format!("{} fails verification: {e}", path.display())),
        }
    }
    None
}

/// The file name in `dir` that `file` names: a bare name, or a path whose directory is `dir`.
fn name_in(dir: &Path, file: &Path) -> anyhow::Result<OsString> {
    let hint = "name backups as `etcd-backup ls` lists them, in --backup-dir";
    let name = file
        .file_name()
        .ok_or_else(|| anyhow!("{} does not name a file", file.display()))
        .hint(hint)?;
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        let same = match (std::fs::canonicalize(parent), std::fs::canonicalize(dir)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same {
            return Err(anyhow!(
                "{} is not in the backup dir {}",
                file.display(),
                dir.display()
            ))
            .hint("delete only removes backups of --backup-dir (or ETCD_BACKUP_DIR)");
        }
    }
    Ok(name.to_os_string())
}

/// Refuses a name that is not a backup of ours here, as a regular file.
fn check_named(dir: &Path, name: &OsStr, entries: &[Entry]) -> anyhow::Result<()> {
    let path = dir.join(name);
    let Some(e) = entries.iter().find(|e| e.name == name) else {
        return Err(anyhow!(
            "no backup {} in {}",
            name.to_string_lossy(),
            dir.display()
        ))
        .hint("`etcd-backup ls` lists the backups");
    };
    match e.kind {
        Kind::Backup => Ok(()),
        Kind::Symlink => Err(anyhow!(
            "refusing to delete {}: it is a symlink, which is never followed or deleted",
            path.display()
        ))
        .hint("remove the link yourself if it should go"),
        Kind::Sidecar | Kind::Bundle => Err(anyhow!(
            "{} belongs to a backup; delete the backup and it goes with it",
            path.display()
        ))
        .hint("name the etcd-snapshot-….db file"),
        _ => Err(anyhow!(
            "refusing to delete {}: not a backup file etcd-backup wrote",
            path.display()
        ))
        .hint("delete only removes etcd-snapshot-….db files (and their sidecars and bundles)"),
    }
}

/// Each named backup, then its sidecar and bundle (a backup goes before its companions, as in
/// prune).
fn rows_for(entries: &[Entry], wanted: &[OsString]) -> Vec<Row> {
    let row = |entry: &Entry, why: &str| Row {
        entry: entry.clone(),
        action: Action::Delete,
        why: vec![why.to_string()],
        reasons: Vec::new(),
        failed_verification: None,
        suspect: None,
        outcome: Outcome::Planned,
    };
    let mut rows = Vec::new();
    for name in wanted {
        let Some(backup) = entries.iter().find(|e| &e.name == name) else {
            continue;
        };
        if rows.iter().any(|r: &Row| r.entry.name == backup.name) {
            continue;
        }
        rows.push(row(backup, "named on the command line"));
        let base = backup.display_name();
        let mut companions: Vec<&Entry> = entries
            .iter()
            .filter(|e| matches!(e.kind, Kind::Sidecar | Kind::Bundle))
            .filter(|e| e.backup.as_ref().is_some_and(|(b, _)| *b == base))
            .collect();
        companions.sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.name.cmp(&b.name)));
        for c in companions {
            let what = if c.kind == Kind::Bundle {
                "DR bundle, with its backup"
            } else {
                "sidecar, with its backup"
            };
            rows.push(row(c, what));
        }
    }
    rows
}

/// On a terminal (`run` refused already without one), the operator answers y.
fn confirm(dir: &Path, plan: &Plan, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    for r in &plan.rows {
        eprintln!("  {}", dir.join(&r.entry.name).display());
    }
    eprint!("Delete these {} file(s)? [y/N] ", plan.rows.len());
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// One line per file on stdout (or one JSON document), then the exit code.
fn report(printer: &Printer, dir: &Path, plan: &Plan, dry_run: bool) -> anyhow::Result<ExitStatus> {
    let word = |r: &Row| match (&r.outcome, dry_run) {
        (_, true) | (Outcome::Planned, _) => "delete",
        (Outcome::Deleted, false) => "deleted",
        (Outcome::Failed(_), false) => "FAILED",
    };
    if printer.format == OutputFormat::Json {
        let files: Vec<serde_json::Value> = plan
            .rows
            .iter()
            .map(|r| {
                let mut why = r.why.clone();
                if let Outcome::Failed(e) = &r.outcome {
                    why.push(format!("could not delete: {e}"));
                }
                serde_json::json!({
                    "name": r.entry.display_name(),
                    "action": word(r),
                    "why": why,
                    "size": r.entry.size,
                })
            })
            .collect();
        printer.json(&serde_json::json!({
            "dir": dir.display().to_string(),
            "dry_run": dry_run,
            "files": files,
            "newest_verified": plan.newest_verified.as_ref().map(|n| n.to_string_lossy()),
        }));
    } else {
        for r in &plan.rows {
            let why = match &r.outcome {
                Outcome::Failed(e) => format!("could not delete: {e}"),
                _ => r.why.join(", "),
            };
            printer.result(format!(
                "{:<8} {}  {:>10}  {why}",
                word(r),
                r.entry.display_name(),
                human_bytes(r.entry.size)
            ));
        }
        if dry_run {
            printer.result("dry run, nothing changed");
        }
    }
    prune::deletions_failed(plan, dir, "delete")?;
    Ok(ExitStatus::Success)
}
