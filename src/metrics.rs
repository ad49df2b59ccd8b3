//! `--metrics-file`: what the last `save` run did, in the Prometheus text format that
//! node-exporter's textfile collector reads (the `*.prom` files of its directory).
//!
//! A `Recorder`, started in lib.rs before the settings are resolved and finished with the
//! result, writes the file whatever happened: success, an error (including settings that did
//! not resolve and bad flags found after parsing), a skip by `--skip-unless-leader`, an
//! interruption, even a panic. It sees the exit code, which `save::run` alone does not;
//! `save::run` fills in a `SaveReport` with what the exit code does not say.
//!
//! The file is replaced atomically: `<file>.part` beside it (the collector reads only `*.prom`,
//! so it never sees a half-written file), mode 0644 whatever the umask (node-exporter runs as
//! another user), fsync, rename, fsync of the directory. Writers take turns through an `flock`
//! on the directory, so two runs never interleave their read-modify-write.
//!
//! What outlives a run (the failures counter, when the last success was, the size and revision
//! of the last backup) is read back from the previous file: the file is the only state. A
//! missing or unreadable previous file restarts the counter at 0 with a warning, which
//! Prometheus' `rate()` and `increase()` treat as a counter reset. Within one file's life the
//! counter only ever goes up.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::anyhow;

use crate::backup::catalog;
use crate::backup::prune::{Action, Kind, Outcome, Pruned};
use crate::diagnostics::{ExitStatus, HintExt};
use crate::fsutil::{self, FsError};
use crate::output::Printer;

/// What `save` learned, filled in as it goes: what the exit code does not say.
#[derive(Debug, Default)]
pub(crate) struct SaveReport {
    /// `--skip-unless-leader` found another member leading: nothing was saved, by design.
    pub skipped: bool,
    /// The backup this run committed (final name, sidecar, directory fsynced).
    pub backup: Option<SavedBackup>,
    /// The backup dir, once the settings are resolved.
    pub backup_dir: Option<PathBuf>,
    /// The remote set as `save --prune --remote` left it (it lists the store anyway).
    pub remote_set: Option<SetSize>,
}

/// A backup saved and verified by this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedBackup {
    pub path: PathBuf,
    /// Bytes of the stored file (after compression and encryption).
    pub size: u64,
    pub revision: i64,
}

/// Number and total size of the backups in a set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SetSize {
    pub backups: u64,
    pub bytes: u64,
    /// Backups whose time cannot be trusted (`catalog::suspects`): a future name, or a newer
    /// name than what they hold.
    pub suspects: u64,
}

impl SetSize {
    /// The backups a prune left: every backup it did not delete.
    pub(crate) fn after_prune(pruned: &Pruned) -> SetSize {
        let mut set = SetSize::default();
        for r in &pruned.plan.rows {
            let gone = r.action == Action::Delete && r.outcome == Outcome::Deleted;
            if r.entry.kind == Kind::Backup && !gone {
                set.backups += 1;
                set.bytes += r.entry.size;
                set.suspects += u64::from(r.suspect.is_some());
            }
        }
        set
    }

    /// The backups in `dir` as `status` counts them (an absent dir holds none).
    fn of_dir(dir: &Path) -> io::Result<SetSize> {
        let backups = match catalog::list_backups(dir) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(SetSize::default()),
            Err(e) => return Err(e),
        };
        let mut set = SetSize::default();
        let mut facts = Vec::with_capacity(backups.len());
        for b in backups {
            set.backups += 1;
            set.bytes += std::fs::symlink_metadata(&b.path)?.len();
            // An unreadable sidecar (a FIFO, a device, garbage) just tells nothing here.
            let content = catalog::read_sidecar(&b.path).ok().flatten();
            facts.push(catalog::Facts {
                taken_at: b.taken_at,
                content: content.as_ref().map(catalog::Content::of),
            });
        }
        set.suspects = catalog::suspects(&facts, chrono::Utc::now())
            .iter()
            .filter(|s| s.is_some())
            .count() as u64;
        Ok(set)
    }
}

