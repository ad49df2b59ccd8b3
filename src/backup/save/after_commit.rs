//! After the commit: the upload to `--remote` and `--prune` (the backup dir under its lock, then
//! the store). The backup stays whatever happens here; a signal or `--timeout` stops the phases
//! still to come, and the run then says which were done.

use std::path::Path;

use super::stop::{failpoint, stopped_after_commit};
use super::upload::{upload, Uploaded};
use crate::backup::catalog::Sidecar;
use crate::backup::prune::{prune_locked, prune_remote, Pruned};
use crate::backup::retention::Policy;
use crate::backup::set::scratch_dir;
use crate::cancel::Deadline;
use crate::etcd::EtcdError;
use crate::fsutil::DirLock;
use crate::metrics::{SaveReport, SetSize};
use crate::output::Printer;
use crate::remote::Remote;

/// What the phases after the commit did.
pub(crate) struct AfterCommit {
    /// The upload, with `--remote` (`None` when a stop came first).
    pub uploaded: Option<anyhow::Result<Uploaded>>,
    /// The prune of the backup dir, with `--prune`, and why it failed.
    pub pruned: Option<Pruned>,
    pub prune_error: Option<anyhow::Error>,
    /// The prune of the store, with `--prune --remote`, and why it failed.
    pub remote_pruned: Option<Pruned>,
    pub remote_prune_error: Option<anyhow::Error>,
    /// A signal or `--timeout` stopped the run in this phase.
    stop: Option<(EtcdError, &'static str)>,
    prune_asked: bool,
    remote_given: bool,
}

/// The backup just committed, and what the phases after it need.
pub(super) struct Committed<'a> {
    pub dir: &'a Path,
    pub name: &'a str,
    pub path: &'a Path,
    pub sidecar: &'a Sidecar,
    pub remote: Option<&'a std::sync::Arc<Remote>>,
    pub verify_upload: bool,
    pub bound: Deadline,
}

/// Uploads, prunes the backup dir (then lets go of its lock), and prunes the store: each only
/// when no stop came before it, the store only after this run's copy is safely there.
pub(super) fn run(
    c: &Committed<'_>,
    lock: Option<DirLock>,
    prune: Option<&Policy>,
    printer: &Printer,
    report: &mut SaveReport,
) -> AfterCommit {
    let bound = &c.bound;
    let mut stop: Option<(EtcdError, &'static str)> = None;
    // Still under the lock: no other save or prune can come between.
    let uploaded = c
        .remote
        .and_then(|r| upload_phase(c, r, &mut stop, printer));
    let pruned = match prune {
        Some(policy) if stop.is_none() => prune_phase(c, policy, &mut stop, printer),
        _ => None,
    };
    drop(lock);
    // The remote set is pruned only after this run's copy is safely there.
    let remote_pruned = match (c.remote, &uploaded, prune, &stop) {
        (Some(r), Some(Ok(up)), Some(policy), None) => match bound.check() {
            Err(e) => {
                stop = Some((e, "pruning the store"));
                None
            }
            // The backup just verified is not read again.
            Ok(()) => Some(prune_remote(
                r,
                policy,
                false,
                Some(&up.key),
                &[],
                &scratch_dir(c.dir),
                printer,
            )),
        },
        _ => None,
    };
    if stop.is_none() {
        // A signal in the last phase, or a phase that ran past --timeout: the work is done,
        // but the run still did not end as asked.
        if let Err(e) = bound.check() {
            stop = Some((e, "finishing"));
        }
    }
    if let Some(Ok(p)) = &remote_pruned {
        report.remote_set = Some(SetSize::after_prune(p));
    }
    let (remote_pruned, remote_prune_error) = with_error(remote_pruned);
    let (pruned, prune_error) = with_error(pruned);
    AfterCommit {
        uploaded,
        pruned,
        prune_error,
        remote_pruned,
        remote_prune_error,
        stop,
        prune_asked: prune.is_some(),
        remote_given: c.remote.is_some(),
    }
}

/// The upload, unless a stop comes first (then `None`, and `stop` says so). A failed upload is
/// reported here; the local backup stands.
fn upload_phase(
    c: &Committed<'_>,
    remote: &Remote,
    stop: &mut Option<(EtcdError, &'static str)>,
    printer: &Printer,
) -> Option<anyhow::Result<Uploaded>> {
    let bound = &c.bound;
    failpoint("save-upload", bound, printer);
    if let Err(e) = bound.check() {
        *stop = Some((e, "uploading"));
        return None;
    }
    let up = upload(
        remote,
        c.dir,
        c.name,
        c.sidecar,
        c.verify_upload,
        bound,
        printer,
    );
    match (up, bound.check()) {
        (Err(_), Err(e)) => {
            *stop = Some((e, "uploading"));
            None
        }
        (up, _) => Some(up.inspect_err(|e| {
            printer.error(e);
            printer.warn(format!(
                "the upload failed; the verified backup is kept at {}",
                c.path.display()
            ));
        })),
    }
}

/// The prune of the backup dir, unless a stop comes first (then `None`, and `stop` says so).
fn prune_phase(
    c: &Committed<'_>,
    policy: &Policy,
    stop: &mut Option<(EtcdError, &'static str)>,
    printer: &Printer,
) -> Option<anyhow::Result<Pruned>> {
    let bound = &c.bound;
    failpoint("save-prune", bound, printer);
    if let Err(e) = bound.check() {
        *stop = Some((e, "pruning"));
        return None;
    }
    // Under the lock; the backup just verified is not read again.
    let p = prune_locked(c.dir, policy, false, Some(c.name), &[], printer);
    match (p, bound.check()) {
        // The prune stops before deleting anything once a signal came.
        (Err(_), Err(e)) => {
            *stop = Some((e, "pruning"));
            None
        }
        (p, _) => Some(p),
    }
}

/// A prune's result split into what it did and why it failed (a prune that ran but could not
/// delete a file has both).
fn with_error(p: Option<anyhow::Result<Pruned>>) -> (Option<Pruned>, Option<anyhow::Error>) {
    match p {
        Some(Ok(p)) => match p.exit_code() {
            Ok(_) => (Some(p), None),
            Err(e) => (Some(p), Some(e)),
        },
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    }
}

impl AfterCommit {
    /// When a signal or `--timeout` stopped the run after the commit: reports the prune errors
    /// and returns the error that says what was and was not done (once).
    pub(crate) fn stop_error(&mut self, path: &Path, printer: &Printer) -> Option<anyhow::Error> {
        let (e, phase) = self.stop.take()?;
        let mut done = vec![format!("saved {}", path.display())];
        let mut not_done = Vec::new();
        match &self.uploaded {
            Some(Ok(up)) => done.push(format!("uploaded to {}", up.url)),
            Some(Err(_)) => not_done.push("the upload failed".to_string()),
            None if self.remote_given => not_done.push("upload not done".to_string()),
            None => {}
        }
        match (&self.pruned, &self.prune_error) {
            (Some(p), None) => done.push(format!("pruned {}", p.dir.display())),
            (_, Some(_)) => not_done.push("pruning failed".to_string()),
            (None, None) if self.prune_asked => not_done.push("nothing deleted".to_string()),
            (None, None) => {}
        }
        if self.prune_asked && self.remote_given && self.remote_pruned.is_none() {
            not_done.push("the store not pruned".to_string());
        }
        for e in self.prune_error.iter().chain(&self.remote_prune_error) {
            printer.error(e);
        }
        Some(stopped_after_commit(e, phase, &done, &not_done))
    }
}
