//! The key space of a backup, read offline: no etcd, never a write to the backup, bounded
//! memory (docs/design.md "inspect, export, diff").
//!
//! One pass over the `key` bucket (revision order, docs/formats.md §3.1) feeds every version at
//! or below the asked revision to a [`sort::Sorter`], which yields the newest version of each key
//! in key order; a tombstone there means the key did not exist at that revision. That is the
//! state `etcdctl get --rev R` returns, as long as R is not below the compacted revision
//! (compaction keeps, per key, the newest version at or below it).

pub(crate) mod sort;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::anyhow;

use crate::backup::named::Named;
use crate::backup::verify::{self, SpillError};
use crate::bbolt::page::Header;
use crate::bbolt::{Db, Entry, ReadAt};
use crate::diagnostics::{with_hint, HintExt};
use crate::etcd::schema::{parse_revision, KeyValue};
use crate::fsutil::FsError;
pub(crate) use sort::{Rec, Sorted};

/// Bytes of records the sorter keeps in memory before it writes a run.
pub(crate) const SORT_BUDGET: usize = 24 << 20;

/// A source shared between the bbolt reader and our own page reads.
#[derive(Debug, Clone)]
pub(crate) struct Shared(Arc<dyn ReadAtDebug>);

pub(crate) trait ReadAtDebug: ReadAt + std::fmt::Debug + Send + Sync {}
impl<T: ReadAt + std::fmt::Debug + Send + Sync> ReadAtDebug for T {}

impl ReadAt for Shared {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn size(&self) -> std::io::Result<u64> {
        self.0.size()
    }
}

/// An opened backup: a plain local file read in place, or a layered file or an object taken
/// once into a scratch copy (sealed when encrypted).
#[derive(Debug)]
pub(crate) struct Backup {
    db: Db<Shared>,
    source: Shared,
    pub shown: String,
    /// Runs of the sorter are sealed like the scratch copy.
    sealed: bool,
    scratch_dir: PathBuf,
}

impl Backup {
    pub(crate) fn open(
        named: &Named,
        identities: &[age::x25519::Identity],
        scratch_dir: &Path,
    ) -> anyhow::Result<Backup> {
        let shown = named.shown();
        let layers = named.layers();
        let source = match named {
            Named::Local(path) if !layers.zstd && !layers.age => {
                let file = crate::fsutil::open_regular(path, true)
                    .map_err(|e| FsError::io("cannot open", path, e))
                    .hint("check the path and that this user may read it")?;
                Shared(Arc::new(file))
            }
            _ => {
                let mut stored = named.reader()?;
                let spilled = verify::spill(&mut stored, &shown, layers, identities, scratch_dir)
                    .map_err(|e| {
                    let hint = match &e {
                        SpillError::Keys(_) => {
                            "pass the age identity it was encrypted to with --identity"
                        }
                        SpillError::Damaged(_) => "the file is damaged; use another backup",
                        _ => "check the path and that this user may read it",
                    };
                    with_hint(e, hint)
                })?;
                Shared(Arc::new(spilled.scratch))
            }
        };
        let db = Db::from_source(Box::new(source.clone()), Path::new(&shown))
            .hint("run `etcd-backup verify` on it; use another backup if it fails")?;
        Ok(Backup {
            db,
            source,
            shown,
            sealed: layers.age,
            scratch_dir: scratch_dir.to_path_buf(),
        })
    }

    pub(crate) fn db(&self) -> &Db<Shared> {
        &self.db
    }

    /// A sorter whose runs go beside the scratch copy, sealed when the backup was encrypted.
    pub(crate) fn sorter(&self) -> sort::Sorter {
        // A test hook, not an interface: a small budget makes tests go through the runs.
        let budget = std::env::var("ETCD_BACKUP_SORT_BUDGET")
            .ok()
            .and_then(|b| b.parse().ok())
            .unwrap_or(SORT_BUDGET);
        sort::Sorter::new(budget, self.scratch_dir.clone(), self.sealed)
    }

    /// The compacted revision, from the `meta` bucket.
    pub(crate) fn compacted(&self) -> anyhow::Result<i64> {
        let mark = |key: &[u8]| -> anyhow::Result<i64> {
            Ok(self
                .db
                .get(b"meta", key)?
                .and_then(|v| parse_revision(&v).map(|r| r.0))
                .unwrap_or(0))
        };
        Ok(mark(b"finishedCompactRev")?.max(mark(b"scheduledCompactRev")?))
    }

