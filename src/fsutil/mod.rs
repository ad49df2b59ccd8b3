//! Durable file operations: every file that matters is written through here.
//!
//! The pattern is always the same: a temp file in the destination directory, created
//! exclusively with mode 0600, written, `fsync`ed, renamed over the final name with
//! `RENAME_NOREPLACE` (never clobbering an existing backup), then the directory is `fsync`ed so the
//! rename itself survives a crash.
//!
//! [`direct_io`] writes a large stream (the snapshot `save` receives) with `O_DIRECT`, past the
//! page cache.

pub(crate) mod direct_io;

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file-system failure, always naming the path it happened on.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} already exists; refusing to overwrite it")]
    Exists { path: PathBuf },
    #[error("{path} is locked by another etcd-backup run (pid {holder})")]
    Locked { path: PathBuf, holder: String },
    /// `path` should be a directory (or be created under `file`), but `file` is not one.
    #[error("{}", not_a_directory(path, file))]
    NotADirectory { path: PathBuf, file: PathBuf },
}

fn not_a_directory(path: &Path, file: &Path) -> String {
    if path == file {
        format!("{} is a file, not a directory", path.display())
    } else {
        format!(
            "cannot create directory {}: {} is a file, not a directory",
            path.display(),
            file.display()
        )
    }
}

impl FsError {
    pub fn io(what: &'static str, path: &Path, source: io::Error) -> Self {
        FsError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

type Result<T> = std::result::Result<T, FsError>;

/// Opens `path` to read without ever waiting on it: `O_NONBLOCK` so a FIFO or a device cannot
/// block the open, `O_NOFOLLOW` unless `follow`, then `fstat` on what was opened: anything but a
/// regular file (FIFO, socket, `/dev/zero`, a directory) is refused with an error that says
/// what it is. The flag is cleared again after the check, for ordinary blocking reads.
pub(crate) fn open_regular(path: &Path, follow: bool) -> io::Result<File> {
    use rustix::fs::{fcntl_setfl, fstat, open, FileType, Mode, OFlags};
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = match open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::LOOP) if !follow => {
            return Err(io::Error::other(
                "is a symlink, which is never followed here",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let st = fstat(&fd)?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind != FileType::RegularFile {
        let what = match kind {
            FileType::Fifo => "a FIFO",
            FileType::Socket => "a socket",
            FileType::CharacterDevice => "a character device",
            FileType::BlockDevice => "a block device",
            FileType::Directory => "a directory",
            _ => "not a regular file",
        };
        return Err(io::Error::other(format!("is {what}, not a regular file")));
    }
    fcntl_setfl(&fd, OFlags::empty())?;
    Ok(File::from(fd))
}

/// Reads a small file that must be a regular file (never a symlink), at most `limit` bytes: a
/// FIFO, a device or a runaway file is an error, never a hang or an unbounded read.
pub(crate) fn read_small(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path, false)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::other(format!(
            "is larger than {limit} bytes, too large to be ours"
        )));
    }
    Ok(bytes)
}

/// Creates `dir` (and missing parents) with mode 0700, as backups hold every secret of the cluster.
/// An existing directory keeps its mode.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(FsError::NotADirectory {
                path: dir.to_path_buf(),
                file: dir.to_path_buf(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        // A file where a parent directory should be.
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            if let Some(file) = dir
                .ancestors()
                .skip(1)
                .find(|a| fs::metadata(a).is_ok_and(|m| !m.is_dir()))
            {
                return Err(FsError::NotADirectory {
                    path: dir.to_path_buf(),
                    file: file.to_path_buf(),
                });
            }
            return Err(FsError::io("cannot read", dir, e));
        }
        Err(e) => return Err(FsError::io("cannot read", dir, e)),
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| FsError::io("cannot create directory", dir, e))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// Opens a new file exclusively (`O_CREAT|O_EXCL`) with mode 0600.
pub(crate) fn create_new_private(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                FsError::Exists {
                    path: path.to_path_buf(),
                }
            } else {
                FsError::io("cannot create", path, e)
            }
        })
}

/// `fsync` on a directory, so that entries created or renamed in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| FsError::io("cannot open directory", dir, e))?;
    d.sync_all()
        .map_err(|e| FsError::io("cannot fsync directory", dir, e))
}

/// Renames `from` to `to` without ever replacing an existing `to` (`renameat2(RENAME_NOREPLACE)`).
/// On file systems without that flag it falls back to a check followed by `rename`, which is safe
/// here because every writer in the backup directory holds the directory lock.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Err(FsError::Exists {
            path: to.to_path_buf(),
        }),
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOSYS) => {
            if to.symlink_metadata().is_ok() {
                return Err(FsError::Exists {
                    path: to.to_path_buf(),
                });
            }
            fs::rename(from, to).map_err(|e| FsError::io("cannot rename into", to, e))
        }
        Err(e) => Err(FsError::io("cannot rename into", to, e.into())),
    }
}

/// Writes `bytes` to `path` atomically: temp file beside it (0600), fsync, rename, fsync dir.
/// An existing `path` is replaced only when `replace` is true.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], replace: bool) -> Result<()> {
    write_atomic_mode(path, bytes, replace, 0o600)
}

