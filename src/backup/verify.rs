//! Proving a snapshot file intact and restorable: what `verify` checks and `save` runs on its
//! temp file before giving it a final name.
//!
//! 1. The SHA-256 trailer (docs/formats.md §1.4: `size % 512 == 32` means the file ends in
//!    sha256(db)) is present and matches; the data before it is exactly the bbolt high-water mark.
//! 2. The full bbolt check (`bbolt::Db::walk`), as `tx.Check()` does.
//! 3. etcd schema sanity: revision keys, `KeyValue` values that agree with them, a consistent index.
//! 4. The sidecar `<file>.json`, when present, agrees on size, SHA-256 and revision, and on
//!    etcd's `HashKV` of the key space (computed in the walk of 2 and 3): a changed value is
//!    caught even in a raw db without a trailer, or with a trailer recomputed after the change.
//!
//! The hash pass and the bbolt walk read the file on two threads at once.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::backup::catalog::Sidecar;
use crate::backup::layers::{self, LayerError, Layers, Tally};
use crate::backup::spill::Scratch;
use crate::bbolt::{BboltError, Db};
use crate::etcd::hashkv::HashKv;
use crate::etcd::schema::{self, Report, Status};

/// How the bytes of the file are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Content {
    /// `verify`: SHA-256 of the data must equal the trailer; the file's SHA-256 is reported.
    Sha256,
    /// `save`: the stream's SHA-256 was already checked in memory, so what remains is proving
    /// the disk holds exactly the bytes that arrived: CRC-32C of the file read back must equal
    /// the CRC-32C of the stream (about a tenth of the cost of SHA-256).
    MatchesCrc32c(u32),
}

/// The outcome for one file. `problems` empty means good.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    pub path: PathBuf,
    pub problems: Vec<String>,
    pub status: Option<Status>,
    /// etcd's `HashKV` of the file at its revision, when the walk could compute it.
    pub hash_kv: Option<HashKv>,
    /// Values encrypted at rest, per `provider:version:key name` (`Report::encrypted`).
    pub encrypted: std::collections::BTreeMap<String, u64>,
    pub file_size: u64,
    /// SHA-256 of the whole file (`Content::Sha256` only; zero otherwise).
    pub sha256: [u8; 32],
    /// The trailer, when the file has one and it matches (recorded; nothing reads it yet).
    #[allow(dead_code)]
    pub db_sha256: Option<[u8; 32]>,
    pub has_trailer: bool,
    /// The sidecar found beside the file, if any.
    pub sidecar: Option<Sidecar>,
    /// Layers of the stored file (plain for a `.db`).
    pub layers: Layers,
    /// SHA-256 of the snapshot inside the layers (bbolt data and trailer), when they were undone.
    pub snapshot_sha256: Option<[u8; 32]>,
    /// False when an encrypted file could not be opened (no `--identity`): then only its bytes
    /// were checked against the SHA-256 its sidecar recorded after the full check at save time.
    pub decrypted: bool,
}

impl Verdict {
    pub(crate) fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What the hash pass found.
struct Hashes {
    file_size: u64,
    file: [u8; 32],
    /// (computed over the data, stored trailer) when the file has a trailer (SHA-256 mode).
    trailer: Option<([u8; 32], [u8; 32])>,
    /// CRC-32C of the whole file (CRC mode).
    crc: u32,
}

/// Reads the file once: SHA-256 of the data before the trailer and of the whole file, or just
/// CRC-32C of the whole file.
fn hash_file(path: &Path, content: Content) -> std::io::Result<Hashes> {
    let mut f = crate::fsutil::open_regular(path, true)?;
    let size = f.metadata()?.len();
    let has_trailer = size % 512 == 32;
    let mut buf = vec![0u8; 1 << 20];
    if let Content::MatchesCrc32c(_) = content {
        let mut crc = 0u32;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            crc = crc32c::crc32c_append(crc, &buf[..n]);
        }
        return Ok(Hashes {
            file_size: size,
            file: [0; 32],
            trailer: None,
            crc,
        });
    }
    let data_len = if has_trailer { size - 32 } else { size };
    let mut hasher = Sha256::new();
    let mut left = data_len;
    while left > 0 {
        let n = (left.min(buf.len() as u64)) as usize;
        f.read_exact(&mut buf[..n])?;
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    let mut trailer_bytes = [0u8; 32];
    let trailer = if has_trailer {
        f.read_exact(&mut trailer_bytes)?;
        let computed: [u8; 32] = hasher.clone().finalize().into();
        hasher.update(trailer_bytes);
        Some((computed, trailer_bytes))
    } else {
        None
    };
    Ok(Hashes {
        file_size: size,
        file: hasher.finalize().into(),
        trailer,
        crc: 0,
    })
}

/// What the SHA-256 trailer of a snapshot file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trailer {
    /// The size is not 32 past a multiple of 512: a raw db copy, or a damaged file.
    Missing {
        size: u64,
    },
    Matches {
        sha256: [u8; 32],
    },
    Mismatch {
        stored: [u8; 32],
        computed: [u8; 32],
    },
}