    /// Pages on the freelist (bbolt's `freelist.count()`, docs/formats.md §2.8): the count in
    /// the freelist page's header, or the first u64 when the header says 0xFFFF.
    pub(crate) fn free_pages(&self) -> Option<u64> {
        let meta = self.db.meta();
        let ps = u64::from(meta.page_size);
        if meta.freelist == u64::MAX || meta.freelist >= meta.pgid {
            return None; // no freelist page (bbolt's NoFreelistSync)
        }
        let mut page = vec![0u8; 24];
        self.source
            .read_exact_at(&mut page, meta.freelist * ps)
            .ok()?;
        let h = Header::parse(&page);
        match h.count {
            0xFFFF => Some(u64::from_le_bytes(page[16..24].try_into().ok()?)),
            n => Some(u64::from(n)),
        }
    }

    /// Entries of a top-level bucket other than `key`.
    pub(crate) fn bucket_entries(
        &self,
        bucket: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> anyhow::Result<()> {
        self.db
            .walk_bucket(bucket, &mut |e: Entry<'_>| {
                if !e.is_bucket {
                    visit(e.key, e.value)
                }
            })
            .map(|_| ())
            .map_err(anyhow::Error::from)
            .hint("run `etcd-backup verify` on it; use another backup if it fails")
    }
}

/// What to read, and what to keep of each version.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ask {
    /// The revision; `None` for the newest in the backup.
    pub revision: Option<i64>,
    /// Only keys that start with this (`etcdctl get P --prefix`); empty for all.
    pub prefix: Vec<u8>,
    /// Keep the values (export, diff); without, only their lengths.
    pub values: bool,
}

/// What the pass over the `key` bucket found besides the state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scan {
    /// The revision the state is at.
    pub revision: i64,
    pub current: i64,
    pub compacted: i64,
    /// Entries of the `key` bucket at or below the revision (every version, tombstones too).
    pub versions: u64,
    pub tombstones: u64,
    /// Entries whose value is not a `KeyValue` (skipped, and reported).
    pub undecodable: u64,
    /// Sorter runs written to scratch files.
    pub runs: usize,
}

/// Reads the state at `ask.revision`: the newest version of every key under `ask.prefix`
/// (tombstones included; callers skip them), in key order. `each` sees every version on the
/// way (revision order) and returns the storage tag the record keeps.
pub(crate) fn scan(
    backup: &Backup,
    ask: &Ask,
    each: &mut dyn FnMut(&Rec, &[u8]) -> u32,
) -> anyhow::Result<(Scan, Sorted)> {
    let compacted = backup.compacted()?;
    if let Some(r) = ask.revision.filter(|r| *r > 0) {
        if r < compacted {
            return Err(anyhow!(
                "{}: revision {r} has been compacted (the backup keeps revisions from \
                 {compacted} on; etcd says `mvcc: required revision has been compacted`)",
                backup.shown
            ))
            .hint(format!(
                "ask for a revision from {compacted} on, or leave --revision out"
            ));
        }
    }
    let limit = ask.revision.filter(|r| *r > 0).unwrap_or(i64::MAX);
    let mut scan = Scan {
        compacted,
        ..Scan::default()
    };
    let mut sorter = backup.sorter();
    let mut failed: Option<std::io::Error> = None;
    let walked = backup.db.walk_bucket(b"key", &mut |e: Entry<'_>| {
        if failed.is_some() {
            return;
        }
        let Some((rec, value)) = version_of(e.key, e.value) else {
            scan.undecodable += 1;
            return;
        };
        scan.current = scan.current.max(rec.main);
        // The --bump-revision marker (an empty value) is no key.
        if rec.main > limit || rec.key.is_empty() || !rec.key.starts_with(&ask.prefix) {
            return;
        }
        scan.versions += 1;
        scan.tombstones += u64::from(rec.tomb);
        let mut rec = rec;
        rec.storage = each(&rec, &value);
        if ask.values {
            rec.value = value;
        }
        if let Err(e) = sorter.push(rec) {
            failed = Some(e);
        }
    });
    match walked {
        Ok(true) => {}
        Ok(false) => {
            return Err(anyhow!(
                "{} has no `key` bucket: not an etcd v3 backend",
                backup.shown
            ))
            .hint("check that this is an etcd snapshot or member/snap/db")
        }
        Err(e) => {
            return Err(anyhow::Error::from(e))
                .hint("run `etcd-backup verify` on it; use another backup if it fails")
        }
    }
    if let Some(e) = failed {
        return Err(FsError::io(
            "cannot write a sort run in",
            &backup.scratch_dir,
            e,
        ))
        .hint("free space there, or point --backup-dir (or TMPDIR) elsewhere");
    }
    if let Some(r) = ask.revision.filter(|r| *r > scan.current) {
        return Err(anyhow!(
            "{}: revision {r} is after the backup's newest, {} (etcd says `mvcc: required \
             revision is a future revision`)",
            backup.shown,
            scan.current
        ))
        .hint(format!("ask for a revision up to {}", scan.current));
    }
    scan.revision = ask.revision.filter(|r| *r > 0).unwrap_or(scan.current);
    scan.runs = sorter.runs();
    let sorted = sorter
        .finish()
        .map_err(|e| FsError::io("cannot write a sort run in", &backup.scratch_dir, e))
        .hint("free space there, or point --backup-dir (or TMPDIR) elsewhere")?;
    Ok((scan, sorted))
}