/// The result of a save run, as `etcd_backup_last_result{result=…}` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunResult {
    /// A verified backup was saved (and uploaded and pruned, when asked for); exit 0.
    Success,
    /// A verified backup was saved (and uploaded), but pruning failed; exit 3.
    Partial,
    /// No backup was saved, or the upload failed; exit 2 or 130.
    Failure,
    /// `--skip-unless-leader` on a member that is not the leader; exit 0.
    Skipped,
}

impl RunResult {
    pub(crate) const ALL: [RunResult; 4] = [
        RunResult::Success,
        RunResult::Partial,
        RunResult::Failure,
        RunResult::Skipped,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            RunResult::Success => "success",
            RunResult::Partial => "partial",
            RunResult::Failure => "failure",
            RunResult::Skipped => "skipped",
        }
    }

    /// From the exit code and what save reported. An exit 0 without a backup that is not a
    /// skip is counted as a failure: "success" always means a backup exists.
    pub(crate) fn of(code: u8, report: &SaveReport) -> RunResult {
        const SUCCESS: u8 = ExitStatus::Success.code();
        const PARTIAL: u8 = ExitStatus::Partial.code();
        match code {
            SUCCESS if report.skipped => RunResult::Skipped,
            SUCCESS if report.backup.is_some() => RunResult::Success,
            PARTIAL if report.backup.is_some() => RunResult::Partial,
            _ => RunResult::Failure,
        }
    }

    /// Whether this run saved a verified backup.
    fn saved(self) -> bool {
        matches!(self, RunResult::Success | RunResult::Partial)
    }
}

/// The exit code recorded for a run that panicked (what Rust's runtime exits with).
const PANIC_EXIT: u8 = 101;

/// How long to wait for another writer of the same metrics directory.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Records one `save` run in the metrics file: started before the settings are resolved,
/// finished with the run's result. Dropped unfinished while a panic unwinds, it still records
/// the run, as a failure with exit code 101.
pub(crate) struct Recorder {
    file: PathBuf,
    printer: Printer,
    attempt: SystemTime,
    started: Instant,
    done: bool,
}

impl Recorder {
    pub(crate) fn start(file: &Path, printer: &Printer) -> Recorder {
        Recorder {
            file: file.to_path_buf(),
            printer: printer.clone(),
            attempt: SystemTime::now(),
            started: Instant::now(),
            done: false,
        }
    }

    /// Writes the metrics for `result`. A failed run's error is printed here, and its exit code
    /// returned as `Ok`. When the metrics cannot be written, a run that saved a backup exits 3
    /// (done part-way) and a skipped run exits 2; a failed run keeps its exit code.
    pub(crate) fn finish(
        mut self,
        result: anyhow::Result<ExitStatus>,
        report: &SaveReport,
    ) -> anyhow::Result<ExitStatus> {
        self.done = true;
        let status = match &result {
            Ok(status) => *status,
            Err(e) => {
                self.printer.error(e);
                ExitStatus::of_error(e)
            }
        };
        let outcome = RunResult::of(status.code(), report);
        let Err(e) = self.write(status.code(), outcome, report) else {
            return Ok(status);
        };
        self.printer.error(&e);
        Ok(match outcome {
            RunResult::Success => {
                if let Some(b) = &report.backup {
                    self.printer.warn(format!(
                        "the backup {} was saved, but the metrics file was not written",
                        b.path.display()
                    ));
                }
                ExitStatus::Partial
            }
            RunResult::Skipped => ExitStatus::Error,
            RunResult::Partial | RunResult::Failure => status,
        })
    }

    fn write(&self, code: u8, result: RunResult, report: &SaveReport) -> anyhow::Result<()> {
        let run = Run {
            attempt: self.attempt,
            finished: SystemTime::now(),
            duration: self.started.elapsed(),
            result,
            exit_code: code,
        };
        write(&self.file, &run, report, &self.printer)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.done && std::thread::panicking() {
            // The panic message is already out; this must not panic in turn.
            let report = SaveReport::default();
            if let Err(e) = self.write(PANIC_EXIT, RunResult::Failure, &report) {
                self.printer.error(&e);
            }
        }
    }
}

/// One run, as the metrics describe it.
#[derive(Debug, Clone, Copy)]
struct Run {
    attempt: SystemTime,
    finished: SystemTime,
    duration: Duration,
    result: RunResult,
    exit_code: u8,
}

