//! `etcd-backup status [FILE]`: the numbers `etcdutl snapshot status` prints, byte for byte, or
//! the state of the backup set.

use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;
use chrono::Utc;

use crate::backup::catalog::{self, Backup, Sidecar};
use crate::backup::layers::Layers;
use crate::backup::named::Named;
use crate::backup::set::{scratch_dir, BackupSet};
use crate::backup::verify::{self, SpillError};
use crate::bbolt::BboltError;
use crate::cli::{OutputFormat, StatusArgs};
use crate::diagnostics::{with_hint, ExitStatus, HintExt};
use crate::etcd::schema;
use crate::fsutil::FsError;
use crate::output::{human_bytes, Printer};
use crate::settings::Settings;

pub(crate) fn run(
    settings: &Settings,
    printer: &Printer,
    args: &StatusArgs,
) -> anyhow::Result<ExitStatus> {
    match &args.file {
        Some(file) => {
            let identities = settings.identities()?;
            match Named::open(file, &settings.remote_options)? {
                Named::Local(path) => file_status(printer, &path, &identities),
                named => {
                    let scratch = scratch_dir(&settings.backup_dir);
                    let report = inspect_stored(&named, &identities, &scratch)?;
                    finish_file_status(printer, Path::new(&named.shown()), report)
                }
            }
        }
        None => {
            let now = Utc::now();
            let set = BackupSet::open(settings)?;
            let rows = rows(&set)?;
            report_set(printer, rows, &set.location(), now, args.max_age)
        }
    }
}

/// Reads a layered file or an object into a scratch copy (sealed when encrypted) and walks it.
fn inspect_stored(
    named: &Named,
    identities: &[age::x25519::Identity],
    scratch_dir: &Path,
) -> anyhow::Result<schema::Report> {
    let mut stored = named.reader()?;
    let shown = named.shown();
    let spilled = verify::spill(&mut stored, &shown, named.layers(), identities, scratch_dir)
        .map_err(|e| {
            let hint = match &e {
                SpillError::Keys(_) => "pass the age identity it was encrypted to with --identity",
                SpillError::Damaged(_) => "the file is damaged; use another backup",
                _ => "check the path and that this user may read it",
            };
            with_hint(e, hint)
        })?;
    let db = crate::bbolt::Db::from_source(Box::new(spilled.scratch), Path::new(&shown))?;
    Ok(schema::inspect_db(&db, false)?)
}

fn file_status(
    printer: &Printer,
    file: &Path,
    identities: &[age::x25519::Identity],
) -> anyhow::Result<ExitStatus> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let layers = Layers::strip(name).1;
    // A FIFO would block the reader, a device would never end: regular files only.
    crate::fsutil::open_regular(file, true)
        .map_err(|e| FsError::io("cannot read", file, e))
        .hint("name a snapshot file (a regular file, or a symlink to one)")?;
    let report = if layers.is_plain() {
        schema::inspect(file, false)
    } else {
        let named = Named::Local(file.to_path_buf());
        let report = inspect_stored(&named, identities, &crate::fsutil::parent_dir(file))?;
        return finish_file_status(printer, file, report);
    };
    let report = report.map_err(|e| match e {
        BboltError::Io { .. } => with_hint(e, "check the path and that this user may read it"),
        e => with_hint(
            e,
            "the file is not a readable etcd snapshot; `etcd-backup verify FILE` lists every \
             problem",
        ),
    })?;
    finish_file_status(printer, file, report)
}

fn finish_file_status(
    printer: &Printer,
    file: &Path,
    report: schema::Report,
) -> anyhow::Result<ExitStatus> {
    if !report.corruption.is_empty() {
        let list = report
            .corruption
            .iter()
            .map(|c| format!("\n    {c}"))
            .collect::<String>();
        return Err(anyhow!(
            "snapshot file integrity check failed on {}: {} problem(s) found:{list}",
            file.display(),
            report.corruption.len()
        ))
        .map_err(|e| with_hint(e, "this snapshot is damaged; use another backup"));
    }
    let s = &report.status;
    printer.data(match printer.format {
        OutputFormat::Json => s.to_json(),
        OutputFormat::Table => s.to_table(),
        OutputFormat::Simple => s.to_simple(),
        OutputFormat::Fields => s.to_fields(),
    });
    Ok(ExitStatus::Success)
}

