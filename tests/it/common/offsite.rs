//! One round trip through an object store, shared by the off-site tests of every kind of store
//! (`file://`, S3, Azure, GCS): save encrypted and compressed with a checked upload, list,
//! verify with and without the key, status and restore straight from the object's URL.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::*;

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub etcd: Etcd,
    pub backups: PathBuf,
    pub key: PathBuf,
    pub public: String,
}

/// etcd 3.5.1 with 100 keys of 4 KiB, a backup dir, and an age key pair (0600 key file).
pub fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dist = v35();
    let pki = Pki::generate(tmp.path(), KeyKind::RsaPkcs1);
    let etcd = Etcd::start(&dist, &pki, tmp.path());
    etcd.put_bulk(100, 4096);
    let key = tmp.path().join("key.txt");
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .unwrap();
    let public = String::from_utf8(out.stdout).unwrap().trim().to_string();
    Fixture {
        backups: tmp.path().join("backups"),
        etcd,
        key,
        public,
        tmp,
    }
}

/// The lines of stdout.
pub fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// One round trip through a store at `url`: save (encrypted, compressed, checked upload), list,
/// verify with and without the key, restore from the URL.
pub fn round_trip(f: &Fixture, url: &str, env: &dyn Fn(Command) -> Command) {
    let out = env(save_cmd(&f.etcd, &f.backups))
        .args([
            "save",
            "--compress",
            "zstd",
            "--verify-upload",
            "--remote",
            url,
        ])
        .arg("--encrypt-to")
        .arg(&f.public)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let printed = lines(&out);
    assert_eq!(printed.len(), 2, "{}", describe(&out));
    let local = PathBuf::from(&printed[0]);
    let name = local.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(printed[1], format!("{url}{}/{name}", f.etcd.name));
    assert!(
        stderr(&out).contains("read back and checked"),
        "{}",
        describe(&out)
    );

    // status --remote lists it as verified, with the member's name in the key.
    let out = env(backup_cmd())
        .args(["-w", "json", "status", "--remote", url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["backups"][0]["file"], format!("{}/{name}", f.etcd.name));
    assert_eq!(v["backups"][0]["good"], true);
    assert_eq!(v["backups"][0]["size"], fs::metadata(&local).unwrap().len());

    // verify: in full with the key, by the recorded checksum without it.
    let out = env(backup_cmd())
        .args(["verify", "--remote", url, "--latest", "--identity"])
        .arg(&f.key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sha256 and sidecar match"));
    let out = env(backup_cmd())
        .args(["verify", "--remote", url, "--all"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not opened"));

    object_reads_like_file(f, &printed[1], &local, env);
}

/// The object at `obj` reads as the file `local` does: `status` by URL prints what `status` of
/// the file prints, and `restore` from the URL builds the same db. Returns that db's size.
pub fn object_reads_like_file(
    f: &Fixture,
    obj: &str,
    local: &Path,
    env: &dyn Fn(Command) -> Command,
) -> usize {
    let status = |src: &OsStr| {
        let out = env(backup_cmd())
            .args(["-w", "json", "status"])
            .arg(src)
            .arg("--identity")
            .arg(&f.key)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        out.stdout
    };
    assert_eq!(status(OsStr::new(obj)), status(local.as_os_str()));

    let a = f.tmp.path().join(format!("from-remote-{}", obj.len()));
    let b = f.tmp.path().join(format!("from-local-{}", obj.len()));
    for (src, dir) in [(OsStr::new(obj), &a), (local.as_os_str(), &b)] {
        let out = env(backup_cmd())
            .args([OsStr::new("restore"), src, OsStr::new("--output-dir")])
            .arg(dir)
            .arg("--identity")
            .arg(&f.key)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
    }
    let db = fs::read(a.join("member/snap/db")).unwrap();
    assert!(db == fs::read(b.join("member/snap/db")).unwrap());
    db.len()
}

/// `save --remote URL` with one retry and a 5 s timeout (`cmd` is `save_cmd` with the store's
/// environment), for a store that is gone: it must fail with exit 2.
pub fn save_to_gone_store(cmd: Command, url: &str) -> Output {
    let mut cmd = cmd;
    let out = cmd
        .args([
            "save",
            "--remote",
            url,
            "--remote-retries",
            "1",
            "--remote-timeout",
            "5s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    out
}