/// One entry of the `key` bucket as a version of a key and its value; `None` when the key is
/// not a revision or the value not a `KeyValue` (damage: never a panic).
fn version_of(key: &[u8], value: &[u8]) -> Option<(Rec, Vec<u8>)> {
    let (main, sub, tomb) = parse_revision(key)?;
    let kv = <KeyValue as prost::Message>::decode(value).ok()?;
    let rec = Rec {
        key: kv.key,
        main,
        sub,
        tomb,
        create: kv.create_revision,
        version: kv.version,
        lease: kv.lease,
        value_len: kv.value.len() as u64,
        storage: 0,
        value: Vec::new(),
    };
    Some((rec, kv.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rev(main: i64, tomb: bool) -> Vec<u8> {
        let mut k = main.to_be_bytes().to_vec();
        k.push(b'_');
        k.extend_from_slice(&0i64.to_be_bytes());
        if tomb {
            k.push(b't');
        }
        k
    }

    #[test]
    fn a_real_entry_decodes() {
        // docs/formats.md §3.1: /leased/k1, create 2, mod 2, version 1, value v1, a lease.
        let v = hex::decode(
            "0a0a2f6c65617365642f6b31100218022001\
             2a0276313085d28e9ed0bfa8892a",
        )
        .unwrap();
        let (rec, value) = version_of(&rev(2, false), &v).unwrap();
        assert_eq!(rec.key, b"/leased/k1");
        assert_eq!((rec.create, rec.main, rec.version), (2, 2, 1));
        assert_eq!(rec.lease, 0x2a12a1fd03c3a905);
        assert_eq!(value, b"v1");
        assert!(version_of(b"short", &v).is_none());
    }

    proptest! {
        /// Damaged KeyValue protobufs and damaged revision keys never panic.
        #[test]
        fn damaged_entries_never_panic(
            flips in prop::collection::vec((0usize..64, any::<u8>()), 0..8),
            cut in 0usize..64,
            tomb in any::<bool>(),
        ) {
            let good = KeyValue {
                key: b"/registry/pods/ns/p".to_vec(),
                create_revision: 5,
                mod_revision: 9,
                version: 3,
                value: b"k8s\0payload".to_vec(),
                lease: 77,
            };
            let mut v = prost::Message::encode_to_vec(&good);
            for (at, b) in &flips {
                if let Some(x) = v.get_mut(*at) {
                    *x ^= *b;
                }
            }
            v.truncate(cut.max(1));
            let mut k = rev(9, tomb);
            if let Some((at, b)) = flips.first() {
                if let Some(x) = k.get_mut(*at % 18) {
                    *x ^= *b;
                }
            }
            if let Some((rec, value)) = version_of(&k, &v) {
                let _ = crate::k8s::value::classify(&value).to_string();
                let _ = crate::k8s::key::parse(&rec.key);
            }
        }
    }
}
