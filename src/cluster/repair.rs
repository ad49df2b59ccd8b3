//! What `etcd-backup health --repair` does about what `health` found, on the node it runs on:
//! nothing, `member rejoin` of this node's member, or a restore of this node from the shared
//! store. [`decide`] is a pure function of the gathered members, the verdict, which member is
//! this node's, and the counts of earlier checks (kept in the state dir between runs), so every
//! rule is tested without a cluster.
//!
//! The rules, in order:
//! 1. this node's member is a learner: nothing (it is catching up, `member rejoin` refuses it);
//! 2. this node's member serves, knows a leader and has no problem only a rejoin mends: nothing,
//!    whatever the others do (their own timers look after them);
//! 3. quorum lost everywhere, for `after` checks in a row: restore. Every voting member either
//!    answers without a leader or is down on a host that answers (its client port refuses the
//!    connection: nothing listens there, so its etcd is down or crash-looping), at least one
//!    answers, and none knows a leader. That is what 2 of 3 wiped data dirs look like on etcd
//!    3.4.23 and 3.5.1 (docs/formats.md §3.4): the wiped members exit at start ("member … has
//!    already been bootstrapped") and the kubelet restarts them, the intact one answers without
//!    a leader. A member that does not answer in time (a timeout, no route, a TLS failure) may
//!    be cut off rather than down, so it stops the rule;
//! 4. a peer does not answer from here while this node's member knows no leader: nothing. From
//!    one node a network partition looks like failed peers; acting on it would cut this member
//!    off for good;
//! 5. this node's member failed (down, never started, diverged, CORRUPT, no leader, or absent
//!    from the member list) while a quorum of the cluster is healthy elsewhere, for `after`
//!    checks in a row: rejoin;
//! 6. anything else: nothing.
//!
//! A check that does not continue a streak resets its count, so `after` means consecutive.

use super::health::{Member, Problem, Verdict};

/// Counts of consecutive checks, carried from one run to the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Checks in a row in which this node's member failed while a healthy quorum was elsewhere.
    pub member_failures: u32,
    /// Checks in a row in which every member answered and none knew a leader.
    pub quorum_lost: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    None,
    Rejoin,
    Restore,
}

impl Action {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Rejoin => "rejoin",
            Action::Restore => "restore",
        }
    }

    pub(crate) const ALL: [Action; 3] = [Action::None, Action::Rejoin, Action::Restore];
}

/// What to do, why, and the counts to keep for the next check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    pub action: Action,
    pub reason: String,
    pub counts: Counts,
}

fn has_leader(m: &Member) -> bool {
    m.status.as_ref().is_ok_and(|s| s.leader != 0)
}

fn needs_rejoin(verdict: &Verdict, m: &Member) -> bool {
    verdict
        .problems_of(m.info.id)
        .iter()
        .any(Problem::needs_rejoin)
}

/// Down on a host that answers: its client port refused the connection (nothing listens there,
/// so its etcd is down or crash-looping), or it advertises no client URL (added, never
/// started). A timeout, no route or a TLS failure is not: the member may be cut off.
pub(crate) fn down_on_a_live_host(m: &Member) -> bool {
    match (&m.status, &m.endpoint) {
        (Ok(_), _) => false,
        (Err(_), None) => true,
        (Err(e), Some(_)) => e.to_ascii_lowercase().contains("connection refused"),
    }
}

/// Every voting member answers without a leader or is down on a host that answers, and at
/// least one answers: no member can be cut off, and none serves.
fn quorum_lost_everywhere(voting: &[&Member]) -> bool {
    !voting.is_empty()
        && voting.iter().any(|m| m.status.is_ok())
        && voting
            .iter()
            .all(|m| m.status.as_ref().is_ok_and(|s| s.leader == 0) || down_on_a_live_host(m))
}

fn names(ms: &[&Member]) -> String {
    ms.iter().map(|m| label(m)).collect::<Vec<_>>().join(", ")
}