/// `write_atomic` for a file that gets `mode` whatever the umask, set on the temp file before
/// anything is written (0644 for the metrics file that node-exporter, another user, reads).
pub(crate) fn write_atomic_mode(path: &Path, bytes: &[u8], replace: bool, mode: u32) -> Result<()> {
    let dir = parent_dir(path);
    let tmp = temp_name(path);
    let mut f = create_new_private(&tmp)?;
    let chmod = if mode == 0o600 {
        Ok(())
    } else {
        f.set_permissions(fs::Permissions::from_mode(mode))
    };
    let written = chmod
        .and_then(|()| f.write_all(bytes))
        .and_then(|()| f.sync_all())
        .map_err(|e| FsError::io("cannot write", &tmp, e));
    drop(f);
    let renamed = written.and_then(|()| {
        if replace {
            fs::rename(&tmp, path).map_err(|e| FsError::io("cannot rename into", path, e))
        } else {
            rename_noreplace(&tmp, path)
        }
    });
    if let Err(e) = renamed {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fsync_dir(&dir)
}

/// The temp name used for `path` while it is being written: `<name>.part`.
pub(crate) fn temp_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether the directory `dir` is a mount point (a dedicated disk, a bind mount): it cannot be
/// renamed (`EBUSY`), and what is renamed into its place lands on the parent's file system. Seen
/// from the device numbers of `dir` and its parent, and for a bind mount of the same file system
/// from `/proc/self/mountinfo`. A path that is not a directory is not one.
pub(crate) fn is_mount_point(dir: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(FsError::io("cannot read", dir, e)),
    };
    let canon = fs::canonicalize(dir).map_err(|e| FsError::io("cannot resolve", dir, e))?;
    let Some(parent) = canon.parent() else {
        return Ok(true); // `/`
    };
    let pmeta = fs::metadata(parent).map_err(|e| FsError::io("cannot read", parent, e))?;
    if pmeta.dev() != meta.dev() {
        return Ok(true);
    }
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Ok(false);
    };
    let want = canon.as_os_str().as_encoded_bytes();
    Ok(info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| unescape_mountinfo(m) == want))
}

/// A mountinfo path with its octal escapes (`\040` for a space, ..) undone.
fn unescape_mountinfo(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c));
        if b[i] == b'\\' && octal {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            out.push((v & 0xff) as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Bytes available to an unprivileged writer on the file system holding `dir`.
pub(crate) fn available_space(dir: &Path) -> Result<u64> {
    let st = rustix::fs::statvfs(dir)
        .map_err(|e| FsError::io("cannot read free space of", dir, e.into()))?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Mode bits (permission part) of `path`, without following a final symlink.
#[cfg(test)]
pub(crate) fn mode_of(path: &Path) -> Result<u32> {
    let m = fs::symlink_metadata(path).map_err(|e| FsError::io("cannot read", path, e))?;
    Ok(m.permissions().mode() & 0o7777)
}

/// An exclusive advisory lock (flock) on `<dir>/.etcd-backup.lock`, held until dropped.
///
/// The lock file is never deleted: removing it while another process waits on it would let two
/// holders exist at once. It holds the holder's pid so that a refused run can say who holds it.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

pub(crate) const LOCK_FILE: &str = ".etcd-backup.lock";

impl DirLock {
    /// Takes the lock or fails at once (never waits) naming the holder's pid.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| FsError::io("cannot open lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.split_whitespace().next().unwrap_or("unknown");
                return Err(FsError::Locked {
                    path,
                    holder: holder.to_string(),
                });
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(FsError::io("cannot lock", &path, e));
            }
        }
        let stamp = format!(
            "{} {}\n",
            std::process::id(),
            chrono::Utc::now().to_rfc3339()
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(stamp.as_bytes()))
            .map_err(|e| FsError::io("cannot write lock file", &path, e))?;
        Ok(DirLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_never_replaces_unless_asked() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.json");
        write_atomic(&p, b"one", false).unwrap();
        assert!(matches!(
            write_atomic(&p, b"two", false),
            Err(FsError::Exists { .. })
        ));
        assert_eq!(fs::read(&p).unwrap(), b"one");
        assert!(!temp_name(&p).exists(), "temp file left behind");
        write_atomic(&p, b"three", true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"three");
        assert_eq!(mode_of(&p).unwrap(), 0o600);
    }

    #[test]
    fn write_atomic_mode_sets_the_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("m.prom");
        // The umask is process-wide, so tests/it/metrics.rs runs the binary under umask 077.
        write_atomic_mode(&p, b"x 1\n", true, 0o644).unwrap();
        assert_eq!(mode_of(&p).unwrap(), 0o644);
        write_atomic_mode(&p, b"x 2\n", true, 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"x 2\n");
        assert!(!temp_name(&p).exists(), "temp file left behind");
    }

    #[test]
    fn lock_is_exclusive_and_names_holder() {
        let d = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(d.path()).unwrap();
        match DirLock::acquire(d.path()) {
            Err(FsError::Locked { holder, .. }) => {
                assert_eq!(holder, std::process::id().to_string())
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(held);
        DirLock::acquire(d.path()).unwrap();
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo(r"/mnt/etcd\040disk"), b"/mnt/etcd disk");
        assert_eq!(unescape_mountinfo(r"/a\b"), b"/a\\b");
        assert_eq!(unescape_mountinfo("/var/lib/etcd"), b"/var/lib/etcd");
    }

    #[test]
    fn a_plain_dir_is_no_mount_point() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(!is_mount_point(tmp.path()).unwrap());
        assert!(!is_mount_point(&tmp.path().join("missing")).unwrap());
        assert!(is_mount_point(Path::new("/")).unwrap());
    }

    #[test]
    fn private_dir_is_0700() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x/y");
        create_private_dir(&p).unwrap();
        assert_eq!(mode_of(&p).unwrap(), 0o700);
        assert_eq!(mode_of(&d.path().join("x")).unwrap(), 0o700);
    }
}
