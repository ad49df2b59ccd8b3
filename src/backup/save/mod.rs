//! The save engine: what `etcd-backup save` does between the resolved settings and the printed
//! result, one file per phase. `commands/save.rs` sets up the backup dir, calls [`prepare`] and
//! [`save`], prints the outcome and picks the exit code.
//!
//! Order of work, chosen so that a failure at any point leaves nothing that looks finished:
//! 1. local checks (label, TLS files: [`prepare`]), backup dir (0700), directory lock;
//! 2. pre-flight: status of every endpoint, pick a voting member, alarms, member name, free
//!    space (`preflight.rs`); unless the cluster has a single voting member, `HashKV` of every
//!    voting member at one revision, refusing a member whose data differs from the majority's
//!    (`agree.rs`); a name not used yet, waiting for the next second if this one's is taken
//!    (`name.rs`);
//! 3. stream into `<name>.part` (0600, exclusive), SHA-256 checked against etcd's digest
//!    (`stream.rs`);
//! 4. fsync, size check and the checks of `verify` (`check.rs`), whose walk also computes
//!    etcd's `HashKV` of the file; that hash confirmed by the members' own `HashKV` at the
//!    snapshot's revision (`proof.rs`); the DR bundle (`bundle.rs`), sidecar `<name>.json`
//!    written atomically;
//! 5. rename `<name>.part` → `<name>` without replacing anything, fsync the directory
//!    (`commit.rs`);
//! 6. upload (`upload.rs`) and `--prune` (`after_commit.rs`).
//!
//! The final rename is the commit point: every `.db` that exists is complete and has its sidecar.
//! SIGINT/SIGTERM and `--timeout` are checked between phases ([`crate::cancel`], `stop.rs`): before
//! the commit a stop removes what was written (`temp_file.rs`); after it the backup stays, the
//! upload and prune stop, and the error says what was done. What cannot be removed is named,
//! never left unsaid.

mod after_commit;
mod agree;
mod bundle;
mod check;
mod commit;
mod name;
pub(crate) mod one_off;
mod preflight;
mod prepare;
mod proof;
mod stop;
mod stream;
mod temp_file;
mod upload;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use chrono::{DateTime, Utc};

pub(crate) use after_commit::AfterCommit;
pub(crate) use prepare::{prepare, Prepared};

use crate::backup::catalog::Sidecar;
use crate::backup::retention::Policy;
use crate::cancel::{self, Deadline};
use crate::cli::SaveArgs;
use crate::fsutil::{self, DirLock};
use crate::metrics::{SaveReport, SavedBackup};
use crate::output::Printer;
use crate::remote::Remote;

/// When the run started, and the bound `--timeout` sets on it.
pub(crate) struct Clock {
    started: Instant,
    started_at: DateTime<Utc>,
    bound: Deadline,
}

/// Starts the run's clock and takes over SIGINT/SIGTERM and `--timeout`: from here on a signal
/// no longer ends the process; each phase stops at its next safe point, removes what it had not
/// committed, and says what was done.
pub(crate) fn begin(timeout: Duration) -> anyhow::Result<Clock> {
    let started = Instant::now();
    let bound = Deadline {
        at: started + timeout,
        timeout,
    };
    let started_at = Utc::now();
    cancel::install().map_err(|e| anyhow!("cannot install the signal handlers: {e}"))?;
    cancel::set_deadline(bound);
    Ok(Clock {
        started,
        started_at,
        bound,
    })
}

/// Where the backup goes, as the command set it up.
pub(crate) struct Place<'a> {
    /// The backup dir, or `save FILE`'s directory: created, and checked for `--prune`.
    pub dir: &'a Path,
    /// `save FILE`: that one file, named by the user.
    pub one_off: Option<&'a one_off::Target>,
    /// The dir's lock, held until the local prune is done.
    pub lock: Option<DirLock>,
    /// The store of `--remote`, opened.
    pub remote: Option<&'a std::sync::Arc<Remote>>,
}

/// How a save ended, when it did not fail.
pub(crate) enum Outcome {
    /// `--skip-unless-leader` and another member leads: nothing was saved, by design.
    Skipped(Skipped),
    Saved(Box<Saved>),
}

