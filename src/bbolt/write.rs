//! A streaming writer of a fresh, compact bbolt file (docs/formats.md §2.13): what bbolt's
//! `Tx.WriteTo` would give for a database whose pages were packed greedily in key order. Used by
//! `restore` to rewrite a snapshot's db; memory stays bounded by a few pages whatever the size of
//! the data.
//!
//! ```text
//! file                                       bucket value in the root bucket (leaf flag 0x01)
//!   page 0, 1   meta (written last, §2.10)      0  u64 root      page id, or 0 = inline
//!   page 2..    data pages, ids allocated       8  u64 sequence
//!               in write order; a page with    16  ...           inline: a leaf page image
//!               overflow k takes k more pages                    (header id 0, elements, data)
//!               right after it (no headers)
//!   length      meta.pgid × page size
//!
//! leaf / branch page (bbolt `page.go`, see `page.rs`)
//!   0  header (16)   id, flags 0x02 leaf / 0x01 branch, count, overflow
//!  16  elements      count × 16 bytes, `pos` relative to each element's own start
//!   …  data          leaf: key then value, branch: key; in element order, no alignment
//! ```
//!
//! Packing (bbolt `node.go` splits differently; readers accept both):
//! - leaves: an element joins the current leaf while `16 + Σ(16 + klen + vlen) <= page size`; an
//!   element that alone does not fit is written at once as a leaf of its own, with overflow;
//! - branches: one element per child page, key = the child's first key, packed the same way but
//!   with at least two elements per page, so each level has fewer pages than the one below even
//!   when keys are as large as pages (such a branch page gets overflow pages);
//! - a bucket whose content fits one leaf of at most page size / 4 bytes is inline (bbolt
//!   `Bucket.inlineable`); an empty bucket is a 32-byte value. The root bucket never is.
//!
//! Pages are written as soon as they are full: a bucket keeps one pending leaf and one pending
//! branch page per tree level, never the whole bucket.

use std::io::{self, Seek, SeekFrom, Write};

use super::meta::{meta_page, MAX_PAGE_SIZE};
use super::page::{BRANCH, BUCKET_LEAF, ELEMENT, HEADER, LEAF};
use super::HexKey;

/// Longest key bbolt accepts (`MaxKeySize`).
pub(crate) const MAX_KEY_SIZE: usize = 32768;
/// Longest value bbolt accepts (`MaxValueSize`, 2³¹ − 2).
pub(crate) const MAX_VALUE_SIZE: usize = (1 << 31) - 2;
/// Smallest page size written: an inline bucket may then hold 256 bytes.
pub(crate) const MIN_WRITE_PAGE_SIZE: u32 = 1024;
/// A bucket value starts with `root` u64 and `sequence` u64.
const BUCKET_HEADER: usize = 16;
/// Transaction ids of meta pages 0 and 1, as `Tx.WriteTo` gives them (T and T − 1).
const TXID: u64 = 2;
/// Tree levels allowed: a guard against a packing bug looping forever (real trees are < 20 deep).
const MAX_LEVELS: usize = 64;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn hex(key: &[u8]) -> HexKey {
    HexKey(key.to_vec())
}

/// Elements of a page not written yet, in key order.
#[derive(Debug, Default)]
struct Pending {
    /// Per element: key size and, in a leaf, the value size or, in a branch, the child page id.
    elems: Vec<(u32, u64)>,
    /// Keys (and values) in element order.
    data: Vec<u8>,
}

impl Pending {
    /// Bytes of the page image: header, elements, data.
    fn size(&self) -> usize {
        HEADER + self.elems.len() * ELEMENT + self.data.len()
    }

    fn first_key(&self) -> &[u8] {
        let k = self.elems.first().map_or(0, |e| e.0 as usize);
        &self.data[..k.min(self.data.len())]
    }

    fn clear(&mut self) {
        self.elems.clear();
        self.data.clear();
    }

    /// Heap bytes held (tests check they stay bounded).
    #[cfg(test)]
    fn retained(&self) -> usize {
        self.elems.capacity() * std::mem::size_of::<(u32, u64)>() + self.data.capacity()
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A leaf; the `u32` is every element's flags (0x01 in the root bucket).
    Leaf(u32),
    Branch,
}

fn page_header(
    out: &mut Vec<u8>,
    id: u64,
    flags: u16,
    count: usize,
    overflow: u32,
) -> io::Result<()> {
    // Pages hold at most 64 KiB / 17 elements, far below u16::MAX; checked anyway.
    let count = u16::try_from(count)
        .map_err(|_| io::Error::other(format!("page {id}: {count} elements do not fit u16")))?;
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&overflow.to_le_bytes());
    Ok(())
}

/// Appends the image of a page holding `p` to `out`: header, elements, data (no padding).
fn encode(p: &Pending, id: u64, kind: Kind, overflow: u32, out: &mut Vec<u8>) -> io::Result<()> {
    let flags = match kind {
        Kind::Leaf(_) => LEAF,
        Kind::Branch => BRANCH,
    };
    page_header(out, id, flags, p.elems.len(), overflow)?;
    // Data starts after all elements; each `pos` counts from its own element's start.
    let mut at = HEADER + p.elems.len() * ELEMENT;
    for (i, &(ksize, x)) in p.elems.iter().enumerate() {
        let pos = (at - (HEADER + i * ELEMENT)) as u32;
        match kind {
            Kind::Leaf(leaf_flags) => {
                out.extend_from_slice(&leaf_flags.to_le_bytes());
                out.extend_from_slice(&pos.to_le_bytes());
                out.extend_from_slice(&ksize.to_le_bytes());
                out.extend_from_slice(&(x as u32).to_le_bytes());
                at += ksize as usize + x as usize;
            }
            Kind::Branch => {
                out.extend_from_slice(&pos.to_le_bytes());
                out.extend_from_slice(&ksize.to_le_bytes());
                out.extend_from_slice(&x.to_le_bytes());
                at += ksize as usize;
            }
        }
    }
    out.extend_from_slice(&p.data);
    Ok(())
}

/// Where pages go: the output, written sequentially, and the next free page id.
struct Sink<W> {
    out: W,
    page_size: usize,
    next: u64,
    /// Scratch for one page image (reused).
    buf: Vec<u8>,
}

