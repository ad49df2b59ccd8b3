//! What `etcd-backup health` finds: every member of the cluster as the member list names it, its
//! own `endpoint status`, whether the members agree on the data (`HashKV` at one revision, the
//! check etcd's own corruption detector makes), and the verdict with the action it calls for.
//!
//! Gathering talks to etcd; judging ([`judge`]) is a pure function of what was gathered, so
//! every verdict is tested without a cluster.

use std::collections::BTreeMap;

use super::Connector;
use crate::etcd::{Alarm, EtcdError, KvHash, MemberInfo, MemberStatus};

/// A db this full of its quota is reported: etcd raises NOSPACE at 100% and stops writes.
pub(crate) const QUOTA_WARN_PERCENT: u64 = 80;

/// One member: what the member list says, and what it said itself.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub info: MemberInfo,
    /// The client URL we asked (the first the member advertises).
    pub endpoint: Option<String>,
    /// Its `endpoint status`, or why there is none.
    pub status: Result<MemberStatus, String>,
    /// Its `HashKV` at the report's hash revision, or why there is none; `None` when not asked.
    pub hash: Option<Result<KvHash, String>>,
}

/// What was gathered, and the verdict.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub cluster_id: u64,
    /// The endpoint whose member list was used.
    pub listed_by: String,
    pub members: Vec<Member>,
    pub alarms: Vec<Alarm>,
    /// The revision every member was asked to hash at (the lowest any member had applied).
    pub hash_revision: Option<i64>,
    /// The quota the db sizes are measured against, and where it came from.
    pub quota: (u64, &'static str),
    pub verdict: Verdict,
}

/// What is wrong with one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Listed, but its endpoint does not answer (down, not started, or cut off).
    Unreachable(String),
    /// Added to the cluster but never started (no name and no client URLs yet).
    NotStarted,
    /// It answers but knows no leader.
    NoLeader,
    /// Its `HashKV` differs from that of the majority at the same revision.
    Diverged { hash: u32, majority: u32 },
    /// An alarm raised on it (NOSPACE, CORRUPT).
    Alarm(String),
    /// Errors its status reports.
    Errors(Vec<String>),
    /// Its db is at `percent` of the quota.
    NearQuota { percent: u64 },
}

impl Problem {
    /// Problems only a new copy of the data mends: the member must rejoin.
    pub(crate) fn needs_rejoin(&self) -> bool {
        match self {
            Problem::Unreachable(_) | Problem::NotStarted | Problem::Diverged { .. } => true,
            Problem::Alarm(kind) => kind == "CORRUPT",
            Problem::NoLeader | Problem::Errors(_) | Problem::NearQuota { .. } => false,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Problem::Unreachable(why) => format!("unreachable: {why}"),
            Problem::NotStarted => "added but never started".to_string(),
            Problem::NoLeader => "has no leader".to_string(),
            Problem::Diverged { hash, majority } => format!(
                "its data differs from the others' (HashKV {hash:08x}, the majority has \
                 {majority:08x})"
            ),
            Problem::Alarm(kind) => format!("alarm {kind}"),
            Problem::Errors(e) => format!("reports: {}", e.join("; ")),
            Problem::NearQuota { percent } => format!("db at {percent}% of the quota"),
        }
    }
}

/// The verdict, with what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Healthy,
    /// A quorum of healthy voting members serves; these members have problems.
    Degraded {
        problems: Vec<(u64, Vec<Problem>)>,
    },
    /// No quorum: no member knows a leader, or no quorum of members agrees on the data.
    QuorumLost {
        reason: String,
        problems: Vec<(u64, Vec<Problem>)>,
    },
}

impl Verdict {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded { .. } => "degraded",
            Verdict::QuorumLost { .. } => "quorum lost",
        }
    }

    pub(crate) fn problems(&self) -> &[(u64, Vec<Problem>)] {
        match self {
            Verdict::Healthy => &[],
            Verdict::Degraded { problems } | Verdict::QuorumLost { problems, .. } => problems,
        }
    }

    pub(crate) fn problems_of(&self, id: u64) -> &[Problem] {
        self.problems()
            .iter()
            .find(|(m, _)| *m == id)
            .map_or(&[], |(_, p)| p.as_slice())
    }
}

