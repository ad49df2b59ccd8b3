//! `etcd-backup restore SNAPSHOT` on a kubeadm control-plane node: a restore that really takes
//! effect and can always be undone.
//!
//! Steps, each journaled before and after in `/etc/kubernetes/etcd-backup-restore-journal.json`
//! (beside the manifests dir), each idempotent
//! (it looks at the disk to see what is already done), so `--resume` can run any of them again:
//!
//! 1. `build`: the new data dir, natively, at `<data-dir>.restored-<time>` (same file system);
//! 2. `stop-control-plane`: `etcd.yaml` and `kube-apiserver.yaml` moved out of the manifests dir
//!    into a staging dir; wait until etcd has let go of `member/snap/db` (a non-blocking flock
//!    probe, docs/formats.md §7.2) and its client port is closed; `systemctl stop kubelet`.
//!    Stopping the kubelet alone would leave the static pods running on the old data;
//! 3. `move-aside`: the old data dir to `<data-dir>.before-restore-<time>`, never deleted;
//! 4. `move-into-place`: the new dir gets the old one's owner, group and mode, and its name;
//! 5. `start-control-plane`: the manifests back, `systemctl start kubelet`;
//! 6. `wait-healthy`: etcd answers over TLS with at least the snapshot's revision plus the bump,
//!    the planned members, and this restore's cluster and member IDs.
//!
//! A data dir that is a mount point (a dedicated disk) cannot be renamed: there the build goes
//! to `<data-dir>/etcd-backup-restored-<time>`, and steps 3 and 4 swap `member/` inside it
//! (`<data-dir>/member.before-restore-<time>`), all on the disk ([`Plan::live`]). etcd starts
//! with such entries in its data dir and only warns (docs/restore.md).
//!
//! `--data-dir` must be the dir the manifest's etcd uses: any other is refused before anything
//! stops. Step 6 also checks the cluster and member IDs this restore wrote.
//!
//! A failure in steps 2-6 rolls back on its own: control plane stopped again, the new dir moved
//! to `<data-dir>.failed-restore-<time>`, the old dir back, manifests back, kubelet started, etcd
//! waited for. `--rollback` does the same for an interrupted run; `--resume` finishes it.
//!
//! Here: the entry and the step runner; [`Plan`] is decided in `plan`, recorded in `journal`,
//! carried out by `steps` (and undone by their rollback), which look at the node through `probes`.

mod journal;
mod plan;
mod probes;
mod steps;

pub(crate) use journal::{journal_path, Journal, State};
pub(crate) use plan::Plan;
pub(crate) use probes::etcd_on;
pub(crate) use steps::{Step, STEPS};

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;
use chrono::Utc;

use crate::backup::named::Named;
use crate::cli::LogFormat;
use crate::datadir::build::{self as data_restore, BumpFlags, ClusterFlags};
use crate::diagnostics::{exit, ExitStatus, HintExt};
use crate::etcd::{EtcdError, TlsFiles};
use crate::fsutil;
use crate::node::interrupt;
use crate::node::journal::failpoint;
use crate::node::manifest::EtcdManifest;
use crate::output::Printer;

use plan::{plan, print_plan};
use steps::{rollback, run_step};