fn label(m: &Member) -> String {
    if m.info.name.is_empty() {
        m.info.peer_urls.join(",")
    } else {
        m.info.name.clone()
    }
}

/// The decision for this node. `me` is this node's member ID when the member list has it;
/// `before` the counts of the previous check; `after` how many failed checks in a row it takes.
pub(crate) fn decide(
    members: &[Member],
    verdict: &Verdict,
    me: Option<u64>,
    before: Counts,
    after: u32,
) -> Decision {
    let after = after.max(1);
    let nothing = |reason: String| Decision {
        action: Action::None,
        reason,
        counts: Counts::default(),
    };
    let mine = me.and_then(|id| members.iter().find(|m| m.info.id == id));
    if let Some(m) = mine.filter(|m| m.info.is_learner) {
        return nothing(format!(
            "this node's member {} is a learner (still catching up): nothing to repair",
            label(m)
        ));
    }
    if let Some(m) = mine.filter(|m| has_leader(m) && !needs_rejoin(verdict, m)) {
        return nothing(format!(
            "this node's member {} serves and knows a leader: nothing to repair",
            label(m)
        ));
    }
    let voting: Vec<&Member> = members.iter().filter(|m| !m.info.is_learner).collect();
    let peers: Vec<&Member> = voting
        .iter()
        .copied()
        .filter(|m| Some(m.info.id) != me)
        .collect();
    if mine.is_some() && quorum_lost_everywhere(&voting) {
        let n = before.quorum_lost.saturating_add(1);
        let counts = Counts {
            member_failures: 0,
            quorum_lost: n,
        };
        let (up, down): (Vec<&Member>, Vec<&Member>) =
            voting.iter().copied().partition(|m| m.status.is_ok());
        let down = match down.is_empty() {
            true => String::new(),
            false => format!(
                "; {} down on hosts that answer (connection refused)",
                names(&down)
            ),
        };
        let what = format!(
            "quorum lost everywhere: {} of {} voting members answer and none knows a leader \
             ({}){down} (check {n} of {after})",
            up.len(),
            voting.len(),
            names(&up)
        );
        return streak(Action::Restore, n >= after, what, counts);
    }
    let unreachable: Vec<String> = peers
        .iter()
        .filter(|m| m.status.is_err())
        .map(|m| label(m))
        .collect();
    if !unreachable.is_empty() && !mine.is_some_and(has_leader) {
        return nothing(format!(
            "{} unreachable from here and this node's member knows no leader: this may be a \
             network partition, not a failure of the peers; not acting",
            unreachable.join(", ")
        ));
    }
    // The cluster with this member counted, as the rejoin counts it.
    let voting_with_me = peers.len() + 1;
    let quorum = voting_with_me / 2 + 1;
    let healthy = peers
        .iter()
        .filter(|m| has_leader(m) && !needs_rejoin(verdict, m))
        .count();
    let failure = match mine {
        None => "this node's member is not in the member list".to_string(),
        Some(m) => {
            let problems: Vec<String> = verdict
                .problems_of(m.info.id)
                .iter()
                .map(Problem::describe)
                .collect();
            format!(
                "this node's member {} failed ({})",
                label(m),
                if problems.is_empty() {
                    "knows no leader".to_string()
                } else {
                    problems.join("; ")
                }
            )
        }
    };
    if healthy < quorum {
        return nothing(format!(
            "{failure}, but only {healthy} of the other members are healthy and {quorum} are \
             needed to replace it; not acting"
        ));
    }
    let n = before.member_failures.saturating_add(1);
    let counts = Counts {
        member_failures: n,
        quorum_lost: 0,
    };
    let what = format!("{failure}; {healthy} healthy members elsewhere (check {n} of {after})");
    streak(Action::Rejoin, n >= after, what, counts)
}

/// A backup of the shared store as the restore's choice sees it: its key, the time in its name,
/// and what its sidecar says (nothing when it has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub key: String,
    pub taken_at: chrono::DateTime<chrono::Utc>,
    pub revision: Option<i64>,
    /// Hex, as the sidecar records it.
    pub cluster_id: Option<String>,
}

