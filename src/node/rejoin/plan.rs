//! What a rejoin will do, decided before anything changes: this node's member from the manifest
//! and the member list, the refusals (a healthy member, a learner, a quorum the removal would
//! break, peers that disagree about the membership), and the paths it will use.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::cluster::health::{self, Member, Problem};
use crate::diagnostics::HintExt;
use crate::fsutil;
use crate::node::manifest::EtcdManifest;
use crate::output::Printer;

use super::Options;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub name: String,
    pub peer_urls: Vec<String>,
    /// This member's client URL on this node (what wait-healthy asks).
    pub endpoint: String,
    /// The member being replaced; `None` when it is no longer in the member list.
    pub old_member_id: Option<u64>,
    /// Client URLs of the healthy voting peers, asked for every membership change.
    pub peers: Vec<String>,
    pub data_dir: PathBuf,
    /// The data dir is a mount point: its `member/` moves aside instead of the dir.
    pub inside_mount: bool,
    /// Where the old data goes (never deleted).
    pub aside: PathBuf,
    /// Where a rollback puts the new member's data.
    pub failed: PathBuf,
    pub manifest: PathBuf,
    /// Holds the original manifest while the rejoin runs.
    pub staging_dir: PathBuf,
    pub cacert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub stop_timeout_secs: u64,
    pub start_timeout_secs: u64,
}

impl Plan {
    /// What moves aside: the data dir, or its `member/` in a mount point.
    pub(crate) fn live(&self) -> PathBuf {
        if self.inside_mount {
            self.data_dir.join("member")
        } else {
            self.data_dir.clone()
        }
    }

    /// The original manifest, kept while the rejoin runs.
    pub(crate) fn original_manifest(&self) -> PathBuf {
        self.staging_dir.join("etcd.yaml")
    }
}

/// The member of `members` that is this node's: same peer URL, else same name.
pub(crate) fn this_member<'a>(
    members: &'a [Member],
    name: &str,
    peer_urls: &[String],
) -> Option<&'a Member> {
    members
        .iter()
        .find(|m| m.info.peer_urls.iter().any(|u| peer_urls.contains(u)))
        .or_else(|| {
            members
                .iter()
                .find(|m| !name.is_empty() && m.info.name == name)
        })
}

/// The plan, or why there must be no rejoin.
pub(super) fn plan(
    opts: &Options<'_>,
    manifest: &EtcdManifest,
    printer: &Printer,
) -> anyhow::Result<Plan> {
    let flag = |f: &str| manifest.flag(f).map(str::to_string);
    let name = flag("name").unwrap_or_default();
    let peer_urls: Vec<String> = flag("initial-advertise-peer-urls")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    if name.is_empty() || peer_urls.is_empty() {
        return Err(anyhow!(
            "{} has no --name or --initial-advertise-peer-urls",
            manifest.path.display()
        ))
        .hint("member rejoin needs kubeadm's etcd manifest of this node");
    }
    let endpoint = manifest
        .client_url()
        .ok_or_else(|| anyhow!("{} has no client URL", manifest.path.display()))?;
    let data_dir = manifest
        .host_path_flag("data-dir")
        .ok_or_else(|| anyhow!("{} has no --data-dir", manifest.path.display()))?;
    let report = health::gather(&opts.endpoints, &opts.peer_urls, opts.connector, None)
        .hint("member rejoin needs the member list from a healthy peer: check that the other control-plane nodes run etcd")?;
    let me = this_member(&report.members, &name, &peer_urls);
    if let Some(me) = me {
        refuse_if_fine(me, &report.verdict)?;
    }
    let peers = healthy_peers(&report, me.map(|m| m.info.id))?;
    agree_on_membership(&peers, opts)?;
    let stamp = Utc::now().format("%Y%m%d-%H%M%S").to_string();
    let inside_mount = data_dir.is_dir() && fsutil::is_mount_point(&data_dir)?;
    let (aside, failed) = if inside_mount {
        (
            data_dir.join(format!("member.before-rejoin-{stamp}")),
            data_dir.join(format!("member.failed-rejoin-{stamp}")),
        )
    } else {
        (
            sibling(&data_dir, &format!("before-rejoin-{stamp}")),
            sibling(&data_dir, &format!("failed-rejoin-{stamp}")),
        )
    };
    printer.detail(format!(
        "member list from {}: {} members",
        report.listed_by,
        report.members.len()
    ));
    Ok(Plan {
        name,
        peer_urls,
        endpoint,
        old_member_id: me.map(|m| m.info.id),
        peers: peers
            .iter()
            .map(|m| m.endpoint.clone().unwrap_or_default())
            .collect(),
        data_dir,
        inside_mount,
        aside,
        failed,
        manifest: manifest.path.clone(),
        staging_dir: fsutil::parent_dir(&opts.manifests_dir).join("etcd-backup-rejoin"),
        cacert: opts.connector.config.tls.cacert.clone(),
        cert: opts.connector.config.tls.cert.clone(),
        key: opts.connector.config.tls.key.clone(),
        stop_timeout_secs: opts.stop_timeout.as_secs(),
        start_timeout_secs: opts.start_timeout.as_secs(),
    })
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    fsutil::parent_dir(dir).join(name)
}

