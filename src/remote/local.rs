//! file:// remotes: a directory on a local or mounted file system (a backup disk, NFS).
//!
//! Writes follow src/fsutil/mod.rs: a temp file in the destination directory, created exclusively
//! with mode 0600, written, `fsync`ed, renamed into place (never over an existing file unless
//! asked), then the directory is `fsync`ed. Temp files are named `.<name>.<pid>-<n>.part`; the
//! leading dot and the `.part` suffix keep them out of [`Local::list`]. Directories are created
//! with mode 0700. Symlinks are never followed when listing or deleting.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::error::{Op, RemoteError};
use super::{validate_key, RemoteObject, Uploaded, SMALL_LIMIT};
use crate::fsutil::{self, FsError};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) struct Local {
    root: PathBuf,
    url: String,
}

/// An I/O error that names the path, for a [`RemoteError::Io`] that names the URL.
fn io_at(what: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

fn from_fs(op: Op, url: &str, e: FsError) -> RemoteError {
    match e {
        FsError::Exists { .. } => RemoteError::Exists {
            url: url.to_string(),
        },
        FsError::Io { what, path, source } => RemoteError::Io {
            op,
            url: url.to_string(),
            source: io_at(what, &path, source),
        },
        other => RemoteError::Io {
            op,
            url: url.to_string(),
            source: io::Error::other(other.to_string()),
        },
    }
}

impl Local {
    pub(crate) fn new(root: PathBuf, url: String) -> Local {
        Local { root, url }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub(crate) fn list(&self) -> Result<Vec<RemoteObject>, RemoteError> {
        let mut out = Vec::new();
        let mut dirs = vec![(self.root.clone(), String::new())];
        while let Some((dir, rel)) = dirs.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound && rel.is_empty() => return Ok(out),
                Err(e) => {
                    return Err(RemoteError::Io {
                        op: Op::List,
                        url: self.url.clone(),
                        source: io_at("cannot read directory", &dir, e),
                    })
                }
            };
            for entry in entries {
                let entry = entry.map_err(|e| RemoteError::Io {
                    op: Op::List,
                    url: self.url.clone(),
                    source: io_at("cannot read directory", &dir, e),
                })?;
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if name.starts_with('.') || name.ends_with(".part") {
                    continue;
                }
                let key = format!("{rel}{name}");
                // file_type() does not follow symlinks.
                let Ok(ft) = entry.file_type() else { continue };
                if ft.is_dir() {
                    dirs.push((entry.path(), format!("{key}/")));
                } else if ft.is_file() && validate_key(&key).is_ok() {
                    let meta = entry.metadata().map_err(|e| RemoteError::Io {
                        op: Op::List,
                        url: self.url.clone(),
                        source: io_at("cannot read", &entry.path(), e),
                    })?;
                    let modified = meta.modified().map_err(|e| RemoteError::Io {
                        op: Op::List,
                        url: self.url.clone(),
                        source: io_at("cannot read", &entry.path(), e),
                    })?;
                    out.push(RemoteObject {
                        key,
                        size: meta.len(),
                        last_modified: modified.into(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// A new, exclusive temp file beside `path`.
    fn temp_for(&self, path: &Path, op: Op, url: &str) -> Result<(PathBuf, File), RemoteError> {
        let dir = fsutil::parent_dir(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!(".{name}.{}-{n}.part", std::process::id()));
            match fsutil::create_new_private(&tmp) {
                Ok(f) => return Ok((tmp, f)),
                // A leftover of a crashed run with the same pid: take the next number.
                Err(FsError::Exists { .. }) if n < u64::MAX => continue,
                Err(e) => return Err(from_fs(op, url, e)),
            }
        }
    }

    /// Renames the finished temp file into place and makes the rename durable. Removes the
    /// temp file if that fails.
    fn publish(
        &self,
        tmp: &Path,
        path: &Path,
        replace: bool,
        op: Op,
        url: &str,
    ) -> Result<(), RemoteError> {
        let renamed = if replace {
            fs::rename(tmp, path).map_err(|e| RemoteError::Io {
                op,
                url: url.to_string(),
                source: io_at("cannot rename into", path, e),
            })
        } else {
            fsutil::rename_noreplace(tmp, path).map_err(|e| from_fs(op, url, e))
        };
        if let Err(e) = renamed {
            let _ = fs::remove_file(tmp);
            return Err(e);
        }
        fsutil::fsync_dir(&fsutil::parent_dir(path)).map_err(|e| from_fs(op, url, e))
    }

    fn prepare(&self, key: &str, op: Op, url: &str, replace: bool) -> Result<PathBuf, RemoteError> {
        let path = self.path(key);
        if !replace && path.symlink_metadata().is_ok() {
            return Err(RemoteError::Exists {
                url: url.to_string(),
            });
        }
        fsutil::create_private_dir(&fsutil::parent_dir(&path)).map_err(|e| from_fs(op, url, e))?;
        Ok(path)
    }

    pub(crate) fn upload(
        &self,
        key: &str,
        url: &str,
        src: &mut dyn Read,
    ) -> Result<Uploaded, RemoteError> {
        let path = self.prepare(key, Op::Upload, url, false)?;
        let (tmp, mut file) = self.temp_for(&path, Op::Upload, url)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        let written = loop {
            let n = match src.read(&mut buf) {
                Ok(0) => {
                    break file.sync_all().map_err(|e| RemoteError::Io {
                        op: Op::Upload,
                        url: url.to_string(),
                        source: io_at("cannot fsync", &tmp, e),
                    })
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    break Err(RemoteError::Source {
                        url: url.to_string(),
                        offset: size,
                        source,
                    })
                }
            };
            if let Err(e) = file.write_all(&buf[..n]) {
                break Err(RemoteError::Io {
                    op: Op::Upload,
                    url: url.to_string(),
                    source: io_at("cannot write", &tmp, e),
                });
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        };
        drop(file);
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.publish(&tmp, &path, false, Op::Upload, url)?;
        Ok(Uploaded {
            size,
            sha256: hasher.finalize().into(),
        })
    }

    pub(crate) fn put_small(
        &self,
        key: &str,
        url: &str,
        bytes: &[u8],
        replace: bool,
    ) -> Result<(), RemoteError> {
        let path = self.prepare(key, Op::Write, url, replace)?;
        let (tmp, mut file) = self.temp_for(&path, Op::Write, url)?;
        let written = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| RemoteError::Io {
                op: Op::Write,
                url: url.to_string(),
                source: io_at("cannot write", &tmp, e),
            });
        drop(file);
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.publish(&tmp, &path, replace, Op::Write, url)
    }

    /// The metadata of `key`'s file, refusing anything but a regular file.
    fn regular_file(
        &self,
        key: &str,
        op: Op,
        url: &str,
    ) -> Result<(PathBuf, fs::Metadata), RemoteError> {
        let path = self.path(key);
        match path.symlink_metadata() {
            Ok(m) if m.is_file() => Ok((path, m)),
            Ok(_) => Err(RemoteError::Io {
                op,
                url: url.to_string(),
                source: io::Error::other(format!("{} is not a regular file", path.display())),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(RemoteError::NotFound {
                url: url.to_string(),
            }),
            Err(e) => Err(RemoteError::Io {
                op,
                url: url.to_string(),
                source: io_at("cannot read", &path, e),
            }),
        }
    }

    pub(crate) fn reader(&self, key: &str, url: &str) -> Result<Box<dyn Read + Send>, RemoteError> {
        let (path, _) = self.regular_file(key, Op::Read, url)?;
        let file = File::open(&path).map_err(|e| RemoteError::Io {
            op: Op::Read,
            url: url.to_string(),
            source: io_at("cannot open", &path, e),
        })?;
        Ok(Box::new(LocalReader {
            file,
            url: url.to_string(),
        }))
    }

    pub(crate) fn get_small(&self, key: &str, url: &str) -> Result<Vec<u8>, RemoteError> {
        let (path, meta) = self.regular_file(key, Op::Read, url)?;
        if meta.len() > SMALL_LIMIT {
            return Err(RemoteError::TooLarge {
                url: url.to_string(),
                size: meta.len(),
                limit: SMALL_LIMIT,
            });
        }
        let mut out = Vec::with_capacity(meta.len() as usize);
        File::open(&path)
            .and_then(|f| f.take(SMALL_LIMIT + 1).read_to_end(&mut out))
            .map_err(|e| RemoteError::Io {
                op: Op::Read,
                url: url.to_string(),
                source: io_at("cannot read", &path, e),
            })?;
        if out.len() as u64 > SMALL_LIMIT {
            return Err(RemoteError::TooLarge {
                url: url.to_string(),
                size: out.len() as u64,
                limit: SMALL_LIMIT,
            });
        }
        Ok(out)
    }

    pub(crate) fn delete(&self, key: &str, url: &str) -> Result<(), RemoteError> {
        let path = match self.regular_file(key, Op::Delete, url) {
            Ok((p, _)) => p,
            Err(RemoteError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        fs::remove_file(&path).map_err(|e| RemoteError::Io {
            op: Op::Delete,
            url: url.to_string(),
            source: io_at("cannot remove", &path, e),
        })?;
        fsutil::fsync_dir(&fsutil::parent_dir(&path)).map_err(|e| from_fs(Op::Delete, url, e))
    }
}

/// A file being read; errors name the URL.
struct LocalReader {
    file: File,
    url: String,
}

impl Read for LocalReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", self.url)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::{Remote, RemoteOptions};

    fn open(dir: &Path) -> Remote {
        let url = format!("file://{}", dir.display());
        Remote::open(&url, &RemoteOptions::default()).unwrap()
    }

    #[test]
    fn round_trip_modes_and_refusals() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("remote");
        let r = open(&root);
        assert_eq!(
            r.list().unwrap(),
            vec![],
            "a missing directory lists as empty"
        );
        let data = b"snapshot bytes".repeat(1000);
        let up = r.upload("node1/a.db", &mut &data[..]).unwrap();
        assert_eq!(up.size, data.len() as u64);
        assert_eq!(up.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
        assert_eq!(fsutil::mode_of(&root).unwrap(), 0o700);
        assert_eq!(fsutil::mode_of(&root.join("node1")).unwrap(), 0o700);
        assert_eq!(fsutil::mode_of(&root.join("node1/a.db")).unwrap(), 0o600);
        let mut back = Vec::new();
        r.reader("node1/a.db")
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);

        let e = r.upload("node1/a.db", &mut &b"x"[..]).unwrap_err();
        assert!(matches!(e, RemoteError::Exists { .. }), "{e:?}");
        assert!(e
            .to_string()
            .contains("already exists; refusing to overwrite"));

        r.put_small("node1/a.db.json", b"{}", false).unwrap();
        assert!(matches!(
            r.put_small("node1/a.db.json", b"{1}", false),
            Err(RemoteError::Exists { .. })
        ));
        r.put_small("node1/a.db.json", b"{2}", true).unwrap();
        assert_eq!(r.get_small("node1/a.db.json").unwrap(), b"{2}");
        assert_eq!(
            fsutil::mode_of(&root.join("node1/a.db.json")).unwrap(),
            0o600
        );

        let keys: Vec<String> = r.list().unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(keys, ["node1/a.db", "node1/a.db.json"]);

        r.delete("node1/a.db").unwrap();
        r.delete("node1/a.db").unwrap();
        assert!(matches!(
            r.reader("node1/a.db"),
            Err(RemoteError::NotFound { .. })
        ));
        assert!(r.get_small("nope").unwrap_err().is_not_found());
    }

    struct FailingReader {
        left: usize,
    }

    impl Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.left).min(4096);
            buf[..n].fill(7);
            self.left -= n;
            Ok(n)
        }
    }

    #[test]
    fn failed_upload_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let r = open(d.path());
        let e = r
            .upload("n/x.db", &mut FailingReader { left: 3 << 20 })
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot upload to file://{}/n/x.db: reading the data to upload failed after \
                 3145728 bytes",
                d.path().display()
            )
        );
        assert_eq!(r.list().unwrap(), vec![]);
        let left: Vec<_> = fs::read_dir(d.path().join("n")).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn symlinks_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        fs::write(&outside, b"keep me").unwrap();
        let root = d.path().join("r");
        fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link.db")).unwrap();
        let r = open(&root);
        assert_eq!(r.list().unwrap(), vec![]);
        assert!(r.delete("link.db").is_err());
        assert_eq!(fs::read(&outside).unwrap(), b"keep me");
    }

    #[test]
    fn small_limit() {
        let d = tempfile::tempdir().unwrap();
        let r = open(d.path());
        let big = vec![0u8; SMALL_LIMIT as usize + 1];
        r.upload("big", &mut &big[..]).unwrap();
        assert!(matches!(
            r.get_small("big"),
            Err(RemoteError::TooLarge { size, .. }) if size == SMALL_LIMIT + 1
        ));
    }
}