impl<W: Write> Sink<W> {
    /// Pages needed for `len` bytes, and the overflow count for the header.
    fn span(&self, len: usize) -> io::Result<(usize, u32)> {
        let pages = len.div_ceil(self.page_size).max(1);
        let overflow = u32::try_from(pages - 1)
            .map_err(|_| io::Error::other(format!("a page of {len} bytes needs too many pages")))?;
        Ok((pages, overflow))
    }

    /// Writes a page holding `p`; returns its id.
    fn write(&mut self, p: &Pending, kind: Kind) -> io::Result<u64> {
        let (pages, overflow) = self.span(p.size())?;
        let id = self.next;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        encode(p, id, kind, overflow, &mut buf)?;
        buf.resize(pages * self.page_size, 0);
        let written = self.out.write_all(&buf);
        // Keep one page of scratch, not the largest branch page ever written.
        buf.clear();
        buf.shrink_to(self.page_size);
        self.buf = buf;
        written?;
        self.next += pages as u64;
        Ok(id)
    }

    /// Writes a leaf of one element too big for a page, streaming the value from the caller.
    fn write_single(&mut self, leaf_flags: u32, key: &[u8], value: &[u8]) -> io::Result<u64> {
        let len = HEADER + ELEMENT + key.len() + value.len();
        let (pages, overflow) = self.span(len)?;
        let id = self.next;
        let mut head = Vec::with_capacity(HEADER + ELEMENT + key.len());
        page_header(&mut head, id, LEAF, 1, overflow)?;
        head.extend_from_slice(&leaf_flags.to_le_bytes());
        head.extend_from_slice(&(ELEMENT as u32).to_le_bytes()); // key right after the element
        head.extend_from_slice(&(key.len() as u32).to_le_bytes());
        head.extend_from_slice(&(value.len() as u32).to_le_bytes());
        head.extend_from_slice(key);
        self.out.write_all(&head)?;
        self.out.write_all(value)?;
        self.zeros(pages * self.page_size - len)?;
        self.next += pages as u64;
        Ok(id)
    }

    fn zeros(&mut self, mut n: usize) -> io::Result<()> {
        const ZEROS: [u8; 4096] = [0; 4096];
        while n > 0 {
            let k = n.min(ZEROS.len());
            self.out.write_all(&ZEROS[..k])?;
            n -= k;
        }
        Ok(())
    }
}

/// One pending branch page per level above the leaves.
#[derive(Debug, Default)]
struct Level {
    pending: Pending,
    /// Pages of this level written so far.
    written: u64,
}

/// The tree of one bucket (or of the root bucket) being built bottom-up, left to right.
#[derive(Debug)]
struct Tree {
    leaf_flags: u32,
    leaf: Pending,
    /// Leaf pages written so far.
    leaves: u64,
    /// `levels[0]` points to leaves, `levels[1]` to `levels[0]`'s pages, and so on.
    levels: Vec<Level>,
    /// The last key added, for the order check.
    last: Option<Vec<u8>>,
}

impl Tree {
    fn new(leaf_flags: u32) -> Tree {
        Tree {
            leaf_flags,
            leaf: Pending::default(),
            leaves: 0,
            levels: Vec::new(),
            last: None,
        }
    }

    /// Adds an element (checked by the caller: valid sizes, after `last`).
    fn add<W: Write>(&mut self, sink: &mut Sink<W>, key: &[u8], value: &[u8]) -> io::Result<()> {
        let size = ELEMENT + key.len() + value.len();
        if HEADER + size > sink.page_size {
            self.flush_leaf(sink)?;
            let id = sink.write_single(self.leaf_flags, key, value)?;
            self.leaves += 1;
            push_child(&mut self.levels, sink, 0, key, id)?;
        } else {
            if self.leaf.size() + size > sink.page_size {
                self.flush_leaf(sink)?;
            }
            self.leaf.elems.push((key.len() as u32, value.len() as u64));
            self.leaf.data.extend_from_slice(key);
            self.leaf.data.extend_from_slice(value);
        }
        let last = self.last.get_or_insert_with(Vec::new);
        last.clear();
        last.extend_from_slice(key);
        Ok(())
    }

    /// Writes the pending leaf, if any.
    fn flush_leaf<W: Write>(&mut self, sink: &mut Sink<W>) -> io::Result<()> {
        if self.leaf.elems.is_empty() {
            return Ok(());
        }
        let id = sink.write(&self.leaf, Kind::Leaf(self.leaf_flags))?;
        self.leaves += 1;
        push_child(&mut self.levels, sink, 0, self.leaf.first_key(), id)?;
        self.leaf.clear();
        Ok(())
    }

    /// True when the bucket can be stored inline: one leaf of at most a quarter page.
    fn inlineable(&self, page_size: usize) -> bool {
        self.leaves == 0 && self.leaf.size() <= page_size / 4
    }

    /// Writes what is pending at every level and returns the root page id. An empty tree gets an
    /// empty leaf as its root (a fresh bbolt root bucket looks like that).
    fn finish<W: Write>(mut self, sink: &mut Sink<W>) -> io::Result<u64> {
        if self.leaves == 0 && self.leaf.elems.is_empty() {
            let id = sink.write(&self.leaf, Kind::Leaf(self.leaf_flags))?;
            self.leaves = 1;
            push_child(&mut self.levels, sink, 0, &[], id)?;
        }
        self.flush_leaf(sink)?;
        for j in 0..MAX_LEVELS {
            let Some(level) = self.levels.get_mut(j) else {
                break;
            };
            // A level that never filled a page and points to a single page: that page is the root.
            if level.written == 0 && level.pending.elems.len() == 1 {
                return Ok(level.pending.elems[0].1);
            }
            if level.pending.elems.is_empty() {
                return Err(io::Error::other(format!(
                    "bbolt writer: tree level {j} has no pending page to write"
                )));
            }
            let pending = std::mem::take(&mut level.pending);
            let id = sink.write(&pending, Kind::Branch)?;
            level.written += 1;
            push_child(&mut self.levels, sink, j + 1, pending.first_key(), id)?;
        }
        Err(io::Error::other(format!(
            "bbolt writer: tree not reduced to one root within {MAX_LEVELS} levels"
        )))
    }