/// Reads the previous file, folds this run in, and replaces the file.
fn write(file: &Path, run: &Run, report: &SaveReport, printer: &Printer) -> anyhow::Result<()> {
    let hint = "point --metrics-file (ETCD_BACKUP_METRICS_FILE) at a file in an existing \
                directory this user may write, e.g. node-exporter's textfile collector dir";
    if file.extension().is_none_or(|e| e != "prom") {
        printer.warn(format!(
            "{} does not end in .prom, so node-exporter's textfile collector will not read it",
            file.display()
        ));
    }
    let dir = fsutil::parent_dir(file);
    let _lock = lock_dir(&dir).hint(hint)?;
    let carried = read_previous(file, printer).hint(hint)?;
    let local = report.backup_dir.as_deref().and_then(|d| {
        SetSize::of_dir(d)
            .map_err(|e| {
                printer.warn(format!(
                    "cannot count the backups in {}: {e}; the metrics leave them out",
                    d.display()
                ))
            })
            .ok()
    });
    let metrics = Metrics::new(run, report, carried, local);
    // Ours, since we hold the directory's lock: the temp file of a writer that was killed.
    let tmp = fsutil::temp_name(file);
    if let Err(e) = std::fs::remove_file(&tmp) {
        if e.kind() != io::ErrorKind::NotFound {
            return Err(FsError::io("cannot remove stale temp file", &tmp, e)).hint(hint);
        }
    }
    fsutil::write_atomic_mode(file, metrics.render().as_bytes(), true, 0o644).hint(hint)?;
    printer.detail(format!(
        "wrote {} (result {}, failures {})",
        file.display(),
        run.result.label(),
        metrics.failures_total
    ));
    Ok(())
}

/// An exclusive `flock` on `dir`, waited for up to `LOCK_WAIT`.
fn lock_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    let d = std::fs::File::open(dir).map_err(|e| FsError::io("cannot open directory", dir, e))?;
    let t = Instant::now();
    loop {
        match d.try_lock() {
            Ok(()) => return Ok(d),
            Err(std::fs::TryLockError::WouldBlock) if t.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(anyhow!(
                    "{} stayed locked by another writer of metrics for {}s",
                    dir.display(),
                    LOCK_WAIT.as_secs()
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(FsError::io("cannot lock directory", dir, e).into())
            }
        }
    }
}

/// What a run carries over from the previous file.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Carried {
    failures_total: u64,
    /// Unix time; 0 when no success is known.
    last_success: f64,
    last_size: Option<u64>,
    last_revision: Option<i64>,
}

/// The previous file's state: defaults, with a warning, when it is missing or not ours.
fn read_previous(file: &Path, printer: &Printer) -> anyhow::Result<Carried> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            printer.warn(format!(
                "no previous metrics file {}: etcd_backup_failures_total starts at 0 (expected \
                 on the first run)",
                file.display()
            ));
            return Ok(Carried::default());
        }
        Err(e) if e.kind() == io::ErrorKind::InvalidData => String::new(),
        Err(e) => return Err(FsError::io("cannot read the previous metrics file", file, e).into()),
    };
    match parse_previous(&text) {
        Ok(c) => Ok(c),
        Err(why) => {
            printer.warn(format!(
                "the previous metrics file {} is unreadable ({why}): etcd_backup_failures_total \
                 restarts at 0 and the last success, size and revision are forgotten",
                file.display()
            ));
            Ok(Carried::default())
        }
    }
}

/// Reads back the values that outlive a run. Any line that is not a sample, and any value
/// that is not what we write, makes the whole file untrusted.
fn parse_previous(text: &str) -> Result<Carried, String> {
    let mut samples: Vec<(&str, &str, f64)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, labels, value) =
            parse_sample(line).ok_or_else(|| format!("line {}: not a sample: {line:?}", i + 1))?;
        if samples.iter().any(|(n, l, _)| *n == name && *l == labels) {
            return Err(format!("line {}: {name}{labels} appears twice", i + 1));
        }
        samples.push((name, labels, value));
    }
    let get = |name: &str| {
        samples
            .iter()
            .find(|(n, l, _)| *n == name && l.is_empty())
            .map(|s| s.2)
    };
    let whole = |name: &str, v: f64| {
        if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 9_007_199_254_740_992.0 {
            Ok(v)
        } else {
            Err(format!("{name} is {v}, not a whole number"))
        }
    };
    let failures_total = match get(FAILURES) {
        Some(v) => whole(FAILURES, v)? as u64,
        None => return Err(format!("no {FAILURES}")),
    };
    let last_success = match get(LAST_SUCCESS) {
        Some(v) if v.is_finite() && v >= 0.0 => v,
        Some(v) => return Err(format!("{LAST_SUCCESS} is {v}")),
        None => 0.0,
    };
    let last_size = get(LAST_SIZE)
        .map(|v| whole(LAST_SIZE, v).map(|v| v as u64))
        .transpose()?;
    let last_revision = get(LAST_REVISION)
        .map(|v| whole(LAST_REVISION, v).map(|v| v as i64))
        .transpose()?;
    Ok(Carried {
        failures_total,
        last_success,
        last_size,
        last_revision,
    })
}