/// Why no member list could be had: each endpoint and its error.
#[derive(Debug, thiserror::Error)]
#[error("no endpoint answered with the member list:{}", list(.0))]
pub(crate) struct NoMemberList(pub Vec<(String, String)>);

fn list(failures: &[(String, String)]) -> String {
    failures
        .iter()
        .map(|(ep, why)| format!("\n    {ep}: {why}"))
        .collect()
}

/// Asks the endpoints for the member list (when none answers, the peer listeners at `peers`,
/// the manifest's `--initial-cluster`), then every member for its status and its `HashKV`.
/// `quota` is the backend quota the node runs etcd with, when known (the manifest's
/// `--quota-backend-bytes`); a member that reports its own (etcd 3.6+) wins.
pub(crate) fn gather(
    endpoints: &[String],
    peers: &[String],
    connector: &Connector,
    quota: Option<u64>,
) -> anyhow::Result<Report> {
    let (listed_by, infos, mut cluster_id, mut alarms) = member_list(endpoints, peers, connector)?;
    let (members, hash_revision) = status_and_hash(infos, connector)?;
    if cluster_id == 0 {
        // Listed by a peer listener: the first member that answers tells the rest.
        if let Some((st, ep)) = members
            .iter()
            .find_map(|m| Some((m.status.as_ref().ok()?, m.endpoint.clone()?)))
        {
            cluster_id = st.cluster_id;
            alarms = connector
                .session(&ep)
                .and_then(|mut s| s.alarms())
                .unwrap_or_default();
        }
    }
    let reported = members
        .iter()
        .filter_map(|m| m.status.as_ref().ok())
        .map(|s| s.db_size_quota)
        .find(|q| *q > 0);
    let quota = match (reported, quota) {
        (Some(q), _) => (q as u64, "reported by etcd"),
        (None, Some(q)) => (q, "--quota-backend-bytes in the manifest"),
        (None, None) => (DEFAULT_QUOTA, "etcd's default"),
    };
    let verdict = judge(&members, &alarms, quota.0);
    Ok(Report {
        cluster_id,
        listed_by,
        members,
        alarms,
        hash_revision,
        quota,
        verdict,
    })
}

/// etcd's default `--quota-backend-bytes`: 2 GiB.
pub(crate) const DEFAULT_QUOTA: u64 = 2 << 30;

type Listed = (String, Vec<MemberInfo>, u64, Vec<Alarm>);

/// The first endpoint that answers gives the member list (and the cluster's alarms).
fn member_list(
    endpoints: &[String],
    peers: &[String],
    connector: &Connector,
) -> anyhow::Result<Listed> {
    let mut failures = Vec::new();
    for ep in endpoints {
        let got = connector.session(ep).and_then(|mut s| {
            let st = s.status()?;
            let members = s.member_list()?;
            // Alarms need a quorum; without one the member list still answers.
            let alarms = s.alarms().unwrap_or_default();
            Ok((st.cluster_id, members, alarms))
        });
        match got {
            Ok((cluster_id, members, alarms)) => {
                return Ok((ep.clone(), members, cluster_id, alarms))
            }
            Err(e) if e.ends_run() => return Err(e.into()),
            Err(e) => failures.push((ep.clone(), e.one_line())),
        }
    }
    for peer in peers {
        match crate::etcd::probe::members_via_peer(
            peer,
            &connector.config.tls,
            connector.config.dial_timeout,
        ) {
            Some(members) if !members.is_empty() => {
                return Ok((format!("{peer} (peer listener)"), members, 0, Vec::new()))
            }
            _ => failures.push((
                format!("{peer} (peer listener)"),
                "no member list".to_string(),
            )),
        }
    }
    Err(NoMemberList(failures).into())
}

