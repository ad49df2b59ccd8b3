//! Writing a large stream to a file without routing it through the page cache.
//!
//! A snapshot of a busy cluster is gigabytes. Written through the page cache it costs a kernel copy
//! of every byte, evicts etcd's own hot pages on the control-plane node, and ends in a long fsync
//! that competes with etcd's WAL fsyncs on the same disk. [`Spool`] copies the incoming bytes into
//! 4 KiB-aligned 1 MiB blocks, and a writer thread writes each full block with `O_DIRECT` while
//! the next one fills. The last partial 4 KiB of the file (a snapshot ends in a 32-byte digest)
//! goes through the ordinary descriptor. On file systems without `O_DIRECT` (tmpfs, some FUSE) the
//! same thread writes through the page cache instead.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Alignment of buffer addresses, offsets and lengths for `O_DIRECT` (covers 512 and 4096-byte
/// logical blocks).
const ALIGN: usize = 4096;
/// Size of one block handed to the writer thread.
const BLOCK: usize = 1 << 20;
/// Blocks queued for the writer; with the one being filled and the one being written this bounds
/// memory to a few MiB whatever the snapshot size.
const QUEUED: usize = 2;
const MAX_BLOCKS: usize = QUEUED + 2;

/// A heap buffer whose usable part starts on an `ALIGN` boundary.
struct Block {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl Block {
    fn new() -> Block {
        let raw = vec![0u8; BLOCK + ALIGN];
        let addr = raw.as_ptr() as usize;
        let start = (ALIGN - addr % ALIGN) % ALIGN;
        Block { raw, start, len: 0 }
    }

    fn data(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    fn spare(&mut self) -> &mut [u8] {
        &mut self.raw[self.start + self.len..self.start + BLOCK]
    }
}

/// How blocks reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `O_DIRECT` where the file system supports it, else through the page cache.
    Auto,
    /// Always through the page cache (still on the writer thread); the tests' choice.
    #[cfg(test)]
    Buffered,
}

/// A `Write` sink for one new, empty file. Call [`Spool::finish`] to complete it; dropping it
/// unfinished stops the writer and leaves a partial file for the caller to remove.
pub(crate) struct Spool {
    file: File,
    direct: bool,
    current: Option<Block>,
    to_writer: Option<SyncSender<Block>>,
    recycled: Receiver<Block>,
    writer: Option<JoinHandle<io::Result<()>>>,
    allocated: usize,
    shipped: u64,
}

impl Spool {
    /// Starts a spool writing into `file`, which is open for writing at `path` and empty.
    pub(crate) fn new(file: File, path: &Path, mode: Mode) -> io::Result<Spool> {
        let direct_file = match mode {
            #[cfg(test)]
            Mode::Buffered => None,
            Mode::Auto => {
                let flags = rustix::fs::OFlags::DIRECT.bits() as i32;
                match OpenOptions::new()
                    .write(true)
                    .custom_flags(flags)
                    .open(path)
                {
                    Ok(f) => Some(f),
                    Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                        None
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let direct = direct_file.is_some();
        let sink = match direct_file {
            Some(f) => f,
            None => file.try_clone()?,
        };
        let (to_writer, queued) = sync_channel::<Block>(QUEUED);
        let (recycle, recycled) = sync_channel::<Block>(MAX_BLOCKS);
        let writer = std::thread::Builder::new()
            .name("spool-writer".to_string())
            .spawn(move || -> io::Result<()> {
                let mut offset = 0u64;
                for mut block in queued {
                    sink.write_all_at(block.data(), offset)?;
                    offset += block.len as u64;
                    block.len = 0;
                    let _ = recycle.try_send(block);
                }
                Ok(())
            })?;
        Ok(Spool {
            file,
            direct,
            current: None,
            to_writer: Some(to_writer),
            recycled,
            writer: Some(writer),
            allocated: 0,
            shipped: 0,
        })
    }

    /// Whether blocks bypass the page cache.
    pub(crate) fn is_direct(&self) -> bool {
        self.direct
    }

    /// The writer's error after it stopped early.
    fn writer_error(&mut self) -> io::Error {
        self.to_writer = None;
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => io::Error::other("spool writer thread panicked"),
            _ => io::Error::other("spool writer thread stopped"),
        }
    }

    fn next_block(&mut self) -> io::Result<Block> {
        if let Ok(b) = self.recycled.try_recv() {
            return Ok(b);
        }
        if self.allocated < MAX_BLOCKS {
            self.allocated += 1;
            return Ok(Block::new());
        }
        self.recycled.recv().map_err(|_| self.writer_error())
    }

    fn ship(&mut self, block: Block) -> io::Result<()> {
        let len = block.len as u64;
        let sent = match &self.to_writer {
            Some(tx) => tx.send(block).is_ok(),
            None => false,
        };
        if !sent {
            return Err(self.writer_error());
        }
        self.shipped += len;
        Ok(())
    }

    /// Writes what is left, waits for the writer and returns the file (not yet fsynced).
    pub(crate) fn finish(mut self) -> io::Result<File> {
        let mut tail = Vec::new();
        if let Some(mut block) = self.current.take() {
            let keep = if self.direct {
                block.len - block.len % ALIGN
            } else {
                block.len
            };
            tail.extend_from_slice(&block.data()[keep..]);
            block.len = keep;
            if keep > 0 {
                self.ship(block)?;
            }
        }
        self.to_writer = None;
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Ok(()))) | None => {}
            Some(Ok(Err(e))) => return Err(e),
            Some(Err(_)) => return Err(io::Error::other("spool writer thread panicked")),
        }
        self.file.write_all_at(&tail, self.shipped)?;
        self.file.try_clone()
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut block = match self.current.take() {
            Some(b) => b,
            None => self.next_block()?,
        };
        let spare = block.spare();
        let n = spare.len().min(buf.len());
        spare[..n].copy_from_slice(&buf[..n]);
        block.len += n;
        if block.len == BLOCK {
            self.ship(block)?;
        } else {
            self.current = Some(block);
        }
        Ok(n)
    }

