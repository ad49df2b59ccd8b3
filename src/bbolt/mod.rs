//! A pure reader for bbolt files, as etcd writes them (bbolt v1.3.6 – v1.4.x).
//!
//! Pages are read with positioned reads, one page (plus its overflow) at a time, so memory does not
//! grow with the file. Every offset and length is checked against the page and the high-water mark
//! before use; a damaged file gives a [`Corruption`] naming the page, the element and the values,
//! never a panic, a hang or an unbounded allocation.
//!
//! [`Db::walk`] visits every bucket in key order and, on the way, makes the checks bbolt's
//! `tx.Check()` makes (`tx_check.go`): every page below the high-water mark is reachable exactly
//! once or free, no page is out of range, page types are right, and keys are in order within pages
//! and between a branch and its children (the v1.3.7+ checks).

#![forbid(unsafe_code)]

pub mod meta;
pub mod page;
/// Public for the integration tests, which make files no etcd here writes (3.6+ schemas).
#[doc(hidden)]
pub mod write;

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Where pages come from: a file (positioned reads) or, for tests and fuzzing, bytes in memory.
pub trait ReadAt {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
    /// Bytes available.
    fn size(&self) -> std::io::Result<u64>;
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
        {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(std::io::ErrorKind::UnexpectedEof.into()),
        }
    }
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.len() as u64)
    }
}

pub use meta::Meta;
use page::{Header, BRANCH, BUCKET_LEAF, FREELIST, LEAF};

/// Deepest branch/leaf tree accepted (a real bbolt tree of 2⁴⁰ keys is under 20 levels deep).
const MAX_TREE_DEPTH: usize = 64;
/// Deepest bucket nesting accepted (etcd uses one level).
const MAX_BUCKET_DEPTH: usize = 16;
/// A walk stops collecting after this many problems.
pub(crate) const MAX_CORRUPTIONS: usize = 100;

/// One problem in a bbolt file. Each names the page and the values involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    #[error("file is {len} bytes, too small for two meta pages")]
    TooSmall { len: u64 },
    #[error("no valid meta page: meta 0: {meta0}; meta 1: {meta1}")]
    NoValidMeta { meta0: String, meta1: String },
    #[error(
        "high-water mark {pgid} × page size {page_size} = {needed} bytes, \
         but the file has {len} (truncated?)"
    )]
    Truncated {
        pgid: u64,
        page_size: u32,
        needed: u64,
        len: u64,
    },
    #[error("page {page} (from {from}) is out of bounds: high-water mark is {pgid}")]
    OutOfBounds { page: u64, from: String, pgid: u64 },
    #[error("page {page}: header says id {found}")]
    IdMismatch { page: u64, found: u64 },
    #[error("page {page} (from {from}): invalid type {flags:#06x} ({kind}), expected {expected}")]
    InvalidType {
        page: u64,
        from: String,
        flags: u16,
        kind: &'static str,
        expected: &'static str,
    },
    #[error("page {page}: multiple references")]
    MultipleReferences { page: u64 },
    #[error("page {page}: reachable freed")]
    ReachableFreed { page: u64 },
    #[error("page {page}: unreachable unfreed")]
    UnreachableUnfreed { page: u64 },
    #[error("page {page}: element {index} {what} ends at {end}, beyond the page's {limit} bytes")]
    ElementOutOfBounds {
        page: u64,
        index: usize,
        what: &'static str,
        end: u64,
        limit: u64,
    },
    #[error("{kind} page {page}: element {index} key {key} is not after the previous key {prev}")]
    KeyOrder {
        kind: &'static str,
        page: u64,
        index: usize,
        key: HexKey,
        prev: HexKey,
    },
    #[error(
        "{kind} page {page}: key {key} is below {bound}, the key of the branch element \
             pointing to it"
    )]
    KeyBelowParent {
        kind: &'static str,
        page: u64,
        key: HexKey,
        bound: HexKey,
    },
    #[error("{kind} page {page}: key {key} is not below {bound}, the next key in the parent")]
    KeyAboveParent {
        kind: &'static str,
        page: u64,
        key: HexKey,
        bound: HexKey,
    },
    #[error("{kind} page {page} has no elements")]
    Empty { kind: &'static str, page: u64 },
    #[error("tree below page {page} is deeper than {MAX_TREE_DEPTH} levels (a cycle?)")]
    TooDeep { page: u64 },
    #[error("bucket {bucket}: {reason}")]
    BadBucket { bucket: HexKey, reason: String },
    #[error("freelist page {page}: {reason}")]
    BadFreelist { page: u64, reason: String },
}

