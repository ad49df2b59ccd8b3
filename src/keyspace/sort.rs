//! Key order with bounded memory: versions of keys arrive in revision order; [`Sorter`] keeps
//! them in memory up to a budget, sorted by (key, revision), keeping only the newest version of
//! each key; past the budget each batch becomes a run in a [`Scratch`] file (sealed when the
//! backup was encrypted, so no plaintext reaches the disk), and [`Sorted`] merges the runs.
//!
//! ```text
//! record   key_len u32 LE | key | main i64 | sub i64 | tomb u8 | create i64 | version i64
//!          | lease i64 | value_len u64 | storage u32 | stored_len u32 | stored value
//! ```

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::{self, Read};
use std::path::PathBuf;

use crate::backup::spill::{Scratch, BLOCK};
use crate::bbolt::ReadAt;

/// One version of one key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Rec {
    pub key: Vec<u8>,
    pub main: i64,
    pub sub: i64,
    pub tomb: bool,
    pub create: i64,
    pub version: i64,
    pub lease: i64,
    /// The value's length (the value itself is kept only when asked for).
    pub value_len: u64,
    /// What [`super::Scan`]'s caller made of the value (an index into its own table).
    pub storage: u32,
    pub value: Vec<u8>,
}

impl Rec {
    fn order(&self, other: &Rec) -> Ordering {
        (&self.key, self.main, self.sub).cmp(&(&other.key, other.main, other.sub))
    }

    fn weight(&self) -> usize {
        self.key.len() + self.value.len() + std::mem::size_of::<Rec>()
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.key.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.key);
        for n in [self.main, self.sub] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.push(u8::from(self.tomb));
        for n in [self.create, self.version, self.lease] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&self.value_len.to_le_bytes());
        out.extend_from_slice(&self.storage.to_le_bytes());
        out.extend_from_slice(&(self.value.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.value);
    }

    /// Reads one record; `Ok(None)` at the end of the run.
    fn read(r: &mut impl Read) -> io::Result<Option<Rec>> {
        let mut len = [0u8; 4];
        match r.read_exact(&mut len) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            other => other?,
        }
        let bytes = |r: &mut dyn Read, n: usize| -> io::Result<Vec<u8>> {
            let mut v = vec![0u8; n];
            r.read_exact(&mut v)?;
            Ok(v)
        };
        let i64_ = |r: &mut dyn Read| -> io::Result<i64> {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            Ok(i64::from_le_bytes(b))
        };
        let key = bytes(r, u32::from_le_bytes(len) as usize)?;
        let (main, sub) = (i64_(r)?, i64_(r)?);
        let tomb = bytes(r, 1)?[0] == 1;
        let (create, version, lease) = (i64_(r)?, i64_(r)?, i64_(r)?);
        let value_len = i64_(r)? as u64;
        let mut four = [0u8; 4];
        r.read_exact(&mut four)?;
        let storage = u32::from_le_bytes(four);
        r.read_exact(&mut four)?;
        let value = bytes(r, u32::from_le_bytes(four) as usize)?;
        Ok(Some(Rec {
            key,
            main,
            sub,
            tomb,
            create,
            version,
            lease,
            value_len,
            storage,
            value,
        }))
    }
}

/// Sorts and keeps the newest version per key: [`Sorter::push`] in revision order, then
/// [`Sorter::finish`].
#[derive(Debug)]
pub(crate) struct Sorter {
    batch: Vec<Rec>,
    weight: usize,
    budget: usize,
    runs: Vec<Scratch>,
    dir: PathBuf,
    sealed: bool,
}

/// Sorts a batch by (key, revision) and keeps the last (newest) version of each key.
fn newest_per_key(batch: &mut Vec<Rec>) {
    batch.sort_by(Rec::order);
    let mut out: Vec<Rec> = Vec::with_capacity(batch.len());
    for rec in batch.drain(..) {
        match out.last_mut() {
            Some(last) if last.key == rec.key => *last = rec,
            _ => out.push(rec),
        }
    }
    *batch = out;
}

impl Sorter {
    /// `budget` bytes of records in memory; runs go to unnamed files in `dir`, sealed when
    /// `sealed`.
    pub(crate) fn new(budget: usize, dir: PathBuf, sealed: bool) -> Sorter {
        Sorter {
            batch: Vec::new(),
            weight: 0,
            budget,
            runs: Vec::new(),
            dir,
            sealed,
        }
    }

