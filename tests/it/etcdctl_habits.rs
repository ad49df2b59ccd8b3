//! What etcdctl and k3s users type, run with the real binary: `save FILE` and `snapshot save
//! FILE` against real etcd 3.5.1, `snapshot status`, `ls`/`list`, `delete` under prune's safety
//! rules, and the ETCDCTL_* timeouts.

use crate::common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::Utc;
use common::*;
use etcd_backup::backup::catalog;

/// One real backup with its sidecar, made once (etcd stopped after).
struct Template {
    _tmp: tempfile::TempDir,
    backup: PathBuf,
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
        let etcd = Etcd::start(&v35(), &pki, tmp.path());
        etcd.put_bulk(20, 300);
        let out = save_cmd(&etcd, &tmp.path().join("b"))
            .arg("save")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        let backup = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end());
        Template { _tmp: tmp, backup }
    })
}

/// Our backup `mins` minutes old, with its sidecar; returns its name.
fn put_backup(dir: &Path, mins: i64) -> String {
    let name = catalog::backup_file_name(Utc::now() - chrono::Duration::minutes(mins), None);
    let t = template();
    fs::copy(&t.backup, dir.join(&name)).unwrap();
    fs::copy(
        catalog::sidecar_path(&t.backup),
        dir.join(format!("{name}.json")),
    )
    .unwrap();
    name
}

fn backup_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let dir = tmp.path().join("backups");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    (tmp, dir)
}

/// The entries of `dir` but the lock file, which any run that holds the lock may create.
fn files(dir: &Path) -> Vec<String> {
    let mut v = list_dir(dir);
    v.retain(|n| n != ".etcd-backup.lock");
    v
}