/// Checks the SHA-256 trailer alone, reading the file once (restore runs this beside the bbolt
/// walk that rewrites the db).
pub(crate) fn check_trailer(path: &Path) -> std::io::Result<Trailer> {
    let h = hash_file(path, Content::Sha256)?;
    Ok(match h.trailer {
        None => Trailer::Missing { size: h.file_size },
        Some((computed, stored)) if computed == stored => Trailer::Matches { sha256: stored },
        Some((computed, stored)) => Trailer::Mismatch { stored, computed },
    })
}

/// Reads the sidecar beside `path`: `Ok(None)` when there is none.
pub(crate) fn read_sidecar(path: &Path) -> Result<Option<Sidecar>, String> {
    crate::backup::catalog::read_sidecar(path)
}

/// Verifies one file. `Err` only for I/O errors on the file itself (exit 2); every finding about
/// its contents is a problem in the verdict (exit 1).
pub(crate) fn verify_file(
    path: &Path,
    content: Content,
    allow_no_hash: bool,
    sidecar_check: bool,
) -> Result<Verdict, BboltError> {
    let io = |source| BboltError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Fail fast and clearly on a missing or unreadable file, and on anything but a regular file
    // (a FIFO would block every reader, a device would never end).
    crate::fsutil::open_regular(path, true).map_err(io)?;
    let (hashes, inspected) = std::thread::scope(|s| {
        let hashing = s.spawn(|| hash_file(path, content));
        let inspected = schema::inspect(path, true);
        let hashes = hashing
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("hash thread panicked")));
        (hashes, inspected)
    });
    let hashes = hashes.map_err(io)?;
    let mut problems = Vec::new();

    let mut db_sha256 = None;
    match content {
        Content::MatchesCrc32c(expected) => {
            if expected != hashes.crc {
                problems.push(format!(
                    "the file on disk differs from what was received (CRC-32C {:08x}, \
                     received {expected:08x})",
                    hashes.crc
                ));
            }
        }
        Content::Sha256 => match hashes.trailer {
            Some((computed, stored)) if computed == stored => db_sha256 = Some(stored),
            Some((computed, stored)) => problems.push(format!(
                "SHA-256 trailer mismatch: file says {}, data hashes to {}",
                hex::encode(stored),
                hex::encode(computed)
            )),
            None if allow_no_hash => {}
            None => problems.push(format!(
                "no SHA-256 trailer (size {} is not 32 past a multiple of 512): not a \
                 complete snapshot; a raw member/snap/db copy needs --allow-no-hash",
                hashes.file_size
            )),
        },
    }

    let report = judge_report(inspected, hashes.file_size, &mut problems).map_err(io)?;
    let sidecar = if sidecar_check {
        check_sidecar(
            read_sidecar(path),
            hashes.file_size,
            &hashes.file,
            None,
            report.as_ref(),
            &mut problems,
        )
    } else {
        None
    };
    Ok(Verdict {
        path: path.to_path_buf(),
        problems,
        hash_kv: report.as_ref().and_then(|r| r.hash_kv),
        encrypted: report
            .as_ref()
            .map(|r| r.encrypted.clone())
            .unwrap_or_default(),
        status: report.map(|r| r.status),
        file_size: hashes.file_size,
        sha256: hashes.file,
        db_sha256,
        has_trailer: hashes.file_size % 512 == 32,
        sidecar,
        layers: Layers::PLAIN,
        snapshot_sha256: None,
        decrypted: true,
    })
}

