//! etcd's `HashKV` computed from a backend file, as a member computes it over its own db
//! (docs/formats.md §4.3; etcd 3.5.1 `server/mvcc/kvstore.go` `HashByRev`, 3.4.23
//! `mvcc/kvstore.go`, and `keyIndex.keep` in `key_index.go`).
//!
//! At revision `R` with compacted revision `C`: CRC-32C (Castagnoli) over the bucket name `key`,
//! then, in bucket order, the key and value of every `key` bucket entry whose main revision is
//! at most `R`, except that an entry at or below `C` counts only when it is its key's newest
//! entry at or below `R` and not a tombstone (etcd's `kvindex.Keep(R)`), and that rule applies
//! only when some key is alive at `R`; when none is, every entry at or below `C` counts.
//!
//! One pass in bucket (revision) order: entries above `C` go straight into one CRC; entries at
//! or below `C` are held as (CRC, length) until a newer entry of the same key rules them out,
//! and are put in front with `crc32c_combine` at the end. The same pass counts the keys alive
//! at `R`. Memory grows with the number of distinct keys (a 16-byte digest of each, about 40
//! bytes a key), never with values; etcd's own index of the same keys is far larger.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use super::schema::parse_revision;

/// etcd's answer to `HashKV` at `revision`: what the sidecar records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashKv {
    pub revision: i64,
    /// The compacted revision the hash was computed with; -1 when nothing was ever compacted
    /// (what etcd answers then).
    pub compact_revision: i64,
    pub hash: u32,
    /// Keys alive at `revision` (what `etcdctl get --count-only --prefix ""` answers there).
    #[serde(default)]
    pub keys: u64,
}

/// One entry at or below the compacted revision, held until the pass knows whether it counts.
struct Held {
    crc: u32,
    len: u64,
    counts: bool,
}

/// What the pass knows about one key.
#[derive(Default)]
struct KeyState {
    /// Its newest entry so far is a put (the key is alive at the newest revision seen).
    alive: bool,
    /// Index in `held` of its newest entry, when that is a put at or below `C`.
    held: Option<usize>,
}

/// The `HashKV` computation, fed with the `key` bucket's entries in bucket order.
pub(crate) struct KvHasher {
    compact: i64,
    /// Entries above this main revision are not hashed (`None`: the file's own revision).
    at: Option<i64>,
    /// The newest main revision seen (the file's revision, when `at` is `None`).
    newest: i64,
    keys: HashMap<u128, KeyState>,
    alive: u64,
    held: Vec<Held>,
    /// Every entry at or below `C`, for the case where no key is alive at `R`.
    all_low: (u32, u64),
    /// Every entry above `C` and at or below `R`.
    high: (u32, u64),
}

