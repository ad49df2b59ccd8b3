//! Before the snapshot: whether the chosen member's data agrees with the other voting members'.
//! Every voting member that answers is asked for `HashKV` at one revision (the lowest any of
//! them has applied), as `etcd-backup health` and etcd's own corruption check compare them
//! ([`crate::cluster::health::status_and_hash`]). Hashes are compared only between members at
//! the same compacted revision.
//!
//! - The chosen member differs from the majority: when another voting member among the
//!   endpoints that answered agrees, it is snapshotted instead, with a warning; otherwise the
//!   save refuses before a byte is written, naming the member and both hashes.
//! - Another member differs: a warning naming it and `member rejoin`; the save goes on.
//! - Enough members answered and no majority shares a hash: the save refuses, naming them.
//! - A member that does not answer is a `-v` detail; too few answers to form a majority is a
//!   warning that the data could not be compared, and the save goes on. A single voting member
//!   has nothing to compare with and is not asked.
//!
//! `HashKV` reads each member's whole db once; `--skip-hash-check` saves without it.

use std::collections::HashMap;

use anyhow::{anyhow, Context};

use super::preflight::{adopt, connect_error, warn_status, Answered, Dial, Member};
use super::stop::stopped;
use crate::cluster::health::{self, Agreement};
use crate::cluster::Connector;
use crate::diagnostics::with_hint;
use crate::etcd::MemberInfo;
use crate::output::Printer;

const PHASE: &str = "comparing the members' data";

/// Checks the chosen member's data against the others' and returns the member to snapshot
/// from: the chosen one, or one of `others` (best first) when the chosen one differs.
pub(super) fn agree(
    dial: &Dial<'_>,
    mut member: Member,
    others: Vec<Answered>,
    printer: &Printer,
) -> anyhow::Result<Member> {
    let infos = match member.session.member_list() {
        Ok(infos) => infos,
        Err(e) if e.ends_run() => return Err(stopped(e, PHASE)),
        Err(e) => {
            return Err(connect_error(e)).context(format!(
                "cannot list the members through {} to compare their data",
                member.status.endpoint
            ))
        }
    };
    let voting = infos.iter().filter(|m| !m.is_learner).count();
    if voting <= 1 {
        printer.detail("a single voting member: no HashKV to compare");
        return Ok(member);
    }
    let mut given: HashMap<u64, &str> = HashMap::new();
    given.insert(member.status.member_id, &member.status.endpoint);
    for (_, st) in &others {
        given.insert(st.member_id, &st.endpoint);
    }
    let infos = ask_where_given(infos, &given);
    let connector = Connector {
        tls: dial.tls.cloned(),
        config: dial.config.clone(),
        run_timeout: dial.run_timeout,
        deadline: dial.deadline,
    };
    printer.detail(format!("asking {voting} voting members for HashKV"));
    let (members, revision) =
        health::status_and_hash(infos, &connector).map_err(|e| stopped(e, PHASE))?;
    for m in &members {
        printer.detail(describe(m, revision));
    }
    let candidates: Vec<u64> = others.iter().map(|(_, st)| st.member_id).collect();
    match decide(&members, member.status.member_id, &candidates) {
        Decision::Go {
            diverged,
            unchecked,
        } => {
            warn_diverged(&diverged, printer);
            if let Some(why) = unchecked {
                printer.warn(why);
            } else {
                printer.detail(format!(
                    "member {} agrees with the majority on the data (HashKV at revision {})",
                    member.name,
                    revision.unwrap_or_default()
                ));
            }
            Ok(member)
        }
        Decision::Switch { from, to, diverged } => {
            warn_diverged(&diverged, printer);
            let (session, status) = others
                .into_iter()
                .find(|(_, st)| st.member_id == to)
                .ok_or_else(|| anyhow!("member {to:x} is not among the endpoints"))?;
            let to_name = members
                .iter()
                .find(|m| m.info.id == to)
                .map_or("(unnamed)", name_of);
            printer.warn(format!(
                "not saving from {}: {}; saving from member {to_name} ({:x}) at {} instead, \
                 which agrees with the majority. Run `etcd-backup member rejoin` on {}'s node \
                 to give it a fresh copy of the data",
                from.who(),
                from.differs(),
                status.member_id,
                status.endpoint,
                from.name
            ));
            warn_status(&status, printer);
            adopt(
                session,
                status,
                " (its data agrees with the majority's)",
                printer,
            )
        }
        Decision::Refuse(e) => Err(e),
    }
}