/// A key shown as text when printable, else hex, and shortened when long.
#[derive(Clone, PartialEq, Eq)]
pub struct HexKey(pub Vec<u8>);

impl fmt::Display for HexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = &self.0[..self.0.len().min(64)];
        let more = if self.0.len() > 64 { "…" } else { "" };
        if !shown.is_empty() && shown.iter().all(|b| b.is_ascii_graphic()) {
            write!(f, "{:?}{more}", String::from_utf8_lossy(shown))
        } else {
            write!(f, "0x{}{more}", hex::encode(shown))
        }
    }
}

impl fmt::Debug for HexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a file could not be read or checked.
#[derive(Debug, thiserror::Error)]
pub enum BboltError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid bbolt file: {corruption}")]
    Invalid {
        path: PathBuf,
        corruption: Corruption,
    },
    #[error("{path} failed the bbolt integrity check: {} problem(s), first: {}",
            .problems.len(), .problems.first().map(|c| c.to_string()).unwrap_or_default())]
    Corrupt {
        path: PathBuf,
        problems: Vec<Corruption>,
    },
}

/// One key/value pair met during a walk.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// 0 for the root bucket's entries (top-level bucket names), 1 inside a top-level bucket.
    pub depth: usize,
    pub key: &'a [u8],
    /// For a bucket entry this is the raw bucket header (and inline page).
    pub value: &'a [u8],
    pub is_bucket: bool,
}

/// An open bbolt file (or image in memory).
#[derive(Debug)]
pub struct Db<S: ReadAt + ?Sized = File> {
    file: Box<S>,
    path: PathBuf,
    len: u64,
    meta: Meta,
    /// A meta page that did not validate while the other one did (bbolt uses the other one
    /// silently; a snapshot should have both).
    damaged_meta: Option<String>,
}