/// A 128-bit digest of a user key (two SipHash-1-3 runs, told apart by a prefix byte).
fn digest(key: &[u8]) -> u128 {
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        key.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// The `key` field (1) of an `mvccpb.KeyValue`, read without decoding the value; empty when it
/// has none or does not decode (the walk's schema check reports that).
fn user_key(kv: &[u8]) -> &[u8] {
    let mut i = 0;
    let varint = |i: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *kv.get(*i)?;
            *i += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    while i < kv.len() {
        let Some(tag) = varint(&mut i) else {
            return &[];
        };
        match tag & 7 {
            0 if varint(&mut i).is_none() => return &[],
            0 => {}
            2 => {
                let Some(len) = varint(&mut i) else {
                    return &[];
                };
                let end = match usize::try_from(len).ok().and_then(|l| i.checked_add(l)) {
                    Some(end) if end <= kv.len() => end,
                    _ => return &[],
                };
                if tag >> 3 == 1 {
                    return &kv[i..end];
                }
                i = end;
            }
            1 => i += 8,
            5 => i += 4,
            _ => return &[],
        }
    }
    &[]
}

impl KvHasher {
    /// A hash at `at` (`None`: at the newest revision in the file), with compacted revision
    /// `compact` (-1 or 0 when nothing was compacted).
    pub(crate) fn new(compact: i64, at: Option<i64>) -> KvHasher {
        KvHasher {
            compact,
            at,
            newest: 0,
            keys: HashMap::new(),
            alive: 0,
            held: Vec::new(),
            all_low: (0, 0),
            high: (0, 0),
        }
    }

    /// One entry of the `key` bucket, in bucket order.
    pub(crate) fn feed(&mut self, k: &[u8], v: &[u8]) {
        let (main, tomb) = match parse_revision(k) {
            Some((main, _, tomb)) => (main, tomb),
            // Not a revision key: etcd would read its first 8 bytes as one (never seen).
            None if k.len() >= 8 => (
                i64::from_be_bytes(k[0..8].try_into().unwrap_or([0; 8])),
                false,
            ),
            None => (0, false),
        };
        if self.at.is_some_and(|at| main > at) {
            return;
        }
        self.newest = self.newest.max(main);
        let low = main <= self.compact;
        let entry_len = (k.len() + v.len()) as u64;
        let run = if low {
            &mut self.all_low
        } else {
            &mut self.high
        };
        run.0 = crc32c::crc32c_append(crc32c::crc32c_append(run.0, k), v);
        run.1 += entry_len;
        let state = self.keys.entry(digest(user_key(v))).or_default();
        if let Some(i) = state.held.take() {
            self.held[i].counts = false;
        }
        match (state.alive, tomb) {
            (false, false) => self.alive += 1,
            (true, true) => self.alive -= 1,
            _ => {}
        }
        state.alive = !tomb;
        if low && !tomb {
            state.held = Some(self.held.len());
            self.held.push(Held {
                crc: crc32c::crc32c_append(crc32c::crc32c(k), v),
                len: entry_len,
                counts: true,
            });
        }
    }

    /// The hash, at `at` or at the file's own revision.
    pub(crate) fn finish(self) -> HashKv {
        let mut crc = crc32c::crc32c(b"key");
        if self.alive == 0 {
            crc = combine(crc, self.all_low);
        } else {
            for h in self.held.iter().filter(|h| h.counts) {
                crc = combine(crc, (h.crc, h.len));
            }
        }
        crc = combine(crc, self.high);
        HashKv {
            // etcd's current revision is never below its compacted one (kvstore.go `restore`).
            revision: self.at.unwrap_or(self.newest.max(self.compact)),
            compact_revision: if self.compact < 1 { -1 } else { self.compact },
            hash: crc,
            keys: self.alive,
        }
    }
}

fn combine(crc: u32, (next, len): (u32, u64)) -> u32 {
    if len == 0 {
        return crc;
    }
    crc32c::crc32c_combine(crc, next, len as usize)
}

/// The compacted revision a member restarted on this file would use: the newer of
/// `meta/finishedCompactRev` and `meta/scheduledCompactRev` (a scheduled compaction is resumed
/// at start), -1 when there is neither.
pub(crate) fn compact_revision<S: crate::bbolt::ReadAt + ?Sized>(
    db: &crate::bbolt::Db<S>,
) -> Result<i64, crate::bbolt::BboltError> {
    let mark = |name: &[u8]| -> Result<i64, crate::bbolt::BboltError> {
        Ok(db
            .get(b"meta", name)?
            .and_then(|v| parse_revision(&v).map(|(main, _, _)| main))
            .unwrap_or(-1))
    };
    Ok(mark(b"finishedCompactRev")?.max(mark(b"scheduledCompactRev")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// One operation on a key: (main revision, key, Some(value) for a put, None for a delete).
    type Op<'a> = (i64, &'a str, Option<&'a str>);

    fn rev_key(main: i64, tomb: bool) -> Vec<u8> {
        let mut k = main.to_be_bytes().to_vec();
        k.push(b'_');
        k.extend_from_slice(&0i64.to_be_bytes());
        if tomb {
            k.push(b't');
        }
        k
    }

    fn entries(ops: &[Op<'_>]) -> Vec<(Vec<u8>, Vec<u8>)> {
        ops.iter()
            .map(|&(main, key, value)| {
                let kv = crate::etcd::schema::KeyValue {
                    key: key.as_bytes().to_vec(),
                    mod_revision: if value.is_some() { main } else { 0 },
                    create_revision: if value.is_some() { 1 } else { 0 },
                    version: i64::from(value.is_some()),
                    value: value.unwrap_or("").as_bytes().to_vec(),
                    lease: 0,
                };
                (rev_key(main, value.is_none()), kv.encode_to_vec())
            })
            .collect()
    }

    fn ours(ops: &[Op<'_>], compact: i64, at: Option<i64>) -> u32 {
        let mut h = KvHasher::new(compact, at);
        for (k, v) in entries(ops) {
            h.feed(&k, &v);
        }
        h.finish().hash
    }

    /// etcd's algorithm, literally: the key index as generations, `keep(R)`, then the filter of
    /// `HashByRev`.
    fn etcd(ops: &[Op<'_>], compact: i64, at: i64) -> u32 {
        // keyIndex.keep(at): the newest revision <= at of each key, unless it is a tombstone.
        let mut newest: HashMap<&str, (i64, bool)> = HashMap::new();
        for &(main, key, value) in ops.iter().filter(|o| o.0 <= at) {
            newest.insert(key, (main, value.is_none()));
        }
        let keep: Vec<i64> = newest
            .values()
            .filter(|(_, tomb)| !tomb)
            .map(|(m, _)| *m)
            .collect();
        let mut crc = crc32c::crc32c(b"key");
        for ((k, v), &(main, _, _)) in entries(ops).iter().zip(ops) {
            if main > at {
                continue;
            }
            if main < compact + 1 && !keep.is_empty() && !keep.contains(&main) {
                continue;
            }
            crc = crc32c::crc32c_append(crc, k);
            crc = crc32c::crc32c_append(crc, v);
        }
        crc
    }

    fn same(ops: &[Op<'_>], compact: i64, at: i64) {
        assert_eq!(
            ours(ops, compact, Some(at)),
            etcd(ops, compact, at),
            "{ops:?} C={compact} R={at}"
        );
    }

    #[test]
    fn without_compaction_every_entry_up_to_the_revision_counts() {
        let ops = [(2, "a", Some("1")), (3, "a", None), (4, "b", Some("2"))];
        for at in 2..=4 {
            same(&ops, -1, at);
        }
        let mut h = KvHasher::new(-1, None);
        for (k, v) in entries(&ops) {
            h.feed(&k, &v);
        }
        let hk = h.finish();
        assert_eq!((hk.revision, hk.compact_revision, hk.keys), (4, -1, 1));
    }

    #[test]
    fn compaction_edge_cases_match_etcds_rules() {
        let cases: &[(&[Op<'_>], i64)] = &[
            // A tombstone at the compacted revision (a 3.5.1 compaction that has not run yet).
            (
                &[(2, "a", Some("1")), (3, "a", None), (4, "b", Some("x"))],
                3,
            ),
            // A key whose only entry at or below C is a delete.
            (
                &[(2, "a", None), (3, "b", Some("1")), (5, "c", Some("2"))],
                2,
            ),
            // Superseded puts below C, the newest one kept.
            (
                &[
                    (2, "a", Some("1")),
                    (3, "a", Some("2")),
                    (4, "a", Some("3")),
                    (6, "b", Some("4")),
                ],
                4,
            ),
            // A put below C overwritten above it.
            (&[(2, "a", Some("1")), (5, "a", Some("2"))], 3),
            // Deleted above C: its old put is dropped, the tombstone counts.
            (
                &[(2, "a", Some("1")), (3, "b", Some("2")), (5, "a", None)],
                3,
            ),
            // Nothing alive at R: every entry at or below C counts (etcd's len(keep) == 0).
            (
                &[
                    (2, "a", Some("1")),
                    (3, "a", None),
                    (4, "b", Some("1")),
                    (5, "b", None),
                ],
                4,
            ),
            // Re-created after a delete below C.
            (
                &[
                    (2, "a", Some("1")),
                    (3, "a", None),
                    (4, "a", Some("2")),
                    (7, "z", Some("q")),
                ],
                5,
            ),
        ];
        for (ops, compact) in cases {
            let top = ops.iter().map(|o| o.0).max().unwrap();
            for at in (*compact + 1)..=top {
                same(ops, *compact, at);
            }
        }
    }

    #[test]
    fn the_user_key_is_read_from_the_protobuf_whatever_the_field_order() {
        let kv = crate::etcd::schema::KeyValue {
            key: b"/registry/x".to_vec(),
            create_revision: 300,
            mod_revision: 301,
            version: 2,
            value: vec![7; 200],
            lease: 5,
        };
        assert_eq!(user_key(&kv.encode_to_vec()), b"/registry/x");
        // value (field 5) first, then key.
        let mut odd = vec![0x2a, 2, 9, 9, 0x10, 0x96, 0x01, 0x0a, 1, b'k'];
        assert_eq!(user_key(&odd), b"k");
        odd.truncate(8);
        assert_eq!(user_key(&odd), b"");
        assert_eq!(user_key(&[]), b"");
    }
}