/// What a node restore is asked to do: node mode's `restore` flags and what the settings read
/// from the node, as plain values (`commands/restore.rs` fills it in).
pub(crate) struct Options<'a> {
    /// The snapshot as named (a path or an object URL); not needed by `--resume`/`--rollback`.
    pub snapshot: Option<PathBuf>,
    /// `--data-dir`, if given: it must be the dir the manifest's etcd uses.
    pub data_dir: Option<PathBuf>,
    pub manifests_dir: PathBuf,
    pub kubelet_service: String,
    pub dry_run: bool,
    pub resume: bool,
    pub rollback: bool,
    pub stop_timeout: Duration,
    pub start_timeout: Duration,
    /// `--name`, `--initial-cluster` and the rest, as given.
    pub cluster: ClusterFlags,
    pub bump: BumpFlags,
    pub keep_alarms: bool,
    pub skip_hash_check: bool,
    /// Restore a snapshot of a newer etcd minor version than the manifest's image.
    pub skip_version_check: bool,
    /// age identity files for an encrypted snapshot.
    pub identities: Vec<PathBuf>,
    /// This node's kubeadm etcd manifest, if one was read, and where it was looked for.
    pub manifest: Option<&'a EtcdManifest>,
    pub manifest_path: PathBuf,
    /// The data dir the manifest's etcd uses (the host side of its volume).
    pub manifest_data_dir: Option<PathBuf>,
    /// The client TLS files wait-healthy connects with.
    pub tls: TlsFiles,
    /// Opens the snapshot named on the command line (a path, or an object in a store).
    pub open_snapshot: &'a dyn Fn(&Path) -> anyhow::Result<Named>,
    /// Asks the operator to go on once the plan is printed (`Ok(false)`: not confirmed).
    pub confirm: &'a dyn Fn(&Plan) -> anyhow::Result<bool>,
}

/// The node restore, from its plan to the end (or `--resume`/`--rollback` of an earlier one):
/// the exit code, or the error that stopped it (rolled back first once the node was touched).
pub(crate) fn run(opts: &Options<'_>, printer: &Printer) -> anyhow::Result<ExitStatus> {
    // The journal lives beside the manifests dir, so that it is found while etcd.yaml is
    // moved out.
    let jpath = journal_path(&opts.manifests_dir);
    if opts.resume || opts.rollback {
        return reopen(opts, &jpath, printer);
    }
    if let Ok(j) = Journal::load(&jpath) {
        if matches!(j.state, State::Running | State::Failed) {
            return Err(anyhow!(
                "another restore is open on this node (journal {}, started {})",
                jpath.display(),
                j.started_at
            ))
            .hint("finish it with `etcd-backup restore --resume --yes` or undo it with `etcd-backup restore --rollback --yes`");
        }
    }
    let (manifest, data_dir) = node_data_dir(opts)?;
    let Some(snapshot) = &opts.snapshot else {
        return Err(anyhow!("no snapshot file given")).hint("name the snapshot to restore");
    };
    let named = (opts.open_snapshot)(snapshot)?;
    let recorded = named.sidecar().ok().flatten().and_then(|s| s.pki_bundle);
    let input = data_restore::Input::resolve(
        named,
        &opts.identities,
        &crate::fsutil::parent_dir(&data_dir),
        printer,
    )?;
    let plan = plan(opts, manifest, &input.path, &data_dir, printer)?;
    if let Some(then) = recorded.and_then(|b| b.kubernetes_version) {
        plan::warn_kubernetes_skew(&then, &opts.manifests_dir, printer);
    }
    print_plan(&plan, &jpath, printer);
    if opts.dry_run {
        printer.result("dry run: nothing was changed");
        return Ok(exit::SUCCESS);
    }
    if !(opts.confirm)(&plan)? {
        printer.warn("not confirmed; nothing was changed");
        return Ok(exit::NO);
    }
    let mut j = Journal::new(plan, journal::Downtime::default(), jpath);
    j.save()?;
    let result = execute(&mut j, printer);
    if input.is_copy() && !matches!(result, Ok(exit::SUCCESS)) && j.state != State::RolledBack {
        // --resume needs the snapshot again; the copy is plain, so say where it is.
        let kept = input.keep();
        printer.warn(format!(
            "the decrypted snapshot is kept at {} for --resume; remove it when done",
            kept.display()
        ));
    }
    result
}