/// Turns the bbolt walk into problems; `Err` only for an I/O error while reading.
fn judge_report(
    inspected: Result<Report, BboltError>,
    snapshot_len: u64,
    problems: &mut Vec<String>,
) -> Result<Option<Report>, std::io::Error> {
    let report = match inspected {
        Ok(r) => r,
        Err(BboltError::Io { source, .. }) => return Err(source),
        Err(e @ (BboltError::Invalid { .. } | BboltError::Corrupt { .. })) => {
            problems.push(e.to_string());
            return Ok(None);
        }
    };
    problems.extend(report.damaged_meta.iter().map(|m| format!("bbolt: {m}")));
    problems.extend(report.corruption.iter().map(|c| format!("bbolt: {c}")));
    problems.extend(report.schema.iter().map(|p| format!("etcd: {p}")));
    if snapshot_len % 512 == 32 && report.file_len.saturating_sub(32) != report.status.total_size {
        problems.push(format!(
            "{} bytes of data before the trailer, but the bbolt high-water mark says {}",
            report.file_len.saturating_sub(32),
            report.status.total_size
        ));
    }
    Ok(Some(report))
}

/// Compares the sidecar (when there is one) with what the file holds.
fn check_sidecar(
    found: Result<Option<Sidecar>, String>,
    stored_size: u64,
    stored_sha256: &[u8; 32],
    snapshot_sha256: Option<&[u8; 32]>,
    report: Option<&Report>,
    problems: &mut Vec<String>,
) -> Option<Sidecar> {
    let sc = match found {
        Ok(Some(sc)) => sc,
        Ok(None) => return None,
        Err(p) => {
            problems.push(p);
            return None;
        }
    };
    if sc.file_size != stored_size {
        problems.push(format!(
            "sidecar says {} bytes, the file has {stored_size}",
            sc.file_size
        ));
    }
    if sc.sha256 != hex::encode(stored_sha256) {
        problems.push(format!(
            "sidecar SHA-256 {} differs from the file's {}",
            sc.sha256,
            hex::encode(stored_sha256)
        ));
    }
    if let (Some(recorded), Some(found)) = (&sc.snapshot_sha256, snapshot_sha256) {
        if *recorded != hex::encode(found) {
            problems.push(format!(
                "sidecar says the snapshot inside hashes to {recorded}, it hashes to {}",
                hex::encode(found)
            ));
        }
    }
    if let Some(r) = report {
        if sc.revision != r.status.revision {
            problems.push(format!(
                "sidecar says revision {}, the file's is {}",
                sc.revision, r.status.revision
            ));
        }
        if let Some(p) = sc
            .hash_kv
            .as_ref()
            .and_then(|rec| hash_kv_problem(rec, r.hash_kv))
        {
            problems.push(p);
        }
    }
    Some(sc)
}

/// The sidecar's `hash_kv` against the one computed from the file: `Some(problem)` when they
/// differ.
pub(crate) fn hash_kv_problem(
    recorded: &crate::backup::catalog::HashKvRecord,
    found: Option<HashKv>,
) -> Option<String> {
    let Some(h) = found else {
        return Some("the file's HashKV could not be computed (its meta bucket)".to_string());
    };
    if (h.revision, h.compact_revision) != (recorded.revision, recorded.compact_revision) {
        return Some(format!(
            "sidecar's HashKV is at revision {} compacted at {}, the file is at {} compacted at {}",
            recorded.revision, recorded.compact_revision, h.revision, h.compact_revision
        ));
    }
    (h.hash != recorded.hash).then(|| {
        format!(
            "HashKV mismatch: sidecar says {:08x} at revision {}, the file's key space hashes to \
             {:08x}: its data changed after the save",
            recorded.hash, recorded.revision, h.hash
        )
    })
}

/// Hashes a snapshot stream as it passes: SHA-256 of everything, and of everything but the last
/// 32 bytes (the data a trailer would cover), holding back the last 32 bytes seen.
struct TrailerHasher {
    data: Sha256,
    whole: Sha256,
    tail: Vec<u8>,
    len: u64,
}

