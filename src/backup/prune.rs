//! What a prune decides and does in a backup dir: every entry sorted into ours or not
//! ([`scan`], [`classify`]), the retention rules applied with the floor of the newest backup that
//! passes verification ([`plan`]), and the deletions carried out (`execute`); then the prune of a
//! whole set, a backup dir or a store ([`prune_set`]), which `prune` and `save --prune` run, and
//! its exit code. The `prune` command takes the lock and prints the result.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use chrono::{DateTime, Utc};

use crate::backup::catalog::{self, BackupName};
use crate::backup::retention::{self, Item, Policy, Reason};
use crate::backup::set::BackupSet;
use crate::diagnostics::{ExitStatus, HintExt};
use crate::fsutil::{FsError, LOCK_FILE};
use crate::output::Printer;
use crate::remote::Remote;

/// A temp file not written to for this long belongs to a save that died: no save runs longer
/// than its `--timeout` (30m by default) and every running save holds the lock we hold.
pub(crate) const STALE_TEMP: Duration = Duration::from_secs(3600);

/// The outcome of a prune, to print and to turn into an exit code.
#[derive(Debug)]
pub(crate) struct Pruned {
    pub dir: std::path::PathBuf,
    pub policy: Policy,
    pub dry_run: bool,
    pub plan: Plan,
}

/// What a directory entry is to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// `etcd-snapshot-….db`, a regular file.
    Backup,
    /// `etcd-snapshot-….db.json`, a regular file.
    Sidecar,
    /// `etcd-snapshot-…-pki.tar[.zst][.age]`, the DR bundle of a backup, a regular file.
    Bundle,
    /// `etcd-snapshot-….db.part` or `….db.json.part`, a regular file.
    Temp,
    /// Any symlink: never followed, never deleted.
    Symlink,
    /// Our lock file.
    Lock,
    /// Anything else, including our names on something that is not a regular file.
    Other,
}

/// The type of a directory entry, not following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileType {
    File,
    Symlink,
    Other,
}

/// One directory entry as scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: OsString,
    pub kind: Kind,
    pub size: u64,
    pub modified: DateTime<Utc>,
    /// (device, inode), to check before deleting that the name still means the same file.
    pub id: (u64, u64),
    /// The backup this entry is or belongs to (backups, sidecars and temp files).
    pub backup: Option<(String, BackupName)>,
    /// What a backup's sidecar says it holds (backups with a readable sidecar only).
    pub content: Option<catalog::Content>,
    /// Why a backup's sidecar could not be read, when it exists.
    pub sidecar_problem: Option<String>,
}

impl Entry {
    pub(crate) fn display_name(&self) -> String {
        self.name.to_string_lossy().into_owned()
    }
}

/// Sorts a name into our kinds. `backup` is the backup file name the entry is or belongs to.
pub(crate) fn classify(name: &OsStr, ft: FileType) -> (Kind, Option<(String, BackupName)>) {
    if ft == FileType::Symlink {
        return (Kind::Symlink, None);
    }
    let Some(name) = name.to_str() else {
        return (Kind::Other, None);
    };
    if name == LOCK_FILE {
        return (Kind::Lock, None);
    }
    let (kind, base) = if let Some(base) = name.strip_suffix(".part") {
        (
            Kind::Temp,
            base.strip_suffix(catalog::SIDECAR_SUFFIX).unwrap_or(base),
        )
    } else if let Some(base) = name.strip_suffix(catalog::SIDECAR_SUFFIX) {
        (Kind::Sidecar, base)
    } else if catalog::parse_bundle_name(name).is_some() {
        (Kind::Bundle, name)
    } else {
        (Kind::Backup, name)
    };
    // A bundle (or its temp file) belongs to the backup with the same stem and layers.
    let parsed = catalog::parse_backup_name(base).or_else(|| match kind {
        Kind::Bundle | Kind::Temp => catalog::parse_bundle_name(base),
        _ => None,
    });
    match parsed {
        Some(parsed) if ft == FileType::File => {
            let backup = parsed.file_name();
            (kind, Some((backup, parsed)))
        }
        _ => (Kind::Other, None),
    }
}