/// `--resume` or `--rollback` of the restore journaled at `jpath`.
fn reopen(opts: &Options<'_>, jpath: &Path, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut j = Journal::load(jpath).hint(format!(
        "there is no restore to {} here (its journal would be {}; see --manifests-dir)",
        if opts.resume { "resume" } else { "roll back" },
        jpath.display()
    ))?;
    if j.state != State::Running && j.state != State::Failed {
        return Err(anyhow!(
            "the restore journaled in {} is {:?}, not interrupted",
            jpath.display(),
            j.state
        ))
        .hint("nothing to do");
    }
    // The waits are this run's: an operator resuming after a slow start asks for a longer one.
    j.plan.stop_timeout_secs = opts.stop_timeout.as_secs().max(1);
    j.plan.start_timeout_secs = opts.start_timeout.as_secs().max(1);
    if opts.rollback {
        finish_rollback(&mut j, printer)
    } else {
        printer.phase(format!(
            "resuming the restore journaled in {}",
            jpath.display()
        ));
        execute(&mut j, printer)
    }
}

/// The node's manifest and the data dir to replace: `--data-dir`, which must be the one the
/// manifest's etcd uses, or that one.
fn node_data_dir<'a>(opts: &Options<'a>) -> anyhow::Result<(&'a EtcdManifest, PathBuf)> {
    let Some(manifest) = opts.manifest else {
        return Err(anyhow!(
            "no kubeadm etcd manifest at {}, so there is no node to restore",
            opts.manifest_path.display()
        ))
        .hint(
            "on a kubeadm node point --manifest at etcd.yaml; to build a data dir anywhere, \
             use --output-dir DIR",
        );
    };
    let data_dir = opts
        .data_dir
        .clone()
        .or_else(|| opts.manifest_data_dir.clone())
        .ok_or_else(|| anyhow!("{} has no --data-dir", manifest.path.display()))
        .hint("pass --data-dir")?;
    // etcd opens only the manifest's data dir: a restore into another would stop the control
    // plane for data nobody reads (the etcdutl habit `--data-dir /var/lib/etcd-from-backup`).
    if let (Some(given), Some(used)) = (&opts.data_dir, &opts.manifest_data_dir) {
        if !data_restore::same_dir(given, used) {
            return Err(anyhow!(
                "--data-dir {} is not the data dir this node's etcd uses: {} runs it on {}",
                given.display(),
                manifest.path.display(),
                used.display()
            ))
            .hint(format!(
                "nothing was changed. To replace this node's etcd data, leave --data-dir out (or \
                 pass {}); to build a data dir elsewhere without touching the node, use \
                 `etcd-backup restore SNAPSHOT --output-dir {}`",
                used.display(),
                given.display()
            ));
        }
    }
    Ok((manifest, data_dir))
}

/// Runs the steps not yet done; on a failure after the control plane was touched, rolls back.
fn execute(j: &mut Journal, printer: &Printer) -> anyhow::Result<ExitStatus> {
    interrupt::install(printer.log_format == LogFormat::Json)
        .map_err(|e| anyhow!("cannot install the signal handlers: {e}"))?;
    for step in STEPS {
        if j.done.contains(&step) {
            continue;
        }
        if let Some(sig) = interrupt::received() {
            return interrupted(j, step, sig, printer);
        }
        j.current = Some(step);
        j.event(printer, format!("step {}: starting", step.name()));
        j.save()?;
        let result = failpoint("", step.name(), false).and_then(|()| run_step(j, step, printer));
        match result {
            Ok(()) => {
                j.done.push(step);
                j.current = None;
                j.event(printer, format!("step {}: done", step.name()));
                j.save()?;
                failpoint("", step.name(), true)?;
            }
            Err(e) => return fail(j, step, e, printer),
        }
    }
    j.state = State::Finished;
    let down = j
        .extra
        .down_at
        .map(|t| (Utc::now() - t).num_milliseconds() as f64 / 1000.0);
    if let Some(d) = down {
        j.event(printer, format!("control plane was down for {d:.1}s"));
    }
    j.save()?;
    let ids = match (j.plan.cluster_id, j.plan.member_id) {
        (Some(c), Some(m)) => format!(" (cluster {c:x}, member {m:x}: this restore's)"),
        _ => String::new(),
    };
    printer.phase(format!(
        "restored {}: etcd serves the snapshot at {}{ids}; the old data dir is kept at {}",
        j.plan.data_dir.display(),
        j.plan.endpoint,
        j.plan.aside_dir.display()
    ));
    printer.result(format!(
        "restored {} from {} (old data: {}; downtime {})",
        j.plan.data_dir.display(),
        j.plan.snapshot.display(),
        j.plan.aside_dir.display(),
        down.map_or("unknown".into(), |d| format!("{d:.1}s"))
    ));
    Ok(exit::SUCCESS)
}

