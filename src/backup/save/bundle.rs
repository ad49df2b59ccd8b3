//! The `--with-pki` disaster-recovery bundle written beside the snapshot, under a temp name until
//! the commit.

use std::fs::File;
use std::path::Path;

use anyhow::anyhow;

use super::temp_file::TempFile;
use crate::backup::catalog::BundleRecord;
use crate::backup::layers::{self, Encoder, Layers, Tally};
use crate::backup::pki_bundle;
use crate::diagnostics::{with_hint, HintExt};
use crate::fsutil::{self, FsError};
use crate::output::{human_bytes, Printer};

/// The DR bundle, written and checked under its temp name.
pub(super) struct WrittenBundle {
    pub part: TempFile,
    pub record: BundleRecord,
}

/// Writes `<name>-pki.tar[.zst][.age]` under a temp name: the tar stream through the same
/// layers as the snapshot, fsynced, and read back to check it reached the disk intact.
pub(super) fn write_bundle(
    sources: &pki_bundle::Sources,
    name: &str,
    path: &Path,
    layers: Layers,
    recipients: &[age::x25519::Recipient],
    printer: &Printer,
) -> anyhow::Result<WrittenBundle> {
    let part_path = fsutil::temp_name(path);
    let part = TempFile::create(&part_path)?;
    let io = |e| FsError::io("cannot write", &part_path, e);
    let file = part.file().try_clone().map_err(io)?;
    let encoder = Encoder::new(
        Tally::new(std::io::BufWriter::with_capacity(1 << 20, file)),
        layers,
        recipients,
    )?;
    let (encoder, summary) = pki_bundle::write(sources, encoder).map_err(|e| {
        let hint = e
            .hint()
            .unwrap_or("check --kubernetes-dir and --kubelet-dir, or leave out --with-pki");
        with_hint(e, hint)
    })?;
    let (buffered, size, sha) = encoder.finish().map_err(io)?.finish();
    let file = buffered.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    let (back_size, back_sha) = layers::digest(File::open(&part_path).map_err(io)?).map_err(io)?;
    if (back_size, back_sha) != (size, sha) {
        return Err(anyhow!(
            "{} differs from what was written ({back_size} of {size} bytes)",
            part_path.display()
        ))
        .hint("check the backup directory's file system");
    }
    for s in &summary.skipped {
        printer.detail(format!("bundle: skipped {s}"));
    }
    for w in &summary.warnings {
        printer.warn(format!("DR bundle: {w}"));
    }
    printer.phase(format!(
        "DR bundle: {} files, {} (stored {})",
        summary.files.len(),
        human_bytes(summary.bytes),
        human_bytes(size)
    ));
    Ok(WrittenBundle {
        part,
        record: BundleRecord {
            file: name.to_string(),
            file_size: size,
            sha256: hex::encode(sha),
            entries: summary.files.len(),
            kubernetes_version: summary.facts.kubernetes_version,
            etcd_image: summary.facts.etcd_image,
            encryption_config: summary.facts.encryption_config.map(|(_, archive)| archive),
        },
    })
}