    #[cfg(test)]
    fn retained(&self) -> usize {
        self.leaf.retained()
            + self
                .levels
                .iter()
                .map(|l| l.pending.retained())
                .sum::<usize>()
            + self.last.as_ref().map_or(0, Vec::capacity)
    }
}

/// Adds a branch element for child page `id` (first key `key`) at level `j`, writing that level's
/// pending page first when it is full. A page is written full only once it holds two elements or
/// more (even if that takes overflow pages), so each level has fewer pages than the one below; the
/// last page of a level may hold one.
fn push_child<W: Write>(
    levels: &mut Vec<Level>,
    sink: &mut Sink<W>,
    j: usize,
    key: &[u8],
    id: u64,
) -> io::Result<()> {
    if j >= MAX_LEVELS {
        return Err(io::Error::other(format!(
            "bbolt writer: tree deeper than {MAX_LEVELS} levels"
        )));
    }
    if levels.len() <= j {
        levels.resize_with(j + 1, Level::default);
    }
    let size = ELEMENT + key.len();
    let full = {
        let p = &levels[j].pending;
        p.elems.len() >= 2 && p.size() + size > sink.page_size
    };
    if full {
        let mut pending = std::mem::take(&mut levels[j].pending);
        let page = sink.write(&pending, Kind::Branch)?;
        levels[j].written += 1;
        push_child(levels, sink, j + 1, pending.first_key(), page)?;
        pending.clear();
        levels[j].pending = pending;
    }
    let p = &mut levels[j].pending;
    p.elems.push((key.len() as u32, id));
    p.data.extend_from_slice(key);
    Ok(())
}

/// The bucket being written.
#[derive(Debug)]
struct Bucket {
    name: Vec<u8>,
    sequence: u64,
    tree: Tree,
}

/// Writes a fresh bbolt file of top-level buckets, streaming: buckets in increasing name order,
/// keys in increasing order within each. See the module doc for the layout.
///
/// Misuse (order, sizes, calls out of sequence) gives an [`io::ErrorKind::InvalidInput`] error
/// naming the bucket and key, and leaves the writer as it was. After any other error (a failed
/// write) the output is incomplete and every later call fails.
pub struct Writer<W: Write + Seek> {
    sink: Sink<W>,
    root: Tree,
    bucket: Option<Bucket>,
    broken: bool,
}

impl<W: Write + Seek> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("page_size", &self.sink.page_size)
            .field("next_page", &self.sink.next)
            .field("bucket", &self.bucket.as_ref().map(|b| hex(&b.name)))
            .finish_non_exhaustive()
    }
}

impl<W: Write + Seek> Writer<W> {
    /// Starts a file in `out`, which should be empty; writing starts at offset 0. `page_size`:
    /// a power of two in 1024..=65536 (use the source file's).
    pub fn new(mut out: W, page_size: u32) -> io::Result<Self> {
        if !(MIN_WRITE_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page_size)
            || !page_size.is_power_of_two()
        {
            return Err(invalid(format!(
                "page size {page_size} is not a power of two in \
                 {MIN_WRITE_PAGE_SIZE}..={MAX_PAGE_SIZE}"
            )));
        }
        out.seek(SeekFrom::Start(0))?;
        let mut sink = Sink {
            out,
            page_size: page_size as usize,
            next: 2,
            buf: Vec::with_capacity(page_size as usize),
        };
        // Reserve the two meta pages so that data pages are written sequentially after them.
        sink.zeros(2 * page_size as usize)?;
        Ok(Writer {
            sink,
            root: Tree::new(BUCKET_LEAF),
            bucket: None,
            broken: false,
        })
    }

    /// Fails after an earlier write error; otherwise runs `f`, remembering a write error.
    fn guard<T>(&mut self, f: impl FnOnce(&mut Self) -> io::Result<T>) -> io::Result<T> {
        if self.broken {
            return Err(io::Error::other(
                "bbolt writer: an earlier write failed, the output is incomplete",
            ));
        }
        let r = f(self);
        if let Err(e) = &r {
            self.broken = e.kind() != io::ErrorKind::InvalidInput;
        }
        r
    }

    /// Starts a top-level bucket. Names strictly increasing bytewise across calls, 1..=32768
    /// bytes. `sequence` is the bucket header's sequence field (copy the source bucket's).
    pub fn begin_bucket(&mut self, name: &[u8], sequence: u64) -> io::Result<()> {
        self.guard(|w| {
            if let Some(open) = &w.bucket {
                return Err(invalid(format!(
                    "cannot begin bucket {}: bucket {} is still open",
                    hex(name),
                    hex(&open.name)
                )));
            }
            check_key(name, w.root.last.as_deref(), "bucket name", &String::new)?;
            w.bucket = Some(Bucket {
                name: name.to_vec(),
                sequence,
                tree: Tree::new(0),
            });
            Ok(())
        })
    }

