//! `etcd-backup health --repair`: the decision of `cluster::repair` for this node, its counts
//! kept in `<state-dir>/health-repair.json` between runs, every decision logged, and the action
//! carried out: `member rejoin` of this node (the rejoin engine, without a prompt), or, when
//! quorum is lost everywhere, the restore of this node (the node restore engine, without a
//! prompt) from the backup of `--remote` every node picks alike.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::backup::catalog::Backup;
use crate::backup::named::Named;
use crate::backup::set::BackupSet;
use crate::cli::HealthArgs;
use crate::cluster::health::Report;
use crate::cluster::repair::{self, Action, Candidate, Counts, Decision};
use crate::datadir::build::{BumpFlags, ClusterFlags};
use crate::diagnostics::{ExitStatus, HintExt};
use crate::etcd;
use crate::fsutil;
use crate::node::rejoin;
use crate::node::restore as node_restore;
use crate::output::Printer;
use crate::remote::Remote;
use crate::settings::Settings;

/// The rejoin's waits: its own defaults (`member rejoin --stop-timeout/--start-timeout`).
const STOP_TIMEOUT: Duration = Duration::from_secs(120);
const START_TIMEOUT: Duration = Duration::from_secs(600);

/// What `--repair` keeps between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    format_version: u32,
    member_failures: u32,
    quorum_lost_checks: u32,
    checked_at: DateTime<Utc>,
    /// When this node first saw the current quorum-lost streak (recorded for the operator; the
    /// choice of the backup does not use it, since every node sees it at another time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quorum_lost_since: Option<DateTime<Utc>>,
    action: String,
    reason: String,
}

pub(crate) fn state_path(dir: &Path) -> PathBuf {
    dir.join("health-repair.json")
}

/// The counts of the previous run; none (a first run) when the file is absent. A file that
/// cannot be read as a state starts the counts again, with a warning: that only delays an action.
fn load(path: &Path, printer: &Printer) -> (Counts, Option<DateTime<Utc>>) {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Default::default(),
        Err(e) => {
            printer.warn(format!(
                "cannot read {}: {e}; counting failed checks from zero",
                path.display()
            ));
            return Default::default();
        }
    };
    match serde_json::from_slice::<State>(&text) {
        Ok(s) => (
            Counts {
                member_failures: s.member_failures,
                quorum_lost: s.quorum_lost_checks,
            },
            s.quorum_lost_since,
        ),
        Err(e) => {
            printer.warn(format!(
                "{} is not a state of health --repair ({e}); counting failed checks from zero",
                path.display()
            ));
            Default::default()
        }
    }
}

fn store(dir: &Path, d: &Decision, since: Option<DateTime<Utc>>) -> anyhow::Result<()> {
    fsutil::create_private_dir(dir)
        .hint("make --state-dir (or ETCD_BACKUP_STATE_DIR) a directory root can write")?;
    // After an action the count starts again: an action that fails is tried again only after
    // as many failed checks, not on every run.
    let counts = match d.action {
        Action::None => d.counts,
        _ => Counts::default(),
    };
    let state = State {
        format_version: 1,
        member_failures: counts.member_failures,
        quorum_lost_checks: counts.quorum_lost,
        checked_at: Utc::now(),
        quorum_lost_since: since.filter(|_| counts.quorum_lost > 0),
        action: d.action.label().to_string(),
        reason: d.reason.clone(),
    };
    let mut bytes = serde_json::to_vec_pretty(&state)?;
    bytes.push(b'\n');
    let path = state_path(dir);
    fsutil::write_atomic_mode(&path, &bytes, true, 0o600)
        .with_context(|| {
            format!(
                "cannot write the state of health --repair to {}",
                path.display()
            )
        })
        .hint("make --state-dir (or ETCD_BACKUP_STATE_DIR) writable by this user")?;
    Ok(())
}