/// Puts the endpoint a member answered at in `--endpoints` first among its client URLs, so it
/// is asked where it was reached rather than where it advertises itself.
fn ask_where_given(infos: Vec<MemberInfo>, given: &HashMap<u64, &str>) -> Vec<MemberInfo> {
    infos
        .into_iter()
        .map(|mut m| {
            if let Some(ep) = given.get(&m.id) {
                m.client_urls.retain(|u| u != ep);
                m.client_urls.insert(0, ep.to_string());
            }
            m
        })
        .collect()
}

/// One member's answer, for a `-v` line.
fn describe(m: &health::Member, revision: Option<i64>) -> String {
    let who = format!(
        "member {} ({:x}) at {}",
        name_of(m),
        m.info.id,
        m.endpoint.as_deref().unwrap_or("no client URL")
    );
    match (&m.status, &m.hash) {
        (Err(why), _) => format!("{who} did not answer: {why}"),
        (Ok(_), Some(Ok(h))) => format!(
            "{who}: HashKV {:08x} at revision {} ({})",
            h.hash,
            h.revision,
            compacted(h.compact_revision)
        ),
        (Ok(_), Some(Err(why))) => format!(
            "{who}: no HashKV at revision {}: {why}",
            revision.unwrap_or_default()
        ),
        (Ok(_), None) => format!("{who}: not asked for HashKV"),
    }
}

/// etcd reports -1 for a key space never compacted.
fn compacted(revision: i64) -> String {
    if revision < 0 {
        "never compacted".to_string()
    } else {
        format!("compacted at {revision}")
    }
}

fn name_of(m: &health::Member) -> &str {
    if m.info.name.is_empty() {
        "(unnamed)"
    } else {
        &m.info.name
    }
}

fn warn_diverged(diverged: &[Diverged], printer: &Printer) {
    for d in diverged {
        printer.warn(format!(
            "{}: {}; it is not the member saved. Run `etcd-backup member rejoin` on its node \
             to give it a fresh copy of the data (`etcd-backup health` shows the cluster)",
            d.who(),
            d.differs()
        ));
    }
}

/// A member whose `HashKV` differs from the majority's at the same compacted revision.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Diverged {
    id: u64,
    name: String,
    endpoint: String,
    revision: i64,
    hash: u32,
    majority: u32,
}

impl Diverged {
    fn who(&self) -> String {
        format!("member {} ({:x}) at {}", self.name, self.id, self.endpoint)
    }

    fn differs(&self) -> String {
        format!(
            "its data differs from the majority's (HashKV {:08x} at revision {}, the majority \
             has {:08x})",
            self.hash, self.revision, self.majority
        )
    }
}

/// What to do, from what the members answered.
#[derive(Debug)]
enum Decision {
    /// Save from the chosen member. `diverged`: the others that differ; `unchecked`: why the
    /// chosen member's data could not be compared, if it could not.
    Go {
        diverged: Vec<Diverged>,
        unchecked: Option<String>,
    },
    /// The chosen member differs; the member `to` (one of the candidates) agrees.
    Switch {
        from: Diverged,
        to: u64,
        diverged: Vec<Diverged>,
    },
    Refuse(anyhow::Error),
}