/// `name[{labels}] value [timestamp]` of the text format: the name, the label set as written
/// (with its braces, or empty) and the value.
fn parse_sample(line: &str) -> Option<(&str, &str, f64)> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let rest = &line[name_end..];
    let (labels, rest) = if rest.starts_with('{') {
        let mut quoted = false;
        let mut escaped = false;
        let mut end = None;
        for (i, c) in rest.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                '}' if !quoted => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end?;
        (&rest[..=end], &rest[end + 1..])
    } else {
        ("", rest)
    };
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut tokens = rest.split_whitespace();
    let value = match tokens.next()? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().ok().filter(|v| v.is_finite())?,
    };
    if let Some(ts) = tokens.next() {
        ts.parse::<i64>().ok()?;
    }
    if tokens.next().is_some() {
        return None;
    }
    Some((name, labels, value))
}

const LAST_ATTEMPT: &str = "etcd_backup_last_attempt_timestamp_seconds";
const LAST_SUCCESS: &str = "etcd_backup_last_success_timestamp_seconds";
const LAST_DURATION: &str = "etcd_backup_last_duration_seconds";
const LAST_RESULT: &str = "etcd_backup_last_result";
const LAST_EXIT_CODE: &str = "etcd_backup_last_exit_code";
const LAST_SIZE: &str = "etcd_backup_last_size_bytes";
const LAST_REVISION: &str = "etcd_backup_last_revision";
const BACKUPS: &str = "etcd_backup_backups";
const BACKUPS_SIZE: &str = "etcd_backup_backups_size_bytes";
const FAILURES: &str = "etcd_backup_failures_total";
const SUSPECTS: &str = "etcd_backup_suspect_backups";

/// Every metric the file can hold: name, type and HELP text. docs/monitoring.md lists the same.
pub(crate) const FAMILIES: [(&str, &str, &str); 11] = [
    (
        LAST_ATTEMPT,
        "gauge",
        "When the last save run started, in Unix time.",
    ),
    (
        LAST_SUCCESS,
        "gauge",
        "When the last save run that saved a verified backup (result success or partial) \
         finished, in Unix time; 0 when none is known.",
    ),
    (LAST_DURATION, "gauge", "How long the last save run took."),
    (
        LAST_RESULT,
        "gauge",
        "Result of the last save run: 1 for its result, 0 for the others. success: saved; \
         partial: saved, but pruning failed; failure: nothing saved, or the upload failed; \
         skipped: not the leader (--skip-unless-leader).",
    ),
    (
        LAST_EXIT_CODE,
        "gauge",
        "Exit code of the last save run: 0 success or skipped, 2 error, 3 saved but not \
         pruned, 130 interrupted.",
    ),
    (
        LAST_SIZE,
        "gauge",
        "Size of the backup saved by the last run with result success or partial, as stored \
         (after compression and encryption).",
    ),
    (
        LAST_REVISION,
        "gauge",
        "etcd revision in the backup saved by the last run with result success or partial.",
    ),
    (
        BACKUPS,
        "gauge",
        "Backups in the set after the last save run. location=local: the backup dir; \
         location=remote: the store, when save --prune --remote listed it.",
    ),
    (
        BACKUPS_SIZE,
        "gauge",
        "Total size of the backups counted by etcd_backup_backups.",
    ),
    (
        SUSPECTS,
        "gauge",
        "Backups counted by etcd_backup_backups whose time cannot be trusted: named in the \
         future, or named later than a backup of the same cluster with a higher revision. They \
         are kept, and never count as the newest backup.",
    ),
    (
        FAILURES,
        "counter",
        "Save runs that failed (result failure or partial, exit code not 0) since the metrics \
         file was first written.",
    ),
];

