//! The `.part` files a save writes before its commit, and what removes them when it fails.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::diagnostics::with_hint;
use crate::fsutil::{self, FsError};
use crate::output::human_bytes;

/// The run failed before the commit: removes what it wrote (the temp files, and a sidecar or
/// bundle already renamed). What cannot be removed is named in the error, with its size and
/// what to do, rather than left there unsaid.
pub(super) fn abandon(
    err: anyhow::Error,
    temps: Vec<&mut TempFile>,
    written: &[PathBuf],
    dir: &Path,
) -> anyhow::Error {
    let mut left: Vec<(PathBuf, u64, std::io::Error)> = Vec::new();
    for t in temps {
        if let Err(l) = t.discard() {
            left.push(l);
        }
    }
    for p in written.iter().rev() {
        if let Err(l) = remove_ours(p) {
            left.push(l);
        }
    }
    let _ = fsutil::fsync_dir(dir);
    if left.is_empty() {
        return err;
    }
    let list = left
        .iter()
        .map(|(p, size, e)| {
            format!(
                "{} ({}, {size} bytes): {e}",
                p.display(),
                human_bytes(*size)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let paths = left
        .iter()
        .map(|(p, _, _)| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let hint = if left
        .iter()
        .any(|(_, _, e)| e.raw_os_error() == Some(libc::EPERM))
    {
        format!(
            "{d} refuses changes even to root, so it is probably immutable (`lsattr -d {d}` \
             shows an `i`): run `chattr -i {d}`, then `rm {paths}` and run save again",
            d = dir.display()
        )
    } else {
        format!(
            "make {} writable, then `rm {paths}` and run save again",
            dir.display()
        )
    };
    with_hint(
        err.context(format!(
            "save failed, and what it had written could not be removed, so it is left \
             behind: {list}"
        )),
        hint,
    )
}

/// Removes a file this run wrote; gone already is fine.
fn remove_ours(path: &Path) -> Result<(), (PathBuf, u64, std::io::Error)> {
    let size = path.symlink_metadata().map_or(0, |m| m.len());
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err((path.to_path_buf(), size, e)),
    }
}

/// A `.part` file that is removed on drop unless committed under its final name.
pub(super) struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    pub(super) fn create(path: &Path) -> anyhow::Result<TempFile> {
        let file = fsutil::create_new_private(path).map_err(|e| match e {
            FsError::Exists { .. } => with_hint(
                e,
                "a save with the same name is in progress or was interrupted; wait, or remove \
                 the .part file if no etcd-backup is running",
            ),
            e => anyhow::Error::from(e),
        })?;
        Ok(TempFile {
            path: path.to_path_buf(),
            file: Some(file),
        })
    }

    pub(super) fn file(&self) -> &File {
        self.file.as_ref().expect("open until commit")
    }

    /// Removes the temp file now, unless committed; on failure returns its path, size and
    /// the error (and leaves it to no one: the caller reports it).
    pub(super) fn discard(&mut self) -> Result<(), (PathBuf, u64, std::io::Error)> {
        self.file = None;
        if self.path.as_os_str().is_empty() {
            return Ok(());
        }
        let path = std::mem::take(&mut self.path);
        remove_ours(&path)
    }

    /// Renames the temp file to `final_path` (never replacing) and disarms removal.
    pub(super) fn commit(&mut self, final_path: &Path) -> Result<(), FsError> {
        self.file = None;
        fsutil::rename_noreplace(&self.path, final_path)?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
