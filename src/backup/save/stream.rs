//! Streaming the snapshot from etcd into the `.part` file, through zstd and age when asked.

use std::path::Path;

use super::preflight::connect_error;
use super::stop::stopped;
use super::temp_file::TempFile;
use crate::backup::layers::{Background, Encoder, Layers, Tally};
use crate::diagnostics::with_hint;
use crate::etcd::{EtcdError, Session};
use crate::fsutil::direct_io::{self, Spool};
use crate::fsutil::FsError;
use crate::output::Printer;

/// What streaming into the temp file produced.
pub(super) struct Streamed {
    pub received: crate::etcd::Received,
    /// Size and SHA-256 of what was written, when layers made it differ from what arrived.
    pub stored: Option<(u64, [u8; 32])>,
}

/// Streams the snapshot into `part`: straight through the spool, or through zstd and age on a
/// second thread when layers were asked for.
pub(super) fn stream(
    session: &mut Session,
    part: &TempFile,
    part_path: &Path,
    layers: Layers,
    recipients: &[age::x25519::Recipient],
    check_key: Option<&age::x25519::Identity>,
    printer: &Printer,
) -> anyhow::Result<Streamed> {
    let mut progress = printer.progress("snapshot");
    let spool = Spool::new(
        part.file()
            .try_clone()
            .map_err(|e| FsError::io("cannot open", part_path, e))?,
        part_path,
        direct_io::Mode::Auto,
    )
    .map_err(|e| FsError::io("cannot open for writing", part_path, e))?;
    printer.detail(format!(
        "writing {} (page cache bypassed: {})",
        part_path.display(),
        spool.is_direct()
    ));
    let mut on_progress = |got: u64, total: u64| progress.set(got, total);
    let sink_err = |e: std::io::Error| stream_error(EtcdError::Sink(e), part_path);
    let streamed = if layers.is_plain() {
        let mut spool = spool;
        let received = session
            .snapshot(&mut spool, &mut on_progress)
            .map_err(|e| stream_error(e, part_path))?;
        spool.finish().map_err(sink_err)?;
        Streamed {
            received,
            stored: None,
        }
    } else {
        let mut all: Vec<age::x25519::Recipient> = recipients.to_vec();
        all.extend(check_key.map(age::x25519::Identity::to_public));
        let encoder = Encoder::new(Tally::new(spool), layers, &all)?;
        let mut background = Background::new(encoder).map_err(sink_err)?;
        let received = session
            .snapshot(&mut background, &mut on_progress)
            .map_err(|e| stream_error(e, part_path))?;
        let tally = background
            .finish()
            .and_then(Encoder::finish)
            .map_err(sink_err)?;
        let (spool, len, sha) = tally.finish();
        spool.finish().map_err(sink_err)?;
        Streamed {
            received,
            stored: Some((len, sha)),
        }
    };
    progress.finish();
    Ok(streamed)
}

/// Adds the temp file's path and advice to a failure during the stream.
pub(super) fn stream_error(e: EtcdError, part: &Path) -> anyhow::Error {
    match e {
        EtcdError::Sink(io) => {
            let hint = if io.raw_os_error() == Some(28) {
                "the disk filled up while writing; free space or choose another --backup-dir"
            } else {
                "check the backup directory's file system"
            };
            with_hint(FsError::io("cannot write", part, io), hint)
        }
        EtcdError::Stalled { .. } => with_hint(
            e,
            "etcd stopped sending (overloaded, paused or a network problem); check etcd and run \
             save again, or raise --stall-timeout",
        ),
        EtcdError::StreamBroken { .. } => with_hint(
            e,
            "the connection to etcd broke mid-stream (etcd restarted or was killed?); check etcd \
             and run save again",
        ),
        EtcdError::Protocol { .. } => with_hint(
            e,
            "the snapshot etcd sent is damaged or incomplete; nothing was kept. Run save again; \
             if it repeats, check etcd's logs and disk",
        ),
        EtcdError::Deadline { .. } | EtcdError::Interrupted(_) => {
            stopped(e, "streaming the snapshot")
        }
        other => connect_error(other),
    }
}