/// The highest revision the members that answer report. While no member knows a leader nothing
/// can be written, so this is the same from every node for the whole outage: every snapshot a
/// `save` takes during the outage (of a member that answers) has it.
pub(crate) fn frozen_revision(members: &[Member]) -> Option<i64> {
    members
        .iter()
        .filter_map(|m| m.status.as_ref().ok())
        .map(|s| s.revision)
        .max()
}

/// The order in which the restore after a lost quorum tries the backups of the shared store
/// (the first whose bytes verify is restored): a pure function of the store's listing and of
/// what every node sees alike, so that every node picks the same object.
///
/// Kept: backups of this cluster (the sidecar's cluster ID, when the report has one) whose
/// sidecar revision is below `frozen` ([`frozen_revision`]). That leaves out every snapshot
/// taken during the outage, which a `save` on a timer keeps uploading and which one node could
/// see and another, checking a minute earlier, not. Sorted by revision, highest first, then
/// the oldest (by the time in the name, then by key) first: two backups of one revision hold
/// the same data, and the older one was there first. Sidecar verdicts (`verified_at`) are not
/// used: a `verify` run during the outage could change them between two nodes' checks; the
/// bytes are verified instead.
pub(crate) fn restore_order(cands: &[Candidate], frozen: i64, cluster_id: u64) -> Vec<usize> {
    let ours = |c: &Candidate| match &c.cluster_id {
        Some(id) if cluster_id != 0 => u64::from_str_radix(id, 16) == Ok(cluster_id),
        _ => true,
    };
    let mut keep: Vec<usize> = (0..cands.len())
        .filter(|&i| ours(&cands[i]) && cands[i].revision.is_some_and(|r| r < frozen))
        .collect();
    keep.sort_by(|&a, &b| {
        let (a, b) = (&cands[a], &cands[b]);
        b.revision
            .cmp(&a.revision)
            .then(a.taken_at.cmp(&b.taken_at))
            .then(a.key.cmp(&b.key))
    });
    keep
}

