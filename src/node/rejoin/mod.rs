//! `etcd-backup member rejoin`, run on the node whose member is broken (data dir lost or
//! corrupt, or diverged from the others) while a quorum of the others is healthy: the member is
//! removed, its data moved aside, added again as a learner, started with
//! `--initial-cluster-state=existing` so that it copies the data from the leader, promoted, and
//! checked (serving, voting, `HashKV` equal to the others').
//!
//! Journaled like the node restore, in `etcd-backup-rejoin-journal.json` beside the manifests
//! dir; each step is idempotent, so `--resume` runs any of them again, and a failure rolls back:
//! the new member removed, the old data dir back, the original manifest back. The old member
//! stays removed from the cluster after a rollback (its ID cannot come back); the node is then
//! as broken as before, and a rejoin can run again.

mod plan;
mod steps;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde::{Deserialize, Serialize};

use crate::cli::LogFormat;
use crate::cluster::Connector;
use crate::diagnostics::{exit, HintExt};
use crate::etcd::EtcdError;
use crate::fsutil;
use crate::node::interrupt;
use crate::node::journal::failpoint;
use crate::node::manifest::EtcdManifest;
use crate::output::Printer;

pub(crate) use crate::node::journal::State;
pub(crate) use plan::{this_member, Plan};
pub(crate) use steps::{Step, STEPS};

/// What `member rejoin` is asked to do (built by `commands/member.rs`).
pub(crate) struct Options<'a> {
    pub manifest: Option<&'a EtcdManifest>,
    pub manifest_path: PathBuf,
    pub manifests_dir: PathBuf,
    /// Where the member list is asked first (the settings' endpoints).
    pub endpoints: Vec<String>,
    /// The peer URLs of the manifest's `--initial-cluster`, asked when no endpoint answers.
    pub peer_urls: Vec<String>,
    pub connector: &'a Connector,
    pub dry_run: bool,
    pub resume: bool,
    pub rollback: bool,
    pub stop_timeout: Duration,
    pub start_timeout: Duration,
    pub confirm: &'a dyn Fn(&Plan) -> anyhow::Result<bool>,
}

/// The rejoin's journal ([`crate::node::journal`]).
pub(crate) type Journal = crate::node::journal::Journal<Plan, Step, Joined>;

/// What the rejoin's journal records besides the plan and the steps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Joined {
    /// The member added by step add-member.
    pub new_member_id: Option<u64>,
    /// `--initial-cluster` for the new member, from the member list after the add.
    pub initial_cluster: Option<String>,
}

/// `etcd-backup-rejoin-journal.json` beside the manifests dir.
pub(crate) fn journal_path(manifests_dir: &Path) -> PathBuf {
    fsutil::parent_dir(manifests_dir).join("etcd-backup-rejoin-journal.json")
}

/// The connector a rejoin talks to the members with: this node's client certificates (a
/// rejoin needs TLS), and a deadline long enough for every wait of every step.
pub(crate) fn connector(
    files: crate::etcd::TlsFiles,
    dial_timeout: Duration,
    stall_timeout: Duration,
    stop_timeout: Duration,
    start_timeout: Duration,
) -> anyhow::Result<Connector> {
    let tls = crate::etcd::load_tls(&files).hint(
        "the rejoin talks to the other members with this node's certificates: pass \
         --cacert/--cert/--key (on a kubeadm node /etc/kubernetes/pki/etcd/)",
    )?;
    let whole = stop_timeout + start_timeout * 3 + Duration::from_secs(300);
    Ok(Connector {
        tls: Some(tls),
        config: crate::etcd::ConnectConfig {
            tls: files,
            dial_timeout,
            stall_timeout,
        },
        run_timeout: whole,
        deadline: std::time::Instant::now() + whole,
    })
}

/// The TLS files an open rejoin was planned with: `--resume`/`--rollback` run while etcd.yaml
/// is moved out, so the settings cannot find them in the manifest.
pub(crate) fn journal_tls(manifests_dir: &Path) -> Option<crate::etcd::TlsFiles> {
    let j = Journal::load(&journal_path(manifests_dir)).ok()?;
    Some(crate::etcd::TlsFiles {
        cacert: j.plan.cacert,
        cert: j.plan.cert,
        key: j.plan.key,
    })
}

/// The rejoin from its plan to the end, or `--resume`/`--rollback` of an interrupted one.
pub(crate) fn run(
    opts: &Options<'_>,
    printer: &Printer,
) -> anyhow::Result<crate::diagnostics::ExitStatus> {
    let jpath = journal_path(&opts.manifests_dir);
    if opts.resume || opts.rollback {
        return reopen(opts, &jpath, printer);
    }
    for (what, path) in [
        ("rejoin", jpath.clone()),
        (
            "restore",
            crate::node::restore::journal_path(&opts.manifests_dir),
        ),
    ] {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if text.contains("\"state\": \"running\"") || text.contains("\"state\": \"failed\"") {
                return Err(anyhow!(
                    "a {what} is open on this node (journal {})",
                    path.display()
                ))
                .hint(format!(
                    "finish it with `--resume --yes` or undo it with `--rollback --yes` of \
                     `etcd-backup {}` first; nothing was changed",
                    if what == "rejoin" {
                        "member rejoin"
                    } else {
                        "restore"
                    }
                ));
            }
        }
    }
    let Some(manifest) = opts.manifest else {
        return Err(anyhow!(
            "no kubeadm etcd manifest at {}, so there is no member to rejoin on this node",
            opts.manifest_path.display()
        ))
        .hint("run it on the control-plane node whose member is broken, or point --manifest at its etcd.yaml");
    };
    let plan = plan::plan(opts, manifest, printer)?;
    plan::print_plan(&plan, &jpath, printer);
    if opts.dry_run {
        printer.result("dry run: nothing was changed");
        return Ok(exit::SUCCESS);
    }
    if !(opts.confirm)(&plan)? {
        printer.warn("not confirmed; nothing was changed");
        return Ok(exit::NO);
    }
    let mut j = Journal::new(plan, Joined::default(), jpath);
    j.save()?;
    execute(&mut j, opts.connector, printer)
}

