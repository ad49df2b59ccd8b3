//! The steps of a rejoin, each idempotent (it looks at the node and the member list to see what
//! is done already), and the rollback that undoes them.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde::{Deserialize, Serialize};

use crate::backup::catalog::id_hex;
use crate::cluster::{health, Connector};
use crate::diagnostics::HintExt;
use crate::etcd::Session;
use crate::fsutil::{self, FsError};
use crate::node::interrupt;
use crate::node::manifest::set_flags;
use crate::output::Printer;

use super::plan::this_member;
use super::{Journal, Plan, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Step {
    StopEtcd,
    RemoveMember,
    MoveAside,
    AddMember,
    StartEtcd,
    Promote,
    WaitHealthy,
    RestoreManifest,
}

pub(crate) const STEPS: [Step; 8] = [
    Step::StopEtcd,
    Step::RemoveMember,
    Step::MoveAside,
    Step::AddMember,
    Step::StartEtcd,
    Step::Promote,
    Step::WaitHealthy,
    Step::RestoreManifest,
];

impl Step {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::StopEtcd => "stop-etcd",
            Step::RemoveMember => "remove-member",
            Step::MoveAside => "move-aside",
            Step::AddMember => "add-member",
            Step::StartEtcd => "start-etcd",
            Step::Promote => "promote",
            Step::WaitHealthy => "wait-healthy",
            Step::RestoreManifest => "restore-manifest",
        }
    }
}

pub(super) fn run_step(
    j: &mut Journal,
    step: Step,
    connector: &Connector,
    printer: &Printer,
) -> anyhow::Result<()> {
    let p = j.plan.clone();
    match step {
        Step::StopEtcd => stop_etcd(&p, printer),
        Step::RemoveMember => {
            let Some(old) = p.old_member_id else {
                return Ok(());
            };
            let mut s = peer(&p, connector)?;
            if s.member_list()?.iter().any(|m| m.id == old) {
                remove_member(&mut s, old, Duration::from_secs(p.start_timeout_secs))?;
                j.event(printer, format!("removed member {}", id_hex(old)));
            }
            Ok(())
        }
        Step::MoveAside => {
            let live = p.live();
            if live.exists() && !p.aside.exists() {
                fsutil::rename_noreplace(&live, &p.aside)?;
                fsutil::fsync_dir(&fsutil::parent_dir(&live))?;
                j.event(
                    printer,
                    format!("moved {} aside to {}", live.display(), p.aside.display()),
                );
            }
            Ok(())
        }
        Step::AddMember => add_member(j, connector, printer),
        Step::StartEtcd => start_etcd(j, printer),
        Step::Promote => promote(j, connector, printer),
        Step::WaitHealthy => wait_healthy(j, connector, printer),
        Step::RestoreManifest => {
            let kept = p.original_manifest();
            if kept.exists() {
                let ours = std::fs::read(&p.manifest).unwrap_or_default();
                let original = std::fs::read(&kept)
                    .map_err(|e| FsError::io("cannot read the original manifest", &kept, e))?;
                std::fs::rename(&kept, &p.manifest).map_err(|e| {
                    FsError::io("cannot put the original manifest back to", &p.manifest, e)
                })?;
                fsutil::fsync_dir(&fsutil::parent_dir(&p.manifest))?;
                j.event(
                    printer,
                    format!("{} is the original again", p.manifest.display()),
                );
                if ours != original {
                    // The kubelet restarts etcd on the changed manifest.
                    wait_healthy(j, connector, printer)?;
                }
            }
            let _ = std::fs::remove_file(p.staging_dir.join("etcd.yaml.rejoin"));
            let _ = std::fs::remove_dir(&p.staging_dir);
            Ok(())
        }
    }
}