fn ask_status(info: MemberInfo, connector: &Connector) -> Result<Member, EtcdError> {
    let Some(endpoint) = info.client_urls.first().cloned() else {
        return Ok(Member {
            info,
            endpoint: None,
            status: Err("it advertises no client URL".to_string()),
            hash: None,
        });
    };
    let status = match connector.session(&endpoint).and_then(|mut s| s.status()) {
        Ok(st) => Ok(st),
        Err(e) if e.ends_run() => return Err(e),
        Err(e) => Err(e.one_line()),
    };
    Ok(Member {
        info,
        endpoint: Some(endpoint),
        status,
        hash: None,
    })
}

/// The members `infos` names, each with its status and its `HashKV` at the lowest revision any
/// of them has applied (what [`gather`] asks after the member list), and that revision. Each is
/// asked at the first of its client URLs. Only a signal or the run's deadline is an error.
pub(crate) fn status_and_hash(
    infos: Vec<MemberInfo>,
    connector: &Connector,
) -> Result<(Vec<Member>, Option<i64>), EtcdError> {
    let mut members: Vec<Member> = infos
        .into_iter()
        .map(|info| ask_status(info, connector))
        .collect::<Result<_, _>>()?;
    let revision = hash_members(&mut members, connector)?;
    Ok((members, revision))
}

/// Asks every member that answered for `HashKV` at the lowest revision any of them has applied.
fn hash_members(members: &mut [Member], connector: &Connector) -> Result<Option<i64>, EtcdError> {
    let Some(revision) = members
        .iter()
        .filter_map(|m| m.status.as_ref().ok())
        .map(|s| s.revision)
        .min()
    else {
        return Ok(None);
    };
    for m in members.iter_mut() {
        let (Ok(_), Some(ep)) = (&m.status, &m.endpoint) else {
            continue;
        };
        m.hash = Some(
            match connector.session(ep).and_then(|mut s| s.hash_kv(revision)) {
                Ok(h) => Ok(h),
                Err(e) if e.ends_run() => return Err(e),
                Err(e) => Err(e.one_line()),
            },
        );
    }
    Ok(Some(revision))
}

/// Whether the voting members agree on the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreement {
    /// The (compacted revision, hash) that at least `quorum` voting members share.
    pub majority: Option<(i64, u32)>,
    /// How many voting members answered `HashKV`.
    pub hashed: usize,
    /// A majority of the voting members.
    pub quorum: usize,
}

impl Agreement {
    /// Enough voting members answered `HashKV`, and no quorum of them shares one hash.
    pub(crate) fn split(&self) -> bool {
        self.majority.is_none() && self.hashed >= self.quorum
    }
}

/// Whether the voting members among `members` agree on the data.
pub(crate) fn agreement(members: &[Member]) -> Agreement {
    let voting: Vec<&Member> = members.iter().filter(|m| !m.info.is_learner).collect();
    let quorum = voting.len() / 2 + 1;
    Agreement {
        majority: majority_hash(&voting, quorum),
        hashed: voting
            .iter()
            .filter(|m| matches!(m.hash, Some(Ok(_))))
            .count(),
        quorum,
    }
}