    /// Adds a key/value to the current bucket. Keys strictly increasing, 1..=32768 bytes, values
    /// at most 2³¹ − 2 bytes.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.guard(|w| {
            let Some(b) = &mut w.bucket else {
                return Err(invalid(format!(
                    "cannot put key {}: no bucket is open",
                    hex(key)
                )));
            };
            let name = || format!("bucket {}: ", hex(&b.name));
            check_key(key, b.tree.last.as_deref(), "key", &name)?;
            if value.len() > MAX_VALUE_SIZE {
                return Err(invalid(format!(
                    "{}key {}: value of {} bytes is longer than {MAX_VALUE_SIZE}",
                    name(),
                    hex(key),
                    value.len()
                )));
            }
            b.tree.add(&mut w.sink, key, value)
        })
    }

    /// Ends the current bucket: writes its remaining pages (or makes it inline) and adds its
    /// entry to the root bucket.
    pub fn end_bucket(&mut self) -> io::Result<()> {
        self.guard(|w| {
            let Some(b) = w.bucket.take() else {
                return Err(invalid(
                    "cannot end a bucket: no bucket is open".to_string(),
                ));
            };
            let ps = w.sink.page_size;
            let mut value = Vec::with_capacity(BUCKET_HEADER);
            if b.tree.inlineable(ps) {
                value.extend_from_slice(&0u64.to_le_bytes());
                value.extend_from_slice(&b.sequence.to_le_bytes());
                encode(&b.tree.leaf, 0, Kind::Leaf(0), 0, &mut value)?;
            } else {
                let root = b.tree.finish(&mut w.sink)?;
                value.extend_from_slice(&root.to_le_bytes());
                value.extend_from_slice(&b.sequence.to_le_bytes());
            }
            w.root.add(&mut w.sink, &b.name, &value)
        })
    }

    /// Writes the root bucket's pages and both meta pages; returns the output (positioned at its
    /// end, flushed) and `meta.pgid`: the file is `pgid × page size` bytes.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.guard(|w| match &w.bucket {
            Some(b) => Err(invalid(format!(
                "cannot finish: bucket {} is still open",
                hex(&b.name)
            ))),
            None => Ok(()),
        })?;
        let Writer { mut sink, root, .. } = self;
        let root = root.finish(&mut sink)?;
        let pgid = sink.next;
        let ps = sink.page_size as u32;
        let out = &mut sink.out;
        out.seek(SeekFrom::Start(0))?;
        // As `Tx.WriteTo`: meta 0 with txid T, meta 1 with T − 1; readers pick the higher.
        out.write_all(&meta_page(0, ps, root, pgid, TXID))?;
        out.write_all(&meta_page(1, ps, root, pgid, TXID - 1))?;
        out.seek(SeekFrom::Start(pgid * ps as u64))?;
        out.flush()?;
        Ok((sink.out, pgid))
    }

    /// Heap bytes held by the writer's buffers (tests check they stay bounded).
    #[cfg(test)]
    fn retained(&self) -> usize {
        self.sink.buf.capacity()
            + self.root.retained()
            + self
                .bucket
                .as_ref()
                .map_or(0, |b| b.tree.retained() + b.name.capacity())
    }
}

