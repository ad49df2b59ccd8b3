//! `etcd-backup save` stopped part-way, against real etcd: SIGINT/SIGTERM and `--timeout` in
//! each phase, two saves in the same second, and a backup dir made immutable mid-save (issue 13).
//!
//! A phase is held long enough to be hit with `ETCD_BACKUP_FAILPOINT=save-<phase>:hang` (waits
//! for a signal or the deadline) or `:pause-<ms>`; the binary says `failpoint <phase>` on stderr
//! when it gets there. Without the fix the variable is ignored and the run ends before the test
//! sees that line, so these tests fail rather than pass by luck.

use crate::common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A running save whose stderr is read line by line as it comes.
struct Running {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Running {
    fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().unwrap();
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Running {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// Waits until a stderr line contains `text`; panics with what was seen otherwise.
    fn wait_for(&mut self, text: &str, limit: Duration) {
        let t = Instant::now();
        while t.elapsed() < limit {
            if self.lines.lock().unwrap().iter().any(|l| l.contains(text)) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader drain what is left.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the save ended ({status}) before saying {text:?}:\n{}",
                    self.lines.lock().unwrap().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!(
            "no {text:?} on stderr within {limit:?}:\n{}",
            self.lines.lock().unwrap().join("\n")
        );
    }

    fn signal(&self, sig: &str) {
        send_signal(self.child.id(), sig);
    }

    /// Waits for the end (at most `limit`; killed by PID after that), with all its output.
    fn finish(mut self, limit: Duration) -> (Output, Duration) {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let took = t.elapsed();
        if took >= limit {
            let _ = self.child.kill();
        }
        let mut out = self.child.wait_with_output().unwrap();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        out.stderr = self.lines.lock().unwrap().join("\n").into_bytes();
        (out, took)
    }
}

fn parts(dir: &Path) -> Vec<String> {
    list_dir(dir)
        .into_iter()
        .filter(|n| n.ends_with(".part"))
        .collect()
}

/// Backups in `dir` (`*.db`), sorted.
fn backups(dir: &Path) -> Vec<String> {
    list_dir(dir)
        .into_iter()
        .filter(|n| n.ends_with(".db"))
        .collect()
}

/// The sidecar of `name` in `dir`, checked complete: every required field set, and the member
/// name the one etcd has.
fn complete_sidecar(dir: &Path, name: &str, member: &str) -> Value {
    let p = dir.join(format!("{name}.json"));
    let v: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    for field in [
        "tool",
        "tool_version",
        "file",
        "endpoint",
        "member_name",
        "member_id",
        "cluster_id",
        "server_version",
        "sha256",
        "db_sha256",
    ] {
        let s = v[field].as_str().unwrap_or_default();
        assert!(!s.is_empty(), "{field} empty in {}: {v:#}", p.display());
    }
    assert_eq!(v["member_name"], member, "{v:#}");
    assert_eq!(v["file"], name, "{v:#}");
    v
}

fn small_etcd(tmp: &Path) -> Etcd {
    let pki = Pki::generate(tmp, KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp);
    etcd.put_bulk(16, 4096);
    etcd
}

/// Issue 13, item 3: SIGINT or SIGTERM while the written file is verified gave exit 0 (8 of 8
/// runs) and a sidecar with an empty `member_name`. Now: exit 130, nothing saved, no `.part`.
#[test]
fn signal_while_verifying_exits_130_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let etcd = small_etcd(tmp.path());
    let backups_dir = tmp.path().join("b");
    for sig in ["INT", "TERM"] {
        let mut cmd = save_cmd(&etcd, &backups_dir);
        cmd.env("ETCD_BACKUP_FAILPOINT", "save-verify:hang")
            .arg("save");
        let mut run = Running::spawn(cmd);
        run.wait_for("failpoint save-verify", Duration::from_secs(60));
        run.signal(sig);
        let (out, took) = run.finish(Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(130), "SIG{sig}: {}", describe(&out));
        assert!(
            took < Duration::from_secs(5),
            "SIG{sig}: stopped after {took:?}"
        );
        let err = stderr(&out);
        assert!(
            err.contains("stopped while verifying the file: nothing was saved"),
            "{err}"
        );
        assert!(err.contains(&format!("interrupted by SIG{sig}")), "{err}");
        assert!(
            parts(&backups_dir).is_empty(),
            "{:?}",
            list_dir(&backups_dir)
        );
        assert!(
            finished_looking(&backups_dir).is_empty(),
            "{:?}",
            list_dir(&backups_dir)
        );
    }
    // The next save is not hindered by anything the stopped ones left.
    let out = save_cmd(&etcd, &backups_dir).arg("save").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let done = backups(&backups_dir);
    assert_eq!(done.len(), 1, "{done:?}");
    complete_sidecar(&backups_dir, &done[0], "node1");
}

/// SIGHUP (an SSH session dropped during an ad hoc save, say before `kubeadm upgrade`) killed
/// save part-way, leaving a `.part`; now it is ignored and the backup is finished, as a node
/// restore does.
#[test]
fn sighup_mid_save_is_ignored_and_the_backup_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let etcd = small_etcd(tmp.path());
    let backups_dir = tmp.path().join("b");
    let mut cmd = save_cmd(&etcd, &backups_dir);
    cmd.env("ETCD_BACKUP_FAILPOINT", "save-verify:pause-1500")
        .arg("save");
    let mut run = Running::spawn(cmd);
    run.wait_for("failpoint save-verify", Duration::from_secs(60));
    run.signal("HUP");
    let (out, _) = run.finish(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        parts(&backups_dir).is_empty(),
        "{:?}",
        list_dir(&backups_dir)
    );
    let done = backups(&backups_dir);
    assert_eq!(done.len(), 1, "{done:?}");
    complete_sidecar(&backups_dir, &done[0], "node1");
}

/// Item 3, caught for real (no failpoint): a database big enough that the check of the written
/// file, and then the upload, take a while; SIGINT as soon as save says it is verifying (before
/// the fix: exit 0, a backup with `"member_name": ""`, 4 of 4 runs), then as soon as it says it
/// is uploading.
#[test]
fn signal_mid_verify_or_mid_upload_of_a_big_snapshot_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    etcd.put_bulk(128, 1 << 20);
    let backups_dir = tmp.path().join("b");
    let mut cmd = save_cmd(&etcd, &backups_dir);
    cmd.arg("save");
    let mut run = Running::spawn(cmd);
    run.wait_for("verifying the file", Duration::from_secs(120));
    run.signal("INT");
    let (out, _) = run.finish(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("nothing was saved"), "{err}");
    assert!(
        parts(&backups_dir).is_empty(),
        "{:?}",
        list_dir(&backups_dir)
    );
    assert!(finished_looking(&backups_dir).is_empty());

