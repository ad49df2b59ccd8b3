//! The WAL segment restore writes (docs/formats.md §5.5).
//!
//! Upstream: `server/storage/wal/wal.go` (`Create`, `SaveSnapshot`, `Save`), `encoder.go`
//! (framing), `wal/walpb/record.proto`, `raft/raftpb/raft.proto`,
//! `api/etcdserverpb/etcdserver.proto` and `etcdutl/snapshot/v3_snapshot.go` (`saveWALAndSnap`).
//!
//! Frame: 8-byte little-endian length word ‖ marshalled `walpb.Record` ‖ zero padding to a multiple
//! of 8. The low 56 bits of the word hold the record length `n`; when `pad = (8 − n mod 8) mod 8`
//! is non-zero the top byte is `0x80 | pad`. The segment is preallocated to 64,000,000 bytes; the
//! zeros after the last frame read as a zero length word, which ends the segment.
//!
//! The messages are proto2 (gogoproto, non-nullable): scalar fields are written even when zero,
//! which is what prost's `required` does; `bytes` fields are written only when non-nil.

use std::fs::{DirBuilder, File};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use prost::Message;

use super::member::{member_json, Cluster};
use crate::fsutil::{self, FsError};

/// `wal.SegmentSizeBytes`: every segment is preallocated to this size.
pub(crate) const SEGMENT_SIZE: u64 = 64_000_000;

/// The only segment restore creates: `%016x-%016x.wal` of (sequence 0, first index 0).
pub(crate) const SEGMENT_NAME: &str = "0000000000000000-0000000000000000.wal";

/// `walpb.Record` types (`wal.go`).
const METADATA_TYPE: i64 = 1;
const ENTRY_TYPE: i64 = 2;
const STATE_TYPE: i64 = 3;
const CRC_TYPE: i64 = 4;
const SNAPSHOT_TYPE: i64 = 5;

/// `raftpb.EntryConfChange`.
const ENTRY_CONF_CHANGE: i32 = 1;
/// `raftpb.ConfChangeAddNode`.
const CONF_CHANGE_ADD_NODE: i32 = 0;

/// `walpb.Record`.
#[derive(Clone, PartialEq, Message)]
struct Record {
    #[prost(int64, required, tag = "1")]
    r#type: i64,
    #[prost(uint32, required, tag = "2")]
    crc: u32,
    #[prost(bytes = "vec", optional, tag = "3")]
    data: Option<Vec<u8>>,
}

/// `etcdserverpb.Metadata`.
#[derive(Clone, PartialEq, Message)]
struct Metadata {
    #[prost(uint64, required, tag = "1")]
    node_id: u64,
    #[prost(uint64, required, tag = "2")]
    cluster_id: u64,
}

/// `walpb.Snapshot`; `conf_state` is a nullable pointer (absent in 3.4 and in the first record).
#[derive(Clone, PartialEq, Message)]
struct WalSnapshot {
    #[prost(uint64, required, tag = "1")]
    index: u64,
    #[prost(uint64, required, tag = "2")]
    term: u64,
    #[prost(message, optional, tag = "3")]
    conf_state: Option<ConfState>,
}

/// `raftpb.Entry`; `Type` is the `EntryType` enum, a varint on the wire.
#[derive(Clone, PartialEq, Message)]
struct Entry {
    #[prost(int32, required, tag = "1")]
    r#type: i32,
    #[prost(uint64, required, tag = "2")]
    term: u64,
    #[prost(uint64, required, tag = "3")]
    index: u64,
    #[prost(bytes = "vec", optional, tag = "4")]
    data: Option<Vec<u8>>,
}

/// `raftpb.ConfChange` (3.5 wire order: ID, Type, NodeID, Context).
#[derive(Clone, PartialEq, Message)]
struct ConfChange {
    #[prost(uint64, required, tag = "1")]
    id: u64,
    #[prost(int32, required, tag = "2")]
    r#type: i32,
    #[prost(uint64, required, tag = "3")]
    node_id: u64,
    #[prost(bytes = "vec", optional, tag = "4")]
    context: Option<Vec<u8>>,
}

