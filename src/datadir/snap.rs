//! The `.snap` file restore writes: the v2 store holding the new members (docs/formats.md §5.6).
//!
//! Upstream: `server/etcdserver/api/snap/snapshotter.go` (`SaveSnap`), `snap/snappb/snap.proto`,
//! `raft/raftpb/raft.proto`, `server/etcdserver/api/v2store/store.go` (`Save`), `node.go`,
//! `event_history.go`, `event_queue.go`, `stats.go`, and `membership/cluster.go` (`AddMember`
//! writes `/0/members/<hex id>/raftAttributes`).
//!
//! File: `snappb.Snapshot{crc = CRC-32C(data), data = raftpb.Snapshot}`; `raftpb.Snapshot{data =
//! v2 store JSON, metadata = {conf_state = all members, index = N, term = 1}}`. Identical for every
//! member of the cluster (no local identity inside), and byte-identical between etcdctl 3.4 and
//! etcdutl 3.5.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use prost::Message;

use super::member::{push_go_json_string, raft_attributes_json, Cluster};
use super::wal::ConfState;
use crate::fsutil::{self, FsError};

/// `snappb.Snapshot`.
#[derive(Clone, PartialEq, Message)]
struct SnapEnvelope {
    #[prost(uint32, required, tag = "1")]
    crc: u32,
    #[prost(bytes = "vec", optional, tag = "2")]
    data: Option<Vec<u8>>,
}

/// `raftpb.Snapshot`.
#[derive(Clone, PartialEq, Message)]
struct RaftSnapshot {
    #[prost(bytes = "vec", optional, tag = "1")]
    data: Option<Vec<u8>>,
    #[prost(message, required, tag = "2")]
    metadata: SnapshotMetadata,
}

/// `raftpb.SnapshotMetadata`.
#[derive(Clone, PartialEq, Message)]
struct SnapshotMetadata {
    #[prost(message, required, tag = "1")]
    conf_state: ConfState,
    #[prost(uint64, required, tag = "2")]
    index: u64,
    #[prost(uint64, required, tag = "3")]
    term: u64,
}

/// `v2store.newEventHistory(1000)`: the capacity of the event ring.
const EVENT_CAPACITY: usize = 1000;

/// `snap.Snapshotter.SaveSnap` names the file `%016x-%016x.snap` of (term 1, index N).
pub(crate) fn snap_file_name(members: usize) -> String {
    format!("{:016x}-{:016x}.snap", 1, members)
}

/// The whole `.snap` file.
pub(crate) fn snap_bytes(cluster: &Cluster) -> Vec<u8> {
    let raft = RaftSnapshot {
        data: Some(v2_store_json(cluster).into_bytes()),
        metadata: SnapshotMetadata {
            conf_state: ConfState::of(cluster),
            index: cluster.members.len() as u64,
            term: 1,
        },
    }
    .encode_to_vec();
    SnapEnvelope {
        crc: crc32c::crc32c(&raft),
        data: Some(raft),
    }
    .encode_to_vec()
}