    // The same for the upload, caught mid-way: the backup stays, the copy in the store is not
    // finished, and the message says so.
    let store = tmp.path().join("store");
    fs::create_dir(&store).unwrap();
    let url = format!("file://{}/", store.display());
    let mut cmd = save_cmd(&etcd, &backups_dir);
    cmd.args(["save", "--remote", &url]);
    let mut run = Running::spawn(cmd);
    run.wait_for("uploading", Duration::from_secs(120));
    run.signal("INT");
    let (out, _) = run.finish(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    let done = backups(&backups_dir);
    assert_eq!(done.len(), 1, "{:?}", list_dir(&backups_dir));
    complete_sidecar(&backups_dir, &done[0], "node1");
    let err = stderr(&out);
    assert!(
        err.contains("stopped while uploading: upload not done"),
        "{err}"
    );
    let node = store.join("node1");
    let stored = list_dir(&node);
    assert!(
        !stored.iter().any(|n| !n.starts_with('.')),
        "a finished-looking object in the store: {stored:?}"
    );
}

/// Item 3: SIGTERM during the prune of `save --prune` gave exit 0 (4 of 4). Now the backup just
/// saved stays (complete sidecar), nothing is deleted, exit 130, and the message says so.
#[test]
fn signal_during_the_prune_of_save_keeps_the_backup_deletes_nothing_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    let etcd = small_etcd(tmp.path());
    let backups_dir = tmp.path().join("b");
    for _ in 0..2 {
        let out = save_cmd(&etcd, &backups_dir).arg("save").output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        // Not in the same second (another test covers that).
        std::thread::sleep(Duration::from_millis(1100));
    }
    let before = backups(&backups_dir);
    assert_eq!(before.len(), 2);
    for sig in ["TERM", "INT"] {
        let mut cmd = save_cmd(&etcd, &backups_dir);
        cmd.env("ETCD_BACKUP_FAILPOINT", "save-prune:hang").args([
            "save",
            "--prune",
            "--keep-last",
            "1",
        ]);
        let mut run = Running::spawn(cmd);
        run.wait_for("failpoint save-prune", Duration::from_secs(60));
        run.signal(sig);
        let (out, took) = run.finish(Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(130), "SIG{sig}: {}", describe(&out));
        assert!(took < Duration::from_secs(5), "stopped after {took:?}");
        let now = backups(&backups_dir);
        let new: Vec<&String> = now.iter().filter(|n| !before.contains(n)).collect();
        let err = stderr(&out);
        assert!(err.contains(&format!("interrupted by SIG{sig}")), "{err}");
        assert!(
            err.contains("stopped while pruning: nothing deleted"),
            "{err}"
        );
        let saved = backups_dir.join(new.last().unwrap());
        assert!(err.contains(&format!("saved {}", saved.display())), "{err}");
        // stdout still names the backup saved.
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&saved.display().to_string()), "{stdout}");
        for b in &before {
            assert!(now.contains(b), "{b} was deleted: {now:?}");
        }
        complete_sidecar(&backups_dir, new.last().unwrap(), "node1");
        assert!(
            parts(&backups_dir).is_empty(),
            "{:?}",
            list_dir(&backups_dir)
        );
    }
}