    /// Bytes are only durable after [`Spool::finish`] and an fsync; nothing to do here.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.to_writer = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn spool_through(mode: Mode, data: &[u8], chunk: usize) -> (Vec<u8>, bool) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.part");
        let file = crate::fsutil::create_new_private(&path).unwrap();
        let mut s = Spool::new(file, &path, mode).unwrap();
        let direct = s.is_direct();
        for c in data.chunks(chunk.max(1)) {
            s.write_all(c).unwrap();
        }
        let f = s.finish().unwrap();
        f.sync_all().unwrap();
        assert_eq!(f.metadata().unwrap().len(), data.len() as u64);
        (std::fs::read(&path).unwrap(), direct)
    }

    #[test]
    fn every_size_and_chunking_round_trips_in_both_modes() {
        // Sizes around the alignment and block edges, including a snapshot's `pages + 32`.
        let sizes = [
            0,
            1,
            32,
            ALIGN - 1,
            ALIGN,
            ALIGN + 32,
            BLOCK - 1,
            BLOCK,
            BLOCK + 32,
            3 * BLOCK + 5 * ALIGN + 32,
            7 * BLOCK + 1,
        ];
        for mode in [Mode::Auto, Mode::Buffered] {
            for (i, &size) in sizes.iter().enumerate() {
                let data = pattern(size, i as u64);
                for chunk in [32 * 1024, 4093, BLOCK + 7] {
                    let (got, _) = spool_through(mode, &data, chunk);
                    assert!(got == data, "{mode:?} size {size} chunk {chunk}");
                }
            }
        }
    }

    #[test]
    fn auto_mode_uses_direct_io_where_supported() {
        // On ext4/xfs (the usual /var/lib) O_DIRECT must be taken; on tmpfs it falls back.
        let data = pattern(2 * BLOCK + 32, 9);
        let (got, direct) = spool_through(Mode::Auto, &data, 32 * 1024);
        assert_eq!(got, data);
        eprintln!("direct I/O in the temp dir: {direct}");
    }

    #[test]
    fn write_errors_surface() {
        // /dev/full accepts opens and fails every write with ENOSPC.
        let file = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let mut s = Spool::new(file, Path::new("/dev/full"), Mode::Buffered).unwrap();
        let data = pattern(3 * BLOCK, 1);
        let err = s
            .write_all(&data)
            .err()
            .or_else(|| s.finish().err())
            .expect("writing to /dev/full must fail");
        assert_eq!(err.raw_os_error(), Some(28), "{err}");
    }
}
