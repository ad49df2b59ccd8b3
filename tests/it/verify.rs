//! `etcd-backup verify` on real snapshots: good files pass, and every kind of damage is caught
//! with a specific message, without making `verify` or `status` panic.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use common::*;
use etcd_backup::bbolt::meta::Meta;
use etcd_backup::bbolt::page::{self, Header, BRANCH, LEAF};

/// One real snapshot (etcd 3.5.1, a multi-level `key` bucket, overflow values), made once.
fn snapshot() -> &'static (tempfile::TempDir, PathBuf) {
    static SNAP: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    SNAP.get_or_init(|| {
        // Under target/ so that the file outlives each test and is cleaned with the target dir.
        let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let pki = Pki::generate(tmp.path(), KeyKind::EcSec1);
        let etcd = Etcd::start(&v35(), &pki, tmp.path());
        etcd.put_bulk(400, 2048);
        etcd.put_bulk(3, 12_000);
        let out = save_cmd(&etcd, &tmp.path().join("b"))
            .arg("save")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end());
        (tmp, path)
    })
}

fn verify(args: &[&str]) -> Output {
    backup_cmd().arg("verify").args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Offsets of interesting places in a snapshot, found by walking its tree.
struct Layout {
    page_size: usize,
    pgid: u64,
    /// The `key` bucket's root (a branch page).
    branch: u64,
    /// A leaf under that branch.
    leaf: u64,
    /// A leaf with overflow pages.
    overflow_leaf: u64,
    /// File offset of the inline `meta` bucket's page image.
    inline_meta: usize,
}

fn layout(bytes: &[u8]) -> Layout {
    let meta = Meta::parse(&bytes[..4096], 0).unwrap();
    let ps = meta.page_size as usize;
    let page_at = |id: u64| {
        let h = Header::parse(&bytes[id as usize * ps..]);
        &bytes[id as usize * ps..(id as usize + 1 + h.overflow as usize) * ps]
    };
    let root = page_at(meta.root);
    assert_eq!(Header::parse(root).flags, LEAF, "root bucket fits one leaf");
    let mut branch = None;
    let mut inline_meta = None;
    for e in page::leaf_elements(root, meta.root).unwrap() {
        let root_id = u64::from_le_bytes(e.value[..8].try_into().unwrap());
        if e.key == b"key" {
            branch = Some(root_id);
        }
        if e.key == b"meta" {
            assert_eq!(root_id, 0, "meta bucket is inline");
            let at = e.value.as_ptr() as usize - bytes.as_ptr() as usize;
            inline_meta = Some(at + 16);
        }
    }
    let branch = branch.unwrap();
    let bpage = page_at(branch);
    assert_eq!(
        Header::parse(bpage).flags,
        BRANCH,
        "key bucket has a branch root"
    );
    // Every leaf of the key bucket, in key order.
    let mut leaves = Vec::new();
    let mut stack = vec![branch];
    while let Some(id) = stack.pop() {
        let p = page_at(id);
        if Header::parse(p).flags == BRANCH {
            let kids = page::branch_elements(p, id).unwrap();
            stack.extend(kids.iter().rev().map(|e| e.child));
        } else {
            leaves.push(id);
        }
    }
    let overflow_leaf = *leaves
        .iter()
        .find(|&&c| Header::parse(page_at(c)).overflow > 0)
        .expect("a leaf with overflow pages");
    let first_leaf = leaves[0];
    Layout {
        page_size: ps,
        pgid: meta.pgid,
        branch,
        leaf: first_leaf,
        overflow_leaf,
        inline_meta: inline_meta.unwrap(),
    }
}

/// Writes a damaged copy; `damage` edits the bytes.
fn damaged(name: &str, damage: impl FnOnce(&mut Vec<u8>, &Layout)) -> PathBuf {
    let (tmp, good) = snapshot();
    let mut bytes = fs::read(good).unwrap();
    let l = layout(&bytes);
    damage(&mut bytes, &l);
    let dir = tmp.path().join("damaged");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    fs::write(&path, &bytes).unwrap();
    path
}

/// `verify` says BAD with `expect` among the problems; `status` does not panic.
fn assert_caught(path: &Path, expect: &[&str]) {
    let out = verify(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.starts_with("BAD "), "{text}");
    for e in expect {
        assert!(text.contains(e), "expected {e:?} in:\n{text}");
    }
    for w in ["json", "table"] {
        let out = backup_cmd()
            .args(["status", "-w", w])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0) | Some(2)),
            "status must not crash: {}",
            describe(&out)
        );
        assert!(!stderr(&out).contains("panicked"), "{}", describe(&out));
    }
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn a_good_snapshot_verifies_and_the_verification_is_recorded() {
    let (_, good) = snapshot();
    let out = verify(&[good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.starts_with("OK "), "{text}");
    assert!(text.contains("sha256 and sidecar match"), "{text}");
    assert!(text.contains("1 file(s): 1 good, 0 bad"), "{text}");
    let sidecar: serde_json::Value =
        serde_json::from_slice(&fs::read(format!("{}.json", good.display())).unwrap()).unwrap();
    assert!(sidecar["verified_at"].is_string(), "{sidecar}");
}

#[test]
fn latest_and_all_work_on_the_backup_dir() {
    let (_, good) = snapshot();
    let dir = good.parent().unwrap();
    for flag in ["--latest", "--all"] {
        let out = backup_cmd()
            .arg("--backup-dir")
            .arg(dir)
            .args(["verify", flag, "-w", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["good"], 1, "{doc}");
        assert_eq!(doc["files"][0]["path"], good.to_str().unwrap());
    }
    let empty = tempfile::tempdir().unwrap();
    let out = backup_cmd()
        .arg("--backup-dir")
        .arg(empty.path())
        .args(["verify", "--latest"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stdout(&out).contains("no backups in"));
}

#[test]
fn missing_file_is_exit_2_and_usage_errors_too() {
    let out = verify(&["/nonexistent/etcd-snapshot.db"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stdout(&out).contains("ERROR /nonexistent/etcd-snapshot.db"));
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

#[test]
fn a_raw_db_without_trailer_needs_allow_no_hash() {
    let path = damaged("raw.db", |b, _| b.truncate(b.len() - 32));
    assert_caught(&path, &["no SHA-256 trailer", "--allow-no-hash"]);
    let out = verify(&["--allow-no-hash", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(stdout(&out).contains("no trailer (allowed)"));
}

#[test]
fn changed_trailer_is_caught() {
    let path = damaged("trailer.db", |b, _| {
        let n = b.len();
        b[n - 1] ^= 0x01;
    });
    assert_caught(&path, &["SHA-256 trailer mismatch"]);
}

#[test]
fn sidecar_that_disagrees_is_caught() {
    let (tmp, good) = snapshot();
    let dir = tmp.path().join("sidecar");
    fs::create_dir_all(&dir).unwrap();
    let copy = dir.join(good.file_name().unwrap());
    fs::copy(good, &copy).unwrap();
    let mut sc: serde_json::Value =
        serde_json::from_slice(&fs::read(format!("{}.json", good.display())).unwrap()).unwrap();
    sc["revision"] = serde_json::json!(1);
    fs::write(format!("{}.json", copy.display()), sc.to_string()).unwrap();
    assert_caught(&copy, &["sidecar says revision 1, the file's is"]);
}

#[test]
fn damaged_meta_pages_are_caught() {
    let one = damaged("meta0.db", |b, _| b[60] ^= 0x10);
    assert_caught(
        &one,
        &[
            "bbolt: meta page 0 is invalid (checksum",
            "SHA-256 trailer mismatch",
        ],
    );
    let both = damaged("meta01.db", |b, l| {
        b[16] ^= 0xFF;
        b[l.page_size + 16] ^= 0xFF;
    });
    assert_caught(
        &both,
        &["no valid meta page: meta 0: magic", "meta 1: magic"],
    );
}

#[test]
fn damaged_branch_page_is_caught() {
    let (_, good) = snapshot();
    let l = layout(&fs::read(good).unwrap());
    let path = damaged("branch.db", |b, l| {
        let elem0 = l.branch as usize * l.page_size + page::HEADER;
        put_u64(b, elem0 + 8, l.pgid + 100);
    });
    assert_caught(
        &path,
        &[&format!(
            "page {} (from branch page {} element 0) is out of bounds: high-water mark is {}",
            l.pgid + 100,
            l.branch,
            l.pgid
        )],
    );
}

#[test]
fn damaged_leaf_page_is_caught() {
    let (_, good) = snapshot();
    let l = layout(&fs::read(good).unwrap());
    let path = damaged("leaf.db", |b, l| {
        let elem0 = l.leaf as usize * l.page_size + page::HEADER;
        put_u32(b, elem0 + 8, 0xFFFF); // ksize
    });
    assert_caught(
        &path,
        &[
            &format!("page {}: element 0 key ends at", l.leaf),
            "beyond the page's",
        ],
    );
    let order = damaged("order.db", |b, l| {
        // Make the leaf's second key equal to its first (both are 17-byte revisions).
        let p = l.leaf as usize * l.page_size;
        let key_at = |i: usize, b: &[u8]| {
            let e = p + page::HEADER + i * page::ELEMENT;
            e + u32::from_le_bytes(b[e + 4..e + 8].try_into().unwrap()) as usize
        };
        let (k0, k1) = (key_at(0, b), key_at(1, b));
        let first = b[k0..k0 + 17].to_vec();
        b[k1..k1 + 17].copy_from_slice(&first);
    });
    assert_caught(&order, &["leaf page", "is not after the previous key"]);
}

#[test]
fn damaged_overflow_pages_are_caught() {
    let (_, good) = snapshot();
    let l = layout(&fs::read(good).unwrap());
    // Content damage in a continuation page: no structure changes, the trailer catches it.
    let content = damaged("overflow-data.db", |b, l| {
        b[(l.overflow_leaf as usize + 1) * l.page_size + 100] ^= 0x5A;
    });
    assert_caught(&content, &["SHA-256 trailer mismatch"]);
    // An overflow count running past the high-water mark.
    let count = damaged("overflow-count.db", |b, l| {
        put_u32(b, l.overflow_leaf as usize * l.page_size + 12, 0x00FF_FFFF);
    });
    assert_caught(
        &count,
        &[&format!(
            "(from overflow of page {}) is out of bounds",
            l.overflow_leaf
        )],
    );
}

#[test]
fn damaged_inline_bucket_is_caught() {
    let path = damaged("inline.db", |b, l| {
        b[l.inline_meta + 10] = 200; // count of the inline leaf page
    });
    assert_caught(&path, &["bucket \"meta\": inline page:", "ends at"]);
}

#[test]
fn etcd_schema_damage_is_caught() {
    let path = damaged("schema.db", |b, l| {
        // The first key of the first leaf: its '_' separator becomes 'x'.
        let elem0 = l.leaf as usize * l.page_size + page::HEADER;
        let pos = u32::from_le_bytes(b[elem0 + 4..elem0 + 8].try_into().unwrap()) as usize;
        b[elem0 + pos + 8] = b'x';
    });
    assert_caught(&path, &["etcd: key bucket: key", "is not a revision"]);
}

#[test]
fn truncated_files_are_caught() {
    let (_, good) = snapshot();
    let len = fs::metadata(good).unwrap().len() as usize;
    for cut in [len - 1, len - 33, len / 2, 3 * 4096 + 100, 100, 0] {
        let path = damaged(&format!("cut-{cut}.db"), |b, _| b.truncate(cut));
        let expect: &[&str] = match cut {
            0 => &["too small for two meta pages"],
            100 => &["no SHA-256 trailer", "(truncated?)"],
            _ => &["no SHA-256 trailer"],
        };
        assert_caught(&path, expect);
    }
}

#[test]
fn backup_set_status_lists_newest_first_and_max_age_catches_stopped_backups() {
    let (tmp, good) = snapshot();
    let dir = tmp.path().join("set");
    fs::create_dir_all(&dir).unwrap();
    // A backup written by save (with its verified sidecar), a file left by the old cron script
    // (same naming, no sidecar), and a file that is not ours.
    let name = good.file_name().unwrap().to_str().unwrap();
    fs::copy(good, dir.join(name)).unwrap();
    fs::copy(
        format!("{}.json", good.display()),
        dir.join(format!("{name}.json")),
    )
    .unwrap();
    let old = "etcd-snapshot-2020-01-01_00-00-00.db";
    fs::copy(good, dir.join(old)).unwrap();
    fs::write(dir.join("notes.txt"), "keep me").unwrap();

    let status = |args: &[&str]| {
        backup_cmd()
            .arg("--backup-dir")
            .arg(&dir)
            .arg("status")
            .args(args)
            .output()
            .unwrap()
    };
    let out = status(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("BACKUP "), "{text}");
    assert!(lines[1].starts_with(name), "newest first: {text}");
    assert!(
        lines[2].starts_with(old) && lines[2].contains("no sidecar"),
        "{text}"
    );
    assert!(lines[3].starts_with("2 backup(s), ") && lines[3].contains("newest verified: "));
    assert!(!text.contains("notes.txt"));

    let out = status(&["--max-age", "1h", "-w", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["count"], 2);
    assert_eq!(doc["newest_good"], name);
    assert_eq!(doc["backups"][1]["good"], false);
    assert_eq!(doc["max_age_exceeded"], false);

    // Backups stopped happening: only the old cron file is left.
    fs::remove_file(dir.join(name)).unwrap();
    fs::remove_file(dir.join(format!("{name}.json"))).unwrap();
    let out = status(&["--max-age", "5h"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("there is no verified backup"),
        "{}",
        describe(&out)
    );
}

/// Seeded random damage over a real snapshot, in process: the reader never panics, hangs or
/// runs away with memory, whatever it is given (the libFuzzer target in fuzz/ goes further).
#[test]
fn random_damage_never_panics_the_reader() {
    use etcd_backup::bbolt::Db;
    use etcd_backup::etcd::schema::inspect_db;
    let (_, good) = snapshot();
    let original = fs::read(good).unwrap();
    let l = layout(&original);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let hot = [
        0,
        l.page_size,
        l.branch as usize * l.page_size,
        l.leaf as usize * l.page_size,
        l.overflow_leaf as usize * l.page_size,
        l.inline_meta,
    ];
    for round in 0..400 {
        let mut b = original.clone();
        for _ in 0..1 + next() % 8 {
            // Half the damage lands in the first 128 bytes of a page that matters.
            let at = if next() % 2 == 0 {
                hot[(next() % hot.len() as u64) as usize] + (next() % 128) as usize
            } else {
                (next() % b.len() as u64) as usize
            };
            if at < b.len() {
                b[at] = next() as u8;
            }
        }
        if round % 10 == 0 {
            b.truncate((next() % b.len() as u64) as usize);
        }
        if let Ok(db) = Db::from_bytes(&b, Path::new("fuzzed.db")) {
            let _ = inspect_db(&db, true);
            let _ = db.get(b"meta", b"consistent_index");
        }
    }
}

/// Issue 13: after `verify` reported the newest backup BAD, `status` still showed it `VERIFIED …
/// ago` (`"good": true`) and `status --max-age` exited 0. The failure is recorded in the sidecar
/// as durably as a pass, and the file counts as verified again only once it passes.
#[test]
fn a_failed_verification_is_recorded_and_status_believes_it() {
    let (tmp, good) = snapshot();
    let dir = tmp.path().join("failed-verdict");
    fs::create_dir_all(&dir).unwrap();
    let name = good.file_name().unwrap().to_str().unwrap();
    let file = dir.join(name);
    let sidecar_file = dir.join(format!("{name}.json"));
    fs::copy(good, &file).unwrap();
    fs::copy(format!("{}.json", good.display()), &sidecar_file).unwrap();
    let status = |args: &[&str]| {
        backup_cmd()
            .arg("--backup-dir")
            .arg(&dir)
            .arg("status")
            .args(args)
            .output()
            .unwrap()
    };
    let json = |out: &Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
    };
    let out = status(&["--max-age", "1h", "-w", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let doc = json(&out);
    assert_eq!(doc["backups"][0]["good"], true, "{doc:#}");

    // Damage that keeps the size: only a verify that reads the file can see it.
    let original = fs::read(&file).unwrap();
    let mut bytes = original.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&file, &bytes).unwrap();
    let out = verify(&[file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stdout(&out).starts_with("BAD "), "{}", describe(&out));

    let out = status(&["--max-age", "1h", "-w", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let doc = json(&out);
    let row = &doc["backups"][0];
    assert_eq!(row["good"], false, "{doc:#}");
    assert_eq!(doc["verdicts_from"], "sidecars", "{doc:#}");
    assert!(row["verification_failed_at"].is_string(), "{doc:#}");
    assert!(
        !row["verification_problems"].as_array().unwrap().is_empty(),
        "{doc:#}"
    );
    assert_eq!(doc["newest_good"], serde_json::Value::Null, "{doc:#}");
    let out = status(&[]);
    assert!(stdout(&out).contains("FAILED"), "{}", describe(&out));
    let sc: serde_json::Value = serde_json::from_slice(&fs::read(&sidecar_file).unwrap()).unwrap();
    assert!(sc.get("verified_at").is_none(), "{sc:#}");
    assert!(sc["failed_verification"]["at"].is_string(), "{sc:#}");
    assert!(
        !sc["failed_verification"]["problems"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{sc:#}"
    );

    // A file that passes again is verified again.
    fs::write(&file, &original).unwrap();
    let out = verify(&[file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let sc: serde_json::Value = serde_json::from_slice(&fs::read(&sidecar_file).unwrap()).unwrap();
    assert!(sc["verified_at"].is_string(), "{sc:#}");
    assert!(sc.get("failed_verification").is_none(), "{sc:#}");
    let out = status(&["--max-age", "1h"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}
