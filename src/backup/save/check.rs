//! The check of the written `.part` file before it gets its name: the same checks as `verify`.

use std::fs::File;
use std::path::Path;

use anyhow::anyhow;

use super::stop::failpoint;
use super::stream::Streamed;
use crate::backup::layers::Layers;
use crate::backup::verify;
use crate::cancel::Deadline;
use crate::diagnostics::HintExt;
use crate::fsutil::{self, FsError};
use crate::output::{human_bytes, Printer};

/// What the check of the written temp file established.
pub(super) struct Checked {
    pub file_size: u64,
    pub file_sha256: [u8; 32],
    pub status: crate::etcd::schema::Status,
    /// etcd's `HashKV` of the file at its revision, from the same walk.
    pub hash_kv: crate::etcd::hashkv::HashKv,
}

/// Runs the checks of `verify` on the temp file before it gets its name: the bytes on disk are
/// the bytes written, the snapshot inside is the one etcd sent, and it passes the full bbolt and
/// etcd checks. An encrypted file is opened with the run's own check key.
pub(super) fn check_part(
    part_path: &Path,
    layers: Layers,
    streamed: &Streamed,
    check_key: Option<&age::x25519::Identity>,
    endpoint: &str,
    bound: &Deadline,
    printer: &Printer,
) -> anyhow::Result<Checked> {
    let received = &streamed.received;
    printer.phase(format!(
        "received {} ({} bytes), SHA-256 matches etcd's digest; verifying the file",
        human_bytes(received.db_size),
        received.db_size
    ));
    failpoint("save-verify", bound, printer);
    let found = match streamed.stored {
        None => check_plain(part_path, received)?,
        Some((written, written_sha)) => {
            check_layered(part_path, layers, received, check_key, written, written_sha)?
        }
    };
    let Found {
        mut problems,
        status,
        hash_kv,
        file_size,
        file_sha256,
    } = found;
    let (status, hash_kv) = match (status, hash_kv) {
        (Some(s), Some(h)) if problems.is_empty() => (s, h),
        _ => {
            if problems.is_empty() {
                problems.push("no status or HashKV".to_string());
            }
            let list = problems
                .iter()
                .map(|p| format!("\n    {p}"))
                .collect::<String>();
            return Err(anyhow!(
                "the snapshot from {endpoint} failed verification; it was not kept:{list}"
            ))
            .hint(
                "the snapshot or its copy on this disk is damaged; check etcd's logs and this \
                 disk, then save again",
            );
        }
    };
    Ok(Checked {
        file_size,
        file_sha256,
        status,
        hash_kv,
    })
}

/// What reading the temp file back found.
struct Found {
    problems: Vec<String>,
    status: Option<crate::etcd::schema::Status>,
    hash_kv: Option<crate::etcd::hashkv::HashKv>,
    file_size: u64,
    file_sha256: [u8; 32],
}

/// A plain file: the snapshot and its digest, exactly as received.
fn check_plain(part_path: &Path, received: &crate::etcd::Received) -> anyhow::Result<Found> {
    // The bytes read back must be the bytes received, whose SHA-256 was checked in the
    // stream; CRC-32C proves that at a tenth of the cost.
    let v = verify::verify_file(
        part_path,
        verify::Content::MatchesCrc32c(received.file_crc32c),
        false,
        false,
    )?;
    let mut problems = v.problems;
    if v.file_size != received.db_size + 32 {
        problems.push(format!(
            "{} holds {} bytes after writing {} bytes of snapshot and digest",
            part_path.display(),
            v.file_size,
            received.db_size + 32
        ));
    }
    Ok(Found {
        problems,
        status: v.status,
        hash_kv: v.hash_kv,
        file_size: v.file_size,
        file_sha256: received.file_sha256,
    })
}

/// A layered file: the bytes on disk are the `written` ones, and the snapshot inside (opened
/// with the check key when encrypted) is the one received.
fn check_layered(
    part_path: &Path,
    layers: Layers,
    received: &crate::etcd::Received,
    check_key: Option<&age::x25519::Identity>,
    written: u64,
    written_sha: [u8; 32],
) -> anyhow::Result<Found> {
    let mut f = File::open(part_path).map_err(|e| FsError::io("cannot open", part_path, e))?;
    let keys: Vec<age::x25519::Identity> = check_key.into_iter().cloned().collect();
    let dir = &fsutil::parent_dir(part_path);
    let v = verify::verify_stored(&mut f, part_path, layers, &keys, dir, false, Ok(None))
        .map_err(anyhow::Error::from)
        .hint("check the backup directory's file system and free space")?;
    let mut problems = v.problems;
    if v.file_size != written || v.sha256 != written_sha {
        problems.push(format!(
            "the file on disk ({} bytes) differs from the {written} bytes written",
            v.file_size
        ));
    }
    if v.snapshot_sha256 != Some(received.file_sha256) {
        problems.push("the snapshot inside the file differs from the one etcd sent".to_string());
    }
    Ok(Found {
        problems,
        status: v.status,
        hash_kv: v.hash_kv,
        file_size: written,
        file_sha256: written_sha,
    })
}