/// `raftpb.HardState`.
#[derive(Clone, PartialEq, Message)]
struct HardState {
    #[prost(uint64, required, tag = "1")]
    term: u64,
    #[prost(uint64, required, tag = "2")]
    vote: u64,
    #[prost(uint64, required, tag = "3")]
    commit: u64,
}

/// `raftpb.ConfState`: voters are a proto2 repeated field, **not packed** (one `08 <id>` each);
/// learners, voters_outgoing and learners_next (2-4) are empty at restore and so absent;
/// `auto_leave` is always written (`28 00`).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ConfState {
    #[prost(uint64, repeated, packed = "false", tag = "1")]
    pub(crate) voters: Vec<u64>,
    #[prost(bool, required, tag = "5")]
    pub(crate) auto_leave: bool,
}

impl ConfState {
    /// All members as voters, ascending IDs.
    pub(crate) fn of(cluster: &Cluster) -> ConfState {
        ConfState {
            voters: cluster.members.iter().map(|m| m.id).collect(),
            auto_leave: false,
        }
    }
}

/// Appends records with the CRC-32C chain of `wal.encoder`: each record carries the CRC-32C of
/// the concatenated `data` of all records so far (the crc record itself has no data and carries
/// the running value).
struct Encoder {
    out: Vec<u8>,
    crc: u32,
}

impl Encoder {
    fn record(&mut self, r#type: i64, data: Option<Vec<u8>>) {
        if let Some(d) = &data {
            self.crc = crc32c::crc32c_append(self.crc, d);
        }
        let rec = Record {
            r#type,
            crc: self.crc,
            data,
        }
        .encode_to_vec();
        let n = rec.len() as u64;
        let pad = (8 - n % 8) % 8;
        let word = if pad > 0 { n | (0x80 | pad) << 56 } else { n };
        self.out.extend_from_slice(&word.to_le_bytes());
        self.out.extend_from_slice(&rec);
        self.out.resize(self.out.len() + pad as usize, 0);
    }
}

/// The record bytes restore writes at the start of the segment (without the zero tail):
/// crc, metadata, snapshot{0,0}, one ConfChange entry per member (ascending IDs, index 1..N,
/// term 1), HardState{term 1, vote smallest ID, commit N}, snapshot{N, 1}.
///
/// `conf_state_in_last_snapshot`: true gives the 3.5/3.6 form (the last snapshot record carries
/// the ConfState; what we write), false the 3.4 form (index and term only).
pub(crate) fn wal_records(cluster: &Cluster, conf_state_in_last_snapshot: bool) -> Vec<u8> {
    let mut enc = Encoder {
        out: Vec::new(),
        crc: 0,
    };
    let n = cluster.members.len() as u64;
    // wal.Create: crc record with the previous segment's CRC (0), metadata, empty snapshot.
    enc.record(CRC_TYPE, None);
    let local_id = cluster.members.get(cluster.local).map_or(0, |m| m.id);
    let metadata = Metadata {
        node_id: local_id,
        cluster_id: cluster.cluster_id,
    };
    enc.record(METADATA_TYPE, Some(metadata.encode_to_vec()));
    let empty = WalSnapshot {
        index: 0,
        term: 0,
        conf_state: None,
    };
    enc.record(SNAPSHOT_TYPE, Some(empty.encode_to_vec()));
    // saveWALAndSnap: w.Save(hardState, ents) writes the entries, then the HardState.
    for (i, m) in cluster.members.iter().enumerate() {
        let cc = ConfChange {
            id: 0,
            r#type: CONF_CHANGE_ADD_NODE,
            node_id: m.id,
            context: Some(member_json(m).into_bytes()),
        };
        let entry = Entry {
            r#type: ENTRY_CONF_CHANGE,
            term: 1,
            index: i as u64 + 1,
            data: Some(cc.encode_to_vec()),
        };
        enc.record(ENTRY_TYPE, Some(entry.encode_to_vec()));
    }
    let hard_state = HardState {
        term: 1,
        vote: cluster.members.first().map_or(0, |m| m.id),
        commit: n,
    };
    enc.record(STATE_TYPE, Some(hard_state.encode_to_vec()));
    let last = WalSnapshot {
        index: n,
        term: 1,
        conf_state: conf_state_in_last_snapshot.then(|| ConfState::of(cluster)),
    };
    enc.record(SNAPSHOT_TYPE, Some(last.encode_to_vec()));
    enc.out
}

