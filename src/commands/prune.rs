//! `etcd-backup prune`: delete old backups by retention rules, never the newest good one.
//!
//! Order of work:
//! 1. refuse a backup dir that is, or is a symlink to, a world-writable directory (anyone could
//!    plant a "newer" backup there and have the real ones pruned);
//! 2. take the directory lock, the same one `save` holds, so a prune never races a save
//!    (a dry run, which writes nothing, does not);
//! 3. read the directory without following symlinks and sort every entry into ours or not;
//! 4. apply the retention rules (`retention::decide`); when they would delete a backup, verify
//!    backups newest first until one passes and keep that one; when none passes, delete none;
//! 5. unless `--dry-run`, delete each file, a backup before its sidecar, after checking that the
//!    name still points at the same regular file it did in step 3; then fsync the directory.
//!
//! Only names we generate are ever deleted: `etcd-snapshot-….db`, its `.json` sidecar, and the
//! `.part` temp files of both. A symlink is never followed and never deleted.

use crate::backup::prune::{prune_set, Action, Kind, Outcome, Pruned, Row};
use crate::backup::set::{scratch_dir, BackupSet};
use crate::cli::{OutputFormat, PruneArgs};
use crate::diagnostics::ExitStatus;
use crate::output::{human_bytes, Printer};
use crate::settings::Settings;

pub(crate) fn run(
    settings: &Settings,
    printer: &Printer,
    args: &PruneArgs,
) -> anyhow::Result<ExitStatus> {
    let identities = settings.identities()?;
    let set = BackupSet::open(settings)?;
    let lock = set.hold(args.dry_run)?;
    if let Some(lock) = &lock {
        printer.detail(format!("holding {}", lock.path().display()));
    }
    let scratch = scratch_dir(&settings.backup_dir);
    let pruned = prune_set(
        &set,
        &settings.retention,
        args.dry_run,
        None,
        &identities,
        &scratch,
        printer,
    )?;
    drop(lock);
    match printer.format {
        OutputFormat::Json => printer.json(&pruned.to_json()),
        _ => pruned.print(printer),
    }
    pruned.exit_code()
}

fn kind_word(k: Kind) -> &'static str {
    match k {
        Kind::Backup => "backup",
        Kind::Sidecar => "sidecar",
        Kind::Bundle => "bundle",
        Kind::Temp => "temp",
        Kind::Symlink => "symlink",
        Kind::Lock => "lock",
        Kind::Other => "other",
    }
}

fn action_word(row: &Row, dry_run: bool) -> &'static str {
    match (&row.action, &row.outcome, dry_run) {
        (Action::Keep, _, _) => "keep",
        (Action::Ignore, _, _) => "ignore",
        (Action::Delete, _, true) | (Action::Delete, Outcome::Planned, _) => "delete",
        (Action::Delete, Outcome::Deleted, false) => "deleted",
        (Action::Delete, Outcome::Failed(_), false) => "FAILED",
    }
}

/// Counts for the summary.
struct Totals {
    deleted_backups: usize,
    deleted_files: usize,
    freed: u64,
    kept_backups: usize,
}

impl Pruned {
    /// Backups whose time cannot be trusted (all kept).
    pub(crate) fn suspect_backups(&self) -> usize {
        self.plan
            .rows
            .iter()
            .filter(|r| r.suspect.is_some())
            .count()
    }

    fn totals(&self) -> Totals {
        let gone = |r: &&Row| {
            r.action == Action::Delete && (self.dry_run || r.outcome == Outcome::Deleted)
        };
        let rows = &self.plan.rows;
        Totals {
            deleted_backups: rows
                .iter()
                .filter(gone)
                .filter(|r| r.entry.kind == Kind::Backup)
                .count(),
            deleted_files: rows.iter().filter(gone).count(),
            freed: rows.iter().filter(gone).map(|r| r.entry.size).sum(),
            kept_backups: rows
                .iter()
                .filter(|r| r.entry.kind == Kind::Backup && r.action == Action::Keep)
                .count(),
        }
    }

    /// The stable JSON form (`-w json`).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let files: Vec<serde_json::Value> = self
            .plan
            .rows
            .iter()
            .map(|r| {
                let (taken_at, label) = match &r.entry.backup {
                    Some((_, b)) => (Some(b.taken_at), b.label.clone()),
                    None => (None, None),
                };
                let mut why = r.why.clone();
                if let Outcome::Failed(e) = &r.outcome {
                    why.push(format!("could not delete: {e}"));
                }
                serde_json::json!({
                    "name": r.entry.display_name(),
                    "kind": kind_word(r.entry.kind),
                    "action": action_word(r, self.dry_run),
                    "why": why,
                    "size": r.entry.size,
                    "taken_at": taken_at,
                    "label": label,
                    "suspect": r.suspect,
                })
            })
            .collect();
        let t = self.totals();
        serde_json::json!({
            "dir": self.dir.display().to_string(),
            "dry_run": self.dry_run,
            "rules": self.policy.describe(),
            "files": files,
            "newest_verified": self.plan.newest_verified.as_ref().map(|n| n.to_string_lossy()),
            "withheld": self.plan.withheld,
            "deleted_backups": t.deleted_backups,
            "deleted_files": t.deleted_files,
            "freed_bytes": t.freed,
            "kept_backups": t.kept_backups,
            "suspect_backups": self.suspect_backups(),
        })
    }

    /// One line per file, then a summary, on stdout (left out with `-q`).
    pub(crate) fn print(&self, printer: &Printer) {
        let width = self
            .plan
            .rows
            .iter()
            .map(|r| r.entry.display_name().chars().count())
            .max()
            .unwrap_or(0);
        for r in &self.plan.rows {
            let why = match &r.outcome {
                Outcome::Failed(e) => format!("could not delete: {e}"),
                _ => r.why.join(", "),
            };
            printer.result(format!(
                "{:<8} {:<width$}  {:>10}  {why}",
                action_word(r, self.dry_run),
                r.entry.display_name(),
                human_bytes(r.entry.size),
            ));
        }
        let t = self.totals();
        let summary = format!(
            "{} backup(s) and {} other file(s), {}; keeping {} backup(s) ({})",
            t.deleted_backups,
            t.deleted_files - t.deleted_backups,
            human_bytes(t.freed),
            t.kept_backups,
            self.policy.describe()
        );
        if self.dry_run {
            printer.result(format!("dry run, nothing changed: would delete {summary}"));
        } else {
            printer.result(format!("deleted {summary}"));
        }
    }
}