fn reopen(
    opts: &Options<'_>,
    jpath: &Path,
    printer: &Printer,
) -> anyhow::Result<crate::diagnostics::ExitStatus> {
    let mut j = Journal::load(jpath).hint(format!(
        "there is no rejoin to {} here (its journal would be {})",
        if opts.resume { "resume" } else { "roll back" },
        jpath.display()
    ))?;
    if !matches!(j.state, State::Running | State::Failed) {
        return Err(anyhow!(
            "the rejoin journaled in {} is {:?}, not interrupted",
            jpath.display(),
            j.state
        ))
        .hint("nothing to do");
    }
    // The waits are this run's (as for `restore --resume`).
    j.plan.stop_timeout_secs = opts.stop_timeout.as_secs();
    j.plan.start_timeout_secs = opts.start_timeout.as_secs();
    interrupt::install(printer.log_format == LogFormat::Json)
        .map_err(|e| anyhow!("cannot install the signal handlers: {e}"))?;
    if opts.rollback {
        return match steps::rollback(&mut j, opts.connector, printer) {
            Ok(()) => {
                printer.result(rolled_back_text(&j));
                Ok(exit::SUCCESS)
            }
            Err(e) => give_up(&mut j, e, printer),
        };
    }
    printer.phase(format!(
        "resuming the rejoin journaled in {}",
        jpath.display()
    ));
    execute(&mut j, opts.connector, printer)
}

fn rolled_back_text(j: &Journal) -> String {
    let mut t = format!(
        "rolled back: {} and {} are as they were",
        j.plan.data_dir.display(),
        j.plan.manifest.display()
    );
    if j.done.contains(&Step::RemoveMember) && j.plan.old_member_id.is_some() {
        t.push_str(
            "; the old member stays removed from the cluster (run `etcd-backup member rejoin` \
             again to add this node back)",
        );
    }
    t
}

fn execute(
    j: &mut Journal,
    connector: &Connector,
    printer: &Printer,
) -> anyhow::Result<crate::diagnostics::ExitStatus> {
    interrupt::install(printer.log_format == LogFormat::Json)
        .map_err(|e| anyhow!("cannot install the signal handlers: {e}"))?;
    let started = Instant::now();
    for step in STEPS {
        if j.done.contains(&step) {
            continue;
        }
        if let Some(sig) = interrupt::received() {
            let e = anyhow::Error::new(EtcdError::Interrupted(sig))
                .context(format!("interrupted before step {}", step.name()));
            return fail(j, step, e, connector, printer);
        }
        j.current = Some(step);
        j.event(printer, format!("step {}: starting", step.name()));
        j.save()?;
        let result = failpoint("rejoin-", step.name(), false)
            .and_then(|()| steps::run_step(j, step, connector, printer));
        match result {
            Ok(()) => {
                j.done.push(step);
                j.current = None;
                j.event(printer, format!("step {}: done", step.name()));
                j.save()?;
                failpoint("rejoin-", step.name(), true)?;
            }
            Err(e) => return fail(j, step, e, connector, printer),
        }
    }
    j.state = State::Finished;
    j.save()?;
    let id = j
        .extra
        .new_member_id
        .map(crate::backup::catalog::id_hex)
        .unwrap_or_default();
    printer.result(format!(
        "rejoined {} as member {id} in {:.1}s: it serves, votes and agrees with the others; \
         the old data is kept at {}",
        j.plan.name,
        started.elapsed().as_secs_f64(),
        j.plan.aside.display()
    ));
    Ok(exit::SUCCESS)
}

fn fail(
    j: &mut Journal,
    step: Step,
    e: anyhow::Error,
    connector: &Connector,
    printer: &Printer,
) -> anyhow::Result<crate::diagnostics::ExitStatus> {
    j.event(printer, format!("step {} failed: {e:#}", step.name()));
    if j.done.is_empty() && step == Step::StopEtcd && !j.plan.original_manifest().exists() {
        j.state = State::RolledBack;
        j.save()?;
        return Err(e.context("the rejoin stopped before touching the node; nothing was changed"));
    }
    printer.warn(format!("step {} failed: {e:#}; rolling back", step.name()));
    match steps::rollback(j, connector, printer) {
        Ok(()) => Err(e.context(format!(
            "the rejoin stopped at step {} and was rolled back: {}",
            step.name(),
            rolled_back_text(j)
        ))),
        Err(r) => {
            printer.error(&e);
            give_up(j, r, printer)
        }
    }
}

fn give_up(
    j: &mut Journal,
    r: anyhow::Error,
    printer: &Printer,
) -> anyhow::Result<crate::diagnostics::ExitStatus> {
    j.state = State::Failed;
    j.event(printer, format!("rollback failed: {r:#}"));
    j.save()?;
    printer.warn(format!(
        "the rollback failed too: {r:#}. The node is part-way; journal {}. Fix the cause, then \
         `etcd-backup member rejoin --rollback --yes` (or --resume)",
        j.path().display()
    ));
    Ok(exit::PARTIAL)
}