fn in_dir(dir: &Path, args: &[&str]) -> std::process::Output {
    backup_cmd()
        .arg("--backup-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// `save FILE` and `snapshot save FILE`: the file and its sidecar, checked, in FILE's directory
/// (fsynced, no lock file left there), nothing in --backup-dir, never replaced, never pruned.
#[test]
fn save_to_a_path_as_etcdctl_does() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&v35(), &pki, tmp.path());
    etcd.put_bulk(10, 200);
    let backups = tmp.path().join("backups");
    let target_dir = tmp.path().join("one-off");
    let target = target_dir.join("before-upgrade.db");

    let out = save_cmd(&etcd, &backups)
        .arg("save")
        .arg(&target)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        target.display().to_string()
    );
    assert_eq!(
        list_dir(&target_dir),
        ["before-upgrade.db", "before-upgrade.db.json"],
        "no temp or lock file is left beside it"
    );
    assert!(
        finished_looking(&backups).is_empty(),
        "{:?}",
        list_dir(&backups)
    );
    let sidecar: serde_json::Value =
        serde_json::from_slice(&fs::read(target_dir.join("before-upgrade.db.json")).unwrap())
            .unwrap();
    assert_eq!(sidecar["file"], "before-upgrade.db");
    let verify = backup_cmd().arg("verify").arg(&target).output().unwrap();
    assert!(verify.status.success(), "{}", describe(&verify));

    // Never replaced.
    let again = save_cmd(&etcd, &backups)
        .arg("save")
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", describe(&again));
    assert!(
        stderr(&again).contains("never replaces"),
        "{}",
        describe(&again)
    );

    // One-off files are never pruned: not with --prune (refused), and prune leaves them alone.
    let pruned = save_cmd(&etcd, &backups)
        .args(["save", "--prune"])
        .arg(target_dir.join("other.db"))
        .output()
        .unwrap();
    assert_eq!(pruned.status.code(), Some(2), "{}", describe(&pruned));

    // etcdctl's words, with a note on stderr.
    let second = target_dir.join("second.db");
    let out = save_cmd(&etcd, &backups)
        .args(["snapshot", "save"])
        .arg(&second)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(stderr(&out).contains("`snapshot save` is `etcd-backup save`"));
    assert!(second.is_file());

    // A layered file must say so in its name.
    let out = save_cmd(&etcd, &backups)
        .args(["save", "--compress", "zstd"])
        .arg(target_dir.join("third.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("third.db.zst"), "{}", describe(&out));
}

/// `ls` and `list` are `status`; `snapshot status FILE` is `status FILE`; `snapshot restore`
/// is refused with the command to use.
#[test]
fn ls_list_and_snapshot_status() {
    let (_tmp, dir) = backup_dir();
    let name = put_backup(&dir, 5);
    let status = in_dir(&dir, &["status"]);
    assert!(status.status.success(), "{}", describe(&status));
    assert!(String::from_utf8_lossy(&status.stdout).contains(&name));
    for alias in ["ls", "list"] {
        let out = in_dir(&dir, &[alias]);
        assert!(out.status.success(), "{}", describe(&out));
        assert_eq!(out.stdout, status.stdout, "{alias}");
    }
    let file = dir.join(&name);
    let file = file.to_str().unwrap();
    let ours = in_dir(&dir, &["status", file]);
    let theirs = in_dir(&dir, &["snapshot", "status", file]);
    assert!(theirs.status.success(), "{}", describe(&theirs));
    assert_eq!(ours.stdout, theirs.stdout);
    let restore = in_dir(&dir, &["snapshot", "restore", file, "--data-dir", "/tmp/x"]);
    assert_eq!(restore.status.code(), Some(2));
    assert!(
        stderr(&restore).contains("--output-dir"),
        "{}",
        describe(&restore)
    );
}

/// `delete` removes a named backup with its sidecar; refuses the newest good backup, symlinks,
/// foreign files and files elsewhere; asks (here: refuses without --yes, as there is no
/// terminal); --dry-run changes nothing.
#[test]
fn delete_follows_prunes_rules() {
    let (tmp, dir) = backup_dir();
    let newest = put_backup(&dir, 5);
    let middle = put_backup(&dir, 65);
    let oldest = put_backup(&dir, 125);
    fs::write(dir.join("notes.txt"), "mine").unwrap();
    let outside = tmp.path().join("etcd-snapshot-2020-01-01_00-00-00.db");
    fs::copy(dir.join(&oldest), &outside).unwrap();
    let link = catalog::backup_file_name(Utc::now() - chrono::Duration::minutes(300), None);
    symlink(&outside, dir.join(&link)).unwrap();
    let before = files(&dir);

    let dry = in_dir(&dir, &["delete", "--dry-run", &oldest]);
    assert!(dry.status.success(), "{}", describe(&dry));
    assert!(String::from_utf8_lossy(&dry.stdout).contains(&format!("{oldest}.json")));
    assert_eq!(files(&dir), before);

    let unasked = in_dir(&dir, &["delete", &oldest]);
    assert_eq!(unasked.status.code(), Some(2), "{}", describe(&unasked));
    assert!(stderr(&unasked).contains("--yes"), "{}", describe(&unasked));
    assert_eq!(files(&dir), before);

    for (name, says) in [
        (newest.as_str(), "newest backup that passes verification"),
        (link.as_str(), "symlink"),
        ("notes.txt", "not a backup file"),
        (outside.to_str().unwrap(), "not in the backup dir"),
        ("etcd-snapshot-2019-01-01_00-00-00.db", "no backup"),
    ] {
        let out = in_dir(&dir, &["delete", "--yes", name]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", describe(&out));
        assert!(stderr(&out).contains(says), "{name}: {}", describe(&out));
        assert_eq!(files(&dir), before, "{name}");
    }
    assert!(outside.is_file());

    let out = in_dir(
        &dir,
        &[
            "delete",
            "--yes",
            &oldest,
            dir.join(&middle).to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let left = files(&dir);
    for gone in [&oldest, &middle] {
        assert!(
            !left.contains(gone) && !left.contains(&format!("{gone}.json")),
            "{left:?}"
        );
    }
    assert!(left.contains(&newest) && left.contains(&link) && left.contains(&"notes.txt".into()));

    // When the newest backup is damaged, the newest good one is the floor.
    let (_tmp2, dir2) = backup_dir();
    let good = put_backup(&dir2, 65);
    let bad = put_backup(&dir2, 5);
    let mut bytes = fs::read(dir2.join(&bad)).unwrap();
    bytes.truncate(bytes.len() / 2);
    fs::write(dir2.join(&bad), bytes).unwrap();
    let out = in_dir(&dir2, &["delete", "--yes", &good]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let out = in_dir(&dir2, &["delete", "--yes", &bad]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(files(&dir2), [good.clone(), format!("{good}.json")]);
}

/// Regression (issue 13, clock skew): a backup with a future name (taken while the clock was
/// ahead) never stands for the newest good backup, so `delete` still refuses the real newest one
/// and may delete the suspect one.
#[test]
fn delete_does_not_take_a_future_name_for_the_newest() {
    let (_tmp, dir) = backup_dir();
    let future = put_backup(&dir, -120);
    let newest = put_backup(&dir, 5);
    let before = files(&dir);
    let out = in_dir(&dir, &["delete", "--yes", &newest]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr(&out).contains("newest backup that passes verification"),
        "{}",
        describe(&out)
    );
    assert_eq!(files(&dir), before);
    let out = in_dir(&dir, &["delete", "--yes", &future]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(files(&dir), [newest.clone(), format!("{newest}.json")]);
}

/// ETCDCTL_DIAL_TIMEOUT is the dial timeout; ETCDCTL_COMMAND_TIMEOUT gets a one-line note.
#[test]
fn etcdctl_timeouts() {
    let out = backup_cmd()
        .args(["--show-settings", "save"])
        .env("ETCDCTL_DIAL_TIMEOUT", "7s")
        .env("ETCDCTL_COMMAND_TIMEOUT", "15s")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("dial-timeout"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("7s"), "{line}");
    assert!(stderr(&out).contains("ETCDCTL_COMMAND_TIMEOUT is not used"));
    let ours = backup_cmd()
        .args(["--show-settings", "save"])
        .env("ETCDCTL_DIAL_TIMEOUT", "7s")
        .env("ETCD_BACKUP_DIAL_TIMEOUT", "9s")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ours.stdout);
    let line = text.lines().find(|l| l.contains("dial-timeout")).unwrap();
    assert!(line.contains("9s"), "ours wins: {line}");
}

/// On a terminal, delete lists the files and asks; only "y" deletes. (`script` gives the run a
/// pty; its answer comes on that terminal's input.)
#[test]
fn delete_asks_on_a_terminal() {
    let (_tmp, dir) = backup_dir();
    put_backup(&dir, 5);
    let old = put_backup(&dir, 65);
    let run = |answer: &str| {
        let line = format!(
            "{} --backup-dir {} delete {old}",
            env!("CARGO_BIN_EXE_etcd-backup"),
            dir.display()
        );
        let mut child = std::process::Command::new("script")
            .args(["-q", "-e", "-c", &line, "/dev/null"])
            .env("ETCD_BACKUP_NO_CONFIG", "1")
            .env("ETCD_BACKUP_NO_MANIFEST", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), answer.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let no = run("n\n");
    let text = String::from_utf8_lossy(&no.stdout);
    assert!(
        text.contains("Delete these 2 file(s)?"),
        "{}",
        describe(&no)
    );
    assert_eq!(no.status.code(), Some(1), "{}", describe(&no));
    assert!(files(&dir).contains(&old));
    let yes = run("y\n");
    assert!(yes.status.success(), "{}", describe(&yes));
    assert!(!files(&dir).contains(&old), "{:?}", files(&dir));
}