/// This node's member ID in the report, from the manifest's `--initial-advertise-peer-urls`
/// and `--name`; `None` when the member list does not have it.
fn this_member(settings: &Settings, report: &Report) -> anyhow::Result<Option<u64>> {
    let Some(m) = &settings.manifest else {
        return Err(anyhow!(
            "--repair needs this node's etcd manifest ({} is not there)",
            settings.manifest_path.display()
        ))
        .hint("run it on a kubeadm control-plane node, or point --manifest at its etcd.yaml");
    };
    let name = m.flag("name").unwrap_or_default();
    let peer_urls: Vec<String> = m
        .flag("initial-advertise-peer-urls")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    if name.is_empty() && peer_urls.is_empty() {
        return Err(anyhow!(
            "{} has no --name or --initial-advertise-peer-urls: --repair cannot tell which \
             member is this node's",
            m.path.display()
        ))
        .hint("--repair needs kubeadm's etcd manifest of this node");
    }
    Ok(rejoin::this_member(&report.members, name, &peer_urls).map(|m| m.info.id))
}

/// The decision for this run, logged and recorded in the state dir.
pub(crate) fn decide(
    settings: &Settings,
    args: &HealthArgs,
    report: &Report,
    printer: &Printer,
) -> anyhow::Result<Decision> {
    let me = this_member(settings, report)?;
    let path = state_path(&args.state_dir);
    let (before, since) = load(&path, printer);
    let d = repair::decide(
        &report.members,
        &report.verdict,
        me,
        before,
        args.repair_after,
    );
    match d.action {
        Action::None => printer.phase(format!("repair: nothing to do: {}", d.reason)),
        a => printer.warn(format!("repair: {}: {}", a.label(), d.reason)),
    }
    let since = match d.counts.quorum_lost {
        0 => None,
        _ => since.or_else(|| Some(Utc::now())),
    };
    if let Some(t) = since {
        printer.detail(format!("repair: quorum lost here since {t}"));
    }
    store(&args.state_dir, &d, since)?;
    printer.detail(format!("repair: counts recorded in {}", path.display()));
    Ok(d)
}

pub(crate) fn to_json(d: &Decision) -> serde_json::Value {
    json!({
        "action": d.action.label(),
        "reason": d.reason,
        "member_failures": d.counts.member_failures,
        "quorum_lost_checks": d.counts.quorum_lost,
    })
}

/// The gauges of the decision, for the health textfile.
pub(crate) fn metrics(d: &Decision, failed: bool) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: Vec<(String, f64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, v) in samples {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    gauge(
        "etcd_backup_health_repair_action",
        "1 for what health --repair decided on its last run: none, rejoin or restore.",
        Action::ALL
            .iter()
            .map(|a| {
                (
                    format!("{{action=\"{}\"}}", a.label()),
                    f64::from(u8::from(*a == d.action)),
                )
            })
            .collect(),
    );
    gauge(
        "etcd_backup_health_repair_consecutive_failures",
        "Checks in a row in which this node's member failed while a healthy quorum served elsewhere.",
        vec![(String::new(), f64::from(d.counts.member_failures))],
    );
    gauge(
        "etcd_backup_health_repair_quorum_lost_checks",
        "Checks in a row in which every member answered and none knew a leader.",
        vec![(String::new(), f64::from(d.counts.quorum_lost))],
    );
    gauge(
        "etcd_backup_health_repair_failed",
        "1 when the action of the last run failed or was refused.",
        vec![(String::new(), f64::from(u8::from(failed)))],
    );
    out
}

/// Carries the decision out. `Ok(None)`: nothing was to be done.
pub(crate) fn act(
    settings: &Settings,
    args: &HealthArgs,
    report: &Report,
    d: &Decision,
    printer: &Printer,
) -> anyhow::Result<Option<ExitStatus>> {
    match d.action {
        Action::None => Ok(None),
        Action::Rejoin => rejoin_here(settings, args, printer).map(Some),
        Action::Restore => restore_here(settings, args, report, printer).map(Some),
    }
}