/// The member that answered is not the leader.
pub(crate) struct Skipped {
    pub member_id: u64,
    pub leader: u64,
    pub endpoint: String,
}

/// A backup committed by this run, and what happened after.
pub(crate) struct Saved {
    pub path: PathBuf,
    pub sidecar_path: PathBuf,
    pub bundle_path: Option<PathBuf>,
    pub sidecar: Sidecar,
    pub after: AfterCommit,
}

/// Saves a backup: pre-flight, the name, the write and its commit, then upload and, with `prune`
/// (`--prune`'s rules), prune. `report` receives what `--metrics-file` needs beyond the exit code.
pub(crate) fn save(
    clock: Clock,
    prep: Prepared,
    args: &SaveArgs,
    place: Place<'_>,
    prune: Option<&Policy>,
    printer: &Printer,
    report: &mut SaveReport,
) -> anyhow::Result<Outcome> {
    let Clock {
        started,
        mut started_at,
        bound,
    } = clock;
    let dial = preflight::Dial {
        endpoints: &prep.endpoints,
        tls: prep.tls.as_ref(),
        config: &prep.config,
        run_timeout: args.timeout,
        deadline: bound.at,
    };
    let (member, others) = preflight::preflight(&dial, printer).and_then(|r| {
        bound
            .check()
            .map_err(|e| stop::stopped(e, "connecting to etcd"))?;
        Ok(r)
    })?;
    if args.skip_unless_leader {
        if let Some(skip) = preflight::not_the_leader(&member.status, printer) {
            return Ok(Outcome::Skipped(skip));
        }
    }
    let mut member = if args.skip_hash_check {
        printer.detail("--skip-hash-check: the members' data is not compared");
        member
    } else {
        agree::agree(&dial, member, others, printer).and_then(|m| {
            bound
                .check()
                .map_err(|e| stop::stopped(e, "comparing the members' data"))?;
            Ok(m)
        })?
    };
    let dir = place.dir;
    preflight::check_free_space(dir, &member.status, prep.layers)?;
    let name = match place.one_off {
        Some(t) => t.name.clone(),
        None => name::pick_name(
            dir,
            &mut started_at,
            args.label.as_deref(),
            prep.layers,
            &bound,
            printer,
        )?,
    };
    let paths = commit::Paths::new(dir, &name, args.with_pki);
    if place.one_off.is_some() {
        paths.refuse_existing()?;
    }
    let job = commit::Job {
        prep: &prep,
        dir,
        name: &name,
        label: args.label.as_deref(),
        paths: &paths,
        started,
        started_at,
        bound,
        skip_hash_check: args.skip_hash_check,
    };
    let sidecar = commit::write_and_commit(&job, &mut member, printer)?;
    drop(prep.check_key);
    saved(dir, &paths.file, &sidecar, printer, report)?;
    let committed = after_commit::Committed {
        dir,
        name: &name,
        path: &paths.file,
        sidecar: &sidecar,
        remote: place.remote,
        verify_upload: args.verify_upload,
        bound,
    };
    let after = after_commit::run(&committed, place.lock, prune, printer, report);
    Ok(Outcome::Saved(Box::new(Saved {
        path: paths.file,
        sidecar_path: paths.sidecar,
        bundle_path: paths.bundle,
        sidecar,
        after,
    })))
}

/// Right after the commit: fsyncs the directory, records the backup and says it was saved.
fn saved(
    dir: &Path,
    path: &Path,
    sidecar: &Sidecar,
    printer: &Printer,
    report: &mut SaveReport,
) -> anyhow::Result<()> {
    fsutil::fsync_dir(dir)?;
    report.backup = Some(SavedBackup {
        path: path.to_path_buf(),
        size: sidecar.file_size,
        revision: sidecar.revision,
    });
    printer.phase(format!(
        "saved {} ({} bytes, revision {}, member {} {}) in {:.1}s",
        path.display(),
        sidecar.file_size,
        sidecar.revision,
        sidecar.member_name,
        sidecar.member_id,
        sidecar.duration_seconds
    ));
    Ok(())
}
