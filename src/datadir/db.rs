//! The restored db: every bucket of the snapshot rewritten into a fresh, compact bbolt file
//! (docs/formats.md §2.13), with the changes `etcdutl snapshot restore` 3.5 makes (§5.4 B, C):
//!
//! - `members` holds exactly the new members (`<hex id>` → member JSON), `members_removed` is
//!   emptied, and `members`, `members_removed` and `cluster` exist (3.6 reads membership from
//!   here; 3.4 and 3.5 read it from the `.snap` file and accept this);
//! - `meta/consistent_index` = number of members and `meta/term` = 1, matching the WAL and the
//!   `.snap` index, which the server requires at first start;
//! - with a bump B: a marker key `rev(base + B, 0)` with an empty value at the end of `key`, and
//!   `meta/scheduledCompactRev` = the same revision, so the server compacts there at start;
//! - stored alarms are cleared unless asked to keep them (§8 item 13: a NOSPACE alarm would block
//!   every write of the restored cluster).
//!
//! Everything else (keys, leases, auth, cluster version, compaction marks, `confState`) is copied
//! unchanged. The source is walked once in key order with bbolt's full check; only the small
//! buckets that change are held in memory, so memory does not grow with the db size.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;

use prost::Message;

use crate::bbolt::write::Writer;
use crate::bbolt::{page, BboltError, Db, Entry};
use crate::datadir::member::{member_json, Member};

/// How the db is rewritten.
#[derive(Debug, Clone)]
pub(crate) struct Options<'a> {
    /// The new cluster's members, sorted by ID.
    pub members: &'a [Member],
    /// Bump the revision by this much and mark it compacted.
    pub bump: Option<u64>,
    pub keep_alarms: bool,
    /// Polled while the db is rewritten: true stops it (a signal came).
    pub stop: fn() -> bool,
}

/// An alarm found in the snapshot's `alarm` bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Alarm {
    pub member_id: u64,
    pub kind: String,
}

