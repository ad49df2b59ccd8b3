//! After the snapshot: the `HashKV` proof. The hash computed from the written file (in the walk
//! of `check.rs`, `crate::etcd::hashkv`) must equal the snapshotted member's own `HashKV` at the
//! snapshot's revision, and the voting members that answer must agree with it by majority.
//!
//! - The snapshotted member answers another hash: the file does not hold what the member
//!   holds; the save fails and nothing gets its final name.
//! - Our hash is not shared by a majority of the voting members: the save fails, naming the
//!   members that differ.
//! - A minority member differs: a warning naming it and `member rejoin` (as `agree.rs` does
//!   before the snapshot); a single diverged member must not stop the backups of a healthy
//!   majority, which its repair may need.
//! - A member that does not answer, or that compacted past the snapshot's revision since, is a
//!   warning; the sidecar lists only the members that confirmed the hash, and says why others
//!   did not (`note`).
//! - etcd answers no `HashKV` at or below its compacted revision: when the snapshot's revision
//!   is the compacted one, no member can confirm it; the hash is still recorded for `verify`.

use anyhow::anyhow;

use super::commit::Job;
use super::preflight::Member;
use super::stop::stopped;
use crate::backup::catalog::HashKvRecord;
use crate::cluster::Connector;
use crate::diagnostics::HintExt;
use crate::etcd::hashkv::HashKv;
use crate::etcd::KvHash;
use crate::output::Printer;

const PHASE: &str = "comparing the snapshot's HashKV with the members'";

/// One voting member's answer.
#[derive(Debug, Clone)]
pub(super) struct Answer {
    pub id: u64,
    pub who: String,
    pub hash: Result<KvHash, String>,
}

/// Proves the file's `HashKV` with the members (unless `--skip-hash-check`), and returns what
/// the sidecar records.
pub(super) fn prove(
    job: &Job<'_>,
    member: &mut Member,
    ours: HashKv,
    printer: &Printer,
) -> anyhow::Result<HashKvRecord> {
    let record = |members: Vec<String>, note: Option<String>| HashKvRecord {
        revision: ours.revision,
        compact_revision: ours.compact_revision,
        hash: ours.hash,
        keys: Some(ours.keys),
        members,
        note,
    };
    if job.skip_hash_check {
        return Ok(record(
            Vec::new(),
            Some("not compared with the members (--skip-hash-check)".to_string()),
        ));
    }
    if ours.revision <= ours.compact_revision {
        let note = format!(
            "revision {} is the compacted revision: etcd answers no HashKV there",
            ours.revision
        );
        printer.warn(format!(
            "the snapshot's HashKV is not confirmed by etcd: {note}"
        ));
        return Ok(record(Vec::new(), Some(note)));
    }
    let answers = ask(job, member, ours.revision, printer)?;
    let source = member.status.member_id;
    let judged = judge(&answers, source, ours, printer)?;
    printer.phase(format!(
        "the file's HashKV at revision {} is {:08x}, confirmed by {}",
        ours.revision,
        ours.hash,
        if judged.0.is_empty() {
            "no member".to_string()
        } else {
            judged.0.join(", ")
        }
    ));
    Ok(record(judged.0, judged.1))
}

/// Asks every voting member for `HashKV` at `revision`: the snapshotted one where it was
/// reached, the others at their first client URL.
fn ask(
    job: &Job<'_>,
    member: &mut Member,
    revision: i64,
    printer: &Printer,
) -> anyhow::Result<Vec<Answer>> {
    let infos = member.session.member_list().map_err(|e| {
        if e.ends_run() {
            stopped(e, PHASE)
        } else {
            anyhow::Error::from(e).context(format!(
                "cannot list the members through {} to confirm the snapshot's HashKV",
                member.session.endpoint()
            ))
        }
    })?;
    let connector = Connector {
        tls: job.prep.tls.clone(),
        config: job.prep.config.clone(),
        run_timeout: job.bound.timeout,
        deadline: job.bound.at,
    };
    let mut answers = Vec::new();
    for info in infos.iter().filter(|m| !m.is_learner) {
        let name = if info.name.is_empty() {
            "(unnamed)"
        } else {
            &info.name
        };
        let (endpoint, hash) = if info.id == member.status.member_id {
            let ep = member.session.endpoint().to_string();
            (ep, member.session.hash_kv(revision))
        } else if let Some(ep) = info.client_urls.first() {
            let got = connector.session(ep).and_then(|mut s| s.hash_kv(revision));
            (ep.clone(), got)
        } else {
            answers.push(Answer {
                id: info.id,
                who: format!("member {name} ({:x})", info.id),
                hash: Err("it has no client URL (never started)".to_string()),
            });
            continue;
        };
        let hash = match hash {
            Err(e) if e.ends_run() => return Err(stopped(e, PHASE)),
            Err(e) => Err(e.one_line()),
            Ok(h) => Ok(h),
        };
        let who = format!("member {name} ({:x}) at {endpoint}", info.id);
        match &hash {
            Ok(h) => printer.detail(format!(
                "{who}: HashKV {:08x} at revision {revision} ({})",
                h.hash,
                if h.compact_revision < 0 {
                    "never compacted".to_string()
                } else {
                    format!("compacted at {}", h.compact_revision)
                }
            )),
            Err(why) => printer.detail(format!("{who}: no HashKV at revision {revision}: {why}")),
        }
        answers.push(Answer {
            id: info.id,
            who,
            hash,
        });
    }
    Ok(answers)
}