/// Checks a key (or bucket name) against bbolt's limits and the previous one; `noun` says what
/// it is and `place` (a message prefix) where it goes.
fn check_key(
    key: &[u8],
    prev: Option<&[u8]>,
    noun: &str,
    place: &dyn Fn() -> String,
) -> io::Result<()> {
    if key.is_empty() {
        return Err(invalid(format!("{}empty {noun}", place())));
    }
    if key.len() > MAX_KEY_SIZE {
        return Err(invalid(format!(
            "{}{noun} {} is {} bytes, longer than {MAX_KEY_SIZE}",
            place(),
            hex(key),
            key.len()
        )));
    }
    if let Some(prev) = prev {
        if key <= prev {
            return Err(invalid(format!(
                "{}{noun} {} is not after the previous {noun} {}",
                place(),
                hex(key),
                hex(prev)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbolt::meta::{Meta, NO_FREELIST};
    use crate::bbolt::page::{branch_elements, le_u32, le_u64, Header};
    use crate::bbolt::{Db, Entry};
    use crate::etcd::schema;
    use proptest::prelude::*;
    use std::io::Cursor;
    use std::path::Path;

    type Items = Vec<(Vec<u8>, Vec<u8>)>;
    /// Buckets in order: name, sequence, items in key order.
    type Model = Vec<(Vec<u8>, u64, Items)>;

    /// Deterministic pseudo-random numbers (xorshift64*), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn range(&mut self, lo: usize, hi: usize) -> usize {
            lo + (self.next() % (hi - lo + 1) as u64) as usize
        }
        /// Between `lo` and `hi` random bytes.
        fn bytes(&mut self, lo: usize, hi: usize) -> Vec<u8> {
            let n = self.range(lo, hi);
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    /// An etcd-style revision key: 8-byte BE main, `_`, 8-byte BE sub (17 bytes).
    fn rev(main: u64) -> Vec<u8> {
        let mut k = main.to_be_bytes().to_vec();
        k.push(b'_');
        k.extend_from_slice(&0u64.to_be_bytes());
        k
    }

    fn write_model(model: &Model, ps: u32) -> Vec<u8> {
        let mut w = Writer::new(Cursor::new(Vec::new()), ps).unwrap();
        for (name, seq, items) in model {
            w.begin_bucket(name, *seq).unwrap();
            for (k, v) in items {
                w.put(k, v).unwrap();
            }
            w.end_bucket().unwrap();
        }
        let (out, pgid) = w.finish().unwrap();
        assert_eq!(out.position(), pgid * ps as u64);
        let bytes = out.into_inner();
        assert_eq!(bytes.len() as u64, pgid * ps as u64);
        bytes
    }

    /// Page headers of the data pages, read in file order: each page must start right after the
    /// previous one and its overflow (contiguous allocation), up to the high-water mark.
    fn data_pages(bytes: &[u8]) -> Vec<Header> {
        let meta = Meta::parse(bytes, 0).unwrap();
        let ps = meta.page_size as u64;
        let mut out = Vec::new();
        let mut id = 2;
        while id < meta.pgid {
            let h = Header::parse(&bytes[(id * ps) as usize..]);
            assert_eq!(h.id, id, "page header at page {id}");
            assert!(
                h.flags == LEAF || h.flags == BRANCH,
                "page {id} flags {}",
                h.flags
            );
            if h.count > 1 && h.flags == LEAF {
                assert_eq!(
                    h.overflow, 0,
                    "leaf {id}: only a single element may overflow"
                );
            }
            id += 1 + h.overflow as u64;
            out.push(h);
        }
        assert_eq!(id, meta.pgid, "pages end exactly at the high-water mark");
        out
    }

    /// Reads `bytes` back: both metas as specified, no problem in the walk, the walk visits
    /// exactly the model, and lookups find values. Returns each bucket's root page (0 = inline).
    fn check(model: &Model, bytes: &[u8]) -> Vec<u64> {
        let db = Db::from_bytes(bytes, Path::new("mem")).unwrap();
        assert!(db.damaged_meta().is_none());
        let ps = db.meta().page_size;
        let m0 = Meta::parse(bytes, 0).unwrap();
        let m1 = Meta::parse(&bytes[ps as usize..], 1).unwrap();
        assert_eq!((m0.txid, m1.txid), (2, 1));
        assert_eq!(
            (m0.root, m0.pgid, m0.freelist),
            (m1.root, m1.pgid, NO_FREELIST)
        );
        assert_eq!((m0.flags, m0.sequence, m1.flags, m1.sequence), (0, 0, 0, 0));
        assert_eq!(db.meta().txid, 2);
        assert!(bytes[80..ps as usize].iter().all(|&b| b == 0));
        let root = Header::parse(&bytes[(m0.root * ps as u64) as usize..]);
        assert!(
            root.flags == LEAF || root.flags == BRANCH,
            "root bucket is a page"
        );
        data_pages(bytes);

        let (mut started, mut bi, mut ii) = (false, 0usize, 0usize);
        let mut roots = Vec::new();
        let mut mismatch: Option<String> = None;
        let mut visit = |e: Entry<'_>| {
            if mismatch.is_some() {
                return;
            }
            if e.depth == 0 {
                if started {
                    if model.get(bi).map(|b| b.2.len()) != Some(ii) {
                        mismatch = Some(format!("bucket {bi} ended after {ii} items"));
                        return;
                    }
                    bi += 1;
                }
                started = true;
                ii = 0;
                let Some((name, seq, _)) = model.get(bi) else {
                    mismatch = Some(format!("extra bucket {:?}", HexKey(e.key.to_vec())));
                    return;
                };
                if !e.is_bucket || e.key != &name[..] || le_u64(e.value, 8) != *seq {
                    mismatch = Some(format!("bucket {bi}: {e:?}"));
                }
                roots.push(le_u64(e.value, 0));
                return;
            }
            let item = model.get(bi).and_then(|b| b.2.get(ii));
            if e.depth != 1 || e.is_bucket || item != Some(&(e.key.to_vec(), e.value.to_vec())) {
                mismatch = Some(format!(
                    "bucket {bi} item {ii}: got key {:?}",
                    HexKey(e.key.to_vec())
                ));
            }
            ii += 1;
        };
        let problems = db.walk(&mut visit).unwrap();
        assert_eq!(problems, vec![]);
        assert_eq!(mismatch, None);
        assert_eq!(roots.len(), model.len(), "buckets visited");
        if let Some(last) = model.last() {
            assert_eq!(ii, last.2.len(), "items of the last bucket");
        }

        for (name, _, items) in model {
            let step = (items.len() / 50).max(1);
            for (k, v) in items.iter().step_by(step).chain(items.last()) {
                assert_eq!(db.get(name, k).unwrap().as_ref(), Some(v));
            }
            assert_eq!(db.get(name, b"\xff\xff\xff\xff\xffabsent").unwrap(), None);
        }
        assert_eq!(db.get(b"\xff\xffno bucket", b"k").unwrap(), None);
        roots
    }

    fn bucket(name: &str, seq: u64, items: Vec<(Vec<u8>, Vec<u8>)>) -> (Vec<u8>, u64, Items) {
        (name.as_bytes().to_vec(), seq, items)
    }

    fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn no_buckets_gives_an_empty_root_leaf() {
        for ps in [1024, 4096, 16384, 65536] {
            let bytes = write_model(&vec![], ps);
            check(&vec![], &bytes);
            let meta = Meta::parse(&bytes, 0).unwrap();
            assert_eq!((meta.root, meta.pgid, meta.page_size), (2, 3, ps));
            let h = Header::parse(&bytes[2 * ps as usize..]);
            assert_eq!((h.id, h.flags, h.count, h.overflow), (2, LEAF, 0, 0));
        }
    }

    #[test]
    fn an_empty_bucket_is_a_32_byte_inline_value() {
        let model = vec![bucket("members", 0, vec![])];
        let bytes = write_model(&model, 4096);
        assert_eq!(check(&model, &bytes), vec![0]);
        // Root leaf: one bucket element (flags 0x01), value = header + empty leaf page image.
        let root = &bytes[2 * 4096..3 * 4096];
        assert_eq!(Header::parse(root).count, 1);
        assert_eq!(le_u32(root, 16), BUCKET_LEAF);
        assert_eq!(le_u32(root, 28), 32, "vsize");
        let value = &root[32 + 7..32 + 7 + 32];
        let mut expected = [0u8; 32];
        expected[24..26].copy_from_slice(&LEAF.to_le_bytes());
        assert_eq!(value, &expected[..]);
        assert_eq!(Meta::parse(&bytes, 0).unwrap().pgid, 3);
    }

    #[test]
    fn small_buckets_are_inline_and_keep_their_sequence() {
        let model = vec![
            bucket("alarm", 0, vec![]),
            bucket(
                "auth",
                7,
                vec![kv("authEnabled", "\x00"), kv("authRevision", "12345678")],
            ),
            bucket(
                "meta",
                u64::MAX,
                vec![kv("consistent_index", "\x00\x00\x00\x00\x00\x00\x01\x00")],
            ),
        ];
        for ps in [1024, 4096] {
            let bytes = write_model(&model, ps);
            assert_eq!(check(&model, &bytes), vec![0, 0, 0]);
            assert_eq!(
                Meta::parse(&bytes, 0).unwrap().pgid,
                3,
                "only the root leaf"
            );
        }
    }

    #[test]
    fn inline_up_to_a_quarter_page_and_not_one_byte_more() {
        for ps in [1024u32, 4096, 16384] {
            let quarter = ps as usize / 4;
            // One element: 16 + (16 + 1 + v) = quarter.
            let one = |extra: usize| vec![(b"k".to_vec(), vec![7u8; quarter - 33 + extra])];
            // Several elements summing to the same size.
            let several = |extra: usize| {
                let mut items: Vec<_> = (0..4).map(|i| (vec![b'a' + i], vec![1u8; 10])).collect();
                let used: usize = 16 + items.len() * (16 + 1 + 10);
                items.push((b"z".to_vec(), vec![2u8; quarter - used - 17 + extra]));
                items
            };
            for (items, inline) in [
                (one(0), true),
                (one(1), false),
                (several(0), true),
                (several(1), false),
            ] {
                let size: usize = 16
                    + items
                        .iter()
                        .map(|(k, v)| 16 + k.len() + v.len())
                        .sum::<usize>();
                assert_eq!(size, quarter + usize::from(!inline));
                let model = vec![(b"b".to_vec(), 3, items)];
                let bytes = write_model(&model, ps);
                let roots = check(&model, &bytes);
                assert_eq!(roots[0] == 0, inline, "page size {ps}, size {size}");
            }
        }
    }

    #[test]
    fn many_buckets_of_all_sizes() {
        let mut rng = Rng(42);
        let model: Model = (0..300u64)
            .map(|i| {
                let n = match i % 5 {
                    0 => 0,
                    1 => rng.range(1, 3),
                    2 => rng.range(4, 40),
                    _ => rng.range(41, 400),
                };
                let items = (0..n as u64)
                    .map(|j| (rev(j * 3 + 1), rng.bytes(0, 120)))
                    .collect();
                (format!("bucket{i:05}").into_bytes(), i * 11, items)
            })
            .collect();
        for ps in [1024, 4096] {
            let bytes = write_model(&model, ps);
            let roots = check(&model, &bytes);
            assert!(roots.contains(&0) && roots.iter().any(|&r| r != 0));
            // The root bucket itself spans several leaves under a branch.
            let meta = Meta::parse(&bytes, 0).unwrap();
            let root = Header::parse(&bytes[(meta.root * ps as u64) as usize..]);
            assert_eq!(root.flags, BRANCH, "page size {ps}");
        }
    }

    /// The first page of the chain of first children below `id`, and the number of levels.
    fn depth(bytes: &[u8], ps: u32, mut id: u64) -> usize {
        let mut levels = 1;
        loop {
            let at = (id * ps as u64) as usize;
            let h = Header::parse(&bytes[at..]);
            if h.flags == LEAF {
                return levels;
            }
            let end = at + (1 + h.overflow as usize) * ps as usize;
            id = branch_elements(&bytes[at..end], id).unwrap()[0].child;
            levels += 1;
        }
    }

    #[test]
    fn fifty_thousand_keys_make_a_multi_level_tree() {
        let mut rng = Rng(7);
        let items: Vec<_> = (1..=50_000u64)
            .map(|i| (rev(i), rng.bytes(100, 1000)))
            .collect();
        let model = vec![
            bucket("key", 0, items),
            bucket("lease", 0, vec![kv("l", "1")]),
        ];
        for ps in [4096, 16384] {
            let bytes = write_model(&model, ps);
            let roots = check(&model, &bytes);
            assert!(depth(&bytes, ps, roots[0]) >= 3, "root, branches, leaves");
            assert_eq!(roots[1], 0);
            let pages = data_pages(&bytes);
            // Packing is greedy: (almost) every leaf is filled to within one element of full.
            let data: usize = model[0].2.iter().map(|(k, v)| 16 + k.len() + v.len()).sum();
            let leaves = pages.iter().filter(|h| h.flags == LEAF).count();
            assert!(
                leaves <= data / (ps as usize - 16 - 16 - 17 - 1000) + 2,
                "{leaves} leaves"
            );
        }
    }

    #[test]
    fn leaves_are_packed_greedily_to_the_byte() {
        // 80-byte elements fill a 4096-byte page exactly (16 + 51 × 80); with 77-byte elements
        // 53 would need 4097 bytes, so a leaf holds 52.
        for (vlen, per_leaf) in [(62usize, 51u16), (59, 52)] {
            let items: Vec<_> = (0..3 * per_leaf)
                .map(|i| (i.to_be_bytes().to_vec(), vec![9u8; vlen]))
                .collect();
            let model = vec![(b"b".to_vec(), 0, items)];
            let bytes = write_model(&model, 4096);
            check(&model, &bytes);
            let counts: Vec<_> = data_pages(&bytes)
                .iter()
                .filter(|h| h.flags == LEAF && h.count > 1)
                .map(|h| (h.count, h.overflow))
                .collect();
            assert_eq!(counts, vec![(per_leaf, 0); 3], "{vlen}-byte values");
        }
    }

    #[test]
    fn large_values_get_overflow_pages() {
        let sizes = [
            5_000, 10, 12_000, 3, 100_000, 0, 5_000, 12_000, 100_000, 100_000, 20,
        ];
        let items: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (rev(i as u64 + 1), vec![i as u8 + 1; n]))
            .collect();
        let model = vec![bucket("key", 0, items), bucket("z", 0, vec![kv("a", "b")])];
        for ps in [4096u32, 16384] {
            let bytes = write_model(&model, ps);
            check(&model, &bytes);
            let pages = data_pages(&bytes);
            let overflow = |n: usize| ((32 + 17 + n) as u32).div_ceil(ps) - 1;
            for n in [5_000, 12_000, 100_000] {
                if 32 + 17 + n > ps as usize {
                    assert!(
                        pages
                            .iter()
                            .any(|h| h.flags == LEAF && h.count == 1 && h.overflow == overflow(n)),
                        "page size {ps}: a leaf of one {n}-byte value with overflow {}",
                        overflow(n)
                    );
                }
            }
        }
    }

    #[test]
    fn keys_of_32768_bytes_make_branch_pages_with_overflow() {
        let big = |c: u8| {
            let mut k = vec![c; MAX_KEY_SIZE];
            k[MAX_KEY_SIZE - 1] = 0;
            k
        };
        let mut items: Vec<_> = (0..200u8).map(|i| (vec![b'a', i], vec![i; 40])).collect();
        items.push((big(b'm'), b"big".to_vec()));
        items.extend((0..200u8).map(|i| (vec![b'n', i], vec![i; 40])));
        // Only big keys: every branch element is larger than a page.
        let only_big: Vec<_> = (b'p'..b'u').map(|c| (big(c), vec![c; 5])).collect();
        let model = vec![
            bucket("a", 0, items),
            bucket("b", 0, only_big),
            (big(b'c'), 1, vec![kv("k", "v")]),
        ];
        for ps in [1024u32, 4096, 16384] {
            let bytes = write_model(&model, ps);
            check(&model, &bytes);
            let pages = data_pages(&bytes);
            assert!(
                pages.iter().any(|h| h.flags == BRANCH && h.overflow > 0),
                "page size {ps}"
            );
        }
    }

    #[test]
    fn a_real_world_sized_file_on_disk_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let file = std::fs::File::create(&path).unwrap();
        let mut w = Writer::new(std::io::BufWriter::new(file), 4096).unwrap();
        let mut model: Model = Vec::new();
        for name in ["key", "meta"] {
            w.begin_bucket(name.as_bytes(), 0).unwrap();
            let items: Vec<_> = (1..=2000u64)
                .map(|i| (rev(i), vec![b'x'; (i % 300) as usize]))
                .collect();
            for (k, v) in &items {
                w.put(k, v).unwrap();
            }
            w.end_bucket().unwrap();
            model.push(bucket(name, 0, items));
        }
        let (out, pgid) = w.finish().unwrap();
        out.into_inner().unwrap().sync_all().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), pgid * 4096);
        let db = Db::open(&path).unwrap();
        assert_eq!(db.meta().pgid, pgid);
        db.check(&mut |_| {}).unwrap();
        check(&model, &std::fs::read(&path).unwrap());
    }

    fn kinds(r: io::Result<()>) -> (io::ErrorKind, String) {
        let e = r.unwrap_err();
        (e.kind(), e.to_string())
    }

    #[test]
    fn misuse_is_invalid_input_naming_the_key_and_leaves_the_writer_usable() {
        use io::ErrorKind::InvalidInput;
        for ps in [0, 512, 3000, 131072] {
            let e = Writer::new(Cursor::new(Vec::new()), ps).unwrap_err();
            assert_eq!(e.kind(), InvalidInput);
            assert!(e.to_string().contains(&format!("page size {ps}")), "{e}");
        }
        let mut w = Writer::new(Cursor::new(Vec::new()), 4096).unwrap();
        let (k, m) = kinds(w.put(b"k1", b"v"));
        assert_eq!(k, InvalidInput);
        assert!(
            m.contains("\"k1\"") && m.contains("no bucket is open"),
            "{m}"
        );
        assert!(kinds(w.end_bucket()).1.contains("no bucket is open"));
        assert!(kinds(w.begin_bucket(b"", 0))
            .1
            .contains("empty bucket name"));
        let long = vec![b'x'; MAX_KEY_SIZE + 1];
        assert!(kinds(w.begin_bucket(&long, 0)).1.contains("32769 bytes"));

        w.begin_bucket(b"b", 0).unwrap();
        let (k, m) = kinds(w.begin_bucket(b"c", 0));
        assert_eq!(k, InvalidInput);
        assert_eq!(m, "cannot begin bucket \"c\": bucket \"b\" is still open");
        w.put(b"\x01\x02", b"v").unwrap();
        let (k, m) = kinds(w.put(b"\x01\x02", b"again"));
        assert_eq!(k, InvalidInput);
        assert_eq!(
            m,
            "bucket \"b\": key 0x0102 is not after the previous key 0x0102"
        );
        let (_, m) = kinds(w.put(b"\x01", b"v"));
        assert_eq!(
            m,
            "bucket \"b\": key 0x01 is not after the previous key 0x0102"
        );
        let (k, m) = kinds(w.put(b"", b"v"));
        assert_eq!((k, m.as_str()), (InvalidInput, "bucket \"b\": empty key"));
        let (k, m) = kinds(w.put(&long, b"v"));
        assert_eq!(k, InvalidInput);
        assert!(
            m.starts_with("bucket \"b\": key \"xxx")
                && m.ends_with("is 32769 bytes, longer than 32768"),
            "{m}"
        );
        w.put(b"\x03", b"w").unwrap();
        w.end_bucket().unwrap();

        let (_, m) = kinds(w.begin_bucket(b"b", 0));
        assert_eq!(
            m,
            "bucket name \"b\" is not after the previous bucket name \"b\""
        );
        let (_, m) = kinds(w.begin_bucket(b"a", 0));
        assert_eq!(
            m,
            "bucket name \"a\" is not after the previous bucket name \"b\""
        );
        w.begin_bucket(b"d", 0).unwrap();
        let e = w.finish().unwrap_err();
        assert_eq!(e.kind(), InvalidInput);
        assert_eq!(e.to_string(), "cannot finish: bucket \"d\" is still open");

        // After the rejected calls, the same writer still produces exactly the valid calls.
        let mut w = Writer::new(Cursor::new(Vec::new()), 4096).unwrap();
        let _ = w.put(b"k", b"v");
        w.begin_bucket(b"b", 5).unwrap();
        w.put(b"\x01", b"v").unwrap();
        let _ = w.put(b"\x01", b"again");
        let _ = w.begin_bucket(b"c", 0);
        w.put(b"\x02", b"w").unwrap();
        w.end_bucket().unwrap();
        let _ = w.begin_bucket(b"a", 0);
        let (out, _) = w.finish().unwrap();
        let model = vec![(
            b"b".to_vec(),
            5,
            vec![(vec![1], b"v".to_vec()), (vec![2], b"w".to_vec())],
        )];
        check(&model, &out.into_inner());
    }

    /// Accepts `limit` bytes, then fails every write.
    struct FailAfter {
        written: usize,
        limit: usize,
    }
    impl Write for FailAfter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.written + buf.len() > self.limit {
                return Err(io::Error::other("disk full"));
            }
            self.written += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Seek for FailAfter {
        fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
            Ok(0)
        }
    }

    #[test]
    fn after_a_failed_write_every_call_fails() {
        let mut w = Writer::new(
            FailAfter {
                written: 0,
                limit: 3 * 4096,
            },
            4096,
        )
        .unwrap();
        w.begin_bucket(b"b", 0).unwrap();
        let mut failed = None;
        for i in 0..1000u64 {
            if let Err(e) = w.put(&rev(i), &[0u8; 100]) {
                failed = Some(e);
                break;
            }
        }
        assert_eq!(failed.unwrap().to_string(), "disk full");
        let e = w.put(&rev(5000), b"v").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Other);
        assert!(e.to_string().contains("earlier write failed"), "{e}");
        assert!(w.end_bucket().is_err());
        let e = w.finish().err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("earlier write failed")));
    }

    /// Discards what is written: a stand-in for a big file.
    struct Discard(u64);
    impl Write for Discard {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Seek for Discard {
        fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
            Ok(0)
        }
    }

    #[test]
    fn memory_stays_bounded_by_a_few_pages() {
        let ps = 4096;
        let mut w = Writer::new(Discard(0), ps).unwrap();
        let mut rng = Rng(3);
        let mut most = 0;
        for b in 0..3u8 {
            w.begin_bucket(&[b'a' + b], 0).unwrap();
            for i in 0..200_000u64 {
                w.put(&rev(i), &rng.bytes(10, 100)).unwrap();
                most = most.max(w.retained());
            }
            w.end_bucket().unwrap();
        }
        let written = w.sink.out.0;
        assert!(written > 3 * 200_000 * 60, "{written} bytes written");
        assert!(most <= 8 * ps as usize, "{most} bytes retained");
        // A value larger than a page streams through without being copied.
        w.begin_bucket(b"d", 0).unwrap();
        w.put(b"k", &vec![1u8; 10 << 20]).unwrap();
        assert!(
            w.retained() <= 8 * ps as usize,
            "{} bytes retained",
            w.retained()
        );
        w.end_bucket().unwrap();
        // Branch pages over keys as large as pages take several pages; the scratch buffer does not
        // keep that size.
        w.begin_bucket(b"e", 0).unwrap();
        for c in b'a'..b'f' {
            w.put(&vec![c; MAX_KEY_SIZE], b"v").unwrap();
        }
        w.end_bucket().unwrap();
        assert!(w.sink.buf.capacity() <= ps as usize);
        w.finish().unwrap();
    }

    /// etcd-like content: `key` revisions with `KeyValue` values, `meta/consistent_index`.
    fn etcd_model(revisions: u64, value_len: usize) -> Model {
        let key_items = (1..=revisions)
            .map(|r| {
                let kv = schema::KeyValue {
                    key: format!("/registry/pods/p{}", r % 97).into_bytes(),
                    create_revision: 1 + (r as i64 - 1) / 2,
                    mod_revision: r as i64,
                    version: 1,
                    value: vec![b'v'; value_len + (r as usize * 31) % 200],
                    lease: 0,
                };
                (rev(r), prost::Message::encode_to_vec(&kv))
            })
            .collect();
        vec![
            bucket("alarm", 0, vec![]),
            bucket("key", 0, key_items),
            bucket("lease", 0, vec![]),
            bucket("members", 0, vec![kv("8e9e05c52164694d", "{\"id\":1}")]),
            (
                b"meta".to_vec(),
                0,
                vec![(b"consistent_index".to_vec(), 500u64.to_be_bytes().to_vec())],
            ),
        ]
    }

    #[test]
    fn inspect_finds_no_problem_and_the_status_hash_depends_on_content_only() {
        let model = etcd_model(3000, 300);
        let mut crc = 0u32;
        for (name, _, items) in &model {
            crc = crc32c::crc32c_append(crc, name);
            for (k, v) in items {
                crc = crc32c::crc32c_append(crc32c::crc32c_append(crc, k), v);
            }
        }
        let mut statuses = Vec::new();
        for ps in [1024, 4096, 16384] {
            let bytes = write_model(&model, ps);
            let db = Db::from_bytes(&bytes, Path::new("mem")).unwrap();
            let report = schema::inspect_db(&db, true).unwrap();
            assert_eq!(report.corruption, vec![]);
            assert_eq!(report.schema, Vec::<String>::new());
            assert_eq!(report.consistent_index, Some(500));
            assert_eq!(report.status.total_size, bytes.len() as u64);
            statuses.push(report.status);
        }
        for s in &statuses {
            assert_eq!((s.hash, s.revision, s.total_key), (crc, 3000, 3002));
        }
        assert!(
            statuses[0].total_size != statuses[2].total_size,
            "different layouts"
        );
    }

    /// What `restore` does: copy every bucket of a file into the writer, from a walk.
    fn copy(src: &Db<[u8]>, ps: u32) -> Vec<u8> {
        let mut w = Writer::new(Cursor::new(Vec::new()), ps).unwrap();
        let mut open = false;
        let mut err = None;
        src.check(&mut |e| {
            let r = match (e.depth, e.is_bucket) {
                (0, true) => {
                    let ended = if open { w.end_bucket() } else { Ok(()) };
                    open = true;
                    ended.and_then(|()| w.begin_bucket(e.key, le_u64(e.value, 8)))
                }
                (1, false) => w.put(e.key, e.value),
                _ => Err(io::Error::other("nested bucket")),
            };
            if let (Err(e), None) = (r, &err) {
                err = Some(e);
            }
        })
        .unwrap();
        assert!(err.is_none(), "{err:?}");
        if open {
            w.end_bucket().unwrap();
        }
        w.finish().unwrap().0.into_inner()
    }

    #[test]
    fn real_snapshots_copy_with_the_same_status() {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        for name in ["etcd-3.4.23-small.db", "etcd-3.5.1-small.db"] {
            let bytes = std::fs::read(seeds.join(name)).unwrap();
            let src = Db::from_bytes(&bytes, Path::new(name)).unwrap();
            let before = schema::inspect_db(&src, true).unwrap();
            assert_eq!(before.corruption, vec![]);
            let ps = src.meta().page_size;
            let copied = copy(&src, ps);
            let db = Db::from_bytes(&copied, Path::new("copy")).unwrap();
            let after = schema::inspect_db(&db, true).unwrap();
            assert_eq!(after.corruption, vec![], "{name}");
            assert_eq!(after.schema, before.schema, "{name}");
            let status = |s: &schema::Status| (s.hash, s.revision, s.total_key, s.version.clone());
            assert_eq!(status(&after.status), status(&before.status), "{name}");
            assert!(
                after.status.total_size <= before.status.total_size,
                "{name}: compact"
            );
            // Bucket headers (sequence, inline-ness of small buckets) carry over.
            let headers = |db: &Db<[u8]>| {
                let mut out = Vec::new();
                db.walk(&mut |e| {
                    if e.depth == 0 {
                        out.push((e.key.to_vec(), le_u64(e.value, 8), le_u64(e.value, 0) == 0));
                    }
                })
                .unwrap();
                out
            };
            assert_eq!(headers(&db), headers(&src), "{name}");
        }
    }

    fn model_strategy() -> impl Strategy<Value = Model> {
        let key = prop::collection::vec(any::<u8>(), 1..24);
        let value = prop_oneof![
            4 => prop::collection::vec(any::<u8>(), 0..64),
            1 => prop::collection::vec(any::<u8>(), 0..6000),
        ];
        let items = prop::collection::btree_map(key.clone(), value, 0..120);
        prop::collection::btree_map(key, (any::<u64>(), items), 0..6).prop_map(|buckets| {
            buckets
                .into_iter()
                .map(|(name, (seq, items))| (name, seq, items.into_iter().collect()))
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn any_content_round_trips(model in model_strategy(), ps in prop_oneof![Just(1024u32), Just(4096)]) {
            let bytes = write_model(&model, ps);
            check(&model, &bytes);
        }
    }
}