/// The decision for the chosen member `chosen`, given every member's answer and the other
/// voting members reached through `--endpoints` (`candidates`, best first).
fn decide(members: &[health::Member], chosen: u64, candidates: &[u64]) -> Decision {
    let agreement = health::agreement(members);
    let Some(majority) = agreement.majority else {
        if agreement.split() {
            return Decision::Refuse(no_majority(members, &agreement));
        }
        return Decision::Go {
            diverged: Vec::new(),
            unchecked: Some(format!(
                "the members' data was not compared: {} of {} voting members answered \
                 HashKV, {} are needed for a majority (`-v` shows why)",
                agreement.hashed,
                members.iter().filter(|m| !m.info.is_learner).count(),
                agreement.quorum
            )),
        };
    };
    let diverged: Vec<Diverged> = members
        .iter()
        .filter(|m| !m.info.is_learner)
        .filter_map(|m| diverged(m, majority))
        .collect();
    let (mine, others): (Vec<Diverged>, Vec<Diverged>) =
        diverged.into_iter().partition(|d| d.id == chosen);
    if let Some(from) = mine.into_iter().next() {
        let agrees = |id: &u64| {
            members
                .iter()
                .any(|m| m.info.id == *id && agrees(m, majority))
        };
        return match candidates.iter().find(|id| agrees(id)) {
            Some(&to) => Decision::Switch {
                from,
                to,
                diverged: others,
            },
            None => Decision::Refuse(refuse_diverged(&from, members, majority)),
        };
    }
    let unchecked = match members.iter().find(|m| m.info.id == chosen) {
        Some(m) if agrees(m, majority) => None,
        Some(m) => Some(format!(
            "the data of member {} ({chosen:x}) was not compared with the majority's: {}",
            name_of(m),
            match &m.hash {
                Some(Err(why)) => format!("no HashKV: {why}"),
                Some(Ok(h)) => format!(
                    "it is compacted at revision {}, the majority at {}",
                    h.compact_revision, majority.0
                ),
                None => match &m.status {
                    Err(why) => format!("it did not answer at {}: {why}", show_ep(m)),
                    Ok(_) => "it was not asked".to_string(),
                },
            }
        )),
        None => Some(format!(
            "member {chosen:x} is not in its own member list; its data was not compared"
        )),
    };
    Decision::Go {
        diverged: others,
        unchecked,
    }
}

fn show_ep(m: &health::Member) -> &str {
    m.endpoint.as_deref().unwrap_or("no client URL")
}

fn agrees(m: &health::Member, (compacted, hash): (i64, u32)) -> bool {
    matches!(&m.hash, Some(Ok(h)) if h.compact_revision == compacted && h.hash == hash)
}

fn diverged(m: &health::Member, (compacted, majority): (i64, u32)) -> Option<Diverged> {
    match &m.hash {
        Some(Ok(h)) if h.compact_revision == compacted && h.hash != majority => Some(Diverged {
            id: m.info.id,
            name: name_of(m).to_string(),
            endpoint: show_ep(m).to_string(),
            revision: h.revision,
            hash: h.hash,
            majority,
        }),
        _ => None,
    }
}

fn refuse_diverged(
    from: &Diverged,
    members: &[health::Member],
    majority: (i64, u32),
) -> anyhow::Error {
    let good: Vec<String> = members
        .iter()
        .filter(|m| agrees(m, majority))
        .map(|m| format!("{} at {}", name_of(m), show_ep(m)))
        .collect();
    with_hint(
        anyhow!("refusing to snapshot {}: {}", from.who(), from.differs()),
        format!(
            "point --endpoints at a member that agrees ({}), or run `etcd-backup health` and \
             then `etcd-backup member rejoin` on {}'s node",
            good.join(", "),
            from.name
        ),
    )
}