impl Db<File> {
    /// Opens `path` read-only and picks the valid meta page with the higher txid.
    pub fn open(path: &Path) -> Result<Db<File>, BboltError> {
        let file = File::open(path).map_err(|source| BboltError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Db::from_source(Box::new(file), path)
    }
}

impl Db<[u8]> {
    /// Reads a bbolt image held in memory; `name` is used in messages.
    pub fn from_bytes(bytes: &[u8], name: &Path) -> Result<Db<[u8]>, BboltError> {
        Db::from_source(bytes.into(), name)
    }
}

impl<S: ReadAt + ?Sized> Db<S> {
    /// Opens a source and picks the valid meta page with the higher txid.
    pub(crate) fn from_source(file: Box<S>, path: &Path) -> Result<Db<S>, BboltError> {
        let io = |source| BboltError::Io {
            path: path.to_path_buf(),
            source,
        };
        let invalid = |corruption| BboltError::Invalid {
            path: path.to_path_buf(),
            corruption,
        };
        let len = file.size().map_err(io)?;
        let mut first = vec![0u8; meta::META_END];
        if len < meta::META_END as u64 {
            return Err(invalid(Corruption::TooSmall { len }));
        }
        file.read_exact_at(&mut first, 0).map_err(io)?;
        // Meta 1 sits one page in; its page size is unknown when meta 0 is damaged, so probe
        // the page sizes bbolt can write (as bbolt v1.3.7+ does).
        let meta0 = Meta::parse(&first, 0);
        let mut meta1 = Err("not found at any page size".to_string());
        let sizes: Vec<u32> = match &meta0 {
            Ok(m) => vec![m.page_size],
            Err(_) => (9..=16).map(|s| 1u32 << s).collect(),
        };
        for size in sizes {
            if len < size as u64 + meta::META_END as u64 {
                continue;
            }
            let mut buf = vec![0u8; meta::META_END];
            file.read_exact_at(&mut buf, size as u64).map_err(io)?;
            meta1 = Meta::parse(&buf, 1).and_then(|m| {
                if m.page_size == size {
                    Ok(m)
                } else {
                    Err(format!(
                        "page size {} but found at offset {size}",
                        m.page_size
                    ))
                }
            });
            if meta1.is_ok() {
                break;
            }
        }
        let mut damaged_meta = None;
        let meta = match (meta0, meta1) {
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid {
                    b
                } else {
                    a
                }
            }
            (Ok(a), Err(why)) => {
                damaged_meta = Some(format!("meta page 1 is invalid ({why}); using meta page 0"));
                a
            }
            (Err(why), Ok(b)) => {
                damaged_meta = Some(format!("meta page 0 is invalid ({why}); using meta page 1"));
                b
            }
            (Err(meta0), Err(meta1)) => {
                return Err(invalid(Corruption::NoValidMeta { meta0, meta1 }))
            }
        };
        if meta.size() > len {
            return Err(invalid(Corruption::Truncated {
                pgid: meta.pgid,
                page_size: meta.page_size,
                needed: meta.size(),
                len,
            }));
        }
        Ok(Db {
            file,
            path: path.to_path_buf(),
            len,
            meta,
            damaged_meta,
        })
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Why one meta page was unusable, when the other one was used instead.
    pub(crate) fn damaged_meta(&self) -> Option<&str> {
        self.damaged_meta.as_deref()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Length of the file in bytes (may exceed [`Meta::size`], e.g. by a snapshot's trailer).
    pub(crate) fn file_len(&self) -> u64 {
        self.len
    }

    /// Reads page `id` and its overflow pages. Bounds are checked before anything is allocated
    /// beyond one page.
    fn read_page(&self, id: u64, from: &dyn Fn() -> String) -> Result<Vec<u8>, WalkError> {
        let pgid = self.meta.pgid;
        if id < 2 || id >= pgid {
            return Err(WalkError::Corrupt(Corruption::OutOfBounds {
                page: id,
                from: from(),
                pgid,
            }));
        }
        let ps = self.meta.page_size as u64;
        let mut buf = vec![0u8; ps as usize];
        self.file
            .read_exact_at(&mut buf, id * ps)
            .map_err(WalkError::Io)?;
        let h = Header::parse(&buf);
        if h.id != id {
            return Err(WalkError::Corrupt(Corruption::IdMismatch {
                page: id,
                found: h.id,
            }));
        }
        if h.overflow > 0 {
            let last = id.saturating_add(h.overflow as u64);
            if last >= pgid {
                return Err(WalkError::Corrupt(Corruption::OutOfBounds {
                    page: last,
                    from: format!("overflow of page {id}"),
                    pgid,
                }));
            }
            let total = (h.overflow as u64 + 1) * ps;
            buf.resize(total as usize, 0);
            self.file
                .read_exact_at(&mut buf[ps as usize..], (id + 1) * ps)
                .map_err(WalkError::Io)?;
        }
        Ok(buf)
    }

    fn corrupt(&self, c: Corruption) -> BboltError {
        BboltError::Corrupt {
            path: self.path.clone(),
            problems: vec![c],
        }
    }

    /// Descends the tree at page `root` to `key`: its leaf flags and value, if present.
    fn lookup(&self, root: u64, key: &[u8]) -> Result<Option<(u32, Vec<u8>)>, BboltError> {
        let mut id = root;
        for _ in 0..=MAX_TREE_DEPTH {
            let buf = match self.read_page(id, &|| "lookup".to_string()) {
                Ok(b) => b,
                Err(WalkError::Io(source)) => {
                    return Err(BboltError::Io {
                        path: self.path.clone(),
                        source,
                    })
                }
                Err(WalkError::Corrupt(c)) => return Err(self.corrupt(c)),
            };
            match Header::parse(&buf).flags {
                BRANCH => {
                    let elems = page::branch_elements(&buf, id).map_err(|c| self.corrupt(c))?;
                    let next = elems.iter().take_while(|e| e.key <= key).last();
                    match next.or(elems.first()) {
                        Some(e) => id = e.child,
                        None => return Ok(None),
                    }
                }
                LEAF => {
                    let elems = page::leaf_elements(&buf, id).map_err(|c| self.corrupt(c))?;
                    return Ok(elems
                        .iter()
                        .find(|e| e.key == key)
                        .map(|e| (e.flags, e.value.to_vec())));
                }
                _ => return Ok(None),
            }
        }
        Err(self.corrupt(Corruption::TooDeep { page: root }))
    }

    /// The header (and inline page) of the top-level bucket `bucket`; `None` when there is no
    /// such bucket.
    fn bucket_header(&self, bucket: &[u8]) -> Result<Option<Vec<u8>>, BboltError> {
        Ok(match self.lookup(self.meta.root, bucket)? {
            Some((flags, header)) if flags & BUCKET_LEAF != 0 && header.len() >= 16 => Some(header),
            _ => None,
        })
    }

    /// Looks up `key` in the top-level bucket `bucket` by descending the trees, without a walk.
    /// `Ok(None)` when the bucket or the key does not exist.
    pub fn get(&self, bucket: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>, BboltError> {
        let Some(header) = self.bucket_header(bucket)? else {
            return Ok(None);
        };
        match page::le_u64(&header, 0) {
            0 => {
                let inline = &header[16..];
                let elems = page::leaf_elements(inline, 0).map_err(|c| self.corrupt(c))?;
                Ok(elems
                    .iter()
                    .find(|e| e.key == key)
                    .map(|e| e.value.to_vec()))
            }
            root => Ok(self.lookup(root, key)?.map(|(_, v)| v)),
        }
    }

    /// Walks the top-level bucket `bucket` alone, with the same checks as [`Db::walk`], calling
    /// `visit` for each of its entries (depth 1). `Ok(false)` when there is no such bucket.
    pub(crate) fn walk_bucket(
        &self,
        bucket: &[u8],
        visit: &mut dyn FnMut(Entry<'_>),
    ) -> Result<bool, BboltError> {
        let Some(header) = self.bucket_header(bucket)? else {
            return Ok(false);
        };
        let mut w = Walker {
            db: self,
            reachable: vec![0u64; (self.meta.pgid as usize).div_ceil(64)],
            problems: Vec::new(),
            visit,
        };
        w.bucket(bucket, &header, 1)
            .map_err(|source| BboltError::Io {
                path: self.path.clone(),
                source,
            })?;
        if w.problems.is_empty() {
            Ok(true)
        } else {
            Err(BboltError::Corrupt {
                path: self.path.clone(),
                problems: w.problems,
            })
        }
    }

    /// Walks every bucket in key order, calling `visit` for each entry, and checks the file as
    /// bbolt's `tx.Check()` does. Problems are collected (up to [`MAX_CORRUPTIONS`]); an
    /// I/O error stops the walk.
    pub fn walk(&self, visit: &mut dyn FnMut(Entry<'_>)) -> Result<Vec<Corruption>, BboltError> {
        let mut w = Walker {
            db: self,
            reachable: vec![0u64; (self.meta.pgid as usize).div_ceil(64)],
            problems: Vec::new(),
            visit,
        };
        let result = w.run();
        match result {
            Ok(()) => Ok(w.problems),
            Err(source) => Err(BboltError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Walks and fails on any problem: the check `etcdutl snapshot status` runs first.
    pub fn check(&self, visit: &mut dyn FnMut(Entry<'_>)) -> Result<(), BboltError> {
        let problems = self.walk(visit)?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BboltError::Corrupt {
                path: self.path.clone(),
                problems,
            })
        }
    }
}

enum WalkError {
    Io(std::io::Error),
    Corrupt(Corruption),
}

struct Walker<'d, 'v, S: ReadAt + ?Sized> {
    db: &'d Db<S>,
    reachable: Vec<u64>,
    problems: Vec<Corruption>,
    visit: &'v mut dyn FnMut(Entry<'_>),
}

/// Key bounds a subtree must respect: `lower <= key < upper`.
#[derive(Clone, Copy)]
struct Bounds<'a> {
    lower: Option<&'a [u8]>,
    upper: Option<&'a [u8]>,
}

impl<S: ReadAt + ?Sized> Walker<'_, '_, S> {
    fn problem(&mut self, c: Corruption) {
        if self.problems.len() < MAX_CORRUPTIONS {
            self.problems.push(c);
        }
    }

    fn full(&self) -> bool {
        self.problems.len() >= MAX_CORRUPTIONS
    }

    fn run(&mut self) -> std::io::Result<()> {
        let meta = *self.db.meta();
        self.mark(0, 0);
        self.mark(1, 0);
        let mut free = Vec::new();
        if meta.freelist != meta::NO_FREELIST {
            free = self.read_freelist(meta.freelist)?;
        }
        let root_bounds = Bounds {
            lower: None,
            upper: None,
        };
        self.tree(meta.root, 0, 0, root_bounds, &|| "meta root".to_string())?;
        // With a freelist, every page must be reachable or free; etcd files have none, and then
        // "free" means "unreachable" (bbolt NoFreelistSync), so nothing can be unaccounted for.
        if meta.freelist != meta::NO_FREELIST {
            let mut is_free = vec![0u64; self.reachable.len()];
            for &id in &free {
                if id < meta.pgid {
                    let (w, b) = ((id / 64) as usize, id % 64);
                    is_free[w] |= 1 << b;
                }
            }
            for id in 2..meta.pgid {
                let (w, b) = ((id / 64) as usize, id % 64);
                let r = self.reachable[w] & (1 << b) != 0;
                let f = is_free[w] & (1 << b) != 0;
                if r && f {
                    self.problem(Corruption::ReachableFreed { page: id });
                } else if !r && !f {
                    self.problem(Corruption::UnreachableUnfreed { page: id });
                }
            }
        }
        Ok(())
    }

    /// Marks pages `id ..= id + overflow` reachable; reports double references.
    fn mark(&mut self, id: u64, overflow: u32) -> bool {
        let mut ok = true;
        for p in id..=id.saturating_add(overflow as u64) {
            let (w, b) = ((p / 64) as usize, p % 64);
            let Some(word) = self.reachable.get_mut(w) else {
                continue;
            };
            let seen = *word & (1 << b) != 0;
            *word |= 1 << b;
            if seen {
                self.problem(Corruption::MultipleReferences { page: p });
                ok = false;
            }
        }
        ok
    }

    /// Reads a page for the walk: `None` (with the problem recorded) when it is damaged.
    fn load(&mut self, id: u64, from: &dyn Fn() -> String) -> std::io::Result<Option<Vec<u8>>> {
        match self.db.read_page(id, from) {
            Ok(b) => Ok(Some(b)),
            Err(WalkError::Io(e)) => Err(e),
            Err(WalkError::Corrupt(c)) => {
                self.problem(c);
                Ok(None)
            }
        }
    }

    fn read_freelist(&mut self, id: u64) -> std::io::Result<Vec<u64>> {
        let Some(buf) = self.load(id, &|| "meta freelist".to_string())? else {
            return Ok(Vec::new());
        };
        let h = Header::parse(&buf);
        if h.flags != FREELIST {
            self.problem(Corruption::BadFreelist {
                page: id,
                reason: format!("type {:#06x} ({})", h.flags, h.kind()),
            });
            return Ok(Vec::new());
        }
        self.mark(id, h.overflow);
        let (count, start) = if h.count == 0xFFFF {
            (page::le_u64(&buf, page::HEADER), page::HEADER + 8)
        } else {
            (h.count as u64, page::HEADER)
        };
        let end = (start as u64).saturating_add(count.saturating_mul(8));
        if end > buf.len() as u64 {
            self.problem(Corruption::BadFreelist {
                page: id,
                reason: format!(
                    "{count} ids end at {end}, beyond the page's {} bytes",
                    buf.len()
                ),
            });
            return Ok(Vec::new());
        }
        let ids: Vec<u64> = (0..count as usize)
            .map(|i| page::le_u64(&buf, start + 8 * i))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        for pair in sorted.windows(2) {
            if pair[0] == pair[1] {
                self.problem(Corruption::BadFreelist {
                    page: id,
                    reason: format!("page {} already freed", pair[0]),
                });
            }
        }
        Ok(ids)
    }

    /// Walks the tree rooted at page `id`, whose entries are at bucket depth `depth`.
    fn tree(
        &mut self,
        id: u64,
        depth: usize,
        level: usize,
        bounds: Bounds<'_>,
        from: &dyn Fn() -> String,
    ) -> std::io::Result<()> {
        if self.full() {
            return Ok(());
        }
        if level > MAX_TREE_DEPTH {
            self.problem(Corruption::TooDeep { page: id });
            return Ok(());
        }
        let Some(buf) = self.load(id, from)? else {
            return Ok(());
        };
        let h = Header::parse(&buf);
        if !self.mark(id, h.overflow) {
            return Ok(()); // already walked from elsewhere: do not walk it twice
        }
        match h.flags {
            BRANCH => self.branch(id, &buf, depth, level, bounds),
            LEAF => self.leaf(id, &buf, depth, bounds),
            flags => {
                self.problem(Corruption::InvalidType {
                    page: id,
                    from: from(),
                    flags,
                    kind: h.kind(),
                    expected: "branch or leaf",
                });
                Ok(())
            }
        }
    }

    fn branch(
        &mut self,
        id: u64,
        buf: &[u8],
        depth: usize,
        level: usize,
        bounds: Bounds<'_>,
    ) -> std::io::Result<()> {
        let elems = match page::branch_elements(buf, id) {
            Ok(e) => e,
            Err(c) => {
                self.problem(c);
                return Ok(());
            }
        };
        if elems.is_empty() {
            self.problem(Corruption::Empty {
                kind: "branch",
                page: id,
            });
            return Ok(());
        }
        if !self.keys_in_order("branch", id, elems.iter().map(|e| e.key), bounds) {
            return Ok(());
        }
        for (i, e) in elems.iter().enumerate() {
            let child_bounds = Bounds {
                lower: Some(e.key),
                upper: elems.get(i + 1).map(|n| n.key).or(bounds.upper),
            };
            self.tree(e.child, depth, level + 1, child_bounds, &|| {
                format!("branch page {id} element {i}")
            })?;
        }
        Ok(())
    }

    /// Checks keys strictly increase and stay within `bounds`; reports and returns false if not.
    fn keys_in_order<'k>(
        &mut self,
        kind: &'static str,
        id: u64,
        keys: impl Iterator<Item = &'k [u8]>,
        bounds: Bounds<'_>,
    ) -> bool {
        let mut prev: Option<&[u8]> = None;
        for (i, key) in keys.enumerate() {
            if let Some(p) = prev {
                if key <= p {
                    self.problem(Corruption::KeyOrder {
                        kind,
                        page: id,
                        index: i,
                        key: HexKey(key.to_vec()),
                        prev: HexKey(p.to_vec()),
                    });
                    return false;
                }
            } else if let Some(lower) = bounds.lower {
                if key < lower {
                    self.problem(Corruption::KeyBelowParent {
                        kind,
                        page: id,
                        key: HexKey(key.to_vec()),
                        bound: HexKey(lower.to_vec()),
                    });
                    return false;
                }
            }
            if let Some(upper) = bounds.upper {
                if key >= upper {
                    self.problem(Corruption::KeyAboveParent {
                        kind,
                        page: id,
                        key: HexKey(key.to_vec()),
                        bound: HexKey(upper.to_vec()),
                    });
                    return false;
                }
            }
            prev = Some(key);
        }
        true
    }

    fn leaf(
        &mut self,
        id: u64,
        buf: &[u8],
        depth: usize,
        bounds: Bounds<'_>,
    ) -> std::io::Result<()> {
        let elems = match page::leaf_elements(buf, id) {
            Ok(e) => e,
            Err(c) => {
                self.problem(c);
                return Ok(());
            }
        };
        if !self.keys_in_order("leaf", id, elems.iter().map(|e| e.key), bounds) {
            return Ok(());
        }
        self.visit_elements(&elems, depth)
    }

    /// Hands each element of a leaf (page or inline) to the visitor, descending into buckets.
    fn visit_elements(
        &mut self,
        elems: &[page::LeafElement<'_>],
        depth: usize,
    ) -> std::io::Result<()> {
        for e in elems {
            let is_bucket = e.flags & BUCKET_LEAF != 0;
            (self.visit)(Entry {
                depth,
                key: e.key,
                value: e.value,
                is_bucket,
            });
            if is_bucket {
                self.bucket(e.key, e.value, depth + 1)?;
            }
        }
        Ok(())
    }

    /// Walks a bucket given its header value: a root page, or an inline leaf page.
    fn bucket(&mut self, name: &[u8], value: &[u8], depth: usize) -> std::io::Result<()> {
        let bad = |reason: String| Corruption::BadBucket {
            bucket: HexKey(name.to_vec()),
            reason,
        };
        if depth > MAX_BUCKET_DEPTH {
            self.problem(bad(format!(
                "nested deeper than {MAX_BUCKET_DEPTH} buckets"
            )));
            return Ok(());
        }
        if value.len() < 16 {
            self.problem(bad(format!("header is {} bytes, expected 16", value.len())));
            return Ok(());
        }
        let root = page::le_u64(value, 0);
        let unbounded = Bounds {
            lower: None,
            upper: None,
        };
        if root != 0 {
            if value.len() != 16 {
                self.problem(bad(format!(
                    "root page {root} but {} bytes of inline data follow",
                    value.len() - 16
                )));
                return Ok(());
            }
            let from = || format!("bucket {}", HexKey(name.to_vec()));
            return self.tree(root, depth, 0, unbounded, &from);
        }
        let inline = &value[16..];
        if inline.len() < page::HEADER {
            self.problem(bad(format!(
                "inline page is {} bytes, shorter than a page header",
                inline.len()
            )));
            return Ok(());
        }
        let h = Header::parse(inline);
        if h.flags != LEAF || h.overflow != 0 {
            self.problem(bad(format!(
                "inline page has flags {:#06x} ({}) and overflow {}, expected a plain leaf",
                h.flags,
                h.kind(),
                h.overflow
            )));
            return Ok(());
        }
        // Inline pages have no page of their own; report element problems against the bucket.
        let elems = match page::leaf_elements(inline, 0) {
            Ok(e) => e,
            Err(c) => {
                self.problem(bad(format!("inline page: {c}")));
                return Ok(());
            }
        };
        let mut prev: Option<&[u8]> = None;
        for (i, e) in elems.iter().enumerate() {
            if prev.is_some_and(|p| e.key <= p) {
                self.problem(bad(format!(
                    "inline page: element {i} key {} is not after the previous key",
                    HexKey(e.key.to_vec())
                )));
                return Ok(());
            }
            prev = Some(e.key);
        }
        self.visit_elements(&elems, depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `walk_bucket` sees exactly the entries a full walk sees inside that bucket.
    #[test]
    fn walk_bucket_matches_the_full_walk() {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        for name in ["etcd-3.4.23-small.db", "etcd-3.5.1-small.db"] {
            let bytes = std::fs::read(seeds.join(name)).unwrap();
            let db = Db::from_bytes(&bytes, Path::new(name)).unwrap();
            for bucket in [&b"members"[..], b"key", b"meta"] {
                let mut full = Vec::new();
                let mut current = Vec::new();
                let problems = db
                    .walk(&mut |e| {
                        if e.depth == 0 {
                            current = e.key.to_vec();
                        } else if current == bucket {
                            full.push((e.key.to_vec(), e.value.to_vec()));
                        }
                    })
                    .unwrap();
                assert!(problems.is_empty());
                let mut alone = Vec::new();
                let found = db
                    .walk_bucket(bucket, &mut |e| {
                        assert_eq!(e.depth, 1);
                        alone.push((e.key.to_vec(), e.value.to_vec()));
                    })
                    .unwrap();
                assert!(found);
                assert!(!full.is_empty(), "{name}: {bucket:?} is empty");
                assert_eq!(alone, full, "{name}: {bucket:?}");
            }
            assert!(!db.walk_bucket(b"no-such-bucket", &mut |_| {}).unwrap());
        }
    }
}
