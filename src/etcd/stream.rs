//! The Maintenance.Snapshot stream protocol, as etcd 3.4/3.5/3.6 send it
//! (`server/etcdserver/api/v3rpc/maintenance.go`, `Snapshot`):
//!
//! ```text
//! msg 1..k   { remaining_bytes: total - sent, blob: next ≤32 KiB of the bbolt file }
//!            the last data message has remaining_bytes == 0
//! msg k+1    { remaining_bytes: 0, blob: sha256(all data bytes) }   exactly 32 bytes
//! EOF
//! ```
//!
//! The last data message and the digest both carry `remaining_bytes == 0`, so the digest is the
//! message *after* the first one with `remaining_bytes == 0`. `total` is fixed by the first
//! message (`remaining_bytes + len(blob)`) and every later message must agree with it.

use sha2::{Digest, Sha256};

/// A violation of the stream protocol, or a digest that does not match the data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("stream ended after {received} of {total} bytes")]
    Truncated { received: u64, total: u64 },
    #[error("stream ended after all {total} bytes of data but without the SHA-256 digest message")]
    MissingDigest { total: u64 },
    #[error("digest message has {len} bytes, expected 32")]
    BadDigestLength { len: usize },
    #[error("server sent another message after the digest")]
    AfterDigest,
    #[error(
        "inconsistent remaining_bytes: {received} bytes received and {remaining} remaining, \
         but the stream announced {total}"
    )]
    Inconsistent {
        received: u64,
        remaining: u64,
        total: u64,
    },
    #[error("SHA-256 digest mismatch: server sent {sent}, data hashes to {computed}")]
    DigestMismatch { sent: String, computed: String },
}

/// What a message turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Data,
    Digest,
}

/// The checked result of a complete stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Bytes of bbolt data (the file minus the 32-byte trailer).
    pub db_size: u64,
    /// SHA-256 of the data, equal to the trailer the server sent.
    pub db_sha256: [u8; 32],
    /// SHA-256 of data ‖ trailer: the whole file as written.
    pub file_sha256: [u8; 32],
    /// CRC-32C of the whole file: a cheap way to prove what reached the disk is what arrived.
    pub file_crc32c: u32,
}

/// Follows the stream message by message, hashing the data as it passes.
#[derive(Debug, Default)]
pub(crate) struct Receiver {
    total: Option<u64>,
    received: u64,
    data_done: bool,
    digest: Option<[u8; 32]>,
    hasher: Sha256,
    crc: u32,
}

impl Receiver {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Bytes of data received so far and the announced total (0 before the first message).
    pub(crate) fn progress(&self) -> (u64, u64) {
        (self.received, self.total.unwrap_or(0))
    }

    /// Takes one message. The caller writes `blob` to the file whatever the part is: a snapshot
    /// file is the data followed by the digest, as `etcdctl snapshot save` writes it.
    pub(crate) fn push(&mut self, remaining: u64, blob: &[u8]) -> Result<Part, StreamError> {
        if self.digest.is_some() {
            return Err(StreamError::AfterDigest);
        }
        if self.data_done {
            let digest: [u8; 32] = blob
                .try_into()
                .map_err(|_| StreamError::BadDigestLength { len: blob.len() })?;
            if remaining != 0 {
                return Err(StreamError::Inconsistent {
                    received: self.received,
                    remaining,
                    total: self.received,
                });
            }
            self.digest = Some(digest);
            self.crc = crc32c::crc32c_append(self.crc, blob);
            return Ok(Part::Digest);
        }
        let len = blob.len() as u64;
        let total = *self
            .total
            .get_or_insert_with(|| remaining.saturating_add(len));
        let received = self.received.saturating_add(len);
        if received.checked_add(remaining) != Some(total) {
            return Err(StreamError::Inconsistent {
                received,
                remaining,
                total,
            });
        }
        self.received = received;
        self.hasher.update(blob);
        self.crc = crc32c::crc32c_append(self.crc, blob);
        if remaining == 0 {
            self.data_done = true;
        }
        Ok(Part::Data)
    }