/// The values of one file.
#[derive(Debug, Clone, PartialEq)]
struct Metrics {
    attempt: f64,
    last_success: f64,
    duration: f64,
    result: RunResult,
    exit_code: u8,
    last_size: Option<u64>,
    last_revision: Option<i64>,
    local: Option<SetSize>,
    remote: Option<SetSize>,
    failures_total: u64,
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Metrics {
    fn new(run: &Run, report: &SaveReport, prev: Carried, local: Option<SetSize>) -> Metrics {
        let saved = report.backup.as_ref().filter(|_| run.result.saved());
        Metrics {
            attempt: unix_seconds(run.attempt),
            last_success: if saved.is_some() {
                unix_seconds(run.finished)
            } else {
                prev.last_success
            },
            duration: run.duration.as_secs_f64(),
            result: run.result,
            exit_code: run.exit_code,
            last_size: saved.map(|b| b.size).or(prev.last_size),
            last_revision: saved.map(|b| b.revision).or(prev.last_revision),
            local,
            remote: report.remote_set,
            failures_total: prev.failures_total
                + u64::from(matches!(
                    run.result,
                    RunResult::Failure | RunResult::Partial
                )),
        }
    }

    /// The text format: `# HELP`, `# TYPE` and the samples of each family that has any.
    fn render(&self) -> String {
        let int = |v: u64| v.to_string();
        let secs = |v: f64| format!("{v:.3}");
        let sets = |f: fn(&SetSize) -> u64| -> Vec<(String, String)> {
            [("local", self.local), ("remote", self.remote)]
                .into_iter()
                .filter_map(|(loc, set)| {
                    set.map(|s| (format!("{{location=\"{loc}\"}}"), int(f(&s))))
                })
                .collect()
        };
        let one = |v: String| vec![(String::new(), v)];
        let mut out = String::new();
        for (name, kind, help) in FAMILIES {
            let samples: Vec<(String, String)> = match name {
                LAST_ATTEMPT => one(secs(self.attempt)),
                LAST_SUCCESS => one(secs(self.last_success)),
                LAST_DURATION => one(secs(self.duration)),
                LAST_RESULT => RunResult::ALL
                    .iter()
                    .map(|r| {
                        (
                            format!("{{result=\"{}\"}}", r.label()),
                            int(u64::from(*r == self.result)),
                        )
                    })
                    .collect(),
                LAST_EXIT_CODE => one(self.exit_code.to_string()),
                LAST_SIZE => self.last_size.map(int).map(one).unwrap_or_default(),
                LAST_REVISION => self
                    .last_revision
                    .map(|r| one(r.to_string()))
                    .unwrap_or_default(),
                BACKUPS => sets(|s| s.backups),
                BACKUPS_SIZE => sets(|s| s.bytes),
                SUSPECTS => sets(|s| s.suspects),
                FAILURES => one(int(self.failures_total)),
                _ => Vec::new(),
            };
            if samples.is_empty() {
                continue;
            }
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, value) in samples {
                out.push_str(&format!("{name}{labels} {value}\n"));
            }
        }
        out
    }
}