    pub(crate) fn push(&mut self, rec: Rec) -> io::Result<()> {
        self.weight += rec.weight();
        self.batch.push(rec);
        if self.weight > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Runs written so far.
    pub(crate) fn runs(&self) -> usize {
        self.runs.len()
    }

    fn spill(&mut self) -> io::Result<()> {
        newest_per_key(&mut self.batch);
        let mut run = Scratch::new(&self.dir, self.sealed)?;
        let mut buf = Vec::with_capacity(BLOCK * 2);
        for rec in self.batch.drain(..) {
            rec.write(&mut buf);
            if buf.len() >= BLOCK {
                run.append(&buf)?;
                buf.clear();
            }
        }
        run.append(&buf)?;
        run.finish()?;
        self.runs.push(run);
        self.weight = 0;
        self.batch = Vec::new();
        Ok(())
    }

    /// The newest version of every key, in key order.
    pub(crate) fn finish(mut self) -> io::Result<Sorted> {
        if self.runs.is_empty() {
            newest_per_key(&mut self.batch);
            return Ok(Sorted::Memory(std::mem::take(&mut self.batch).into_iter()));
        }
        if !self.batch.is_empty() {
            self.spill()?;
        }
        let mut heap = BinaryHeap::new();
        let mut readers = Vec::new();
        for (i, run) in self.runs.into_iter().enumerate() {
            let mut r = io::BufReader::with_capacity(BLOCK, RunReader { run, at: 0 });
            if let Some(rec) = Rec::read(&mut r)? {
                heap.push(Reverse(Head(rec, i)));
            }
            readers.push(r);
        }
        Ok(Sorted::Runs { heap, readers })
    }
}

/// A run read from the front.
pub(crate) struct RunReader {
    run: Scratch,
    at: u64,
}

impl Read for RunReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.run.size()?.saturating_sub(self.at);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.run.read_exact_at(&mut buf[..n], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// A run's next record, ordered by (key, revision).
pub(crate) struct Head(Rec, usize);

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.0.order(&other.0) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.order(&other.0)
    }
}

/// The newest version of every key, in key order (tombstones included).
pub(crate) enum Sorted {
    Memory(std::vec::IntoIter<Rec>),
    Runs {
        heap: BinaryHeap<Reverse<Head>>,
        readers: Vec<io::BufReader<RunReader>>,
    },
}

impl std::fmt::Debug for Sorted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sorted")
    }
}

impl Sorted {
    fn pop(&mut self) -> io::Result<Option<Rec>> {
        let (heap, readers) = match self {
            Sorted::Memory(it) => return Ok(it.next()),
            Sorted::Runs { heap, readers } => (heap, readers),
        };
        let Some(Reverse(Head(rec, i))) = heap.pop() else {
            return Ok(None);
        };
        if let Some(next) = Rec::read(&mut readers[i])? {
            heap.push(Reverse(Head(next, i)));
        }
        Ok(Some(rec))
    }

    fn peek_key(&self) -> Option<&[u8]> {
        match self {
            Sorted::Memory(it) => it.as_slice().first().map(|r| r.key.as_slice()),
            Sorted::Runs { heap, .. } => heap.peek().map(|Reverse(Head(r, _))| r.key.as_slice()),
        }
    }
}

impl Iterator for Sorted {
    type Item = io::Result<Rec>;

    /// The newest version of the next key (runs may each hold a version of it).
    fn next(&mut self) -> Option<io::Result<Rec>> {
        let mut rec = match self.pop() {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        while self.peek_key() == Some(rec.key.as_slice()) {
            match self.pop() {
                Ok(Some(newer)) => rec = newer,
                Ok(None) => break,
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(rec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, main: i64, tomb: bool) -> Rec {
        Rec {
            key: key.as_bytes().to_vec(),
            main,
            tomb,
            value: format!("{key}@{main}").into_bytes(),
            ..Rec::default()
        }
    }

    /// The same answer in memory and through runs (sealed and not): newest version per key.
    #[test]
    fn runs_merge_to_the_newest_version_per_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut input = Vec::new();
        for main in 1..400i64 {
            let k = format!("k{:03}", (main * 37) % 101);
            input.push(rec(&k, main, main % 13 == 0));
        }
        let mut expected: std::collections::BTreeMap<Vec<u8>, Rec> = Default::default();
        for r in &input {
            expected.insert(r.key.clone(), r.clone());
        }
        let expected: Vec<Rec> = expected.into_values().collect();
        for (budget, sealed) in [(usize::MAX, false), (2000, false), (2000, true)] {
            let mut s = Sorter::new(budget, dir.path().to_path_buf(), sealed);
            for r in &input {
                s.push(r.clone()).unwrap();
            }
            assert_eq!(s.runs() > 0, budget < usize::MAX);
            let got: Vec<Rec> = s.finish().unwrap().map(Result::unwrap).collect();
            assert_eq!(got, expected, "budget {budget} sealed {sealed}");
        }
    }
}