fn no_majority(members: &[health::Member], agreement: &Agreement) -> anyhow::Error {
    let hashes: String = members
        .iter()
        .filter_map(|m| match &m.hash {
            Some(Ok(h)) if !m.info.is_learner => Some(format!(
                "\n    {} ({:x}) at {}: HashKV {:08x} at revision {} ({})",
                name_of(m),
                m.info.id,
                show_ep(m),
                h.hash,
                h.revision,
                compacted(h.compact_revision)
            )),
            _ => None,
        })
        .collect();
    with_hint(
        anyhow!(
            "refusing to snapshot: no {} of the {} voting members that answered agree on the \
             data:{hashes}",
            agreement.quorum,
            agreement.hashed
        ),
        "run `etcd-backup health`; while no majority agrees, no member's data can be trusted \
         over the others' (keep the existing backups; --skip-hash-check saves anyway)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::{KvHash, MemberStatus};

    fn member(id: u64, hash: Option<u32>) -> health::Member {
        let endpoint = format!("https://127.0.0.{id}:2379");
        health::Member {
            info: MemberInfo {
                id,
                name: format!("n{id}"),
                peer_urls: vec![format!("https://127.0.0.{id}:2380")],
                client_urls: vec![endpoint.clone()],
                is_learner: false,
            },
            endpoint: Some(endpoint.clone()),
            status: Ok(MemberStatus {
                endpoint,
                member_id: id,
                cluster_id: 7,
                revision: 10,
                raft_term: 2,
                raft_index: 20,
                leader: 1,
                version: "3.5.1".into(),
                db_size: 1 << 20,
                db_size_in_use: 1 << 19,
                db_size_quota: 0,
                raft_applied_index: 20,
                is_learner: false,
                errors: vec![],
            }),
            hash: hash.map(|hash| {
                Ok(KvHash {
                    revision: 10,
                    compact_revision: 1,
                    hash,
                    current_revision: 10,
                })
            }),
        }
    }

    fn down(id: u64) -> health::Member {
        health::Member {
            status: Err("connection refused".into()),
            ..member(id, None)
        }
    }

    fn refused(d: Decision) -> String {
        match d {
            Decision::Refuse(e) => crate::diagnostics::render(&e),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn agreeing_members_go_without_a_word() {
        let m = [member(1, Some(5)), member(2, Some(5)), member(3, Some(5))];
        let Decision::Go {
            diverged,
            unchecked,
        } = decide(&m, 1, &[])
        else {
            panic!()
        };
        assert!(diverged.is_empty() && unchecked.is_none());
    }

    #[test]
    fn another_member_that_differs_is_named_and_the_save_goes_on() {
        let m = [member(1, Some(5)), member(2, Some(6)), member(3, Some(5))];
        let Decision::Go {
            diverged,
            unchecked,
        } = decide(&m, 1, &[])
        else {
            panic!()
        };
        assert_eq!(unchecked, None);
        assert_eq!(diverged.len(), 1);
        assert_eq!(
            (diverged[0].id, diverged[0].hash, diverged[0].majority),
            (2, 6, 5)
        );
    }

    #[test]
    fn a_chosen_member_that_differs_is_refused_with_both_hashes_and_who_agrees() {
        let m = [member(1, Some(5)), member(2, Some(6)), member(3, Some(5))];
        let e = refused(decide(&m, 2, &[]));
        assert!(
            e.contains("refusing to snapshot member n2 (2) at https://127.0.0.2:2379"),
            "{e}"
        );
        assert!(
            e.contains("HashKV 00000006") && e.contains("has 00000005"),
            "{e}"
        );
        assert!(e.contains("n1 at https://127.0.0.1:2379, n3 at"), "{e}");
        assert!(e.contains("member rejoin` on n2's node"), "{e}");
    }

    #[test]
    fn a_chosen_member_that_differs_gives_way_to_an_agreeing_candidate() {
        let m = [member(1, Some(5)), member(2, Some(6)), member(3, Some(5))];
        // Candidate 4 is not a member; candidate 3 agrees.
        match decide(&m, 2, &[4, 3, 1]) {
            Decision::Switch { from, to, diverged } => {
                assert_eq!((from.id, to), (2, 3));
                assert!(diverged.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_majority_is_refused_naming_every_hash() {
        let m = [member(1, Some(5)), member(2, Some(6)), member(3, Some(7))];
        let e = refused(decide(&m, 1, &[2, 3]));
        assert!(e.contains("no 2 of the 3 voting members"), "{e}");
        for h in ["00000005", "00000006", "00000007"] {
            assert!(e.contains(h), "{e}");
        }
    }

    #[test]
    fn too_few_answers_go_on_with_a_warning() {
        let m = [member(1, Some(5)), down(2), down(3)];
        let Decision::Go { unchecked, .. } = decide(&m, 1, &[]) else {
            panic!()
        };
        assert!(unchecked
            .unwrap()
            .contains("1 of 3 voting members answered"));
        // One down of three: the two that answer still form a majority.
        let m = [member(1, Some(5)), member(2, Some(5)), down(3)];
        let Decision::Go { unchecked, .. } = decide(&m, 1, &[]) else {
            panic!()
        };
        assert_eq!(unchecked, None);
    }

    #[test]
    fn a_chosen_member_at_another_compaction_is_not_compared_but_said_so() {
        let mut odd = member(1, Some(6));
        if let Some(Ok(h)) = &mut odd.hash {
            h.compact_revision = 9;
        }
        let m = [odd, member(2, Some(5)), member(3, Some(5))];
        let Decision::Go { unchecked, .. } = decide(&m, 1, &[]) else {
            panic!()
        };
        assert!(unchecked.unwrap().contains("compacted at revision 9"));
    }

    #[test]
    fn the_given_endpoint_is_asked_first() {
        let infos = vec![member(1, None).info, member(2, None).info];
        let given = HashMap::from([(2, "https://localhost:2379")]);
        let infos = ask_where_given(infos, &given);
        assert_eq!(infos[0].client_urls, ["https://127.0.0.1:2379"]);
        assert_eq!(
            infos[1].client_urls,
            ["https://localhost:2379", "https://127.0.0.2:2379"]
        );
    }
}
