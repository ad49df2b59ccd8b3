//! Proving a snapshot file intact and restorable: what `verify` checks and `save` runs on its
//! temp file before giving it a final name.
//!
//! 1. The SHA-256 trailer (etcd-formats.md §1.4: `size % 512 == 32` means the file ends in
//!    sha256(db)) is present and matches; the data before it is exactly the bbolt high-water mark.
//! 2. The full bbolt check (`bbolt::Db::walk`), as `tx.Check()` does.
//! 3. etcd schema sanity: revision keys, `KeyValue` values that agree with them, a consistent index.
//! 4. The sidecar `<file>.json`, when present, agrees on size, SHA-256 and revision.
//!
//! The hash pass and the bbolt walk read the file on two threads at once.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::backend::{self, Report, Status};
use crate::bbolt::BboltError;
use crate::catalog::Sidecar;

/// How the bytes of the file are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// `verify`: SHA-256 of the data must equal the trailer; the file's SHA-256 is reported.
    Sha256,
    /// `save`: the stream's SHA-256 was already checked in memory, so what remains is proving
    /// the disk holds exactly the bytes that arrived: CRC-32C of the file read back must equal
    /// the CRC-32C of the stream (about a tenth of the cost of SHA-256).
    MatchesCrc32c(u32),
}

/// The outcome for one file. `problems` empty means good.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub path: PathBuf,
    pub problems: Vec<String>,
    pub status: Option<Status>,
    pub file_size: u64,
    /// SHA-256 of the whole file (`Content::Sha256` only; zero otherwise).
    pub sha256: [u8; 32],
    /// The trailer, when the file has one and it matches.
    pub db_sha256: Option<[u8; 32]>,
    pub has_trailer: bool,
    /// The sidecar found beside the file, if any.
    pub sidecar: Option<Sidecar>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
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
    let mut f = File::open(path)?;
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
pub enum Trailer {
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
pub fn check_trailer(path: &Path) -> std::io::Result<Trailer> {
    let h = hash_file(path, Content::Sha256)?;
    Ok(match h.trailer {
        None => Trailer::Missing { size: h.file_size },
        Some((computed, stored)) if computed == stored => Trailer::Matches { sha256: stored },
        Some((computed, stored)) => Trailer::Mismatch { stored, computed },
    })
}

/// Reads the sidecar beside `path`: `Ok(None)` when there is none.
pub fn read_sidecar(path: &Path) -> Result<Option<Sidecar>, String> {
    let sidecar_path = crate::catalog::sidecar_path(path);
    match std::fs::read(&sidecar_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("sidecar {} is not valid: {e}", sidecar_path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "cannot read sidecar {}: {e}",
            sidecar_path.display()
        )),
    }
}

/// Verifies one file. `Err` only for I/O errors on the file itself (exit 2); every finding about
/// its contents is a problem in the verdict (exit 1).
pub fn verify_file(
    path: &Path,
    content: Content,
    allow_no_hash: bool,
    sidecar_check: bool,
) -> Result<Verdict, BboltError> {
    let io = |source| BboltError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Fail fast and clearly on a missing or unreadable file.
    File::open(path).map_err(io)?;
    let (hashes, inspected) = std::thread::scope(|s| {
        let hashing = s.spawn(|| hash_file(path, content));
        let inspected = backend::inspect(path, true);
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

    let report: Option<Report> = match inspected {
        Ok(r) => Some(r),
        Err(BboltError::Io { source, .. }) => return Err(io(source)),
        Err(e @ (BboltError::Invalid { .. } | BboltError::Corrupt { .. })) => {
            problems.push(e.to_string());
            None
        }
    };
    if let Some(r) = &report {
        problems.extend(r.damaged_meta.iter().map(|m| format!("bbolt: {m}")));
        problems.extend(r.corruption.iter().map(|c| format!("bbolt: {c}")));
        problems.extend(r.schema.iter().map(|p| format!("etcd: {p}")));
        let trailer = hashes.file_size % 512 == 32;
        if trailer && r.file_len.saturating_sub(32) != r.status.total_size {
            problems.push(format!(
                "{} bytes of data before the trailer, but the bbolt high-water mark says {}",
                r.file_len.saturating_sub(32),
                r.status.total_size
            ));
        }
    }

    let mut sidecar = None;
    if sidecar_check {
        match read_sidecar(path) {
            Ok(Some(sc)) => {
                if sc.file_size != hashes.file_size {
                    problems.push(format!(
                        "sidecar says {} bytes, the file has {}",
                        sc.file_size, hashes.file_size
                    ));
                }
                if sc.sha256 != hex::encode(hashes.file) {
                    problems.push(format!(
                        "sidecar SHA-256 {} differs from the file's {}",
                        sc.sha256,
                        hex::encode(hashes.file)
                    ));
                }
                if let Some(r) = &report {
                    if sc.revision != r.status.revision {
                        problems.push(format!(
                            "sidecar says revision {}, the file's is {}",
                            sc.revision, r.status.revision
                        ));
                    }
                }
                sidecar = Some(sc);
            }
            Ok(None) => {}
            Err(p) => problems.push(p),
        }
    }
    Ok(Verdict {
        path: path.to_path_buf(),
        problems,
        status: report.map(|r| r.status),
        file_size: hashes.file_size,
        sha256: hashes.file,
        db_sha256,
        has_trailer: hashes.file_size % 512 == 32,
        sidecar,
    })
}