/// The verdict from what was gathered.
pub(crate) fn judge(members: &[Member], alarms: &[Alarm], quota: u64) -> Verdict {
    let voting: Vec<&Member> = members.iter().filter(|m| !m.info.is_learner).collect();
    let agreement = agreement(members);
    let (quorum, majority) = (agreement.quorum, agreement.majority);
    let mut problems: Vec<(u64, Vec<Problem>)> = Vec::new();
    for m in members {
        let p = problems_of(m, alarms, majority, quota);
        if !p.is_empty() {
            problems.push((m.info.id, p));
        }
    }
    let led = voting
        .iter()
        .filter(|m| m.status.as_ref().is_ok_and(|s| s.leader != 0))
        .count();
    if led == 0 {
        return Verdict::QuorumLost {
            reason: format!(
                "no member knows a leader ({} of {} voting members answered)",
                voting.iter().filter(|m| m.status.is_ok()).count(),
                voting.len()
            ),
            problems,
        };
    }
    if agreement.split() {
        return Verdict::QuorumLost {
            reason: format!(
                "no {quorum} of the {} voting members agree on the data (HashKV differs)",
                voting.len()
            ),
            problems,
        };
    }
    let sound = voting
        .iter()
        .filter(|m| {
            problems
                .iter()
                .find(|(id, _)| *id == m.info.id)
                .is_none_or(|(_, p)| !p.iter().any(Problem::needs_rejoin))
        })
        .count();
    if sound < quorum {
        return Verdict::QuorumLost {
            reason: format!(
                "only {sound} of {} voting members are sound; {quorum} are needed",
                voting.len()
            ),
            problems,
        };
    }
    if problems.is_empty() {
        Verdict::Healthy
    } else {
        Verdict::Degraded { problems }
    }
}

/// The (compacted revision, hash) that at least `quorum` voting members share.
fn majority_hash(voting: &[&Member], quorum: usize) -> Option<(i64, u32)> {
    let mut groups: BTreeMap<(i64, u32), usize> = BTreeMap::new();
    for m in voting {
        if let Some(Ok(h)) = &m.hash {
            *groups.entry((h.compact_revision, h.hash)).or_default() += 1;
        }
    }
    groups
        .into_iter()
        .find(|(_, n)| *n >= quorum)
        .map(|(k, _)| k)
}