/// A member that serves and agrees with the others needs no rejoin; a learner is not ours to
/// replace.
fn refuse_if_fine(me: &Member, verdict: &health::Verdict) -> anyhow::Result<()> {
    let id = crate::backup::catalog::id_hex(me.info.id);
    if me.info.is_learner {
        return Err(anyhow!(
            "member {} ({id}) is a learner: it is still catching up, not broken",
            me.info.name
        ))
        .hint(
            "wait until it is promoted (`etcdctl member promote` once it has caught up), or \
             remove it with `etcdctl member remove`; nothing was changed",
        );
    }
    let problems = verdict.problems_of(me.info.id);
    if !problems.iter().any(Problem::needs_rejoin) {
        let state = if problems.is_empty() {
            "healthy".to_string()
        } else {
            problems
                .iter()
                .map(Problem::describe)
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Err(anyhow!(
            "member {} ({id}) serves and agrees with the others ({state}): there is nothing \
             to rejoin",
            me.info.name
        ))
        .hint("`etcd-backup health` shows every member; nothing was changed");
    }
    Ok(())
}

/// The voting members other than `me` that serve, know a leader and agree on the data; refused
/// when they are not a quorum of the cluster with this member counted.
fn healthy_peers(report: &health::Report, me: Option<u64>) -> anyhow::Result<Vec<Member>> {
    let voting = report
        .members
        .iter()
        .filter(|m| !m.info.is_learner && Some(m.info.id) != me)
        .count()
        + 1;
    let quorum = voting / 2 + 1;
    let healthy: Vec<Member> = report
        .members
        .iter()
        .filter(|m| Some(m.info.id) != me && !m.info.is_learner)
        .filter(|m| m.status.as_ref().is_ok_and(|s| s.leader != 0))
        .filter(|m| {
            !report
                .verdict
                .problems_of(m.info.id)
                .iter()
                .any(Problem::needs_rejoin)
        })
        .cloned()
        .collect();
    if healthy.len() < quorum {
        return Err(anyhow!(
            "only {} of the other members are healthy; a cluster of {voting} needs {quorum} to \
             remove and add a member",
            healthy.len()
        ))
        .hint(
            "removing this member would break the quorum (a 2-member cluster never has one \
             without it); when quorum is lost, restore every node from the same backup \
             (`etcd-backup health` names it); nothing was changed",
        );
    }
    Ok(healthy)
}

/// Every healthy peer must list the same members.
fn agree_on_membership(peers: &[Member], opts: &Options<'_>) -> anyhow::Result<()> {
    let mut seen: Option<(String, Vec<u64>)> = None;
    for p in peers {
        let Some(ep) = &p.endpoint else { continue };
        let mut ids: Vec<u64> = opts
            .connector
            .session(ep)
            .and_then(|mut s| s.member_list())?
            .iter()
            .map(|m| m.id)
            .collect();
        ids.sort_unstable();
        match &seen {
            None => seen = Some((ep.clone(), ids)),
            Some((first, want)) if *want != ids => {
                return Err(anyhow!(
                    "the peers disagree about the membership: {first} lists {} members, {ep} \
                     lists {}",
                    want.len(),
                    ids.len()
                ))
                .hint("wait until the cluster has settled (a change may be under way); nothing was changed")
            }
            Some(_) => {}
        }
    }
    Ok(())
}

pub(super) fn print_plan(p: &Plan, journal: &Path, printer: &Printer) {
    let lines = [
        format!(
            "member rejoin of {} ({}) on this node:",
            p.name,
            p.peer_urls.join(",")
        ),
        format!(
            "  1. stop etcd: move {} into {}",
            p.manifest.display(),
            p.staging_dir.display()
        ),
        match p.old_member_id {
            Some(id) => format!(
                "  2. remove member {} through {}",
                crate::backup::catalog::id_hex(id),
                p.peers.join(", ")
            ),
            None => "  2. (the member is no longer in the member list: nothing to remove)".into(),
        },
        format!(
            "  3. move {} aside to {} (kept)",
            p.live().display(),
            p.aside.display()
        ),
        "  4. add the member again, as a learner".to_string(),
        "  5. start etcd with --initial-cluster-state=existing and the current --initial-cluster"
            .to_string(),
        "  6. promote it once it has caught up".to_string(),
        "  7. wait until it serves, votes and its HashKV equals the others'".to_string(),
        format!("  8. put the original {} back", p.manifest.display()),
        format!("journal: {}", journal.display()),
    ];
    for l in lines {
        printer.data(l);
    }
}
