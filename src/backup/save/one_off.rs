//! `save FILE`: where a one-off snapshot goes, as `etcdctl snapshot save FILE` would put it.

use std::path::{Path, PathBuf};

use anyhow::anyhow;

use crate::backup::layers::Layers;
use crate::diagnostics::HintExt;

/// The directory and file name of `save FILE`.
#[derive(Debug)]
pub(crate) struct Target {
    /// FILE's directory (`.` for a bare name): created 0700 when missing, fsynced after the
    /// rename like the backup dir.
    pub dir: PathBuf,
    pub name: String,
    /// FILE is in --backup-dir, whose lock then applies.
    pub in_backup_dir: bool,
}

pub(crate) fn target(file: &Path, layers: Layers, backup_dir: &Path) -> anyhow::Result<Target> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.ends_with(crate::backup::catalog::SIDECAR_SUFFIX))
        .ok_or_else(|| anyhow!("save: {} is not a file name to write", file.display()))
        .hint("name a file such as /root/etcd-snapshot.db (its sidecar .json goes beside it)")?
        .to_string();
    // Readers know a file's layers by its name.
    let named = Layers::strip(&name).1;
    if named != layers {
        let want = format!("{}{}", Layers::strip(&name).0, layers.suffix());
        return Err(anyhow!(
            "save: {} does not end in {:?}, which --compress/--encrypt-to make it",
            file.display(),
            layers.suffix()
        ))
        .hint(format!(
            "name it {want}, so that verify, status and restore can read it"
        ));
    }
    let dir = crate::fsutil::parent_dir(file);
    let in_backup_dir = match (
        std::fs::canonicalize(&dir),
        std::fs::canonicalize(backup_dir),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    Ok(Target {
        dir,
        name,
        in_backup_dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_must_say_its_layers() {
        let zstd = Layers {
            zstd: true,
            age: false,
        };
        let t = target(
            Path::new("/tmp/x/snap.db"),
            Layers::PLAIN,
            Path::new("/nonexistent"),
        )
        .unwrap();
        assert_eq!(
            (t.dir.as_path(), t.name.as_str()),
            (Path::new("/tmp/x"), "snap.db")
        );
        assert!(!t.in_backup_dir);
        let t = target(
            Path::new("snap.db"),
            Layers::PLAIN,
            Path::new("/nonexistent"),
        )
        .unwrap();
        assert_eq!(t.dir, Path::new("."));
        assert!(target(Path::new("/tmp/snap.db"), zstd, Path::new("/b")).is_err());
        assert!(target(Path::new("/tmp/snap.db.zst"), zstd, Path::new("/b")).is_ok());
        assert!(target(
            Path::new("/tmp/snap.db.json"),
            Layers::PLAIN,
            Path::new("/b")
        )
        .is_err());
        assert!(target(Path::new("/"), Layers::PLAIN, Path::new("/b")).is_err());
    }
}