/// Creates `dir` (mode 0700; it must not exist) and in it the segment [`SEGMENT_NAME`] (mode 0600,
/// created exclusively) holding [`wal_records`] in the 3.5 form, preallocated to
/// [`SEGMENT_SIZE`] bytes; fsyncs the file, `dir` and its parent. Returns the segment's path.
/// On error, whatever was created is left for the caller (which builds in a temporary dir).
pub(crate) fn write_wal(dir: &Path, cluster: &Cluster) -> Result<PathBuf, FsError> {
    DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .map_err(|e| FsError::io("cannot create WAL directory", dir, e))?;
    let path = dir.join(SEGMENT_NAME);
    let mut f = fsutil::create_new_private(&path)?;
    preallocate(&f, SEGMENT_SIZE).map_err(|e| FsError::io("cannot preallocate", &path, e))?;
    f.write_all(&wal_records(cluster, true))
        .and_then(|()| f.sync_all())
        .map_err(|e| FsError::io("cannot write", &path, e))?;
    drop(f);
    fsutil::fsync_dir(dir)?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsutil::fsync_dir(parent)?;
    }
    Ok(path)
}

/// Extends `f` to `len` bytes as `fileutil.Preallocate(f, len, true)`: `fallocate` (mode 0) where
/// the file system supports it, else `ftruncate`.
fn preallocate(f: &File, len: u64) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{fallocate, FallocateFlags};
        use rustix::io::Errno;
        match fallocate(f, FallocateFlags::empty(), 0, len) {
            Ok(()) => return Ok(()),
            Err(Errno::OPNOTSUPP) | Err(Errno::NOSYS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    f.set_len(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::member::fixtures::{default_cluster, three_member_cluster};
    use sha2::{Digest, Sha256};

    /// §5.5 golden vector (xxd of the first 288 bytes): the default single-member restore of
    /// etcdutl 3.5.1.
    const GOLDEN_DEFAULT: &str = "
    00000000: 0400 0000 0000 0084 0804 1000 0000 0000
    00000010: 2000 0000 0000 0000 0801 10bb 81c7 fc05
    00000020: 1a16 08cd d291 8bd2 b881 cf8e 0110 b298
    00000030: eaf1 9483 86fc cd01 0e00 0000 0000 0082
    00000040: 0805 1094 bbc7 ed0e 1a04 0800 1000 0000
    00000050: 7400 0000 0000 0084 0802 10c2 ee92 950b
    00000060: 1a6a 0801 1001 1801 2262 0800 1000 18cd
    00000070: d291 8bd2 b881 cf8e 0122 517b 2269 6422
    00000080: 3a31 3032 3736 3635 3737 3433 3933 3239
    00000090: 3735 3433 372c 2270 6565 7255 524c 7322
    000000a0: 3a5b 2268 7474 703a 2f2f 6c6f 6361 6c68
    000000b0: 6f73 743a 3233 3830 225d 2c22 6e61 6d65
    000000c0: 223a 2264 6566 6175 6c74 227d 0000 0000
    000000d0: 1900 0000 0000 0087 0803 109b 98d6 c308
    000000e0: 1a0f 0801 10cd d291 8bd2 b881 cf8e 0118
    000000f0: 0100 0000 0000 0000 1d00 0000 0000 0083
    00000100: 0805 108d 9eae ef0d 1a13 0801 1001 1a0d
    00000110: 08cd d291 8bd2 b881 cf8e 0128 0000 0000
";

    fn golden_default() -> Vec<u8> {
        let hex: String = GOLDEN_DEFAULT
            .lines()
            .filter_map(|l| l.trim().split_once(": "))
            .flat_map(|(_, bytes)| bytes.chars().filter(|c| !c.is_whitespace()))
            .collect();
        hex::decode(hex).unwrap()
    }

    fn sha256_hex(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn default_records_match_golden_vector() {
        let got = wal_records(&default_cluster(), true);
        let want = golden_default();
        assert_eq!(want.len(), 288);
        assert_eq!(hex::encode(&got), hex::encode(&want));
        assert_eq!(
            sha256_hex(&got),
            "5d6ef1158b8cf9062b717f2d86ae1cf6ef98f09cb5a0af0f259a839ff2050928"
        );
    }

    #[test]
    fn three_member_records_match_etcdutl() {
        let got = wal_records(&three_member_cluster(), true);
        assert_eq!(got.len(), 544);
        assert_eq!(
            sha256_hex(&got),
            "d09e24e0c960c1f96c8b3ea5038ba87d6383ad8566b4e3d78f803394bed05224"
        );
    }

    #[test]
    fn three_member_metadata_names_local_member_and_vote_is_smallest_id() {
        let c = three_member_cluster();
        let got = wal_records(&c, true);
        // Metadata record data: NodeID = m1 (f64812d0a0ba86be), ClusterID df6e51ccf50ab66d.
        let md = Metadata {
            node_id: 0xf64812d0a0ba86be,
            cluster_id: 0xdf6e51ccf50ab66d,
        }
        .encode_to_vec();
        assert!(got[..64].windows(md.len()).any(|w| w == &md[..]));
        // HardState: vote = m3 (82ad7d6a3ec3e9c4), the smallest ID, commit 3.
        let hs = HardState {
            term: 1,
            vote: 0x82ad7d6a3ec3e9c4,
            commit: 3,
        }
        .encode_to_vec();
        assert!(got.windows(hs.len()).any(|w| w == &hs[..]));
    }

    #[test]
    fn v34_form_last_frame() {
        let got = wal_records(&default_cluster(), false);
        let want_tail = hex::decode("0e00000000000082080510b8e0e0e1061a04080110010000").unwrap();
        assert!(got.ends_with(&want_tail), "{}", hex::encode(&got));
        // Everything before the last frame is the same as the 3.5 form.
        let v35 = golden_default();
        let head = got.len() - want_tail.len();
        assert_eq!(&got[..head], &v35[..head]);
        assert_eq!(v35.len() - head, 0x1d + 8 + 3);
    }

    #[test]
    fn frames_are_aligned_and_padding_is_flagged() {
        let got = wal_records(&three_member_cluster(), true);
        let mut off = 0;
        let mut frames = 0;
        while off < got.len() {
            let word = u64::from_le_bytes(got[off..off + 8].try_into().unwrap());
            let n = (word & 0x00ff_ffff_ffff_ffff) as usize;
            let pad = if word >> 63 == 1 {
                (word >> 56) as usize & 7
            } else {
                0
            };
            assert_eq!((n + pad) % 8, 0);
            let rec = Record::decode(&got[off + 8..off + 8 + n]).unwrap();
            assert!(rec.data.is_some() || rec.r#type == CRC_TYPE);
            off += 8 + n + pad;
            frames += 1;
        }
        assert_eq!(off, got.len());
        assert_eq!(frames, 3 + 3 + 2);
    }

    #[test]
    fn write_wal_creates_a_preallocated_private_segment() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("wal");
        let path = write_wal(&dir, &default_cluster()).unwrap();
        assert_eq!(path, dir.join(SEGMENT_NAME));
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), SEGMENT_SIZE);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..288], &golden_default()[..]);
        assert!(bytes[288..].iter().all(|&b| b == 0));
    }

    #[test]
    fn write_wal_refuses_an_existing_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let err = write_wal(tmp.path(), &default_cluster()).unwrap_err();
        assert!(
            matches!(&err, FsError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("cannot create WAL directory"), "{msg}");
        assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
    }
}