/// One backup as the set report shows it. `status` does not read the backups themselves: the
/// verdict comes from the sidecar, checked cheaply against the file (its size and name).
struct Row {
    backup: Backup,
    size: u64,
    sidecar: Option<Sidecar>,
    /// Why the sidecar could not be used, if it exists but is unreadable or stale.
    sidecar_problem: Option<String>,
    /// Why the backup's time cannot be trusted (`catalog::suspects`).
    suspect: Option<String>,
}

impl Row {
    /// A backup of `size` bytes with the sidecar found for it (`what` it is, for the message
    /// when the sidecar's size disagrees).
    fn new(backup: Backup, size: u64, found: Result<Option<Sidecar>, String>, what: &str) -> Row {
        let (sidecar, mut sidecar_problem) = match found {
            Ok(s) => (s, None),
            Err(p) => (None, Some(p)),
        };
        if let Some(sc) = &sidecar {
            let file_name = backup.name.rsplit('/').next().unwrap_or_default();
            if sc.file_size != size {
                sidecar_problem = Some(format!(
                    "sidecar says {} bytes, {what} has {size}",
                    sc.file_size
                ));
            } else if sc.file != file_name {
                sidecar_problem = Some(format!(
                    "sidecar describes {}, not {file_name} (a renamed copy?)",
                    sc.file
                ));
            }
        }
        Row {
            backup,
            size,
            sidecar,
            sidecar_problem,
            suspect: None,
        }
    }

    /// Verified (and not failed since), still the file that was verified, and its time is
    /// trusted.
    fn good(&self) -> bool {
        self.sidecar_problem.is_none()
            && self.suspect.is_none()
            && self.sidecar.as_ref().is_some_and(Sidecar::verified)
    }

    /// What the sidecar says of the backup, when it can be trusted to describe this file.
    fn facts(&self) -> catalog::Facts {
        catalog::Facts {
            taken_at: self.backup.taken_at,
            content: self
                .sidecar
                .as_ref()
                .filter(|_| self.sidecar_problem.is_none())
                .map(catalog::Content::of),
        }
    }
}

/// Marks the rows whose time cannot be trusted.
fn mark_suspects(rows: &mut [Row], now: chrono::DateTime<Utc>) {
    let facts: Vec<catalog::Facts> = rows.iter().map(Row::facts).collect();
    for (row, s) in rows.iter_mut().zip(catalog::suspects(&facts, now)) {
        row.suspect = s;
    }
}

/// `3d 4h`, `4h 2m`, `12m`, `40s`: age for people.
fn age(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, mins) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// The backups of the set as rows; in a store the name column shows `<node>/<file>`.
fn rows(set: &BackupSet) -> anyhow::Result<Vec<Row>> {
    let listed = set.list()?;
    let sizes = listed
        .iter()
        .map(|l| set.size(l))
        .collect::<anyhow::Result<Vec<u64>>>()?;
    Ok(listed
        .into_iter()
        .zip(sizes)
        .map(|(l, size)| {
            let found = set.sidecar(&l.backup);
            Row::new(l.backup, size, found, set.what())
        })
        .collect())
}

/// What the set report says of the set as a whole.
struct Summary<'a> {
    location: &'a str,
    now: chrono::DateTime<Utc>,
    max_age: Option<Duration>,
    suspects: usize,
    total: u64,
    newest_good: Option<&'a Row>,
    newest_good_age: Option<chrono::Duration>,
    /// `--max-age` given, and no verified backup is that recent.
    too_old: bool,
}