impl TrailerHasher {
    fn new() -> TrailerHasher {
        TrailerHasher {
            data: Sha256::new(),
            whole: Sha256::new(),
            tail: Vec::with_capacity(64),
            len: 0,
        }
    }

    fn update(&mut self, buf: &[u8]) {
        self.whole.update(buf);
        self.len += buf.len() as u64;
        if buf.len() >= 32 {
            self.data.update(&self.tail);
            self.data.update(&buf[..buf.len() - 32]);
            self.tail.clear();
            self.tail.extend_from_slice(&buf[buf.len() - 32..]);
        } else {
            self.tail.extend_from_slice(buf);
            if self.tail.len() > 32 {
                let spill = self.tail.len() - 32;
                self.data.update(&self.tail[..spill]);
                self.tail.drain(..spill);
            }
        }
    }

    /// (length, SHA-256 of everything, what the trailer says when the length says there is one).
    fn finish(self) -> (u64, [u8; 32], Option<Trailer>) {
        let whole: [u8; 32] = self.whole.finalize().into();
        let trailer = if self.len % 512 == 32 {
            let computed: [u8; 32] = self.data.finalize().into();
            let mut stored = [0u8; 32];
            stored.copy_from_slice(&self.tail);
            Some(if computed == stored {
                Trailer::Matches { sha256: stored }
            } else {
                Trailer::Mismatch { stored, computed }
            })
        } else {
            None
        };
        (self.len, whole, trailer)
    }
}

/// What reading a layered file to the end established.
pub(crate) struct Unlayered {
    pub stored_size: u64,
    pub stored_sha256: [u8; 32],
    pub snapshot_size: u64,
    pub snapshot_sha256: [u8; 32],
    pub trailer: Trailer,
}

/// A layered file spilled into a [`Scratch`] for the random reads of the bbolt walk.
pub(crate) struct Spilled {
    pub unlayered: Unlayered,
    pub scratch: Scratch,
}

/// Why a layered file could not be read to the end.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpillError {
    /// Reading the stored bytes failed (disk, network): exit 2, nothing said about the file.
    #[error("cannot read {name}")]
    Read {
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// Writing the plaintext (scratch or restore copy) failed (disk full?).
    #[error("cannot write the copy in {dir}")]
    Write {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Keys: no identity, or none fits. Nothing said about the file either.
    #[error(transparent)]
    Keys(LayerError),
    /// The layers do not decode: the file is damaged or was tampered with (a finding, exit 1).
    #[error("{0}")]
    Damaged(String),
}

/// Reads stored bytes to the end, undoing `layers` with `identities`, into `sink`, hashing both
/// the stored bytes and the snapshot inside. `sink_dir` names where `sink` writes, for errors.
pub(crate) fn unlayer(
    stored: &mut (dyn Read + Send),
    name: &str,
    layers: Layers,
    identities: &[age::x25519::Identity],
    sink: &mut dyn std::io::Write,
    sink_dir: &Path,
) -> Result<Unlayered, SpillError> {
    let write_err = |source| SpillError::Write {
        dir: sink_dir.to_path_buf(),
        source,
    };
    let mut source = Watch::new(stored);
    let mut hasher = TrailerHasher::new();
    let outcome = (|| -> Result<(), SpillError> {
        let mut plain =
            layers::decoder(&mut source, layers, identities, name).map_err(|e| match e {
                LayerError::BadAge { .. } => SpillError::Damaged(e.to_string()),
                e => SpillError::Keys(e),
            })?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match plain.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(SpillError::Damaged(format!(
                        "cannot undo the {} layers of {name}: {e}",
                        layers.describe()
                    )))
                }
            };
            hasher.update(&buf[..n]);
            sink.write_all(&buf[..n]).map_err(write_err)?;
        }
        // Bytes after the last layer ends (zstd stops at its frame's end) are damage too.
        drop(plain);
        let mut rest = [0u8; 1];
        match source.read(&mut rest) {
            Ok(0) => Ok(()),
            Ok(_) => Err(SpillError::Damaged(format!(
                "{name} has bytes after the end of its {} data",
                layers.describe()
            ))),
            Err(e) => Err(SpillError::Damaged(e.to_string())),
        }
    })();
    if let Some(e) = source.failed.take() {
        return Err(SpillError::Read {
            name: name.to_string(),
            source: e,
        });
    }
    outcome?;
    sink.flush().map_err(write_err)?;
    let (stored_size, stored_sha256) = (source.tally.len(), source.digest());
    let (snapshot_size, snapshot_sha256, trailer) = hasher.finish();
    Ok(Unlayered {
        stored_size,
        stored_sha256,
        snapshot_size,
        snapshot_sha256,
        trailer: trailer.unwrap_or(Trailer::Missing {
            size: snapshot_size,
        }),
    })
}

