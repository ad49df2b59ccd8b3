//! How a stop ends a save: SIGINT/SIGTERM or `--timeout` ([`crate::cancel`]) before the commit
//! means nothing was saved; after it the backup stays and the error says what was done. Also the
//! `ETCD_BACKUP_FAILPOINT` hook that holds a phase for the tests.

use std::time::Duration;

use crate::cancel::Deadline;
use crate::diagnostics::with_hint;
use crate::etcd::EtcdError;
use crate::output::Printer;

/// A signal or `--timeout` before the commit: nothing was saved.
pub(super) fn stopped(e: EtcdError, phase: &str) -> anyhow::Error {
    let hint = match e {
        EtcdError::Deadline { .. } => {
            "raise --timeout: it bounds the whole run, from connecting to the commit, and the \
             upload and prune after it"
        }
        _ => "nothing was changed; run save again",
    };
    with_hint(
        anyhow::Error::new(e).context(format!("stopped while {phase}: nothing was saved")),
        hint,
    )
}

/// A signal or `--timeout` after the commit: the backup stays; says what was and was not done.
pub(super) fn stopped_after_commit(
    e: EtcdError,
    phase: &str,
    done: &[String],
    not_done: &[String],
) -> anyhow::Error {
    let next = match phase {
        "uploading" => "it is kept only in the backup dir (the next save uploads its own backup)",
        "pruning" | "pruning the store" => {
            "`etcd-backup prune` (or the next `save --prune`) prunes what was not pruned"
        }
        _ => "nothing was left undone",
    };
    let hint = match e {
        EtcdError::Deadline { .. } => format!(
            "the backup is complete and verified; {next}. Raise --timeout: it bounds the whole \
             run, upload and prune included"
        ),
        _ => format!("the backup is complete and verified; {next}"),
    };
    let msg = if not_done.is_empty() {
        format!(
            "{}; stopped at the end, with everything done",
            done.join("; ")
        )
    } else {
        format!(
            "{}; stopped while {phase}: {}",
            done.join("; "),
            not_done.join("; ")
        )
    };
    with_hint(anyhow::Error::new(e).context(msg), hint)
}

/// A hook for the tests, to hold a phase long enough to hit it with a signal, a timeout or a
/// `chattr +i`: `ETCD_BACKUP_FAILPOINT=<phase>:hang` waits at `<phase>` until a signal or
/// `--timeout`; `<phase>:pause-<ms>` waits that many milliseconds (or less, on a signal).
/// Phases: `save-verify`, `save-bundle`, `save-commit` (before the sidecar), `save-rename`
/// (between the sidecar and the final rename), `save-upload`, `save-prune`.
pub(super) fn failpoint(phase: &str, bound: &Deadline, printer: &Printer) {
    let Ok(fp) = std::env::var("ETCD_BACKUP_FAILPOINT") else {
        return;
    };
    let Some((name, what)) = fp.split_once(':') else {
        return;
    };
    if name != phase {
        return;
    }
    let wait = match what {
        "hang" => Duration::from_secs(3600),
        _ => match what
            .strip_prefix("pause-")
            .and_then(|ms| ms.parse::<u64>().ok())
        {
            Some(ms) => Duration::from_millis(ms),
            None => return,
        },
    };
    printer.phase(format!(
        "failpoint {phase}: waiting {wait:?} (ETCD_BACKUP_FAILPOINT)"
    ));
    // The check after the phase reports the signal or the timeout.
    let _ = bound.sleep(wait);
}