/// The v2 store as `v2store.store.Save` marshals it after restore added the members in
/// ascending ID order (member k at store index k):
///
/// `{"Root":<node "/">,"WatcherHub":{"EventHistory":{"Queue":{"Events":[...1000...],"Size":..,
/// "Front":..,"Back":..,"Capacity":1000},"StartIndex":..,"LastIndex":N}},"CurrentIndex":N,
/// "Stats":{...},"CurrentVersion":2}`
///
/// Struct fields appear in Go declaration order, map keys sorted bytewise; `/0/members` is
/// created with the first member (index 1); leaves have `"Children":null`, the empty `/1` has
/// `"Children":{}`.
pub(crate) fn v2_store_json(cluster: &Cluster) -> String {
    let n = cluster.members.len();
    // (hex ID, raftAttributes JSON, store index), sorted by the hex string as Go sorts map keys.
    let mut children: Vec<(String, String, usize)> = cluster
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("{:x}", m.id), raft_attributes_json(m), i + 1))
        .collect();
    children.sort();

    let mut s = String::from("{\"Root\":");
    open_node(&mut s, "/", 0, "");
    s.push_str("{\"0\":");
    open_node(&mut s, "/0", 0, "");
    if n == 0 {
        s.push_str("{}}");
    } else {
        s.push_str("{\"members\":");
        open_node(&mut s, "/0/members", 1, "");
        s.push('{');
        for (j, (hex, attrs, index)) in children.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            let dir = format!("/0/members/{hex}");
            push_go_json_string(&mut s, hex);
            s.push(':');
            open_node(&mut s, &dir, *index, "");
            s.push_str("{\"raftAttributes\":");
            open_node(&mut s, &format!("{dir}/raftAttributes"), *index, attrs);
            s.push_str("null}}}");
        }
        s.push_str("}}}}");
    }
    s.push_str(",\"1\":");
    open_node(&mut s, "/1", 0, "");
    s.push_str("{}}}}");

    // eventQueue.insert for events 1..N: Events[Back] = e; Back = (Back+1) % Capacity; when full
    // Front advances, else Size grows. StartIndex = index of Events[Front], LastIndex = N.
    let mut events: Vec<Option<usize>> = vec![None; EVENT_CAPACITY];
    let (mut front, mut back, mut size) = (0, 0, 0);
    for k in 1..=n {
        events[back] = Some(k);
        back = (back + 1) % EVENT_CAPACITY;
        if size == EVENT_CAPACITY {
            front = (front + 1) % EVENT_CAPACITY;
        } else {
            size += 1;
        }
    }
    s.push_str(",\"WatcherHub\":{\"EventHistory\":{\"Queue\":{\"Events\":[");
    for (j, event) in events.iter().enumerate() {
        if j > 0 {
            s.push(',');
        }
        match event {
            None => s.push_str("null"),
            Some(k) => {
                let m = &cluster.members[k - 1];
                s.push_str("{\"action\":\"create\",\"node\":{\"key\":");
                push_go_json_string(&mut s, &format!("/0/members/{:x}/raftAttributes", m.id));
                s.push_str(",\"value\":");
                push_go_json_string(&mut s, &raft_attributes_json(m));
                let _ = write!(s, ",\"modifiedIndex\":{k},\"createdIndex\":{k}}}}}");
            }
        }
    }
    let start = events[front].unwrap_or(0);
    let _ = write!(
        s,
        "],\"Size\":{size},\"Front\":{front},\"Back\":{back},\"Capacity\":{EVENT_CAPACITY}}},\
         \"StartIndex\":{start},\"LastIndex\":{n}}}}},\"CurrentIndex\":{n},"
    );
    let _ = write!(
        s,
        "\"Stats\":{{\"getsSuccess\":0,\"getsFail\":0,\"setsSuccess\":0,\"setsFail\":0,\
         \"deleteSuccess\":0,\"deleteFail\":0,\"updateSuccess\":0,\"updateFail\":0,\
         \"createSuccess\":{n},\"createFail\":0,\"compareAndSwapSuccess\":0,\
         \"compareAndSwapFail\":0,\"compareAndDeleteSuccess\":0,\"compareAndDeleteFail\":0,\
         \"expireCount\":0,\"watchers\":0}},\"CurrentVersion\":2}}"
    );
    s
}

/// Writes a `v2store.node` up to and including `"Children":` (the caller writes the children):
/// Path, CreatedIndex, ModifiedIndex (equal at restore), ExpireTime (zero `time.Time`), Value.
fn open_node(s: &mut String, path: &str, index: usize, value: &str) {
    s.push_str("{\"Path\":");
    push_go_json_string(s, path);
    let _ = write!(
        s,
        ",\"CreatedIndex\":{index},\"ModifiedIndex\":{index},\
         \"ExpireTime\":\"0001-01-01T00:00:00Z\",\"Value\":"
    );
    push_go_json_string(s, value);
    s.push_str(",\"Children\":");
}