/// [`unlayer`] into a scratch file in `scratch_dir`, sealed with a key kept in memory when the
/// file was encrypted, so no plaintext reaches the disk.
pub(crate) fn spill(
    stored: &mut (dyn Read + Send),
    name: &str,
    layers: Layers,
    identities: &[age::x25519::Identity],
    scratch_dir: &Path,
) -> Result<Spilled, SpillError> {
    let write_err = |source| SpillError::Write {
        dir: scratch_dir.to_path_buf(),
        source,
    };
    let mut scratch = Scratch::new(scratch_dir, layers.age).map_err(write_err)?;
    let unlayered = unlayer(stored, name, layers, identities, &mut scratch, scratch_dir)?;
    scratch.finish().map_err(write_err)?;
    Ok(Spilled { unlayered, scratch })
}

/// The stored bytes' reader, hashed, remembering whether *it* failed (as opposed to the layers
/// above it, whose errors mean damage).
struct Watch<'a> {
    tally: Tally<&'a mut (dyn Read + Send)>,
    failed: Option<std::io::Error>,
}

impl<'a> Watch<'a> {
    fn new(inner: &'a mut (dyn Read + Send)) -> Watch<'a> {
        Watch {
            tally: Tally::new(inner),
            failed: None,
        }
    }

    fn digest(self) -> [u8; 32] {
        self.tally.finish().2
    }
}

impl Read for Watch<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.tally.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let msg = e.to_string();
                self.failed = Some(e);
                Err(std::io::Error::other(msg))
            }
        }
    }
}

/// Verifies a layered file from its stored bytes (a local `.db.zst.age` or a remote object).
/// `sidecar` is what was found beside it. Without an identity for an encrypted file, only the
/// stored bytes are checked, against the sidecar's SHA-256 (`decrypted: false`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn verify_stored(
    stored: &mut (dyn Read + Send),
    name: &Path,
    layers: Layers,
    identities: &[age::x25519::Identity],
    scratch_dir: &Path,
    allow_no_hash: bool,
    sidecar: Result<Option<Sidecar>, String>,
) -> Result<Verdict, SpillError> {
    let shown = name.display().to_string();
    if layers.age && identities.is_empty() {
        return verify_encrypted_bytes(stored, name, layers, sidecar);
    }
    let mut problems = Vec::new();
    let spilled = match spill(stored, &shown, layers, identities, scratch_dir) {
        Ok(s) => s,
        Err(SpillError::Damaged(p)) => {
            problems.push(p);
            return Ok(Verdict {
                path: name.to_path_buf(),
                problems,
                status: None,
                hash_kv: None,
                encrypted: Default::default(),
                file_size: 0,
                sha256: [0; 32],
                db_sha256: None,
                has_trailer: false,
                sidecar: sidecar.ok().flatten(),
                layers,
                snapshot_sha256: None,
                decrypted: true,
            });
        }
        Err(e) => return Err(e),
    };
    let u = &spilled.unlayered;
    let db_sha256 = judge_trailer(&u.trailer, allow_no_hash, &mut problems);
    let (stored_size, stored_sha256) = (u.stored_size, u.stored_sha256);
    let (snapshot_size, snapshot_sha256) = (u.snapshot_size, u.snapshot_sha256);
    let inspected = Db::from_source(Box::new(spilled.scratch), name)
        .and_then(|db| schema::inspect_db(&db, true));
    let report = judge_report(inspected, snapshot_size, &mut problems).map_err(|source| {
        SpillError::Write {
            dir: scratch_dir.to_path_buf(),
            source,
        }
    })?;
    let sidecar = check_sidecar(
        sidecar,
        stored_size,
        &stored_sha256,
        Some(&snapshot_sha256),
        report.as_ref(),
        &mut problems,
    );
    Ok(Verdict {
        path: name.to_path_buf(),
        problems,
        hash_kv: report.as_ref().and_then(|r| r.hash_kv),
        encrypted: report
            .as_ref()
            .map(|r| r.encrypted.clone())
            .unwrap_or_default(),
        status: report.map(|r| r.status),
        file_size: stored_size,
        sha256: stored_sha256,
        db_sha256,
        has_trailer: snapshot_size % 512 == 32,
        sidecar,
        layers,
        snapshot_sha256: Some(snapshot_sha256),
        decrypted: true,
    })
}