/// Reads `dir` without following symlinks.
pub(crate) fn scan(dir: &Path) -> anyhow::Result<Vec<Entry>> {
    let list_err = |e| FsError::io("cannot list backups in", dir, e);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list_err)? {
        let entry = entry.map_err(list_err)?;
        let name = entry.file_name();
        // DirEntry::metadata does not follow symlinks.
        let meta = entry
            .metadata()
            .map_err(|e| FsError::io("cannot read", &entry.path(), e))?;
        let ft = if meta.file_type().is_symlink() {
            FileType::Symlink
        } else if meta.file_type().is_file() {
            FileType::File
        } else {
            FileType::Other
        };
        let (kind, backup) = classify(&name, ft);
        let (content, sidecar_problem) = if kind == Kind::Backup {
            match catalog::read_sidecar(&entry.path()) {
                Ok(sc) => (sc.as_ref().map(catalog::Content::of), None),
                Err(p) => (None, Some(p)),
            }
        } else {
            (None, None)
        };
        let modified = meta
            .modified()
            .map(DateTime::<Utc>::from)
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
        out.push(Entry {
            name,
            kind,
            size: meta.len(),
            modified,
            id: (meta.dev(), meta.ino()),
            backup,
            content,
            sidecar_problem,
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Keep,
    Delete,
    /// Not ours to judge (foreign files, symlinks, fresh temp files): left alone.
    Ignore,
}

/// What happened to a row when the plan was carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Planned,
    Deleted,
    Failed(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub entry: Entry,
    pub action: Action,
    /// Why it is kept, deleted or ignored, in words.
    pub why: Vec<String>,
    /// The retention reasons of a backup (empty for other kinds, and for deleted backups).
    pub reasons: Vec<Reason>,
    pub failed_verification: Option<String>,
    /// Why the backup's time cannot be trusted (`catalog::suspects`); such a backup is kept.
    pub suspect: Option<String>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Backups (each followed by its sidecar and temp files) newest first, then other entries
    /// by name. Deleting in this order removes a backup before its sidecar.
    pub rows: Vec<Row>,
    /// The rules would delete backups but none passes verification, so none is deleted.
    pub withheld: bool,
    /// The backup kept as the newest that passes verification, when one was looked for.
    pub newest_verified: Option<OsString>,
}

/// Decides what happens to every entry. `check` verifies a backup (`Err` says why it fails); it
/// is called only when the rules would delete a backup, newest first, until one passes.
pub(crate) fn plan(
    entries: Vec<Entry>,
    policy: &Policy,
    now: DateTime<Utc>,
    known_good: Option<&OsStr>,
    check: impl FnMut(&Entry) -> Result<(), String>,
) -> Plan {
    let mut entries = entries;
    entries.retain(|e| e.kind != Kind::Lock);
    sort_for_plan(&mut entries);
    let backups: Vec<&Entry> = entries.iter().filter(|e| e.kind == Kind::Backup).collect();
    let mut verdicts = judge_backups(&backups, policy, now, known_good, check);

    // The action of each backup, by file name, for its sidecar and temp files.
    let mut backup_action = std::collections::HashMap::new();
    let mut rows: Vec<Row> = Vec::with_capacity(entries.len());
    let mut next_backup = 0;
    for entry in entries {
        let mut row = Row {
            action: Action::Ignore,
            why: Vec::new(),
            reasons: Vec::new(),
            failed_verification: None,
            suspect: None,
            outcome: Outcome::Planned,
            entry,
        };
        match row.entry.kind {
            Kind::Backup => {
                verdicts.settle_backup(&mut row, next_backup);
                next_backup += 1;
                backup_action.insert(row.entry.display_name(), row.action);
            }
            Kind::Temp => settle_temp(&mut row, now),
            Kind::Sidecar | Kind::Bundle => {
                // Sidecars and bundles sort right after their backup, so its action is known.
                let base = &row.entry.backup.as_ref().expect("companions have names").0;
                let what = companion_word(row.entry.kind);
                match backup_action.get(base) {
                    Some(Action::Delete) => {
                        row.action = Action::Delete;
                        row.why.push(format!("{what}, with its backup"));
                    }
                    Some(_) => {
                        row.action = Action::Keep;
                        row.why.push(format!("{what}, with its backup"));
                    }
                    None => {}
                }
            }
            Kind::Symlink => row
                .why
                .push("symlink: never followed or deleted".to_string()),
            Kind::Other => row.why.push(why_other(&row.entry)),
            Kind::Lock => unreachable!("removed above"),
        }
        rows.push(row);
    }
    settle_sidecars_without_backup(&mut rows);
    Plan {
        rows,
        withheld: verdicts.withheld,
        newest_verified: verdicts.newest_verified,
    }
}

/// Newest first by the time in the name, then by name; a backup before its sidecar and temps;
/// entries that belong to no backup last, by name.
fn sort_for_plan(entries: &mut [Entry]) {
    entries.sort_by(|a, b| match (&a.backup, &b.backup) {
        (Some((an, ab)), Some((bn, bb))) => bb
            .taken_at
            .cmp(&ab.taken_at)
            .then_with(|| bn.cmp(an))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.name.cmp(&b.name)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.name.cmp(&b.name),
    });
}

/// What the rules and the floor decided for each backup, indexed like the backups of the plan
/// (newest first).
struct Verdicts {
    reasons: Vec<Vec<Reason>>,
    suspect: Vec<Option<String>>,
    failed_verification: Vec<Option<String>>,
    withheld: bool,
    newest_verified: Option<OsString>,
}

/// Applies the rules to `backups` (newest first), keeps the suspect ones and the one just
/// written, and, when the rules would delete any, finds the floor ([`keep_floor`]).
fn judge_backups(
    backups: &[&Entry],
    policy: &Policy,
    now: DateTime<Utc>,
    known_good: Option<&OsStr>,
    check: impl FnMut(&Entry) -> Result<(), String>,
) -> Verdicts {
    // Backups whose time cannot be trusted (a future name, a newer name than what they hold)
    // take no place in the rules and never stand for the newest backup; they are kept.
    let facts: Vec<catalog::Facts> = backups
        .iter()
        .map(|e| catalog::Facts {
            taken_at: backup_name(e).taken_at,
            content: e.content.clone(),
        })
        .collect();
    let suspect = catalog::suspects(&facts, now);
    let trusted: Vec<usize> = (0..backups.len())
        .filter(|&k| suspect[k].is_none())
        .collect();
    let items: Vec<Item> = trusted
        .iter()
        .map(|&k| {
            let b = backup_name(backups[k]);
            Item {
                taken_at: b.taken_at,
                labeled: b.label.is_some(),
            }
        })
        .collect();
    let mut reasons: Vec<Vec<Reason>> = vec![Vec::new(); backups.len()];
    for (k, r) in trusted.iter().zip(retention::decide(&items, policy, now)) {
        reasons[*k] = r;
    }
    for (k, s) in suspect.iter().enumerate() {
        if s.is_some() {
            reasons[k].push(Reason::Suspect);
        }
    }
    // The backup this run has just written is kept whatever the rules say.
    let protected = (0..backups.len()).find(|&k| known_good == Some(backups[k].name.as_os_str()));
    if let Some(k) = protected {
        reasons[k].insert(0, Reason::JustWritten);
    }
    let mut verdicts = Verdicts {
        reasons,
        suspect,
        failed_verification: vec![None; backups.len()],
        withheld: false,
        newest_verified: None,
    };
    if verdicts.reasons.iter().any(Vec::is_empty) {
        verdicts.keep_floor(backups, &trusted, protected, check);
    }
    verdicts
}

fn backup_name(e: &Entry) -> &BackupName {
    &e.backup.as_ref().expect("backups have names").1
}

impl Verdicts {
    /// The floor: the backup just written when there is one (it holds the newest state and has
    /// just passed verification); else the newest trusted backup that passes, then the suspect
    /// ones. With none, no backup is deleted (`withheld`).
    fn keep_floor(
        &mut self,
        backups: &[&Entry],
        trusted: &[usize],
        protected: Option<usize>,
        mut check: impl FnMut(&Entry) -> Result<(), String>,
    ) {
        // `backups` is newest first by name already.
        let order: Vec<usize> = protected
            .into_iter()
            .chain(trusted.iter().copied())
            .chain((0..backups.len()).filter(|&k| self.suspect[k].is_some()))
            .collect();
        let failed = &mut self.failed_verification;
        let good = order.into_iter().find(|&k| {
            if Some(k) == protected {
                return true;
            }
            match check(backups[k]) {
                Ok(()) => true,
                Err(p) => {
                    failed[k] = Some(p);
                    false
                }
            }
        });
        match good {
            Some(k) => {
                let at = usize::from(Some(k) == protected);
                self.reasons[k].insert(at, Reason::NewestVerified);
                self.newest_verified = Some(backups[k].name.clone());
            }
            None => {
                self.withheld = true;
                for r in self.reasons.iter_mut().filter(|r| r.is_empty()) {
                    r.push(Reason::NoVerifiedBackup);
                }
            }
        }
    }

    /// Fills in the row of backup `k`: kept with its reasons, or deleted when it has none.
    fn settle_backup(&mut self, row: &mut Row, k: usize) {
        row.reasons = std::mem::take(&mut self.reasons[k]);
        row.failed_verification = self.failed_verification[k].take();
        row.suspect = self.suspect[k].take();
        if row.reasons.is_empty() {
            row.action = Action::Delete;
            row.why.push("no rule keeps it".to_string());
        } else {
            row.action = Action::Keep;
            row.why = row.reasons.iter().map(Reason::to_string).collect();
        }
        if let Some(p) = &row.failed_verification {
            row.why.push(format!("fails verification: {p}"));
        }
        if let Some(p) = &row.suspect {
            row.why.push(format!("suspect: {p}"));
        }
        if let Some(p) = &row.entry.sidecar_problem {
            row.why.push(p.clone());
        }
    }
}

/// A temp file is deleted once it is [`STALE_TEMP`] old, else left to the save writing it.
fn settle_temp(row: &mut Row, now: DateTime<Utc>) {
    let age = now.signed_duration_since(row.entry.modified);
    let stale = chrono::Duration::from_std(STALE_TEMP).unwrap_or(chrono::Duration::MAX);
    if age > stale {
        row.action = Action::Delete;
        row.why.push(format!(
            "temp file of an interrupted save, last written {} ago",
            ago(age)
        ));
    } else {
        row.why.push(format!(
            "temp file last written {} ago; removed once an hour old",
            ago(age)
        ));
    }
}

/// Why an entry that is not ours is left alone.
fn why_other(entry: &Entry) -> String {
    let name = entry.display_name();
    let base = name.strip_suffix(".part").unwrap_or(&name);
    let base = base.strip_suffix(catalog::SIDECAR_SUFFIX).unwrap_or(base);
    if catalog::parse_backup_name(base).is_some() {
        "named like ours but not a regular file (a FIFO, device or directory): left alone"
            .to_string()
    } else {
        "not an etcd-backup file: left alone".to_string()
    }
}

fn companion_word(k: Kind) -> &'static str {
    if k == Kind::Bundle {
        "DR bundle"
    } else {
        "sidecar"
    }
}

/// A sidecar or bundle whose backup is not a regular file here: deleted with the temp file of
/// an interrupted save; deleted when nothing of its backup is left (a prune stopped between the
/// deletions, or the backup was removed by hand); otherwise left alone.
fn settle_sidecars_without_backup(rows: &mut [Row]) {
    let names: std::collections::HashMap<OsString, Action> = rows
        .iter()
        .map(|r| (r.entry.name.clone(), r.action))
        .collect();
    for row in rows.iter_mut() {
        if !matches!(row.entry.kind, Kind::Sidecar | Kind::Bundle) || !row.why.is_empty() {
            continue;
        }
        let what = companion_word(row.entry.kind);
        let base = row
            .entry
            .backup
            .as_ref()
            .expect("companions have names")
            .0
            .clone();
        let part = format!("{base}.part");
        if let Some(action) = names.get(OsStr::new(&part)) {
            if *action == Action::Delete {
                row.action = Action::Delete;
                row.why
                    .push(format!("{what} of an interrupted save, with its temp file"));
            } else {
                row.why
                    .push(format!("{what} of a save in progress or just interrupted"));
            }
        } else if names.contains_key(OsStr::new(&base)) {
            row.why
                .push(format!("{what} of {base}, which is left alone"));
        } else {
            row.action = Action::Delete;
            row.why.push(format!("orphaned {what}: {base} is gone"));
        }
    }
}

/// `3h`, `25m`, `2d`.
fn ago(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Deletes what the plan says, each name only if it is still the regular file that was
/// scanned. Failures are recorded per row; the caller reports them.
pub(crate) fn execute(dir: &Path, plan: &mut Plan) -> anyhow::Result<()> {
    use rustix::fs::{openat, statat, unlinkat, AtFlags, Mode, OFlags, CWD};
    if !plan.rows.iter().any(|r| r.action == Action::Delete) {
        return Ok(());
    }
    let dirfd = openat(
        CWD,
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| FsError::io("cannot open directory", dir, e.into()))?;
    for row in plan.rows.iter_mut().filter(|r| r.action == Action::Delete) {
        let name = row.entry.name.as_bytes();
        let outcome = match statat(&dirfd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st)
                if rustix::fs::FileType::from_raw_mode(st.st_mode)
                    == rustix::fs::FileType::RegularFile
                    && (st.st_dev, st.st_ino) == row.entry.id =>
            {
                match unlinkat(&dirfd, name, AtFlags::empty()) {
                    Ok(()) => Outcome::Deleted,
                    Err(e) => Outcome::Failed(e.to_string()),
                }
            }
            Ok(_) => Outcome::Failed("replaced since it was listed; left alone".to_string()),
            Err(e) => Outcome::Failed(e.to_string()),
        };
        row.outcome = outcome;
    }
    rustix::fs::fsync(&dirfd).map_err(|e| FsError::io("cannot fsync directory", dir, e.into()))?;
    Ok(())
}

/// Prunes `dir`, whose lock the caller holds, and says what happened (the caller prints it).
/// `known_good` names a backup that has just passed verification (the one `save --prune`
/// wrote), which is then not verified again.
pub(crate) fn prune_locked(
    dir: &Path,
    policy: &Policy,
    dry_run: bool,
    known_good: Option<&str>,
    identities: &[age::x25519::Identity],
    printer: &Printer,
) -> anyhow::Result<Pruned> {
    let set = BackupSet::Dir(dir.to_path_buf());
    prune_set(&set, policy, dry_run, known_good, identities, dir, printer)
}

/// Prunes the backups in a store (`<node>/<file>` objects under its prefix, every node's as one
/// set) by the same rules and with the same floor. Stores have no locks: two nodes pruning at
/// once each keep their own newest good backup, and deleting an object twice is harmless.
pub(crate) fn prune_remote(
    remote: &Arc<Remote>,
    policy: &Policy,
    dry_run: bool,
    known_good: Option<&str>,
    identities: &[age::x25519::Identity],
    scratch_dir: &Path,
    printer: &Printer,
) -> anyhow::Result<Pruned> {
    let set = BackupSet::Store(Arc::clone(remote));
    prune_set(
        &set,
        policy,
        dry_run,
        known_good,
        identities,
        scratch_dir,
        printer,
    )
}

/// Prunes a backup set: the newest backup that passes verification (a stored one read back
/// from the store into `scratch_dir`) is kept; when none passes, no backup is deleted. An
/// encrypted backup read without `identities` passes when its bytes are the ones its sidecar
/// recorded after the full check at save time.
pub(crate) fn prune_set(
    set: &BackupSet,
    policy: &Policy,
    dry_run: bool,
    known_good: Option<&str>,
    identities: &[age::x25519::Identity],
    scratch_dir: &Path,
    printer: &Printer,
) -> anyhow::Result<Pruned> {
    let now = Utc::now();
    let entries = set.scan()?;
    printer.detail(format!("rules: {}", policy.describe()));
    let mut plan = plan(entries, policy, now, known_good.map(OsStr::new), |e| {
        printer.phase(format!(
            "verifying {} before deleting anything",
            set.shown(e)
        ));
        set.check(e, identities, scratch_dir)
    });
    plan.warn_floor(
        &set.location(),
        |e| set.shown(e),
        &set.floor_advice(),
        printer,
    );
    set.execute(&mut plan, dry_run)?;
    Ok(Pruned {
        dir: set.root(),
        policy: policy.clone(),
        dry_run,
        plan,
    })
}

impl Pruned {
    /// 0, or 1 when no backup passes verification (so none was deleted); an error when a file
    /// could not be deleted.
    pub(crate) fn exit_code(&self) -> anyhow::Result<ExitStatus> {
        deletions_failed(&self.plan, &self.dir, "prune")?;
        Ok(if self.plan.withheld {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        })
    }
}

/// An error when a deletion of `plan` failed (each row marked FAILED in the report); `command`
/// is the one to run again (`prune`, `delete`).
pub(crate) fn deletions_failed(plan: &Plan, dir: &Path, command: &str) -> anyhow::Result<()> {
    let failed = plan
        .rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count();
    if failed > 0 {
        return Err(anyhow!(
            "could not delete {failed} file(s) in {} (marked FAILED above)",
            dir.display()
        ))
        .hint(format!(
            "check the permissions of the backup dir and run {command} again"
        ));
    }
    Ok(())
}

impl Plan {
    /// Warns about each backup that failed the floor's verification, and when none passed;
    /// `location` is the dir or store, `shown` names an entry in it.
    fn warn_floor(
        &self,
        location: &str,
        shown: impl Fn(&Entry) -> String,
        advice: &str,
        printer: &Printer,
    ) {
        for row in &self.rows {
            if let Some(p) = &row.failed_verification {
                printer.warn(format!("{} fails verification: {p}", shown(&row.entry)));
            }
            if let Some(p) = &row.suspect {
                printer.warn(format!(
                    "{} is kept but not counted as a recent backup: {p}; check the clock \
                     (timedatectl), and move the file away once you know where it came from \
                     (after a restore from an older backup, the backups taken before it)",
                    shown(&row.entry)
                ));
            }
        }
        if self.withheld {
            printer.warn(format!(
                "no backup in {location} passes verification, so no backup is deleted; {advice}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
    }

    fn entry(name: &str, ft: FileType, modified: DateTime<Utc>) -> Entry {
        let (kind, backup) = classify(OsStr::new(name), ft);
        Entry {
            name: name.into(),
            kind,
            size: 100,
            modified,
            id: (1, 1),
            backup,
            content: None,
            sidecar_problem: None,
        }
    }

    fn actions(plan: &Plan) -> Vec<(String, Action)> {
        plan.rows
            .iter()
            .map(|r| (r.entry.display_name(), r.action))
            .collect()
    }

    #[test]
    fn names_are_classified() {
        let b = "etcd-snapshot-2026-11-21_04-00-00.db";
        let cases = [
            (b.to_string(), FileType::File, Kind::Backup),
            (format!("{b}.json"), FileType::File, Kind::Sidecar),
            (format!("{b}.part"), FileType::File, Kind::Temp),
            (format!("{b}.json.part"), FileType::File, Kind::Temp),
            (b.to_string(), FileType::Symlink, Kind::Symlink),
            (b.to_string(), FileType::Other, Kind::Other),
            (
                "etcd-snapshot-2026-11-21.db".into(),
                FileType::File,
                Kind::Other,
            ),
            (
                "etcd-snapshot-2026-11-21_04-00-00_x y.db".into(),
                FileType::File,
                Kind::Other,
            ),
            (format!("{b}.bak"), FileType::File, Kind::Other),
            (format!("{b}.part.part"), FileType::File, Kind::Other),
            (".etcd-backup.lock".into(), FileType::File, Kind::Lock),
            ("snapshot.db".into(), FileType::File, Kind::Other),
        ];
        for (name, ft, want) in cases {
            assert_eq!(classify(OsStr::new(&name), ft).0, want, "{name}");
        }
        assert_eq!(
            classify(OsStr::from_bytes(b"etcd-snapshot-\xff.db"), FileType::File).0,
            Kind::Other
        );
    }

    #[test]
    fn plan_keeps_newest_verified_when_rules_keep_nothing_good() {
        let now = at(21, 12);
        let names = [
            "etcd-snapshot-2026-11-21_08-00-00.db", // bad
            "etcd-snapshot-2026-11-21_04-00-00.db", // good
            "etcd-snapshot-2026-11-01_00-00-00.db",
        ];
        let entries: Vec<Entry> = names
            .iter()
            .map(|n| entry(n, FileType::File, now))
            .collect();
        let policy = Policy {
            last: Some(1),
            ..Policy::default()
        };
        let mut checked = Vec::new();
        let plan = plan(entries, &policy, now, None, |e| {
            checked.push(e.display_name());
            if e.display_name() == names[0] {
                Err("trailer mismatch".into())
            } else {
                Ok(())
            }
        });
        assert_eq!(
            checked,
            vec![names[0], names[1]],
            "newest first, until one passes"
        );
        assert_eq!(
            actions(&plan),
            vec![
                (names[0].into(), Action::Keep),
                (names[1].into(), Action::Keep),
                (names[2].into(), Action::Delete),
            ]
        );
        assert_eq!(plan.rows[1].why, vec!["newest verified"]);
        assert!(plan.rows[0].why[1].contains("fails verification: trailer mismatch"));
        assert!(!plan.withheld);
    }

    #[test]
    fn nothing_verified_means_no_backup_deleted() {
        let now = at(21, 12);
        let entries = vec![
            entry("etcd-snapshot-2026-11-01_00-00-00.db", FileType::File, now),
            entry("etcd-snapshot-2026-11-02_00-00-00.db", FileType::File, now),
            entry(
                "etcd-snapshot-2026-11-01_00-00-00.db.part",
                FileType::File,
                at(1, 0),
            ),
        ];
        let plan = plan(entries, &Policy::default().or_default(), now, None, |_| {
            Err("bad".into())
        });
        assert!(plan.withheld);
        let a = actions(&plan);
        assert_eq!(a[0].1, Action::Keep);
        assert_eq!(a[1].1, Action::Keep);
        assert_eq!(a[2].1, Action::Delete, "stale temp files still go: {a:?}");
    }

    #[test]
    fn no_verification_when_nothing_is_deleted() {
        let now = at(21, 12);
        let entries = vec![entry(
            "etcd-snapshot-2026-11-21_00-00-00.db",
            FileType::File,
            now,
        )];
        let plan = plan(entries, &Policy::default().or_default(), now, None, |_| {
            panic!("verified although nothing is deleted")
        });
        assert_eq!(plan.newest_verified, None);
    }

    #[test]
    fn known_good_is_not_verified_again() {
        let now = at(21, 12);
        let newest = "etcd-snapshot-2026-11-21_00-00-00.db";
        let entries = vec![
            entry(newest, FileType::File, now),
            entry("etcd-snapshot-2026-11-01_00-00-00.db", FileType::File, now),
        ];
        let plan = plan(
            entries,
            &Policy::default().or_default(),
            now,
            Some(OsStr::new(newest)),
            |_| panic!("verified the file save just verified"),
        );
        assert_eq!(plan.newest_verified.as_deref(), Some(OsStr::new(newest)));
    }

    /// Issue 13: a backup named in the future (taken while the clock was ahead, or a copy) made
    /// `save --prune --keep-last 1` delete the backup it had just written.
    #[test]
    fn a_future_name_never_costs_the_backup_just_written() {
        let now = at(21, 12);
        let future = "etcd-snapshot-2026-11-21_14-00-00.db";
        let written = "etcd-snapshot-2026-11-21_12-00-00.db";
        let old = "etcd-snapshot-2026-11-20_12-00-00.db";
        let entries = vec![
            entry(future, FileType::File, now),
            entry(written, FileType::File, now),
            entry(old, FileType::File, now),
        ];
        let policy = Policy {
            last: Some(1),
            ..Policy::default()
        };
        let plan = plan(entries, &policy, now, Some(OsStr::new(written)), |_| Ok(()));
        let a = actions(&plan);
        assert_eq!(
            a,
            vec![
                (future.into(), Action::Keep),
                (written.into(), Action::Keep),
                (old.into(), Action::Delete),
            ]
        );
        assert!(plan.rows[0].suspect.is_some());
        assert_eq!(plan.rows[0].reasons, vec![Reason::Suspect]);
        assert_eq!(
            plan.rows[1].reasons,
            vec![Reason::JustWritten, Reason::NewestVerified, Reason::Last(1)]
        );
        assert_eq!(plan.newest_verified.as_deref(), Some(OsStr::new(written)));
    }

    #[test]
    fn sidecars_temps_and_foreign_files() {
        let now = at(21, 12);
        let old = "etcd-snapshot-2026-11-01_00-00-00.db";
        let new = "etcd-snapshot-2026-11-21_00-00-00.db";
        let dead = "etcd-snapshot-2026-11-10_00-00-00.db";
        let fresh = "etcd-snapshot-2026-11-21_11-50-00.db";
        let orphan = "etcd-snapshot-2026-11-05_00-00-00.db";
        let link = "etcd-snapshot-2026-11-06_00-00-00.db";
        let entries = vec![
            entry(old, FileType::File, now),
            entry(&format!("{old}.json"), FileType::File, now),
            entry(new, FileType::File, now),
            entry(&format!("{new}.json"), FileType::File, now),
            entry(&format!("{dead}.part"), FileType::File, at(10, 0)),
            entry(&format!("{dead}.json"), FileType::File, at(10, 0)),
            entry(&format!("{fresh}.part"), FileType::File, at(21, 11)),
            entry(&format!("{fresh}.json"), FileType::File, at(21, 11)),
            entry(&format!("{orphan}.json"), FileType::File, at(5, 0)),
            entry(link, FileType::Symlink, now),
            entry(&format!("{link}.json"), FileType::File, now),
            entry("notes.txt", FileType::File, now),
            entry(".etcd-backup.lock", FileType::File, now),
        ];
        let plan = plan(entries, &Policy::default().or_default(), now, None, |_| {
            Ok(())
        });
        let a: std::collections::HashMap<String, Action> = actions(&plan).into_iter().collect();
        let want = [
            (new.to_string(), Action::Keep),
            (format!("{new}.json"), Action::Keep),
            (old.to_string(), Action::Delete),
            (format!("{old}.json"), Action::Delete),
            (format!("{dead}.part"), Action::Delete),
            (format!("{dead}.json"), Action::Delete),
            (format!("{fresh}.part"), Action::Ignore),
            (format!("{fresh}.json"), Action::Ignore),
            (format!("{orphan}.json"), Action::Delete),
            (link.to_string(), Action::Ignore),
            (format!("{link}.json"), Action::Ignore),
            ("notes.txt".to_string(), Action::Ignore),
        ];
        for (name, action) in want {
            assert_eq!(a.get(&name), Some(&action), "{name}: {:?}", plan.rows);
        }
        assert!(
            !a.contains_key(".etcd-backup.lock"),
            "the lock is not listed"
        );
        // A backup comes right before its sidecar, so it is deleted first.
        let pos = |n: &str| plan.rows.iter().position(|r| r.entry.name == n).unwrap();
        assert_eq!(pos(&format!("{old}.json")), pos(old) + 1);
    }
}

/// Properties of the plan over random backup sets, rules, verification verdicts, foreign files
/// and symlinks. The integration test `tests/it/prune.rs` checks the same invariants on real files.
#[cfg(test)]
mod properties {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    /// One generated directory entry: (name, file type, modified, verifies).
    type Gen = (String, FileType, DateTime<Utc>, bool);

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn backup_name() -> impl Strategy<Value = String> {
        // Minutes before now, from 5 minutes in the future to about 15 months back; one in
        // eight up to 3 days in the future (a clock that was ahead, a copy given a future name).
        (
            prop_oneof![7 => -5i64..650_000, 1 => -4320i64..0],
            prop::option::of(prop::sample::select(vec!["pre-upgrade", "x.1"])),
        )
            .prop_map(|(mins, label)| {
                let at = now() - chrono::Duration::minutes(mins);
                catalog::backup_file_name(at, label)
            })
    }

    fn entries() -> impl Strategy<Value = Vec<Gen>> {
        let one = prop_oneof![
            6 => (backup_name(), any::<bool>(), any::<bool>()).prop_map(|(n, sidecar, good)| {
                let mut v = vec![(n.clone(), FileType::File, now(), good)];
                if sidecar {
                    v.push((format!("{n}.json"), FileType::File, now(), false));
                }
                v
            }),
            1 => (backup_name(), 0i64..300).prop_map(|(n, mins)| vec![(
                format!("{n}.part"), FileType::File, now() - chrono::Duration::minutes(mins), false,
            )]),
            1 => backup_name().prop_map(|n| vec![(format!("{n}.json"), FileType::File, now(), false)]),
            1 => backup_name().prop_map(|n| vec![(n, FileType::Symlink, now(), true)]),
            1 => backup_name().prop_map(|n| vec![(n, FileType::Other, now(), true)]),
            1 => "[a-z._-]{1,12}".prop_map(|n| vec![(n, FileType::File, now(), true)]),
        ];
        prop::collection::vec(one, 0..24).prop_map(|groups| {
            let mut seen = std::collections::HashSet::new();
            groups
                .into_iter()
                .flatten()
                .filter(|(n, ..)| seen.insert(n.clone()))
                .collect()
        })
    }

    fn policy() -> impl Strategy<Value = Policy> {
        let n = || prop::option::of(1u32..6);
        (
            n(),
            prop::option::of(1u64..400),
            n(),
            n(),
            n(),
            n(),
            any::<bool>(),
        )
            .prop_map(
                |(last, within_h, hourly, daily, weekly, monthly, prune_labeled)| {
                    Policy {
                        last,
                        within: within_h.map(|h| std::time::Duration::from_secs(h * 3600)),
                        hourly,
                        daily,
                        weekly,
                        monthly,
                        prune_labeled,
                    }
                    .or_default()
                },
            )
    }

    fn to_entries(gens: &[Gen]) -> Vec<Entry> {
        gens.iter()
            .enumerate()
            .map(|(i, (name, ft, modified, _))| {
                let (kind, backup) = classify(OsStr::new(name), *ft);
                Entry {
                    name: name.into(),
                    kind,
                    size: 1000 + i as u64,
                    modified: *modified,
                    id: (1, i as u64),
                    backup,
                    content: None,
                    sidecar_problem: None,
                }
            })
            .collect()
    }

    /// A plan made over generated entries, with what it verified.
    struct Run {
        good: std::collections::HashMap<String, bool>,
        /// Backups newest first by name, as the plan lists them.
        backups: Vec<(DateTime<Utc>, String)>,
        /// The backup a save --prune has just written, when there is one.
        protected: Option<String>,
        /// The backups `check` was called on, in order.
        checked: Vec<String>,
        plan: Plan,
        action: std::collections::HashMap<String, Action>,
    }

    fn run_plan(gens: &[Gen], policy: &Policy, protect: Option<prop::sample::Index>) -> Run {
        let good: std::collections::HashMap<String, bool> =
            gens.iter().map(|(n, _, _, g)| (n.clone(), *g)).collect();
        let mut backups: Vec<(DateTime<Utc>, String)> = gens
            .iter()
            .filter(|(n, ft, ..)| *ft == FileType::File && catalog::parse_backup_name(n).is_some())
            .map(|(n, ..)| (catalog::parse_backup_name(n).unwrap().taken_at, n.clone()))
            .collect();
        backups.sort_by(|a, b| b.cmp(a));
        let protected = protect
            .filter(|_| !backups.is_empty())
            .map(|i| backups[i.index(backups.len())].1.clone());
        let mut checked = Vec::new();
        let plan = plan(
            to_entries(gens),
            policy,
            now(),
            protected.as_deref().map(OsStr::new),
            |e| {
                checked.push(e.display_name());
                if good[&e.display_name()] {
                    Ok(())
                } else {
                    Err("bad".into())
                }
            },
        );
        let action: std::collections::HashMap<String, Action> = plan
            .rows
            .iter()
            .map(|r| (r.entry.display_name(), r.action))
            .collect();
        Run {
            good,
            backups,
            protected,
            checked,
            plan,
            action,
        }
    }

    /// Invariants 0 to 3: the backup just written, suspect backups and the floor.
    fn floor_invariants(run: &Run) -> Result<(), TestCaseError> {
        let Run {
            good,
            backups,
            protected,
            checked,
            plan,
            action,
        } = run;
        let facts: Vec<catalog::Facts> = backups
            .iter()
            .map(|(t, _)| catalog::Facts {
                taken_at: *t,
                content: None,
            })
            .collect();
        let suspect: Vec<bool> = catalog::suspects(&facts, now())
            .iter()
            .map(Option::is_some)
            .collect();
        // What the floor may stand on: trusted backups newest first, then suspect ones.
        let floor_order: Vec<String> = backups
            .iter()
            .zip(&suspect)
            .filter(|(_, s)| !**s)
            .chain(backups.iter().zip(&suspect).filter(|(_, s)| **s))
            .map(|((_, n), _)| n.clone())
            .collect();
        let newest_good = protected
            .clone()
            .or_else(|| floor_order.iter().find(|n| good[*n]).cloned());
        let any_deleted = backups.iter().any(|(_, n)| action[n] == Action::Delete);

        // 0. The backup just written is kept, whatever the rules, and not verified again.
        if let Some(n) = protected {
            prop_assert_eq!(action[n], Action::Keep);
            prop_assert!(!checked.contains(n));
        }
        // 0b. A backup whose time cannot be trusted is kept (and reported).
        for ((_, n), s) in backups.iter().zip(&suspect) {
            if *s {
                prop_assert_eq!(action[n], Action::Keep);
                let row = plan
                    .rows
                    .iter()
                    .find(|r| r.entry.display_name() == *n)
                    .unwrap();
                prop_assert!(row.suspect.is_some());
            }
        }
        // 1. The newest trusted backup that passes verification is never deleted.
        if let Some(n) = &newest_good {
            prop_assert_eq!(action[n], Action::Keep);
        }
        // 2. With no backup that passes, no backup is deleted.
        if newest_good.is_none() {
            prop_assert!(!any_deleted);
        }
        // 3. Verification runs newest trusted first, then the suspect ones, and stops at the
        //    first good one; it runs at all only when the rules would delete something, and
        //    never when the backup just written is there to stand for the newest.
        if protected.is_some() {
            prop_assert!(checked.is_empty());
        }
        prop_assert_eq!(&checked[..], &floor_order[..checked.len()]);
        if let Some((last, rest)) = checked.split_last() {
            prop_assert!(rest.iter().all(|n| !good[n]));
            prop_assert!(good[last] || checked.len() == backups.len());
        }
        Ok(())
    }

    /// Invariants 4 to 6: what the rules keep, labels, and sidecars with their backup.
    fn rule_invariants(run: &Run, policy: &Policy) -> Result<(), TestCaseError> {
        let Run {
            backups, action, ..
        } = run;
        let rule_reasons = retention::decide(
            &backups
                .iter()
                .map(|(t, n)| Item {
                    taken_at: *t,
                    labeled: catalog::parse_backup_name(n).unwrap().label.is_some(),
                })
                .collect::<Vec<_>>(),
            policy,
            now(),
        );
        for (k, (_, n)) in backups.iter().enumerate() {
            // 4. The floor only ever adds: what a rule keeps is kept.
            if !rule_reasons[k].is_empty() {
                prop_assert_eq!(action[n], Action::Keep);
            }
            // 5. Labeled backups are kept unless --prune-labeled.
            if !policy.prune_labeled && catalog::parse_backup_name(n).unwrap().label.is_some() {
                prop_assert_eq!(action[n], Action::Keep);
            }
            // 6. A backup and its sidecar go together.
            if let Some(a) = action.get(&format!("{n}.json")) {
                prop_assert_eq!(*a, action[n]);
            }
        }
        Ok(())
    }

    /// Invariants 7 and 8: what may be deleted at all, and when temp files go.
    fn file_invariants(run: &Run, gens: &[Gen]) -> Result<(), TestCaseError> {
        for (name, ft, modified, _) in gens {
            let a = run.action[name];
            let (kind, _) = classify(OsStr::new(name), *ft);
            // 7. Only regular files with our names are ever deleted; symlinks never.
            if a == Action::Delete {
                prop_assert_eq!(*ft, FileType::File);
                prop_assert!(matches!(kind, Kind::Backup | Kind::Sidecar | Kind::Temp));
            }
            if matches!(kind, Kind::Symlink | Kind::Other) {
                prop_assert_eq!(a, Action::Ignore);
            }
            // 8. Temp files go once they are more than an hour old, and only then.
            if kind == Kind::Temp {
                let stale = now().signed_duration_since(*modified) > chrono::Duration::hours(1);
                prop_assert_eq!(a == Action::Delete, stale);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn plan_invariants(
            gens in entries(),
            policy in policy(),
            protect in prop::option::of(any::<prop::sample::Index>()),
        ) {
            let run = run_plan(&gens, &policy, protect);
            // Every entry is listed once.
            prop_assert_eq!(run.plan.rows.len(), gens.len());
            prop_assert_eq!(run.action.len(), gens.len());
            floor_invariants(&run)?;
            rule_invariants(&run, &policy)?;
            file_invariants(&run, &gens)?;
        }

        /// The union: what a policy keeps is exactly what its rules keep one at a time.
        #[test]
        fn rules_are_a_union(gens in entries(), policy in policy()) {
            let items: Vec<Item> = gens
                .iter()
                .filter_map(|(n, ..)| catalog::parse_backup_name(n))
                .map(|b| Item { taken_at: b.taken_at, labeled: b.label.is_some() })
                .collect();
            let whole = retention::decide(&items, &policy, now());
            let base = Policy { prune_labeled: policy.prune_labeled, ..Policy::default() };
            let singles = [
                Policy { last: policy.last, ..base.clone() },
                Policy { within: policy.within, ..base.clone() },
                Policy { hourly: policy.hourly, ..base.clone() },
                Policy { daily: policy.daily, ..base.clone() },
                Policy { weekly: policy.weekly, ..base.clone() },
                Policy { monthly: policy.monthly, ..base.clone() },
            ];
            let parts: Vec<Vec<Vec<Reason>>> =
                singles.iter().map(|p| retention::decide(&items, p, now())).collect();
            for i in 0..items.len() {
                let any = parts.iter().any(|p| !p[i].is_empty());
                prop_assert_eq!(!whole[i].is_empty(), any);
            }
        }
    }
}