/// Writes `dir/`[`snap_file_name`] (mode 0600, created exclusively) with [`snap_bytes`], fsyncs
/// it and `dir`. Returns the file's path. (etcdutl writes 0666 & ~umask; etcd does not check.)
pub(crate) fn write_snap(dir: &Path, cluster: &Cluster) -> Result<PathBuf, FsError> {
    let path = dir.join(snap_file_name(cluster.members.len()));
    let mut f = fsutil::create_new_private(&path)?;
    f.write_all(&snap_bytes(cluster))
        .and_then(|()| f.sync_all())
        .map_err(|e| FsError::io("cannot write", &path, e))?;
    drop(f);
    fsutil::fsync_dir(dir)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::member::fixtures::{default_cluster, three_member_cluster};
    use crate::datadir::member::Member;
    use sha2::{Digest, Sha256};

    fn sha256_hex(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn file_names() {
        assert_eq!(snap_file_name(1), "0000000000000001-0000000000000001.snap");
        assert_eq!(snap_file_name(3), "0000000000000001-0000000000000003.snap");
        assert_eq!(snap_file_name(26), "0000000000000001-000000000000001a.snap");
    }

    #[test]
    fn default_snap_matches_etcdutl() {
        let got = snap_bytes(&default_cluster());
        assert_eq!(got.len(), 6490);
        // 08 <crc varint>: crc 0x11e07c36.
        let env = SnapEnvelope::decode(&got[..]).unwrap();
        assert_eq!(env.crc, 0x11e07c36);
        assert_eq!(
            sha256_hex(&got),
            "391e233526d2ed237b95d33b9d3c7975cf3db23b1913a478baacdeee4177b533"
        );
    }

    #[test]
    fn three_member_snap_matches_etcdutl() {
        let got = snap_bytes(&three_member_cluster());
        assert_eq!(got.len(), 7572);
        assert_eq!(
            sha256_hex(&got),
            "d1be753013115ab0ccc2ab23731bce3c311a1b62f235ee8b84c6f14323b01518"
        );
    }

    #[test]
    fn snap_is_the_same_for_every_member() {
        let mut c = three_member_cluster();
        let a = snap_bytes(&c);
        c.local = 0;
        assert_eq!(snap_bytes(&c), a);
    }

    #[test]
    fn snap_metadata_and_crc() {
        let c = three_member_cluster();
        let env = SnapEnvelope::decode(&snap_bytes(&c)[..]).unwrap();
        let data = env.data.unwrap();
        assert_eq!(env.crc, crc32c::crc32c(&data));
        let raft = RaftSnapshot::decode(&data[..]).unwrap();
        assert_eq!(raft.metadata.index, 3);
        assert_eq!(raft.metadata.term, 1);
        assert_eq!(
            raft.metadata.conf_state.voters,
            [0x82ad7d6a3ec3e9c4, 0xcdf70525115f9e33, 0xf64812d0a0ba86be]
        );
        assert_eq!(raft.data.unwrap(), v2_store_json(&c).into_bytes());
        // ConfState: unpacked voters, then `28 00`.
        let cs = ConfState::of(&c).encode_to_vec();
        assert_eq!(cs[0], 0x08);
        assert!(cs.ends_with(&[0x28, 0x00]));
    }

    #[test]
    fn default_v2_store_json() {
        let json = v2_store_json(&default_cluster());
        let attrs = r#"{\"peerURLs\":[\"http://localhost:2380\"]}"#;
        let head = format!(
            concat!(
                r#"{{"Root":{{"Path":"/","CreatedIndex":0,"ModifiedIndex":0,"#,
                r#""ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{{"0":{{"#,
                r#""Path":"/0","CreatedIndex":0,"ModifiedIndex":0,"#,
                r#""ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{{"members":{{"#,
                r#""Path":"/0/members","CreatedIndex":1,"ModifiedIndex":1,"#,
                r#""ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{{"#,
                r#""8e9e05c52164694d":{{"Path":"/0/members/8e9e05c52164694d","#,
                r#""CreatedIndex":1,"ModifiedIndex":1,"#,
                r#""ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{{"#,
                r#""raftAttributes":{{"Path":"/0/members/8e9e05c52164694d/raftAttributes","#,
                r#""CreatedIndex":1,"ModifiedIndex":1,"#,
                r#""ExpireTime":"0001-01-01T00:00:00Z","Value":"{attrs}","Children":null"#,
                r#"}}}}}}}}}}}}}},"#,
                r#""1":{{"Path":"/1","CreatedIndex":0,"ModifiedIndex":0,"#,
                r#""ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{{}}}}}}}},"#,
                r#""WatcherHub":{{"EventHistory":{{"Queue":{{"Events":[{{"action":"create","#,
                r#""node":{{"key":"/0/members/8e9e05c52164694d/raftAttributes","#,
                r#""value":"{attrs}","modifiedIndex":1,"createdIndex":1}}}},null,"#
            ),
            attrs = attrs
        );
        assert!(
            json.starts_with(&head),
            "{}",
            &json[..head.len().min(json.len())]
        );
        assert_eq!(json.matches("null").count(), 999 + 1);
        let tail = concat!(
            r#"null],"Size":1,"Front":0,"Back":1,"Capacity":1000},"StartIndex":1,"#,
            r#""LastIndex":1}},"CurrentIndex":1,"Stats":{"getsSuccess":0,"getsFail":0,"#,
            r#""setsSuccess":0,"setsFail":0,"deleteSuccess":0,"deleteFail":0,"#,
            r#""updateSuccess":0,"updateFail":0,"createSuccess":1,"createFail":0,"#,
            r#""compareAndSwapSuccess":0,"compareAndSwapFail":0,"#,
            r#""compareAndDeleteSuccess":0,"compareAndDeleteFail":0,"expireCount":0,"#,
            r#""watchers":0},"CurrentVersion":2}"#
        );
        assert!(json.ends_with(tail), "{}", &json[json.len() - tail.len()..]);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            parsed["WatcherHub"]["EventHistory"]["Queue"]["Events"]
                .as_array()
                .unwrap()
                .len(),
            1000
        );
    }

    #[test]
    fn children_sort_by_hex_string_while_indexes_follow_numeric_order() {
        // A 15-digit ID sorts after a 16-digit one starting with a smaller digit as a string.
        let m = |id: u64, url: &str| Member {
            id,
            name: format!("n{id:x}"),
            peer_urls: vec![url.to_string()],
        };
        let members = vec![
            m(0xf00000000000000, "http://a:1"),
            m(0x1000000000000000, "http://b:1"),
        ];
        let c = Cluster {
            cluster_id: 1,
            local: 0,
            token: "t".to_string(),
            members,
        };
        let json = v2_store_json(&c);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let children = &v["Root"]["Children"]["0"]["Children"]["members"]["Children"];
        assert_eq!(children["f00000000000000"]["CreatedIndex"], 1);
        assert_eq!(children["1000000000000000"]["CreatedIndex"], 2);
        let a = json.find("\"1000000000000000\":").unwrap();
        let b = json.find("\"f00000000000000\":").unwrap();
        assert!(a < b);
    }

    #[test]
    fn escaping_inside_the_store() {
        let m = Member {
            id: 1,
            name: "<&>".to_string(),
            peer_urls: vec!["http://a&b:1".to_string()],
        };
        let c = Cluster {
            cluster_id: 1,
            local: 0,
            token: "t".to_string(),
            members: vec![m],
        };
        let json = v2_store_json(&c);
        // The inner JSON escapes '&' and the outer escapes the inner's backslashes and quotes.
        assert!(
            json.contains(r#""Value":"{\"peerURLs\":[\"http://a\\u0026b:1\"]}""#),
            "{json}"
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let value = v["WatcherHub"]["EventHistory"]["Queue"]["Events"][0]["node"]["value"]
            .as_str()
            .unwrap();
        assert_eq!(value, r#"{"peerURLs":["http://a\u0026b:1"]}"#);
    }

    #[test]
    fn event_ring_wraps_past_capacity() {
        let members: Vec<Member> = (1..=1001u64)
            .map(|i| Member {
                id: i,
                name: String::new(),
                peer_urls: vec![format!("http://h{i}:1")],
            })
            .collect();
        let c = Cluster {
            cluster_id: 1,
            local: 0,
            token: "t".to_string(),
            members,
        };
        let v: serde_json::Value = serde_json::from_str(&v2_store_json(&c)).unwrap();
        let h = &v["WatcherHub"]["EventHistory"];
        assert_eq!(h["Queue"]["Size"], 1000);
        assert_eq!(h["Queue"]["Front"], 1);
        assert_eq!(h["Queue"]["Back"], 1);
        assert_eq!(h["Queue"]["Events"][0]["node"]["createdIndex"], 1001);
        assert_eq!(h["StartIndex"], 2);
        assert_eq!(h["LastIndex"], 1001);
    }

    #[test]
    fn write_snap_creates_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let c = three_member_cluster();
        let path = write_snap(tmp.path(), &c).unwrap();
        assert_eq!(
            path,
            tmp.path().join("0000000000000001-0000000000000003.snap")
        );
        assert_eq!(std::fs::read(&path).unwrap(), snap_bytes(&c));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = write_snap(tmp.path(), &c).unwrap_err();
        assert!(matches!(&err, FsError::Exists { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}