/// [`verify_stored`] of an encrypted file without an identity: its stored bytes against the
/// SHA-256 its sidecar recorded when it passed verification.
fn verify_encrypted_bytes(
    stored: &mut (dyn Read + Send),
    name: &Path,
    layers: Layers,
    sidecar: Result<Option<Sidecar>, String>,
) -> Result<Verdict, SpillError> {
    let mut problems = Vec::new();
    let (size, sha) = layers::digest(stored).map_err(|source| SpillError::Read {
        name: name.display().to_string(),
        source,
    })?;
    let sidecar = match sidecar {
        Ok(Some(sc)) if sc.verified() => {
            check_sidecar(Ok(Some(sc)), size, &sha, None, None, &mut problems)
        }
        Ok(Some(sc)) => {
            problems.push(
                "encrypted, no --identity given, and its sidecar does not record a passed \
                 verification: nothing to check it against"
                    .to_string(),
            );
            Some(sc)
        }
        Ok(None) => {
            problems.push(
                "encrypted, no --identity given, and no sidecar: nothing to check it \
                 against"
                    .to_string(),
            );
            None
        }
        Err(p) => {
            problems.push(p);
            None
        }
    };
    Ok(Verdict {
        path: name.to_path_buf(),
        problems,
        status: None,
        hash_kv: None,
        encrypted: Default::default(),
        file_size: size,
        sha256: sha,
        db_sha256: None,
        has_trailer: false,
        sidecar,
        layers,
        snapshot_sha256: None,
        decrypted: false,
    })
}

/// The SHA-256 of the db when the snapshot's trailer matches it; a problem when it does not,
/// or when there is none and `allow_no_hash` is not given.
fn judge_trailer(
    trailer: &Trailer,
    allow_no_hash: bool,
    problems: &mut Vec<String>,
) -> Option<[u8; 32]> {
    match *trailer {
        Trailer::Matches { sha256 } => return Some(sha256),
        Trailer::Mismatch { stored, computed } => problems.push(format!(
            "SHA-256 trailer mismatch: file says {}, data hashes to {}",
            hex::encode(stored),
            hex::encode(computed)
        )),
        Trailer::Missing { .. } if allow_no_hash => {}
        Trailer::Missing { size } => problems.push(format!(
            "no SHA-256 trailer (the snapshot inside is {size} bytes, not 32 past a multiple \
             of 512): not a complete snapshot"
        )),
    }
    None
}

/// Verifies a local file of any layers (what `verify FILE` does): plain files in place, layered
/// ones through a scratch copy beside them.
pub(crate) fn verify_path(
    path: &Path,
    identities: &[age::x25519::Identity],
    allow_no_hash: bool,
) -> Result<Verdict, SpillError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let layers = Layers::strip(name).1;
    if layers.is_plain() {
        return verify_file(path, Content::Sha256, allow_no_hash, true).map_err(|e| match e {
            BboltError::Io { source, .. } => SpillError::Read {
                name: path.display().to_string(),
                source,
            },
            other => SpillError::Damaged(other.to_string()),
        });
    }
    let mut file = crate::fsutil::open_regular(path, true).map_err(|source| SpillError::Read {
        name: path.display().to_string(),
        source,
    })?;
    let dir = crate::fsutil::parent_dir(path);
    verify_stored(
        &mut file,
        path,
        layers,
        identities,
        &dir,
        allow_no_hash,
        read_sidecar(path),
    )
}