/// A session to the first healthy peer that answers.
fn peer(p: &Plan, connector: &Connector) -> anyhow::Result<Session> {
    let mut last = None;
    for ep in &p.peers {
        match connector.session(ep) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => anyhow::Error::new(e).context("no healthy peer answers"),
        None => anyhow!("no healthy peer is known"),
    })
    .hint("check the other control-plane nodes' etcd")
}

/// Calls `check` until it returns `Ok(None)` (done) or `limit` passes; `Some(why)` is what is
/// still missing. Signals end the wait.
fn wait_until(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> anyhow::Result<Option<String>>,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let mut last = String::from("no answer yet");
    while t.elapsed() < limit {
        match check() {
            Ok(None) => return Ok(()),
            Ok(Some(why)) => last = why,
            Err(e) => last = format!("{e:#}"),
        }
        interrupt::check()?;
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(anyhow!(
        "{what} did not happen within {}s: {last}",
        limit.as_secs()
    ))
}

/// The manifest into the staging dir (the kubelet stops etcd), and etcd gone from the data dir.
fn stop_etcd(p: &Plan, printer: &Printer) -> anyhow::Result<()> {
    fsutil::create_private_dir(&p.staging_dir)?;
    let kept = p.original_manifest();
    if p.manifest.exists() && !kept.exists() {
        fsutil::rename_noreplace(&p.manifest, &kept)?;
        fsutil::fsync_dir(&fsutil::parent_dir(&p.manifest))?;
        fsutil::fsync_dir(&p.staging_dir)?;
        printer.phase(format!(
            "moved {} to {}",
            p.manifest.display(),
            kept.display()
        ));
    }
    wait_until(
        Duration::from_secs(p.stop_timeout_secs),
        "etcd stopping",
        || crate::node::restore::etcd_on(&p.data_dir, &p.endpoint),
    )
    .hint("the kubelet must stop the etcd static pod once its manifest is gone; check it runs")
}

/// Adds the member as a learner (or finds it added by an earlier, interrupted run) and records
/// the `--initial-cluster` it must start with.
fn add_member(j: &mut Journal, connector: &Connector, printer: &Printer) -> anyhow::Result<()> {
    let p = j.plan.clone();
    let mut s = peer(&p, connector)?;
    let list = s.member_list()?;
    let ours = list
        .iter()
        .find(|m| m.peer_urls.iter().any(|u| p.peer_urls.contains(u)));
    let (id, list) = match ours {
        Some(m) if m.name.is_empty() || Some(m.id) == j.extra.new_member_id => (m.id, list.clone()),
        Some(m) => {
            return Err(anyhow!(
                "member {} ({}) already has this node's peer URL {}",
                m.name,
                id_hex(m.id),
                p.peer_urls.join(",")
            ))
            .hint("another run or a person added it; look at `etcdctl member list`")
        }
        None => {
            let limit = Duration::from_secs(p.start_timeout_secs);
            let (id, list) = change_membership(limit, || s.member_add(&p.peer_urls, true))?;
            j.event(printer, format!("added member {} as a learner", id_hex(id)));
            (id, list)
        }
    };
    let mut parts = Vec::new();
    for m in &list {
        let name = if m.id == id {
            p.name.as_str()
        } else {
            m.name.as_str()
        };
        if name.is_empty() {
            return Err(anyhow!(
                "member {} ({}) has been added but never started, so --initial-cluster cannot \
                 name it",
                id_hex(m.id),
                m.peer_urls.join(",")
            ))
            .hint("start that member or remove it (`etcdctl member remove`), then --resume");
        }
        parts.extend(m.peer_urls.iter().map(|u| format!("{name}={u}")));
    }
    j.extra.new_member_id = Some(id);
    j.extra.initial_cluster = Some(parts.join(","));
    j.save()
}

/// `member remove` of `id`; one already gone counts as removed.
fn remove_member(s: &mut Session, id: u64, limit: Duration) -> anyhow::Result<()> {
    change_membership(limit, || match s.member_remove(id) {
        Err(crate::etcd::EtcdError::Rpc { source, .. })
            if source.to_string().contains("member not found") =>
        {
            Ok(())
        }
        other => other,
    })
}

/// Runs a membership change, retrying etcd's passing refusals for up to `limit`:
/// etcd refuses any change until the member asked has been connected to every voting member
/// for 5 s (its `HealthInterval`), which a change just made (the removal) or a member just
/// (re)started makes it miss for a moment.
fn change_membership<T>(
    limit: Duration,
    mut change: impl FnMut() -> Result<T, crate::etcd::EtcdError>,
) -> anyhow::Result<T> {
    let t = Instant::now();
    loop {
        match change() {
            Ok(v) => return Ok(v),
            // An added member's ID is a hash of its peer URLs and the time in seconds, so an
            // add in the same second as the removal of the same URLs gets the removed ID,
            // which etcd refuses ("member not found"): the next second gives another.
            Err(crate::etcd::EtcdError::Rpc { source, .. })
                if (source.to_string().contains("unhealthy cluster")
                    || source.to_string().contains("member not found")
                    || source.to_string().contains("member removed"))
                    && t.elapsed() < limit =>
            {
                interrupt::check()?;
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The original manifest with `--initial-cluster` and `--initial-cluster-state=existing`, into
/// the manifests dir: the kubelet starts etcd on the empty data dir, which joins the cluster.
fn start_etcd(j: &mut Journal, printer: &Printer) -> anyhow::Result<()> {
    let p = &j.plan;
    let Some(initial) = &j.extra.initial_cluster else {
        return Err(anyhow!(
            "the journal has no --initial-cluster (step add-member)"
        ));
    };
    let kept = p.original_manifest();
    let text = std::fs::read_to_string(&kept)
        .map_err(|e| FsError::io("cannot read the original manifest", &kept, e))?;
    let ours = set_flags(
        &text,
        &[
            ("initial-cluster", initial.as_str()),
            ("initial-cluster-state", "existing"),
        ],
    )
    .map_err(|why| anyhow!("cannot edit {}: {why}", kept.display()))?;
    if std::fs::read_to_string(&p.manifest).ok().as_deref() == Some(ours.as_str()) {
        return Ok(());
    }
    // Written in the staging dir, then renamed in: the kubelet never reads half a file.
    let tmp = p.staging_dir.join("etcd.yaml.rejoin");
    fsutil::write_atomic(&tmp, ours.as_bytes(), true)?;
    std::fs::rename(&tmp, &p.manifest)
        .map_err(|e| FsError::io("cannot write the manifest", &p.manifest, e))?;
    fsutil::fsync_dir(&fsutil::parent_dir(&p.manifest))?;
    let msg = format!(
        "wrote {} with --initial-cluster-state=existing --initial-cluster={initial}",
        p.manifest.display()
    );
    j.event(printer, msg);
    Ok(())
}

/// Promotes the learner once etcd accepts it (it refuses until the learner has caught up).
fn promote(j: &mut Journal, connector: &Connector, printer: &Printer) -> anyhow::Result<()> {
    let p = j.plan.clone();
    let Some(id) = j.extra.new_member_id else {
        return Err(anyhow!(
            "the journal has no new member ID (step add-member)"
        ));
    };
    wait_until(
        Duration::from_secs(p.start_timeout_secs),
        "the learner catching up",
        || {
            let mut s = peer(&p, connector)?;
            match s.member_list()?.iter().find(|m| m.id == id) {
                None => Err(anyhow!(
                    "member {} is no longer in the member list",
                    id_hex(id)
                )),
                Some(m) if !m.is_learner => Ok(None),
                Some(_) => match s.member_promote(id) {
                    Ok(()) => Ok(None),
                    Err(e) => Ok(Some(format!("{:#}", anyhow::Error::new(e)))),
                },
            }
        },
    )
    .hint(
        "raise --start-timeout for a large db; `etcd-backup member rejoin --resume --yes` goes on",
    )?;
    j.event(printer, format!("member {} votes", id_hex(id)));
    Ok(())
}

/// Waits until this member serves, votes, knows the leader and its `HashKV` equals the others'.
fn wait_healthy(j: &mut Journal, connector: &Connector, printer: &Printer) -> anyhow::Result<()> {
    let p = j.plan.clone();
    let mut endpoints = vec![p.endpoint.clone()];
    endpoints.extend(p.peers.iter().cloned());
    wait_until(
        Duration::from_secs(p.start_timeout_secs),
        "the member becoming healthy",
        || {
            let report = health::gather(&endpoints, &[], connector, None)?;
            let Some(me) = this_member(&report.members, &p.name, &p.peer_urls) else {
                return Ok(Some("not in the member list".into()));
            };
            let problems = report.verdict.problems_of(me.info.id);
            Ok(match (&me.status, &me.hash) {
                (Err(e), _) => Some(e.clone()),
                _ if me.info.is_learner => Some("still a learner".into()),
                (_, Some(Ok(_))) if problems.is_empty() => None,
                (_, None | Some(Err(_))) => Some("no HashKV yet".into()),
                _ => Some(
                    problems
                        .iter()
                        .map(health::Problem::describe)
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            })
        },
    )
    .hint("check the etcd log of this node; `etcd-backup health` shows every member")?;
    j.event(
        printer,
        format!("{} serves, votes and agrees with the others", p.name),
    );
    Ok(())
}

/// Undoes what was done: the new member removed, etcd stopped, the old data and the original
/// manifest back. The old member, once removed, is not added back.
pub(super) fn rollback(
    j: &mut Journal,
    connector: &Connector,
    printer: &Printer,
) -> anyhow::Result<()> {
    interrupt::shield();
    let p = j.plan.clone();
    j.event(printer, "rollback: starting".into());
    if let Some(id) = j.extra.new_member_id {
        let mut s = peer(&p, connector)?;
        if s.member_list()?.iter().any(|m| m.id == id) {
            remove_member(&mut s, id, Duration::from_secs(p.start_timeout_secs))?;
            j.event(
                printer,
                format!("rollback: removed the new member {}", id_hex(id)),
            );
        }
    }
    let kept = p.original_manifest();
    if kept.exists() && p.manifest.exists() {
        // Ours (step start-etcd wrote it): out of the manifests dir, so that etcd stops.
        std::fs::rename(&p.manifest, p.staging_dir.join("etcd.yaml.rejoin"))
            .map_err(|e| FsError::io("cannot move the manifest", &p.manifest, e))?;
    }
    if kept.exists() {
        wait_until(
            Duration::from_secs(p.stop_timeout_secs),
            "etcd stopping",
            || crate::node::restore::etcd_on(&p.data_dir, &p.endpoint),
        )?;
    }
    let live = p.live();
    if p.aside.exists() {
        if live.exists() {
            fsutil::rename_noreplace(&live, &p.failed)?;
            j.event(
                printer,
                format!(
                    "rollback: the new member's data moved to {}",
                    p.failed.display()
                ),
            );
        }
        fsutil::rename_noreplace(&p.aside, &live)?;
        fsutil::fsync_dir(&fsutil::parent_dir(&live))?;
        j.event(printer, format!("rollback: {} is back", live.display()));
    }
    if kept.exists() {
        fsutil::rename_noreplace(&kept, &p.manifest)?;
        fsutil::fsync_dir(&fsutil::parent_dir(&p.manifest))?;
        j.event(
            printer,
            format!("rollback: {} is back", p.manifest.display()),
        );
    }
    let _ = std::fs::remove_file(p.staging_dir.join("etcd.yaml.rejoin"));
    let _ = std::fs::remove_dir(&p.staging_dir);
    j.state = State::RolledBack;
    j.current = None;
    j.event(printer, "rollback: done".into());
    j.save()
}
