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

use anyhow::{anyhow, Context};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cli::LogFormat;
use crate::cluster::Connector;
use crate::diagnostics::{exit, HintExt};
use crate::etcd::EtcdError;
use crate::fsutil::{self, FsError};
use crate::node::interrupt;
use crate::node::manifest::EtcdManifest;
use crate::output::Printer;

pub use plan::{this_member, Plan};
pub use steps::{Step, STEPS};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Running,
    Finished,
    RolledBack,
    /// The rollback did not finish either (exit 3).
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub format_version: u32,
    pub tool_version: String,
    pub started_at: DateTime<Utc>,
    pub plan: Plan,
    pub state: State,
    pub done: Vec<Step>,
    pub current: Option<Step>,
    /// The member added by step add-member.
    pub new_member_id: Option<u64>,
    /// `--initial-cluster` for the new member, from the member list after the add.
    pub initial_cluster: Option<String>,
    pub events: Vec<String>,
    #[serde(skip)]
    path: PathBuf,
}

/// `etcd-backup-rejoin-journal.json` beside the manifests dir.
pub fn journal_path(manifests_dir: &Path) -> PathBuf {
    fsutil::parent_dir(manifests_dir).join("etcd-backup-rejoin-journal.json")
}

/// The TLS files an open rejoin was planned with: `--resume`/`--rollback` run while etcd.yaml
/// is moved out, so the settings cannot find them in the manifest.
pub fn journal_tls(manifests_dir: &Path) -> Option<crate::etcd::TlsFiles> {
    let j = Journal::load(&journal_path(manifests_dir)).ok()?;
    Some(crate::etcd::TlsFiles {
        cacert: j.plan.cacert,
        cert: j.plan.cert,
        key: j.plan.key,
    })
}

impl Journal {
    fn load(path: &Path) -> anyhow::Result<Journal> {
        let bytes = std::fs::read(path).map_err(|e| FsError::io("cannot read journal", path, e))?;
        let mut j: Journal = serde_json::from_slice(&bytes)
            .with_context(|| format!("journal {} is not valid", path.display()))?;
        j.path = path.to_path_buf();
        Ok(j)
    }

    fn save(&self) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        fsutil::write_atomic(&self.path, &bytes, true)?;
        Ok(())
    }

    fn event(&mut self, printer: &Printer, msg: String) {
        printer.phase(&msg);
        self.events
            .push(format!("{} {msg}", Utc::now().to_rfc3339()));
    }
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
    let mut j = Journal {
        format_version: 1,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: Utc::now(),
        plan,
        state: State::Running,
        done: Vec::new(),
        current: None,
        new_member_id: None,
        initial_cluster: None,
        events: Vec::new(),
        path: jpath,
    };
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
        let result =
            failpoint(step, false).and_then(|()| steps::run_step(j, step, connector, printer));
        match result {
            Ok(()) => {
                j.done.push(step);
                j.current = None;
                j.event(printer, format!("step {}: done", step.name()));
                j.save()?;
                failpoint(step, true)?;
            }
            Err(e) => return fail(j, step, e, connector, printer),
        }
    }
    j.state = State::Finished;
    j.save()?;
    let id = j
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

/// `ETCD_BACKUP_FAILPOINT=rejoin-<step>` fails that step before it starts;
/// `rejoin-<step>:hang` hangs right after it is journaled as done (to be killed).
fn failpoint(step: Step, after: bool) -> anyhow::Result<()> {
    let Ok(fp) = std::env::var("ETCD_BACKUP_FAILPOINT") else {
        return Ok(());
    };
    let (name, hang) = match fp.split_once(':') {
        Some((n, "hang")) => (n, true),
        _ => (fp.as_str(), false),
    };
    if name.strip_prefix("rejoin-") != Some(step.name()) {
        return Ok(());
    }
    if hang && after {
        let t = Instant::now();
        while interrupt::received().is_none() && t.elapsed() < Duration::from_secs(3600) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if !hang && !after {
        return Err(anyhow!(
            "injected failure at step {} (ETCD_BACKUP_FAILPOINT)",
            step.name()
        ));
    }
    Ok(())
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
        j.path.display()
    ));
    Ok(exit::PARTIAL)
}