impl<'a> Summary<'a> {
    fn of(
        rows: &'a [Row],
        location: &'a str,
        now: chrono::DateTime<Utc>,
        max_age: Option<Duration>,
    ) -> Summary<'a> {
        let newest_good = rows.iter().find(|r| r.good());
        let newest_good_age = newest_good.map(|r| now - r.backup.taken_at);
        let too_old = match (max_age, newest_good_age) {
            (Some(limit), Some(a)) => a.to_std().unwrap_or_default() > limit,
            (Some(_), None) => true,
            (None, _) => false,
        };
        Summary {
            location,
            now,
            max_age,
            suspects: rows.iter().filter(|r| r.suspect.is_some()).count(),
            total: rows.iter().map(|r| r.size).sum(),
            newest_good,
            newest_good_age,
            too_old,
        }
    }
}

fn report_set(
    printer: &Printer,
    mut rows: Vec<Row>,
    location: &str,
    now: chrono::DateTime<Utc>,
    max_age: Option<Duration>,
) -> anyhow::Result<ExitStatus> {
    mark_suspects(&mut rows, now);
    let sum = Summary::of(&rows, location, now, max_age);
    if printer.format == OutputFormat::Json {
        print_json(printer, &rows, &sum);
    } else {
        print_table(printer, &rows, now);
        print_totals(printer, &rows, &sum);
    }
    let suspects = sum.suspects;
    if suspects > 0 {
        printer.warn(format!(
            "{suspects} backup(s) in {location} have a time that cannot be trusted and are not \
             counted as recent; check the clock (timedatectl), and move such a file away once \
             you know where it came from"
        ));
    }
    if sum.too_old {
        let limit = max_age
            .map(humantime::format_duration)
            .map(|d| d.to_string());
        printer.warn(match sum.newest_good_age {
            Some(a) => format!(
                "the newest verified backup is {} old, more than --max-age {}",
                age(a),
                limit.unwrap_or_default()
            ),
            None => format!("there is no verified backup in {location}"),
        });
        return Ok(ExitStatus::Failure);
    }
    Ok(ExitStatus::Success)
}

/// The set report as one JSON document (`-w json`), a stable interface.
fn print_json(printer: &Printer, rows: &[Row], sum: &Summary<'_>) {
    let now = sum.now;
    let list: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "file": r.backup.name,
                "path": r.backup.path.display().to_string(),
                "taken_at": r.backup.taken_at,
                "age_seconds": (now - r.backup.taken_at).num_seconds(),
                "label": r.backup.label,
                "size": r.size,
                "revision": r.sidecar.as_ref().map(|s| s.revision),
                "verified_at": r.sidecar.as_ref().and_then(|s| s.verified_at),
                "verification_failed_at": r
                    .sidecar
                    .as_ref()
                    .and_then(|s| s.failed_verification.as_ref().map(|f| f.at)),
                "verification_problems": r
                    .sidecar
                    .as_ref()
                    .and_then(|s| s.failed_verification.as_ref())
                    .map_or(&[][..], |f| &f.problems[..]),
                "good": r.good(),
                "drill": r.sidecar.as_ref().and_then(|s| s.drill.as_ref()),
                "problem": r.sidecar_problem,
                "suspect": r.suspect,
            })
        })
        .collect();
    printer.json(&serde_json::json!({
        "backup_dir": sum.location,
        "backups": list,
        "count": rows.len(),
        "total_size": sum.total,
        "newest_good": sum.newest_good.map(|r| r.backup.name.clone()),
        "newest_good_age_seconds": sum.newest_good_age.map(|a| a.num_seconds()),
        "max_age_seconds": sum.max_age.map(|d| d.as_secs()),
        "max_age_exceeded": sum.too_old,
        "suspect_backups": sum.suspects,
        "last_drill": last_drill(rows).map(|(r, d)| serde_json::json!({
            "file": r.backup.name, "drilled_at": d.drilled_at, "passed": d.passed,
            "problems": d.problems,
        })),
        "verdicts_from": "sidecars",
    }));
}