/// The gauges of `etcd-backup drill`, for a textfile of their own: when the last drill ran,
/// whether it passed, and how long it took.
pub(crate) fn drill_text(record: &crate::backup::catalog::DrillRecord) -> String {
    format!(
        "# HELP etcd_backup_last_drill_timestamp_seconds When the last restore drill ran.\n\
         # TYPE etcd_backup_last_drill_timestamp_seconds gauge\n\
         etcd_backup_last_drill_timestamp_seconds {}\n\
         # HELP etcd_backup_last_drill_success 1 when the last restore drill passed, else 0.\n\
         # TYPE etcd_backup_last_drill_success gauge\n\
         etcd_backup_last_drill_success {}\n\
         # HELP etcd_backup_last_drill_duration_seconds How long the last restore drill took.\n\
         # TYPE etcd_backup_last_drill_duration_seconds gauge\n\
         etcd_backup_last_drill_duration_seconds {:.3}\n",
        record.drilled_at.timestamp(),
        u8::from(record.passed),
        record.duration_seconds
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(result: RunResult, exit_code: u8) -> Run {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_763_712_000_250);
        Run {
            attempt: t,
            finished: t + Duration::from_secs(2),
            duration: Duration::from_millis(2_000),
            result,
            exit_code,
        }
    }

    fn saved() -> SaveReport {
        SaveReport {
            backup: Some(SavedBackup {
                path: "/b/etcd-snapshot-2025-11-21_08-00-00.db".into(),
                size: 4_128,
                revision: 77,
            }),
            ..SaveReport::default()
        }
    }

    #[test]
    fn results_follow_the_exit_code_and_the_report() {
        let none = SaveReport::default();
        let skipped = SaveReport {
            skipped: true,
            ..SaveReport::default()
        };
        assert_eq!(RunResult::of(0, &saved()), RunResult::Success);
        assert_eq!(RunResult::of(3, &saved()), RunResult::Partial);
        assert_eq!(RunResult::of(2, &saved()), RunResult::Failure); // upload failed
        assert_eq!(RunResult::of(0, &skipped), RunResult::Skipped);
        assert_eq!(RunResult::of(0, &none), RunResult::Failure);
        assert_eq!(RunResult::of(130, &none), RunResult::Failure);
        assert_eq!(RunResult::of(PANIC_EXIT, &none), RunResult::Failure);
    }

    #[test]
    fn a_success_renders_every_family_once_with_help_and_type() {
        let m = Metrics::new(
            &run(RunResult::Success, 0),
            &saved(),
            Carried::default(),
            Some(SetSize {
                backups: 2,
                bytes: 9_000,
                suspects: 1,
            }),
        );
        let text = m.render();
        let expected = "\
# HELP etcd_backup_last_attempt_timestamp_seconds When the last save run started, in Unix time.
# TYPE etcd_backup_last_attempt_timestamp_seconds gauge
etcd_backup_last_attempt_timestamp_seconds 1763712000.250
";
        assert!(text.starts_with(expected), "{text}");
        for line in [
            "etcd_backup_last_success_timestamp_seconds 1763712002.250\n",
            "etcd_backup_last_duration_seconds 2.000\n",
            "etcd_backup_last_result{result=\"success\"} 1\n",
            "etcd_backup_last_result{result=\"partial\"} 0\n",
            "etcd_backup_last_result{result=\"failure\"} 0\n",
            "etcd_backup_last_result{result=\"skipped\"} 0\n",
            "etcd_backup_last_exit_code 0\n",
            "etcd_backup_last_size_bytes 4128\n",
            "etcd_backup_last_revision 77\n",
            "etcd_backup_backups{location=\"local\"} 2\n",
            "etcd_backup_backups_size_bytes{location=\"local\"} 9000\n",
            "etcd_backup_suspect_backups{location=\"local\"} 1\n",
            "# TYPE etcd_backup_failures_total counter\netcd_backup_failures_total 0\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        for (name, _, _) in FAMILIES {
            assert_eq!(
                text.matches(&format!("# HELP {name} ")).count(),
                1,
                "{name}"
            );
            assert_eq!(
                text.matches(&format!("# TYPE {name} ")).count(),
                1,
                "{name}"
            );
        }
        assert!(!text.contains("location=\"remote\""), "{text}");
    }

    #[test]
    fn state_survives_a_failure_and_the_counter_only_goes_up() {
        let first = Metrics::new(
            &run(RunResult::Success, 0),
            &saved(),
            Carried::default(),
            None,
        );
        let carried = parse_previous(&first.render()).unwrap();
        assert_eq!(
            carried,
            Carried {
                failures_total: 0,
                last_success: 1_763_712_002.25,
                last_size: Some(4_128),
                last_revision: Some(77),
            }
        );
        let mut failed = Metrics::new(
            &run(RunResult::Failure, 2),
            &SaveReport::default(),
            carried,
            None,
        );
        assert_eq!(failed.failures_total, 1);
        assert_eq!(failed.last_success, carried.last_success);
        assert_eq!(failed.last_size, Some(4_128));
        for (result, code, total) in [
            (RunResult::Partial, 3, 2),
            (RunResult::Skipped, 0, 2),
            (RunResult::Success, 0, 2),
            (RunResult::Failure, 130, 3),
        ] {
            let report = if result.saved() {
                saved()
            } else {
                SaveReport::default()
            };
            let prev = parse_previous(&failed.render()).unwrap();
            failed = Metrics::new(&run(result, code), &report, prev, None);
            assert_eq!(failed.failures_total, total, "{result:?}");
        }
    }

    #[test]
    fn no_success_yet_is_zero_and_no_size_or_revision() {
        let m = Metrics::new(
            &run(RunResult::Failure, 2),
            &SaveReport::default(),
            Carried::default(),
            Some(SetSize::default()),
        );
        let text = m.render();
        assert!(text.contains("\netcd_backup_last_success_timestamp_seconds 0.000\n"));
        assert!(!text.contains("etcd_backup_last_size_bytes"), "{text}");
        assert!(!text.contains("etcd_backup_last_revision"), "{text}");
        assert!(text.contains("etcd_backup_failures_total 1\n"), "{text}");
    }

    #[test]
    fn garbled_files_are_refused() {
        let good = "# HELP x y\netcd_backup_failures_total 4\n";
        assert_eq!(parse_previous(good).unwrap().failures_total, 4);
        for bad in [
            "",
            "garbage\n",
            "etcd_backup_failures_total\n",
            "etcd_backup_failures_total four\n",
            "etcd_backup_failures_total -1\n",
            "etcd_backup_failures_total 1.5\n",
            "etcd_backup_failures_total NaN\n",
            "etcd_backup_failures_total 1\netcd_backup_failures_total 2\n",
            "etcd_backup_failures_total 1\netcd_backup_last_size_bytes{a=\"b} 1\n",
            "etcd_backup_failures_total 1\netcd_backup_last_revision 1e400\n",
            "etcd_backup_failures_total 1\n\u{0}\u{1}binary",
            "etcd_backup_failures_total{a=\"b\"} 1\n",
        ] {
            assert!(parse_previous(bad).is_err(), "{bad:?}");
        }
    }

    fn quiet() -> Printer {
        Printer::new(true, 0, crate::cli::OutputFormat::Table)
    }

    #[test]
    fn a_panic_is_recorded_as_a_failure() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("m.prom");
        let printer = quiet();
        let unwound = std::panic::catch_unwind(|| {
            let _recorder = Recorder::start(&file, &printer);
            panic!("a bug in save");
        });
        assert!(unwound.is_err());
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("etcd_backup_last_exit_code 101\n"), "{text}");
        assert!(text.contains("etcd_backup_last_result{result=\"failure\"} 1\n"));
        assert!(text.contains("etcd_backup_failures_total 1\n"), "{text}");
    }

    #[test]
    fn a_metrics_file_that_cannot_be_written_changes_only_good_exit_codes() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("no-such-dir/m.prom");
        let finish = |result: anyhow::Result<ExitStatus>, report: &SaveReport| {
            Recorder::start(&file, &quiet())
                .finish(result, report)
                .unwrap()
        };
        let skipped = SaveReport {
            skipped: true,
            ..SaveReport::default()
        };
        assert_eq!(
            finish(Ok(ExitStatus::Success), &saved()),
            ExitStatus::Partial
        );
        assert_eq!(finish(Ok(ExitStatus::Success), &skipped), ExitStatus::Error);
        assert_eq!(
            finish(Ok(ExitStatus::Partial), &saved()),
            ExitStatus::Partial
        );
        assert_eq!(
            finish(Err(anyhow!("etcd is down")), &SaveReport::default()),
            ExitStatus::Error
        );
        assert!(!file.exists());
    }

    #[test]
    fn samples_parse_like_the_text_format() {
        assert_eq!(
            parse_sample("a_b:c{x=\"}\\\"{\",y=\"2\"} 12.5 1700000000000"),
            Some(("a_b:c", "{x=\"}\\\"{\",y=\"2\"}", 12.5))
        );
        assert_eq!(parse_sample("a 1"), Some(("a", "", 1.0)));
        assert_eq!(parse_sample("a1"), None);
        assert_eq!(parse_sample("1a 1"), None);
        assert_eq!(parse_sample("a 1 x"), None);
    }
}