fn rejoin_here(
    settings: &Settings,
    args: &HealthArgs,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    printer.phase("repair: running `member rejoin` of this node's member");
    let endpoints = settings
        .endpoints
        .value
        .iter()
        .map(|e| etcd::normalize_endpoint(e))
        .collect::<Result<Vec<_>, _>>()
        .hint("pass --endpoints https://HOST:PORT[,https://HOST:PORT..]")?;
    let connector = rejoin::connector(
        settings.tls_files(),
        args.dial_timeout,
        args.stall_timeout,
        STOP_TIMEOUT,
        START_TIMEOUT,
    )?;
    // --repair is the confirmation: whoever turned it on asked for this rejoin.
    let confirm = |_: &rejoin::Plan| Ok(true);
    let opts = rejoin::Options {
        manifest: settings.manifest.as_ref(),
        manifest_path: settings.manifest_path.clone(),
        manifests_dir: args.manifests_dir.clone(),
        endpoints,
        peer_urls: super::health::peer_urls(settings),
        connector: &connector,
        dry_run: false,
        resume: false,
        rollback: false,
        stop_timeout: STOP_TIMEOUT,
        start_timeout: START_TIMEOUT,
        confirm: &confirm,
    };
    // stdout carries health's report: the rejoin's plan and result lines are logged instead.
    let logged = printer.clone().results_to_stderr();
    rejoin::run(&opts, &logged).context("the rejoin of health --repair failed")
}

/// The backups of `--remote` in the order the restore after a lost quorum tries them
/// ([`repair::restore_order`]), and the store. `Ok(None)` without `--remote`.
fn candidates(
    args: &HealthArgs,
    report: &Report,
) -> anyhow::Result<Option<(BackupSet, Vec<Backup>, i64)>> {
    let Some(url) = &args.remote.remote else {
        return Ok(None);
    };
    let remote = Remote::open(url, &crate::settings::remote_options(&args.remote.conn))
        .with_context(|| format!("cannot open the store {url}"))
        .hint("check --remote and the --remote-* settings (they are save's)")?;
    let set = BackupSet::Store(Arc::new(remote));
    let listed = set
        .list()
        .with_context(|| format!("cannot list the backups in {url}"))
        .hint("check --remote and the store's credentials (they are save's)")?;
    let cands: Vec<Candidate> = listed
        .iter()
        .map(|l| {
            let sc = set.sidecar(&l.backup).ok().flatten();
            Candidate {
                key: l.backup.name.clone(),
                taken_at: l.backup.taken_at,
                revision: sc.as_ref().map(|s| s.revision),
                cluster_id: sc.map(|s| s.cluster_id),
            }
        })
        .collect();
    let frozen = repair::frozen_revision(&report.members).unwrap_or(i64::MAX);
    let order = repair::restore_order(&cands, frozen, report.cluster_id);
    let mut listed: Vec<Option<Backup>> = listed.into_iter().map(|l| Some(l.backup)).collect();
    let ordered = order.iter().filter_map(|&i| listed[i].take()).collect();
    Ok(Some((set, ordered, frozen)))
}

/// What plain `health` names for a lost quorum from `--remote`: the first backup --repair would
/// try whose sidecar says it passed verification (the bytes are not read here).
pub(crate) fn remote_restore_from(
    args: &HealthArgs,
    report: &Report,
) -> anyhow::Result<Option<String>> {
    let Some((set, ordered, _)) = candidates(args, report)? else {
        return Ok(None);
    };
    Ok(ordered
        .into_iter()
        .find(|b| set.sidecar(b).ok().flatten().is_some_and(|s| s.verified()))
        .map(|b| set.named(b).shown()))
}