/// What the rewrite did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rewritten {
    /// Recorded; nothing reads it yet.
    #[allow(dead_code)]
    pub page_size: u32,
    /// Bytes written (`pgid × page_size`).
    pub size: u64,
    /// The newest revision in the snapshot's `key` bucket (what `status` prints).
    pub revision: i64,
    /// Compaction marks found in the snapshot (`meta/finishedCompactRev`, `scheduledCompactRev`).
    pub compacted: i64,
    /// The revision the restored server starts at, when bumped (also its compaction point).
    pub bumped_to: Option<i64>,
    pub alarms: Vec<Alarm>,
    pub alarms_cleared: bool,
    /// Entries dropped from `members` and `members_removed`.
    pub old_members: usize,
    pub old_removed_members: usize,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RewriteError {
    #[error(transparent)]
    Source(#[from] BboltError),
    #[error("cannot write the new db: {0}")]
    Write(#[source] std::io::Error),
    #[error("the snapshot is not an etcd db: {0}")]
    NotEtcd(String),
    #[error("bumping the revision by {bump} from {base} overflows")]
    Overflow { base: i64, bump: u64 },
    #[error("stopped")]
    Stopped,
}

/// `etcdserverpb.AlarmMember` (etcd `api/etcdserverpb/rpc.proto`), the `alarm` bucket's keys.
#[derive(Clone, PartialEq, prost::Message)]
struct AlarmMember {
    #[prost(uint64, tag = "1")]
    member_id: u64,
    #[prost(int32, tag = "2")]
    alarm: i32,
}

fn alarm_kind(code: i32) -> String {
    match code {
        0 => "NONE".into(),
        1 => "NOSPACE".into(),
        2 => "CORRUPT".into(),
        n => format!("alarm type {n}"),
    }
}

/// The 17-byte `key`-bucket encoding of revision (main, 0) (etcd `mvcc/revision.go`).
pub(crate) fn revision_key(main: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.extend_from_slice(&main.to_be_bytes());
    k.push(b'_');
    k.extend_from_slice(&0i64.to_be_bytes());
    k
}

fn main_of(rev_key: &[u8]) -> Option<i64> {
    crate::etcd::schema::parse_revision(rev_key).map(|(main, _, _)| main)
}

/// Buckets whose existence restore guarantees (3.5 restore creates the first three; `meta`
/// receives the consistent index).
const ENSURED: [&[u8]; 4] = [b"cluster", b"members", b"members_removed", b"meta"];

/// What happens to the items of the bucket being read.
enum Mode {
    /// Copied as they come (most buckets, `key` above all).
    Stream,
    /// Held and written with changes at the end of the bucket (`meta`).
    Buffer(BTreeMap<Vec<u8>, Vec<u8>>),
    /// Replaced (`members`, `members_removed`, a cleared `alarm`).
    Replace,
}

struct Open {
    name: Vec<u8>,
    sequence: u64,
    mode: Mode,
    /// Items read from the source.
    count: usize,
}

struct Rewriter<'o> {
    w: Writer<BufWriter<File>>,
    opts: &'o Options<'o>,
    open: Option<Open>,
    /// Ensured buckets not met yet, in name order.
    missing: Vec<&'static [u8]>,
    /// The last key of the `key` bucket.
    last_key: Option<Vec<u8>>,
    out: Rewritten,
    error: Option<RewriteError>,
}

/// The newest compaction mark in the snapshot (`meta/finishedCompactRev`,
/// `meta/scheduledCompactRev`), 0 when there is none.
pub(crate) fn compacted(src: &Db<File>) -> Result<i64, BboltError> {
    let mark = |key: &[u8]| -> Result<i64, BboltError> {
        Ok(src
            .get(b"meta", key)?
            .and_then(|v| main_of(&v))
            .unwrap_or(0))
    };
    Ok(mark(b"finishedCompactRev")?.max(mark(b"scheduledCompactRev")?))
}

/// Rewrites `src` into `out` (an empty file), as described in the module docs.
pub(crate) fn rewrite(
    src: &Db<File>,
    out: File,
    opts: &Options<'_>,
) -> Result<Rewritten, RewriteError> {
    let page_size = src.meta().page_size;
    let compacted = compacted(src)?;
    let mut r = Rewriter {
        w: Writer::new(BufWriter::with_capacity(1 << 20, out), page_size)
            .map_err(RewriteError::Write)?,
        opts,
        open: None,
        missing: ENSURED.to_vec(),
        last_key: None,
        out: Rewritten {
            page_size,
            compacted,
            ..Rewritten::default()
        },
        error: None,
    };
    let problems = src.walk(&mut |e| {
        if r.error.is_none() && (opts.stop)() {
            r.error = Some(RewriteError::Stopped);
        }
        if r.error.is_none() {
            if let Err(err) = r.entry(e) {
                r.error = Some(err);
            }
        }
    })?;
    if !problems.is_empty() {
        return Err(BboltError::Corrupt {
            path: src.path().to_path_buf(),
            problems,
        }
        .into());
    }
    if let Some(e) = r.error.take() {
        return Err(e);
    }
    r.close_bucket()?;
    let rest = std::mem::take(&mut r.missing);
    for name in rest {
        r.emit_missing(name)?;
    }
    let Rewriter { w, mut out, .. } = r;
    let (buffered, pgid) = w.finish().map_err(RewriteError::Write)?;
    let file = buffered
        .into_inner()
        .map_err(|e| RewriteError::Write(e.into_error()))?;
    file.sync_all().map_err(RewriteError::Write)?;
    out.size = pgid * u64::from(page_size);
    Ok(out)
}

impl Rewriter<'_> {
    fn entry(&mut self, e: Entry<'_>) -> Result<(), RewriteError> {
        match (e.depth, e.is_bucket) {
            (0, true) => self.open_bucket(e.key, e.value),
            (0, false) => Err(RewriteError::NotEtcd(format!(
                "the root bucket holds a plain key {}",
                crate::bbolt::HexKey(e.key.to_vec())
            ))),
            (1, false) => self.item(e.key, e.value),
            _ => Err(RewriteError::NotEtcd(format!(
                "nested bucket {}",
                crate::bbolt::HexKey(e.key.to_vec())
            ))),
        }
    }

    fn open_bucket(&mut self, name: &[u8], header: &[u8]) -> Result<(), RewriteError> {
        self.close_bucket()?;
        while let Some(&m) = self.missing.first() {
            if m >= name {
                break;
            }
            self.missing.remove(0);
            self.emit_missing(m)?;
        }
        self.missing.retain(|m| *m != name);
        let sequence = if header.len() >= 16 {
            page::le_u64(header, 8)
        } else {
            0
        };
        let mode = match name {
            b"meta" => Mode::Buffer(BTreeMap::new()),
            b"members" | b"members_removed" => Mode::Replace,
            b"alarm" if !self.opts.keep_alarms => Mode::Replace,
            _ => Mode::Stream,
        };
        if let Mode::Stream = mode {
            self.w
                .begin_bucket(name, sequence)
                .map_err(RewriteError::Write)?;
        }
        self.open = Some(Open {
            name: name.to_vec(),
            sequence,
            mode,
            count: 0,
        });
        Ok(())
    }

    fn item(&mut self, key: &[u8], value: &[u8]) -> Result<(), RewriteError> {
        let Some(open) = self.open.as_mut() else {
            return Err(RewriteError::NotEtcd("an item outside any bucket".into()));
        };
        open.count += 1;
        if open.name == b"alarm" {
            let a = AlarmMember::decode(key).unwrap_or_default();
            self.out.alarms.push(Alarm {
                member_id: a.member_id,
                kind: alarm_kind(a.alarm),
            });
        }
        if open.name == b"key" {
            self.last_key = Some(key.to_vec());
        }
        match &mut open.mode {
            Mode::Stream => self.w.put(key, value).map_err(RewriteError::Write),
            Mode::Buffer(items) => {
                items.insert(key.to_vec(), value.to_vec());
                Ok(())
            }
            Mode::Replace => Ok(()),
        }
    }

    /// Ends the bucket being read, writing what a buffered or replaced bucket holds.
    fn close_bucket(&mut self) -> Result<(), RewriteError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        match open.name.as_slice() {
            b"key" => {
                self.out.revision = self.last_key.as_deref().and_then(main_of).unwrap_or(0);
                if let Some(marker) = self.bump_marker()? {
                    self.w.put(&marker, &[]).map_err(RewriteError::Write)?;
                }
            }
            b"members" => self.out.old_members = open.count,
            b"members_removed" => self.out.old_removed_members = open.count,
            b"alarm" => self.out.alarms_cleared = !self.opts.keep_alarms && open.count > 0,
            _ => {}
        }
        match open.mode {
            // Streamed buckets were begun when opened.
            Mode::Stream => self.w.end_bucket().map_err(RewriteError::Write)?,
            Mode::Buffer(items) => self.write_bucket(&open.name, open.sequence, items)?,
            Mode::Replace => {
                let items = self.replacement(&open.name);
                self.write_bucket(&open.name, open.sequence, items)?;
            }
        }
        Ok(())
    }

    /// The bump marker for the end of `key`: `rev(base + B, 0)`, where base is the newest of the
    /// last key's revision and the compaction marks (upstream uses the last key alone; when a
    /// compaction passed every remaining key, that would land below the server's revision).
    fn bump_marker(&mut self) -> Result<Option<Vec<u8>>, RewriteError> {
        let Some(bump) = self.opts.bump else {
            return Ok(None);
        };
        let base = self.out.revision.max(self.out.compacted);
        let to = i64::try_from(bump)
            .ok()
            .and_then(|b| base.checked_add(b))
            .ok_or(RewriteError::Overflow { base, bump })?;
        self.out.bumped_to = Some(to);
        Ok(Some(revision_key(to)))
    }

    /// The contents restore gives a replaced or buffered bucket.
    fn replacement(&self, name: &[u8]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut items = BTreeMap::new();
        if name == b"members" {
            for m in self.opts.members {
                items.insert(
                    format!("{:x}", m.id).into_bytes(),
                    member_json(m).into_bytes(),
                );
            }
        }
        items
    }

    fn write_bucket(
        &mut self,
        name: &[u8],
        sequence: u64,
        mut items: BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<(), RewriteError> {
        if name == b"meta" {
            let n = self.opts.members.len() as u64;
            items.insert(b"consistent_index".to_vec(), n.to_be_bytes().to_vec());
            items.insert(b"term".to_vec(), 1u64.to_be_bytes().to_vec());
            if let Some(to) = self.out.bumped_to {
                items.insert(b"scheduledCompactRev".to_vec(), revision_key(to));
            }
        }
        self.w
            .begin_bucket(name, sequence)
            .map_err(RewriteError::Write)?;
        for (k, v) in &items {
            self.w.put(k, v).map_err(RewriteError::Write)?;
        }
        self.w.end_bucket().map_err(RewriteError::Write)
    }

    /// Creates a bucket the snapshot lacks but restore guarantees.
    fn emit_missing(&mut self, name: &'static [u8]) -> Result<(), RewriteError> {
        let items = self.replacement(name);
        self.write_bucket(name, 0, items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_keys_are_etcds() {
        assert_eq!(
            hex::encode(revision_key(300)),
            "000000000000012c5f0000000000000000"
        );
        assert_eq!(main_of(&revision_key(1_000_000_475)), Some(1_000_000_475));
    }
}