/// `action` once the streak is long enough, else nothing yet.
fn streak(action: Action, long_enough: bool, what: String, counts: Counts) -> Decision {
    if long_enough {
        Decision {
            action,
            reason: what,
            counts,
        }
    } else {
        Decision {
            action: Action::None,
            reason: format!("{what}; waiting"),
            counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::health::{judge, DEFAULT_QUOTA};
    use crate::etcd::{KvHash, MemberInfo, MemberStatus};

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

    /// Does not answer in time: down or cut off, no way to tell.
    fn cut(id: u64) -> Member {
        Member {
            status: Err("cannot connect: timed out after 5s".into()),
            ..down(id)
        }
    }

    /// Runs `decide` `times` times in a row on the same members, carrying the counts.
    fn run(members: &[Member], me: Option<u64>, after: u32, times: u32) -> Vec<Decision> {
        let verdict = judge(members, &[], DEFAULT_QUOTA);
        let mut counts = Counts::default();
        (0..times)
            .map(|_| {
                let d = decide(members, &verdict, me, counts, after);
                counts = d.counts;
                d
            })
            .collect()
    }

    fn actions(ds: &[Decision]) -> Vec<Action> {
        ds.iter().map(|d| d.action).collect()
    }

    #[test]
    fn a_healthy_cluster_is_left_alone_on_every_node() {
        let m = [
            member(1, 1, Some(5)),
            member(2, 1, Some(5)),
            member(3, 1, Some(5)),
        ];
        for me in 1..=3 {
            let ds = run(&m, Some(me), 1, 3);
            assert_eq!(actions(&ds), [Action::None; 3]);
            assert_eq!(ds[2].counts, Counts::default());
        }
    }

    #[test]
    fn a_failed_member_rejoins_after_k_checks_and_only_on_its_own_node() {
        let m = [member(1, 1, Some(5)), member(2, 1, Some(5)), down(3)];
        let ds = run(&m, Some(3), 3, 4);
        assert_eq!(
            actions(&ds),
            [Action::None, Action::None, Action::Rejoin, Action::Rejoin]
        );
        assert_eq!(ds[0].counts.member_failures, 1);
        assert!(ds[0].reason.contains("check 1 of 3"), "{}", ds[0].reason);
        // The healthy nodes do nothing about n3.
        assert_eq!(actions(&run(&m, Some(1), 1, 2)), [Action::None; 2]);
    }

    #[test]
    fn a_diverged_member_with_a_leader_rejoins() {
        let m = [
            member(1, 1, Some(5)),
            member(2, 1, Some(6)),
            member(3, 1, Some(5)),
        ];
        assert_eq!(
            actions(&run(&m, Some(2), 2, 2)),
            [Action::None, Action::Rejoin]
        );
    }

    #[test]
    fn a_member_missing_from_the_list_rejoins() {
        let m = [member(1, 1, Some(5)), member(2, 1, Some(5))];
        assert_eq!(actions(&run(&m, None, 1, 1)), [Action::Rejoin]);
    }

    #[test]
    fn a_partition_is_never_acted_on() {
        // Seen from the cut-off node: its own member answers without a leader, the peers not.
        let m = [cut(1), cut(2), member(3, 0, Some(5))];
        let ds = run(&m, Some(3), 1, 3);
        assert_eq!(actions(&ds), [Action::None; 3]);
        assert!(ds[0].reason.contains("partition"), "{}", ds[0].reason);
        assert_eq!(ds[2].counts, Counts::default());
        // Or one peer cut off and one answering without a leader.
        let m = [cut(1), member(2, 0, Some(5)), member(3, 0, Some(5))];
        assert_eq!(actions(&run(&m, Some(3), 1, 2)), [Action::None; 2]);
        // One refused, one cut off: the one cut off may hold a quorum with someone.
        let m = [down(1), cut(2), member(3, 0, Some(5))];
        assert_eq!(actions(&run(&m, Some(3), 1, 2)), [Action::None; 2]);
        // This node's own etcd down as well: still no way to tell.
        let m = [cut(1), cut(2), down(3)];
        assert_eq!(actions(&run(&m, Some(3), 1, 2)), [Action::None; 2]);
        // Nothing answers at all (every port refused, as from inside a network namespace):
        // no member shows that the data is frozen, so nothing is done.
        let m = [down(1), down(2), down(3)];
        assert_eq!(actions(&run(&m, Some(3), 1, 2)), [Action::None; 2]);
    }

    #[test]
    fn two_of_three_down_on_live_hosts_restores_on_every_node() {
        // 2 of 3 data dirs wiped: the wiped members exit at start (client port refused), the
        // intact one answers without a leader. Every node sees the same and restores.
        let m = [member(1, 0, Some(5)), down(2), down(3)];
        for me in 1..=3 {
            let ds = run(&m, Some(me), 3, 3);
            assert_eq!(actions(&ds), [Action::None, Action::None, Action::Restore]);
            assert!(ds[2].reason.contains("n2, n3 down"), "{}", ds[2].reason);
        }
        // A member that never started (no client URL) counts as down too.
        let mut never = down(3);
        never.endpoint = None;
        let m = [member(1, 0, Some(5)), down(2), never];
        assert_eq!(actions(&run(&m, Some(2), 1, 1)), [Action::Restore]);
        // Any member with a leader: no restore.
        let m = [member(1, 1, Some(5)), down(2), down(3)];
        assert_eq!(actions(&run(&m, Some(2), 1, 2)), [Action::None; 2]);
    }

    #[test]
    fn quorum_lost_everywhere_restores_after_k_checks() {
        let m = [
            member(1, 0, Some(5)),
            member(2, 0, Some(5)),
            member(3, 0, Some(5)),
        ];
        for me in 1..=3 {
            let ds = run(&m, Some(me), 2, 3);
            assert_eq!(
                actions(&ds),
                [Action::None, Action::Restore, Action::Restore]
            );
            assert_eq!(ds[0].counts.quorum_lost, 1);
        }
    }

    fn cand(key: &str, minute: u32, revision: Option<i64>, cluster: &str) -> Candidate {
        use chrono::TimeZone;
        Candidate {
            key: key.into(),
            taken_at: chrono::Utc
                .with_ymd_and_hms(2026, 12, 3, 10, minute, 0)
                .unwrap(),
            revision,
            cluster_id: Some(cluster.into()),
        }
    }

    #[test]
    fn the_restore_choice_is_the_same_before_and_after_an_outage_save() {
        let before = vec![
            cand("n1/a.db", 0, Some(40), "7"),
            cand("n2/b.db", 10, Some(55), "7"),
            cand("n3/c.db", 10, Some(55), "7"),
            cand("n1/d.db", 20, Some(90), "8"), // another cluster
            cand("n1/e.db", 25, None, "7"),     // no sidecar
        ];
        let members = [member(1, 0, Some(5)), down(2), down(3)];
        let mut frozen_at = members.clone();
        if let Ok(s) = &mut frozen_at[0].status {
            s.revision = 60;
        }
        let frozen = frozen_revision(&frozen_at).unwrap();
        assert_eq!(frozen, 60);
        let order = restore_order(&before, frozen, 7);
        // Revision 55 first, the older of the two (then by key), then 40.
        assert_eq!(order, [1, 2, 0]);
        // A save during the outage snapshots the frozen member: revision 60, left out.
        let mut after = before.clone();
        after.push(cand("n1/f.db", 40, Some(60), "7"));
        assert_eq!(restore_order(&after, frozen, 7), order);
        // A cluster ID not known (listed by a peer listener): every sidecar's counts.
        assert_eq!(restore_order(&before, 100, 0)[0], 3);
    }

    #[test]
    fn a_member_with_a_leader_elsewhere_means_no_restore() {
        // n1 still believes in a leader: not quorum lost everywhere, and n3 without a leader
        // has no healthy quorum elsewhere either.
        let m = [
            member(1, 1, Some(5)),
            member(2, 0, Some(5)),
            member(3, 0, Some(5)),
        ];
        assert_eq!(actions(&run(&m, Some(3), 1, 2)), [Action::None; 2]);
    }

    #[test]
    fn no_rejoin_without_a_healthy_quorum_elsewhere() {
        // Two members: removing this one would leave one of two.
        let m = [member(1, 1, Some(5)), down(2)];
        let ds = run(&m, Some(2), 1, 2);
        assert_eq!(actions(&ds), [Action::None; 2]);
        assert!(ds[0].reason.contains("needed"), "{}", ds[0].reason);
    }

    #[test]
    fn a_learner_is_left_alone() {
        let mut l = down(3);
        l.info.is_learner = true;
        let m = [member(1, 1, Some(5)), member(2, 1, Some(5)), l];
        assert_eq!(actions(&run(&m, Some(3), 1, 2)), [Action::None; 2]);
    }

    #[test]
    fn a_good_check_breaks_the_streak() {
        let bad = [member(1, 1, Some(5)), member(2, 1, Some(5)), down(3)];
        let good = [
            member(1, 1, Some(5)),
            member(2, 1, Some(5)),
            member(3, 1, Some(5)),
        ];
        let vb = judge(&bad, &[], DEFAULT_QUOTA);
        let vg = judge(&good, &[], DEFAULT_QUOTA);
        let d1 = decide(&bad, &vb, Some(3), Counts::default(), 2);
        let d2 = decide(&good, &vg, Some(3), d1.counts, 2);
        let d3 = decide(&bad, &vb, Some(3), d2.counts, 2);
        assert_eq!(
            [d1.action, d2.action, d3.action],
            [Action::None, Action::None, Action::None]
        );
        assert_eq!(d3.counts.member_failures, 1);
    }
}