/// The backup every node restores from after a lost quorum: the first of [`candidates`] whose
/// bytes verify (read back from the store into a scratch copy). Every node lists the same store
/// and orders it the same way, so each picks the same object without talking to the others.
pub(crate) fn restore_choice(
    args: &HealthArgs,
    report: &Report,
    scratch: &Path,
    printer: &Printer,
) -> anyhow::Result<Option<Named>> {
    let Some((set, ordered, frozen)) = candidates(args, report)? else {
        return Ok(None);
    };
    printer.detail(format!(
        "repair: {} backups of {} below the frozen revision {frozen} to try",
        ordered.len(),
        set.location()
    ));
    for b in ordered {
        let named = set.named(b);
        printer.phase(format!("repair: verifying {}", named.shown()));
        match named.verify(&[], scratch, false) {
            Ok(v) if v.ok() => return Ok(Some(named)),
            Ok(v) => printer.warn(format!(
                "repair: {} fails verification ({}); trying the next",
                named.shown(),
                v.problems.join("; ")
            )),
            Err(e) => printer.warn(format!(
                "repair: cannot verify {}: {e}; trying the next",
                named.shown()
            )),
        }
    }
    Ok(None)
}

/// The restore of this node from the chosen backup, through the node restore engine (as
/// `restore --node` runs it, without a prompt): the cluster token comes from the snapshot's
/// SHA-256 and the members from the snapshot, so every node restored from the same object
/// makes one new cluster. The restore waits until that cluster serves, which needs a quorum of
/// the nodes restored from the same object; otherwise it rolls back.
fn restore_here(
    settings: &Settings,
    args: &HealthArgs,
    report: &Report,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Some(url) = &args.remote.remote else {
        return Err(anyhow!(
            "quorum is lost and --repair would restore this node, but no --remote names the \
             shared store to restore from; nothing was changed"
        ))
        .hint(
            "give every node's health timer the same --remote as save's (`[health] remote` in \
             config.toml), or restore every node by hand from one backup (docs/dr.md)",
        );
    };
    let scratch = crate::backup::set::scratch_dir(&settings.backup_dir);
    let Some(named) = restore_choice(args, report, &scratch, printer)? else {
        return Err(anyhow!(
            "quorum is lost and --repair would restore this node, but no backup of cluster {} \
             in {url} below revision {} verifies; nothing was changed",
            crate::backup::catalog::id_hex(report.cluster_id),
            repair::frozen_revision(&report.members).unwrap_or_default()
        ))
        .hint("restore every node by hand from one backup (docs/dr.md)");
    };
    let shown = named.shown();
    printer.warn(format!(
        "repair: restoring this node from {shown} (every node that lost the quorum picks it)"
    ));
    let cell = std::cell::RefCell::new(Some(named));
    let open = |spec: &Path| -> anyhow::Result<Named> {
        match cell.borrow_mut().take() {
            Some(n) => Ok(n),
            None => Named::open(spec, &crate::settings::remote_options(&args.remote.conn)),
        }
    };
    // --repair is the confirmation: whoever turned it on asked for this restore.
    let confirm = |_: &node_restore::Plan| Ok(true);
    let opts = node_restore::Options {
        snapshot: Some(PathBuf::from(&shown)),
        data_dir: None,
        manifests_dir: args.manifests_dir.clone(),
        kubelet_service: "kubelet".to_string(),
        dry_run: false,
        resume: false,
        rollback: false,
        stop_timeout: STOP_TIMEOUT,
        start_timeout: START_TIMEOUT,
        cluster: ClusterFlags::default(),
        bump: BumpFlags::default(),
        keep_alarms: false,
        skip_hash_check: false,
        // An automated restore never overrides the version check.
        skip_version_check: false,
        identities: Vec::new(),
        manifest: settings.manifest.as_ref(),
        manifest_path: settings.manifest_path.clone(),
        manifest_data_dir: settings.data_dir(),
        tls: settings.tls_files(),
        open_snapshot: &open,
        confirm: &confirm,
        // Without a leader the live etcd cannot be read consistently: no preview of what reverts.
        preview: &|_| {},
    };
    // stdout carries health's report: the restore's plan and result lines are logged instead.
    let logged = printer.clone().results_to_stderr();
    node_restore::run(&opts, &logged)
        .with_context(|| format!("the restore of health --repair from {shown} failed"))
}