/// The verdict on the members' answers: the members that confirmed `ours` and a note on the
/// others, or the error that fails the save.
fn judge(
    answers: &[Answer],
    source: u64,
    ours: HashKv,
    printer: &Printer,
) -> anyhow::Result<(Vec<String>, Option<String>)> {
    let mut agreed = Vec::new();
    let mut differ = Vec::new();
    let mut unchecked = Vec::new();
    for a in answers {
        match &a.hash {
            Ok(h) if h.compact_revision != ours.compact_revision => unchecked.push(format!(
                "{}: compacted at {} (the snapshot at {}), not comparable",
                a.who, h.compact_revision, ours.compact_revision
            )),
            Ok(h) if h.hash == ours.hash => agreed.push((a.id, a.who.clone())),
            Ok(h) => differ.push((a.id, format!("{} answers {:08x}", a.who, h.hash))),
            Err(why) => unchecked.push(format!("{}: {why}", a.who)),
        }
    }
    let at = format!("HashKV at revision {}", ours.revision);
    if let Some((_, d)) = differ.iter().find(|(id, _)| *id == source) {
        return Err(anyhow!(
            "the snapshot's {at} is {:08x}, but the member it came from differs: {d}; the file \
             does not hold what that member holds, it was not kept",
            ours.hash
        ))
        .hint(
            "save again; if it happens again, check that member's disk and etcd's logs \
             (`etcd-backup health` compares the members)",
        );
    }
    let voting = answers.len();
    if !differ.is_empty() && agreed.len() * 2 <= voting {
        let list: String = differ.iter().map(|(_, d)| format!("\n    {d}")).collect();
        return Err(anyhow!(
            "the snapshot's {at} is {:08x}, shared by {} of {voting} voting members; these \
             differ, it was not kept:{list}",
            ours.hash,
            agreed.len()
        ))
        .hint(
            "the members' data differs: `etcd-backup health` shows which members agree; \
             `etcd-backup member rejoin` on a diverged member's node gives it a fresh copy",
        );
    }
    for (_, d) in &differ {
        printer.warn(format!(
            "{d}, the snapshot and the majority have {:08x} ({at}): its data differs. Run \
             `etcd-backup member rejoin` on its node",
            ours.hash
        ));
    }
    for u in &unchecked {
        printer.warn(format!("the snapshot's {at} not confirmed by {u}"));
    }
    let mut notes: Vec<String> = differ.into_iter().map(|(_, d)| d).collect();
    notes.extend(unchecked);
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    Ok((agreed.into_iter().map(|(_, w)| w).collect(), note))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: HashKv = HashKv {
        revision: 50,
        compact_revision: 40,
        hash: 0xabcd,
        keys: 7,
    };

    fn answer(id: u64, hash: Option<u32>) -> Answer {
        Answer {
            id,
            who: format!("member n{id} ({id:x}) at https://127.0.0.1:{id}"),
            hash: hash
                .map(|hash| KvHash {
                    revision: 50,
                    compact_revision: 40,
                    hash,
                    current_revision: 52,
                })
                .ok_or_else(|| "connection refused".to_string()),
        }
    }

    fn judged(answers: &[Answer]) -> anyhow::Result<(Vec<String>, Option<String>)> {
        judge(
            answers,
            1,
            OURS,
            &Printer::new(true, 0, crate::cli::OutputFormat::Table),
        )
    }

    #[test]
    fn every_member_agreeing_is_recorded() {
        let (members, note) = judged(&[
            answer(1, Some(0xabcd)),
            answer(2, Some(0xabcd)),
            answer(3, Some(0xabcd)),
        ])
        .unwrap();
        assert_eq!(members.len(), 3);
        assert_eq!(note, None);
    }

    #[test]
    fn the_source_member_differing_fails_the_save_naming_it() {
        let e = judged(&[
            answer(1, Some(0x1)),
            answer(2, Some(0xabcd)),
            answer(3, Some(0xabcd)),
        ])
        .unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("member n1 (1)") && text.contains("answers 00000001"),
            "{text}"
        );
        assert!(text.contains("not kept"), "{text}");
    }

    #[test]
    fn no_majority_for_the_snapshot_fails_naming_the_others() {
        let e = judged(&[
            answer(1, Some(0xabcd)),
            answer(2, Some(0x2)),
            answer(3, None),
        ])
        .unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("shared by 1 of 3") && text.contains("member n2"),
            "{text}"
        );
    }

    #[test]
    fn a_minority_member_that_differs_is_a_note_and_not_a_member() {
        let (members, note) = judged(&[
            answer(1, Some(0xabcd)),
            answer(2, Some(0x2)),
            answer(3, Some(0xabcd)),
        ])
        .unwrap();
        assert_eq!(members.len(), 2);
        assert!(note.unwrap().contains("member n2"));
    }

    #[test]
    fn a_member_at_another_compaction_is_not_compared() {
        let mut other = answer(2, Some(0x2));
        if let Ok(h) = other.hash.as_mut() {
            h.compact_revision = 45;
        }
        let (members, note) = judged(&[answer(1, Some(0xabcd)), other]).unwrap();
        assert_eq!(members.len(), 1);
        assert!(note.unwrap().contains("compacted at 45"));
    }
}