/// A signal came between steps: undo what was done, or, if nothing live was touched yet, move
/// the built dir aside and stop.
fn interrupted(
    j: &mut Journal,
    step: Step,
    sig: &'static str,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let e = anyhow::Error::new(EtcdError::Interrupted(sig))
        .context(format!("interrupted before step {}", step.name()));
    // Nothing live is touched before stop-control-plane starts; a resumed run that died inside
    // it has its manifests moved out, so that one must roll back.
    let untouched = step == Step::Build
        || (step == Step::StopControlPlane && j.current != Some(Step::StopControlPlane));
    if !untouched {
        return fail(j, step, e, printer);
    }
    interrupt::shield();
    let p = j.plan.clone();
    if p.new_unit().exists() {
        fsutil::rename_noreplace(&p.new_unit(), &p.failed_dir)?;
        p.remove_empty_build_dir()?;
        fsutil::fsync_dir(&p.swap_parent())?;
        j.event(
            printer,
            format!("the restored dir was moved to {}", p.failed_dir.display()),
        );
    }
    j.state = State::RolledBack;
    j.current = None;
    j.event(
        printer,
        format!("interrupted by {sig} before step {}", step.name()),
    );
    j.save()?;
    Err(e.context("the restore stopped before touching the node; nothing was changed"))
}

fn fail(
    j: &mut Journal,
    step: Step,
    e: anyhow::Error,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    j.event(printer, format!("step {} failed: {e:#}", step.name()));
    if step == Step::Build {
        // Nothing live was touched; `build` leaves no new dir behind.
        j.state = State::RolledBack;
        j.save()?;
        return Err(e.context("the restore failed before touching the node; nothing was changed"));
    }
    printer.warn(format!("step {} failed: {e:#}; rolling back", step.name()));
    match rollback(j, printer) {
        Ok(()) => Err(e.context(format!(
            "the restore stopped at step {} and was rolled back: etcd serves the old data again",
            step.name()
        ))),
        Err(r) => {
            j.state = State::Failed;
            j.event(printer, format!("rollback failed: {r:#}"));
            j.save()?;
            printer.error(&e);
            printer.warn(format!(
                "the rollback failed too: {r:#}. The node is part-way; journal {}. Fix the \
                 cause, then `etcd-backup restore --rollback --yes` (or --resume)",
                j.path().display()
            ));
            Ok(exit::PARTIAL)
        }
    }
}

/// `--rollback`: undo, and say how it went.
fn finish_rollback(j: &mut Journal, printer: &Printer) -> anyhow::Result<ExitStatus> {
    interrupt::install(printer.log_format == LogFormat::Json)
        .map_err(|e| anyhow!("cannot install the signal handlers: {e}"))?;
    match rollback(j, printer) {
        Ok(()) => {
            printer.result(format!(
                "rolled back: {} holds the data it had before the restore",
                j.plan.data_dir.display()
            ));
            Ok(exit::SUCCESS)
        }
        Err(e) => {
            j.state = State::Failed;
            j.save()?;
            printer.error(&e);
            printer.warn(format!(
                "the rollback did not finish; journal {}",
                j.path().display()
            ));
            Ok(exit::PARTIAL)
        }
    }
}