    /// Checks that the stream was complete and the digest matches.
    pub(crate) fn finish(self) -> Result<Received, StreamError> {
        let total = self.total.unwrap_or(0);
        if !self.data_done {
            return Err(StreamError::Truncated {
                received: self.received,
                total,
            });
        }
        let sent = self.digest.ok_or(StreamError::MissingDigest { total })?;
        let mut file_hasher = self.hasher.clone();
        let computed: [u8; 32] = self.hasher.finalize().into();
        if computed != sent {
            return Err(StreamError::DigestMismatch {
                sent: hex::encode(sent),
                computed: hex::encode(computed),
            });
        }
        file_hasher.update(sent);
        Ok(Received {
            db_size: self.received,
            db_sha256: computed,
            file_sha256: file_hasher.finalize().into(),
            file_crc32c: self.crc,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(b: &[u8]) -> [u8; 32] {
        Sha256::digest(b).into()
    }

    /// Splits `db` into 32 KiB messages as the server does, then the digest message.
    fn messages(db: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut sent = 0;
        for chunk in db.chunks(32 * 1024) {
            sent += chunk.len();
            out.push(((db.len() - sent) as u64, chunk.to_vec()));
        }
        out.push((0, sha(db).to_vec()));
        out
    }

    fn run(msgs: &[(u64, Vec<u8>)]) -> Result<Received, StreamError> {
        let mut r = Receiver::new();
        for (rem, blob) in msgs {
            r.push(*rem, blob)?;
        }
        r.finish()
    }

    #[test]
    fn accepts_a_well_formed_stream_like_etcd_3_5() {
        // 3.5.1 sent 32768×3 + 28672 for a 126,976-byte db (docs/formats.md §1.2).
        let db: Vec<u8> = (0..126_976u32).map(|i| (i % 251) as u8).collect();
        let msgs = messages(&db);
        assert_eq!(msgs.len(), 5);
        assert_eq!(msgs[3].0, 0, "last data message has remaining 0");
        let got = run(&msgs).unwrap();
        assert_eq!(got.db_size, 126_976);
        assert_eq!(got.db_sha256, sha(&db));
        let mut file = db.clone();
        file.extend_from_slice(&sha(&db));
        assert_eq!(got.file_sha256, sha(&file));
        assert_eq!(got.file_crc32c, crc32c::crc32c(&file));
    }

    #[test]
    fn first_zero_remaining_is_data_not_digest() {
        // A 32-byte final data chunk must not be mistaken for the digest.
        let db = vec![7u8; 32 * 1024 + 32];
        let msgs = messages(&db);
        assert_eq!(msgs[1].1.len(), 32);
        assert_eq!(run(&msgs).unwrap().db_size, db.len() as u64);
    }

    #[test]
    fn missing_digest_is_an_error() {
        let db = vec![1u8; 70_000];
        let mut msgs = messages(&db);
        msgs.pop();
        assert_eq!(
            run(&msgs),
            Err(StreamError::MissingDigest { total: 70_000 })
        );
    }

    #[test]
    fn wrong_digest_is_an_error() {
        let db = vec![1u8; 70_000];
        let mut msgs = messages(&db);
        msgs.last_mut().unwrap().1[0] ^= 1;
        assert!(matches!(
            run(&msgs),
            Err(StreamError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn corrupted_chunk_is_caught_by_the_digest() {
        let db = vec![1u8; 70_000];
        let mut msgs = messages(&db);
        msgs[1].1[5] ^= 0x80;
        assert!(matches!(
            run(&msgs),
            Err(StreamError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn truncated_stream_is_an_error() {
        let db = vec![1u8; 100_000];
        let msgs = messages(&db);
        assert_eq!(
            run(&msgs[..2]),
            Err(StreamError::Truncated {
                received: 65_536,
                total: 100_000
            })
        );
        assert_eq!(
            run(&[]),
            Err(StreamError::Truncated {
                received: 0,
                total: 0
            })
        );
    }

    #[test]
    fn short_digest_extra_messages_and_bad_counts_are_errors() {
        let db = vec![1u8; 40_000];
        let mut msgs = messages(&db);
        msgs.last_mut().unwrap().1.truncate(31);
        assert_eq!(run(&msgs), Err(StreamError::BadDigestLength { len: 31 }));

        let mut msgs = messages(&db);
        msgs.push((0, vec![0; 32]));
        assert_eq!(run(&msgs), Err(StreamError::AfterDigest));

        let mut msgs = messages(&db);
        msgs[0].0 += 1;
        assert!(matches!(run(&msgs), Err(StreamError::Inconsistent { .. })));
    }
}