/// The backup drilled last, and that drill (`etcd-backup drill` records it in the sidecar).
fn last_drill(rows: &[Row]) -> Option<(&Row, &crate::backup::catalog::DrillRecord)> {
    rows.iter()
        .filter_map(|r| Some((r, r.sidecar.as_ref()?.drill.as_ref()?)))
        .max_by_key(|(_, d)| d.drilled_at)
}

/// The VERIFIED column: what the sidecar records, or why it cannot be used.
fn verified(r: &Row, now: chrono::DateTime<Utc>) -> String {
    match (&r.sidecar_problem, &r.sidecar) {
        (Some(p), _) => format!("no: {p}"),
        (None, None) => "no sidecar".to_string(),
        (None, Some(s)) => match (&s.failed_verification, s.verified_at) {
            (Some(f), _) => format!("FAILED {} ago", age(now - f.at)),
            (None, Some(t)) => format!("{} ago", age(now - t)),
            (None, None) => "never".to_string(),
        },
    }
}

/// One line per backup under a header (none when the set is empty), columns aligned.
fn print_table(printer: &Printer, rows: &[Row], now: chrono::DateTime<Utc>) {
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.backup.name.clone(),
                age(now - r.backup.taken_at),
                r.backup.label.clone().unwrap_or_else(|| "-".to_string()),
                human_bytes(r.size),
                r.sidecar
                    .as_ref()
                    .map_or("-".to_string(), |s| s.revision.to_string()),
                verified(r, now),
            ]
        })
        .collect();
    let head = ["BACKUP", "AGE", "LABEL", "SIZE", "REVISION", "VERIFIED"];
    let mut widths = head.map(str::len);
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    if !rows.is_empty() {
        printer.data(line(&head.map(str::to_string)));
        for row in &table {
            printer.data(line(row));
        }
    }
}

/// The suspect backups, then the totals line.
fn print_totals(printer: &Printer, rows: &[Row], sum: &Summary<'_>) {
    if let Some((r, d)) = last_drill(rows) {
        printer.data(format!(
            "last drill: {} {}, {} ago{}",
            if d.passed { "passed" } else { "FAILED" },
            r.backup.name,
            age(sum.now - d.drilled_at),
            d.problems
                .first()
                .map(|p| format!(": {p}"))
                .unwrap_or_default()
        ));
    }
    for r in rows.iter().filter(|r| r.suspect.is_some()) {
        printer.data(format!(
            "SUSPECT {}: {}",
            r.backup.name,
            r.suspect.as_deref().unwrap_or_default()
        ));
    }
    let newest = match sum.newest_good {
        Some(r) => format!(
            "newest verified: {} ({} ago)",
            r.backup.name,
            age(sum.now - r.backup.taken_at)
        ),
        None => "no verified backup".to_string(),
    };
    printer.data(format!(
        "{} backup(s), {} in {}; {newest}{}; verdicts as the sidecars record them \
         (sizes checked; `etcd-backup verify --all` re-reads the files)",
        rows.len(),
        human_bytes(sum.total),
        sum.location,
        if sum.suspects > 0 {
            format!(", {} suspect (not counted)", sum.suspects)
        } else {
            String::new()
        },
    ));
}

#[cfg(test)]
mod tests {
    use super::age;

    #[test]
    fn ages_read_well() {
        let d = chrono::Duration::seconds;
        assert_eq!(age(d(40)), "40s");
        assert_eq!(age(d(12 * 60 + 5)), "12m");
        assert_eq!(age(d(4 * 3600 + 2 * 60)), "4h 2m");
        assert_eq!(age(d(3 * 86_400 + 4 * 3600 + 59)), "3d 4h");
        assert_eq!(age(d(-5)), "0s");
    }
}