/// Item 3: `--timeout` overrun while verifying gave exit 0 and an empty member name. Now the run
/// stops at the deadline with exit 2, nothing saved.
#[test]
fn timeout_while_verifying_exits_2_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let etcd = small_etcd(tmp.path());
    let backups_dir = tmp.path().join("b");
    let mut cmd = save_cmd(&etcd, &backups_dir);
    cmd.env("ETCD_BACKUP_FAILPOINT", "save-verify:hang")
        .args(["save", "--timeout", "4s"]);
    let t = Instant::now();
    let (out, _) = Running::spawn(cmd).finish(Duration::from_secs(60));
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let err = stderr(&out);
    assert!(
        err.contains("stopped while verifying the file: nothing was saved"),
        "{err}"
    );
    assert!(err.contains("(--timeout)"), "{err}");
    assert!(err.contains("hint: raise --timeout"), "{err}");
    assert!(
        parts(&backups_dir).is_empty(),
        "{:?}",
        list_dir(&backups_dir)
    );
    assert!(finished_looking(&backups_dir).is_empty());
}

/// Item 3: `--timeout` overrun in the upload gave exit 0 and an upload under the host name.
/// Now: the backup stays (with its member name), the upload is not done, exit 2, and the message
/// says both.
#[test]
fn timeout_before_the_upload_keeps_the_backup_and_says_the_upload_was_not_done() {
    let tmp = tempfile::tempdir().unwrap();
    let etcd = small_etcd(tmp.path());
    let backups_dir = tmp.path().join("b");
    let store = tmp.path().join("store");
    fs::create_dir(&store).unwrap();
    let url = format!("file://{}/", store.display());
    let mut cmd = save_cmd(&etcd, &backups_dir);
    cmd.env("ETCD_BACKUP_FAILPOINT", "save-upload:hang").args([
        "save",
        "--timeout",
        "4s",
        "--remote",
        &url,
    ]);
    let (out, _) = Running::spawn(cmd).finish(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let done = backups(&backups_dir);
    assert_eq!(done.len(), 1, "{:?}", list_dir(&backups_dir));
    complete_sidecar(&backups_dir, &done[0], "node1");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "saved {}; stopped while uploading: upload not done",
            backups_dir.join(&done[0]).display()
        )),
        "{err}"
    );
    assert!(err.contains("(--timeout)"), "{err}");
    let mut stored = Vec::new();
    let mut stack = vec![store.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                stored.push(e.path());
            }
        }
    }
    assert!(stored.is_empty(), "uploaded anyway: {stored:?}");

    // Given the time, the same save uploads under the member's name, not the host's.
    let out = save_cmd(&etcd, &backups_dir)
        .args(["save", "--remote", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let done = backups(&backups_dir);
    assert!(store.join("node1").join(done.last().unwrap()).is_file());
}

/// Issue 13, item 11: two saves in the same second failed with "already exists" (6 of 10
/// back-to-back saves). Now all 10 succeed, with 10 distinct names whose order is the order
/// they were taken in, none ahead of the clock.
#[test]
fn ten_back_to_back_saves_all_succeed_with_distinct_sorted_names() {
    let tmp = tempfile::tempdir().unwrap();
    let etcd = small_etcd(tmp.path());
    let backups_dir = tmp.path().join("b");
    let mut names = Vec::new();
    for i in 0..10 {
        let out = save_cmd(&etcd, &backups_dir).arg("save").output().unwrap();
        assert!(out.status.success(), "save {i}: {}", describe(&out));
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let name = Path::new(&path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // Never named after a second that has not begun.
        let now = chrono::Utc::now()
            .format("etcd-snapshot-%Y-%m-%d_%H-%M-%S.db")
            .to_string();
        assert!(name <= now, "{name} is ahead of the clock ({now})");
        let sidecar = complete_sidecar(&backups_dir, &name, "node1");
        let started: chrono::DateTime<chrono::Utc> =
            sidecar["started_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            started
                .format("etcd-snapshot-%Y-%m-%d_%H-%M-%S.db")
                .to_string(),
            name,
            "the name is the time the sidecar records"
        );
        names.push(name);
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, names, "distinct, and sorted in the order taken");
    assert_eq!(backups(&backups_dir), names);
    assert!(parts(&backups_dir).is_empty());
}

/// Runs `chattr -i` on its directory when dropped, so that the test's temp dir can go.
struct Immutable(PathBuf);

impl Immutable {
    fn set(dir: &Path) -> Immutable {
        let out = Command::new("chattr").arg("+i").arg(dir).output().unwrap();
        assert!(
            out.status.success(),
            "chattr +i {} (the file system must support it): {}",
            dir.display(),
            describe(&out)
        );
        Immutable(dir.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

/// Issue 13, item 12: `chattr +i` on the backup dir mid-save left a full `.part` and the message
/// did not say so. Now the message names the `.part`, its size, and `chattr -i`.
#[test]
fn immutable_backup_dir_at_the_commit_names_the_part_left_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let etcd = small_etcd(tmp.path());
    let backups_dir = tmp.path().join("b");
    let mut cmd = save_cmd(&etcd, &backups_dir);
    cmd.env("ETCD_BACKUP_FAILPOINT", "save-commit:pause-2000")
        .arg("save");
    let mut run = Running::spawn(cmd);
    run.wait_for("failpoint save-commit", Duration::from_secs(60));
    let guard = Immutable::set(&backups_dir);
    let (out, _) = run.finish(Duration::from_secs(60));
    let left = parts(&backups_dir);
    drop(guard);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(left.len(), 1, "{left:?}");
    let part = backups_dir.join(&left[0]);
    let size = fs::metadata(&part).unwrap().len();
    assert!(size > 0);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{} (", part.display())) && err.contains(&format!("{size} bytes")),
        "names the .part and its size: {err}"
    );
    assert!(err.contains("left behind"), "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    assert!(
        err.contains(&format!("chattr -i {}", backups_dir.display())),
        "{err}"
    );
    assert!(
        finished_looking(&backups_dir).is_empty(),
        "{:?}",
        list_dir(&backups_dir)
    );

    // Once the dir is writable again: remove the .part as told, and save works.
    fs::remove_file(&part).unwrap();
    let out = save_cmd(&etcd, &backups_dir).arg("save").output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
}

/// Item 12, the rename itself refused: the dir made immutable after the sidecar was written
/// (between the sidecar and the final rename), so both the sidecar and the `.part` are left;
/// both are named.
#[test]
fn immutable_backup_dir_between_sidecar_and_rename_names_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    let etcd = small_etcd(tmp.path());
    let backups_dir = tmp.path().join("b");
    let mut cmd = save_cmd(&etcd, &backups_dir);
    cmd.env("ETCD_BACKUP_FAILPOINT", "save-rename:pause-2000")
        .arg("save");
    let mut run = Running::spawn(cmd);
    run.wait_for("failpoint save-rename", Duration::from_secs(60));
    let guard = Immutable::set(&backups_dir);
    let (out, _) = run.finish(Duration::from_secs(60));
    let listed = list_dir(&backups_dir);
    drop(guard);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    let part = listed.iter().find(|n| n.ends_with(".db.part")).unwrap();
    let sidecar = listed.iter().find(|n| n.ends_with(".db.json")).unwrap();
    assert!(!listed.iter().any(|n| n.ends_with(".db")), "{listed:?}");
    for n in [part, sidecar] {
        assert!(
            err.contains(&backups_dir.join(n).display().to_string()),
            "names {n}: {err}"
        );
    }
    assert!(err.contains("cannot rename into"), "{err}");
    assert!(err.contains("chattr -i"), "{err}");
}

/// Item 3 with `--with-pki`: SIGTERM while the DR bundle is written (zstd layers) stops with
/// exit 130 and leaves neither the snapshot's nor the bundle's temp file.
#[test]
fn signal_while_writing_the_dr_bundle_leaves_neither_temp_file() {
    let tmp = tempfile::tempdir().unwrap();
    let etcd = small_etcd(tmp.path());
    let backups_dir = tmp.path().join("b");
    let k8s = tmp.path().join("etc/kubernetes");
    let kubelet = tmp.path().join("var/lib/kubelet");
    fs::create_dir_all(k8s.join("pki/etcd")).unwrap();
    fs::create_dir_all(&kubelet).unwrap();
    fs::write(k8s.join("pki/ca.crt"), "ca cert").unwrap();
    fs::write(k8s.join("pki/etcd/ca.key"), "ETCD-CA-KEY").unwrap();
    let mut cmd = save_cmd(&etcd, &backups_dir);
    cmd.env("ETCD_BACKUP_FAILPOINT", "save-bundle:hang")
        .args([
            "save",
            "--compress",
            "zstd",
            "--with-pki",
            "--kubernetes-dir",
        ])
        .arg(&k8s)
        .arg("--kubelet-dir")
        .arg(&kubelet);
    let mut run = Running::spawn(cmd);
    run.wait_for("failpoint save-bundle", Duration::from_secs(60));
    run.signal("TERM");
    let (out, _) = run.finish(Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("stopped while writing the DR bundle: nothing was saved"),
        "{err}"
    );
    let left: Vec<String> = list_dir(&backups_dir)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