fn problems_of(
    m: &Member,
    alarms: &[Alarm],
    majority: Option<(i64, u32)>,
    quota: u64,
) -> Vec<Problem> {
    let mut p = Vec::new();
    let started = !m.info.name.is_empty() || !m.info.client_urls.is_empty();
    match &m.status {
        Err(_) if !started => p.push(Problem::NotStarted),
        Err(why) => p.push(Problem::Unreachable(why.clone())),
        Ok(st) => {
            if st.leader == 0 {
                p.push(Problem::NoLeader);
            }
            if !st.errors.is_empty() {
                p.push(Problem::Errors(st.errors.clone()));
            }
            let percent = (st.db_size.max(0) as u64).saturating_mul(100) / quota.max(1);
            if percent >= QUOTA_WARN_PERCENT {
                p.push(Problem::NearQuota { percent });
            }
        }
    }
    if let (Some(Ok(h)), Some((compacted, hash))) = (&m.hash, majority) {
        if h.compact_revision == compacted && h.hash != hash {
            p.push(Problem::Diverged {
                hash: h.hash,
                majority: hash,
            });
        }
    }
    for a in alarms.iter().filter(|a| a.member_id == m.info.id) {
        p.push(Problem::Alarm(a.kind.clone()));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, leader: u64, hash: Option<u32>) -> Member {
        Member {
            info: MemberInfo {
                id,
                name: format!("n{id}"),
                peer_urls: vec![format!("https://127.0.0.{id}:2380")],
                client_urls: vec![format!("https://127.0.0.{id}:2379")],
                is_learner: false,
            },
            endpoint: Some(format!("https://127.0.0.{id}:2379")),
            status: Ok(MemberStatus {
                endpoint: format!("https://127.0.0.{id}:2379"),
                member_id: id,
                cluster_id: 7,
                revision: 10,
                raft_term: 2,
                raft_index: 20,
                leader,
                version: "3.5.1".into(),
                db_size: 1 << 20,
                db_size_in_use: 1 << 19,
                db_size_quota: 0,
                raft_applied_index: 20,
                is_learner: false,
                errors: vec![],
            }),
            hash: hash.map(|h| {
                Ok(KvHash {
                    revision: 10,
                    compact_revision: 1,
                    hash: h,
                    current_revision: 10,
                })
            }),
        }
    }

    fn down(id: u64) -> Member {
        Member {
            status: Err("connection refused".into()),
            hash: None,
            ..member(id, 0, None)
        }
    }

    #[test]
    fn three_agreeing_members_are_healthy() {
        let m = [
            member(1, 1, Some(5)),
            member(2, 1, Some(5)),
            member(3, 1, Some(5)),
        ];
        assert_eq!(judge(&m, &[], DEFAULT_QUOTA), Verdict::Healthy);
    }

    #[test]
    fn one_member_down_is_degraded_and_needs_a_rejoin() {
        let m = [member(1, 1, Some(5)), member(2, 1, Some(5)), down(3)];
        let v = judge(&m, &[], DEFAULT_QUOTA);
        assert_eq!(v.label(), "degraded");
        assert!(v.problems_of(3)[0].needs_rejoin());
        assert!(v.problems_of(1).is_empty());
    }

    #[test]
    fn a_diverged_member_is_named_with_both_hashes() {
        let m = [
            member(1, 1, Some(5)),
            member(2, 1, Some(6)),
            member(3, 1, Some(5)),
        ];
        let v = judge(&m, &[], DEFAULT_QUOTA);
        assert_eq!(
            v.problems_of(2),
            &[Problem::Diverged {
                hash: 6,
                majority: 5
            }]
        );
        assert_eq!(v.label(), "degraded");
    }

    #[test]
    fn no_majority_on_the_data_or_no_leader_is_quorum_lost() {
        let m = [
            member(1, 1, Some(5)),
            member(2, 1, Some(6)),
            member(3, 1, Some(7)),
        ];
        assert_eq!(judge(&m, &[], DEFAULT_QUOTA).label(), "quorum lost");
        let m = [member(1, 0, Some(5)), down(2), down(3)];
        assert_eq!(judge(&m, &[], DEFAULT_QUOTA).label(), "quorum lost");
    }

    #[test]
    fn two_of_three_down_is_quorum_lost_even_if_the_last_still_thinks_it_leads() {
        let m = [member(1, 1, Some(5)), down(2), down(3)];
        assert_eq!(judge(&m, &[], DEFAULT_QUOTA).label(), "quorum lost");
    }

    #[test]
    fn hashes_at_different_compactions_are_not_compared() {
        let mut odd = member(2, 1, Some(6));
        if let Some(Ok(h)) = &mut odd.hash {
            h.compact_revision = 9;
        }
        let m = [member(1, 1, Some(5)), odd, member(3, 1, Some(5))];
        assert_eq!(judge(&m, &[], DEFAULT_QUOTA), Verdict::Healthy);
    }

    #[test]
    fn alarms_and_a_full_db_are_problems_but_only_corrupt_needs_a_rejoin() {
        let m = [
            member(1, 1, Some(5)),
            member(2, 1, Some(5)),
            member(3, 1, Some(5)),
        ];
        let alarms = [
            Alarm {
                member_id: 1,
                kind: "NOSPACE".into(),
            },
            Alarm {
                member_id: 2,
                kind: "CORRUPT".into(),
            },
        ];
        let v = judge(&m, &alarms, 1 << 20);
        assert_eq!(v.label(), "degraded");
        assert!(v
            .problems_of(1)
            .contains(&Problem::NearQuota { percent: 100 }));
        assert!(!v.problems_of(1).iter().any(Problem::needs_rejoin));
        assert!(v.problems_of(2).iter().any(Problem::needs_rejoin));
    }

    #[test]
    fn a_learner_does_not_count_towards_the_quorum() {
        let mut l = down(4);
        l.info.is_learner = true;
        let m = [member(1, 1, Some(5)), member(2, 1, Some(5)), l];
        let v = judge(&m, &[], DEFAULT_QUOTA);
        assert_eq!(v.label(), "degraded");
        let m = [member(1, 1, Some(5)), down(2)];
        assert_eq!(judge(&m, &[], DEFAULT_QUOTA).label(), "quorum lost");
    }
}
