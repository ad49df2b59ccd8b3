//! The remote module against a real S3 server (SeaweedFS, see tests/it/common/s3.rs) and a real
//! directory: streaming round trips, listing, small objects, refusals, and what is left behind
//! when an upload fails half-way (nothing that looks like an object).

use crate::common;

use std::io::{self, Read};
use std::time::{Duration, Instant};

use common::s3::{hmac_sha256, SeaweedFs};
use common::{Pattern, Tripwire};
use etcd_backup::remote::{Environment, Remote, RemoteError, RemoteOptions};
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;

fn digest(r: &mut dyn Read) -> (u64, [u8; 32]) {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf).expect("read");
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    (n, h.finalize().into())
}

/// A source that yields `ok` bytes of a pattern, then fails.
struct FailsAfter {
    inner: Pattern,
    ok: u64,
}

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ok == 0 {
            return Err(io::Error::other("simulated: etcd stream broke"));
        }
        let max = (buf.len() as u64).min(self.ok) as usize;
        let n = self.inner.read(&mut buf[..max])?;
        self.ok -= n as u64;
        Ok(n)
    }
}

fn keys(r: &Remote) -> Vec<String> {
    r.list()
        .unwrap_or_else(|e| panic!("list {}: {e}", r.url()))
        .into_iter()
        .map(|o| o.key)
        .collect()
}

fn source_text(e: &RemoteError) -> String {
    std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

#[test]
fn round_trip_list_small_objects_refusals_and_delete() {
    let sw = SeaweedFs::start();
    let r = sw.remote("cluster-a/");
    assert_eq!(r.url(), "s3://backups/cluster-a/");
    assert_eq!(
        r.list().unwrap(),
        vec![],
        "a prefix with nothing under it lists as empty"
    );
    let key = "node1/etcd-snapshot-2026-11-21_10-00-00.db";
    let want = streams_a_large_upload(&r, key);
    small_and_empty_uploads(&r);
    sidecars_are_refused_or_replaced(&r, key);
    upload_refuses_an_existing_key(&r, key, want);
    lists_only_under_the_prefix(&sw, &r);
    small_reads_refuse_big_and_missing_objects(&r);
    deletes_and_checks_keys(&r, key);
}

/// 40 MiB: five full 8 MiB parts, streamed; the digest covers exactly the bytes sent. Returns
/// the size and SHA-256 of what was sent.
fn streams_a_large_upload(r: &Remote, key: &str) -> (u64, [u8; 32]) {
    let len = 40 * MIB;
    let t = Instant::now();
    let up = r.upload(key, &mut Pattern::new(1, len)).unwrap();
    let took = t.elapsed();
    eprintln!(
        "uploaded {} MiB in {took:.2?} ({:.0} MiB/s)",
        len / MIB,
        len as f64 / MIB as f64 / took.as_secs_f64()
    );
    let (want_len, want_sha) = digest(&mut Pattern::new(1, len));
    assert_eq!(up.size, want_len);
    assert_eq!(up.sha256, want_sha);
    let (got_len, got_sha) = digest(&mut r.reader(key).unwrap());
    assert_eq!((got_len, got_sha), (want_len, want_sha));
    (want_len, want_sha)
}

fn small_and_empty_uploads(r: &Remote) {
    // A source shorter than one part goes in one PUT.
    let small = r
        .upload(
            "node1/etcd-snapshot-2026-11-21_09-00-00.db",
            &mut Pattern::new(2, 3 * MIB + 5),
        )
        .unwrap();
    assert_eq!(small.size, 3 * MIB + 5);
    // An empty source is an empty object.
    let empty = r.upload("node2/empty.db", &mut io::empty()).unwrap();
    assert_eq!(empty.size, 0);
    assert_eq!(r.get_small("node2/empty.db").unwrap(), b"");
}

fn sidecars_are_refused_or_replaced(r: &Remote, key: &str) {
    // Sidecars: put_small / get_small, refuse or replace.
    r.put_small(&format!("{key}.json"), b"{\"v\":1}", false)
        .unwrap();
    let e = r
        .put_small(&format!("{key}.json"), b"{\"v\":2}", false)
        .unwrap_err();
    assert!(matches!(e, RemoteError::Exists { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("s3://backups/cluster-a/{key}.json already exists; refusing to overwrite it")
    );
    assert_eq!(r.get_small(&format!("{key}.json")).unwrap(), b"{\"v\":1}");
    r.put_small(&format!("{key}.json"), b"{\"v\":3}", true)
        .unwrap();
    assert_eq!(r.get_small(&format!("{key}.json")).unwrap(), b"{\"v\":3}");
}

fn upload_refuses_an_existing_key(r: &Remote, key: &str, (want_len, want_sha): (u64, [u8; 32])) {
    // Upload refuses an existing key before reading anything from the source.
    let mut untouched = Pattern::new(3, MIB);
    let e = r.upload(key, &mut untouched).unwrap_err();
    assert!(matches!(e, RemoteError::Exists { .. }), "{e:?}");
    assert!(
        e.to_string().contains("s3://backups/cluster-a/node1/"),
        "{e}"
    );
    assert_eq!(
        untouched.left, MIB,
        "the source was read although the key exists"
    );
    let (l, s) = digest(&mut r.reader(key).unwrap());
    assert_eq!((l, s), (want_len, want_sha), "the existing object changed");
}

fn lists_only_under_the_prefix(sw: &SeaweedFs, r: &Remote) {
    // Something outside the prefix is not listed; keys are relative and sorted, with sizes.
    sw.remote("").put_small("other/x.db", b"x", false).unwrap();
    sw.remote("cluster-ab")
        .put_small("y.db", b"y", false)
        .unwrap();
    let listed = r.list().unwrap();
    let summary: Vec<(&str, u64)> = listed.iter().map(|o| (o.key.as_str(), o.size)).collect();
    assert_eq!(
        summary,
        [
            ("node1/etcd-snapshot-2026-11-21_09-00-00.db", 3 * MIB + 5),
            ("node1/etcd-snapshot-2026-11-21_10-00-00.db", 40 * MIB),
            ("node1/etcd-snapshot-2026-11-21_10-00-00.db.json", 7),
            ("node2/empty.db", 0),
        ]
    );
    let age = chrono::Utc::now() - listed[0].last_modified;
    assert!(
        age.num_seconds().abs() < 600,
        "last_modified {}",
        listed[0].last_modified
    );
    assert_eq!(
        keys(&sw.remote("")),
        [
            "cluster-a/node1/etcd-snapshot-2026-11-21_09-00-00.db",
            "cluster-a/node1/etcd-snapshot-2026-11-21_10-00-00.db",
            "cluster-a/node1/etcd-snapshot-2026-11-21_10-00-00.db.json",
            "cluster-a/node2/empty.db",
            "cluster-ab/y.db",
            "other/x.db",
        ]
    );
}

fn small_reads_refuse_big_and_missing_objects(r: &Remote) {
    // get_small is for sidecars: it refuses anything over 16 MiB.
    r.upload("node3/big.db", &mut Pattern::new(4, 16 * MIB + 1))
        .unwrap();
    match r.get_small("node3/big.db") {
        Err(RemoteError::TooLarge { size, limit, .. }) => {
            assert_eq!((size, limit), (16 * MIB + 1, 16 * MIB))
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    r.delete("node3/big.db").unwrap();

    // Not found is its own variant, for streaming and small reads alike.
    match r.reader("node1/nope.db") {
        Err(RemoteError::NotFound { url }) => {
            assert_eq!(url, "s3://backups/cluster-a/node1/nope.db")
        }
        Err(e) => panic!("expected NotFound, got {e:?}"),
        Ok(_) => panic!("expected NotFound, got a reader"),
    }
    assert!(r.get_small("node1/nope.db").unwrap_err().is_not_found());
}

fn deletes_and_checks_keys(r: &Remote, key: &str) {
    // Delete, and deleting again is fine.
    r.delete(key).unwrap();
    r.delete(key).unwrap();
    assert!(!keys(r).contains(&key.to_string()));

    // Keys are checked before any request.
    for bad in ["../x", "/abs", "a//b", "a/.hidden", "x.part"] {
        assert!(
            matches!(r.delete(bad), Err(RemoteError::BadKey { .. })),
            "{bad} accepted"
        );
    }
}

#[test]
fn wrong_credentials_and_missing_bucket_are_named() {
    let sw = SeaweedFs::start();
    sw.remote("p").put_small("k.db", b"data", false).unwrap();

    let wrong_secret = Environment::default()
        .with("AWS_ACCESS_KEY_ID", &sw.access_key)
        .with("AWS_SECRET_ACCESS_KEY", "not-the-secret-at-all");
    let r = Remote::open_in(&sw.url("p"), &sw.options(), &wrong_secret).unwrap();
    let e = r.list().unwrap_err();
    match &e {
        RemoteError::Credentials { code, .. } => assert_eq!(code, "SignatureDoesNotMatch"),
        other => panic!("expected a credentials error, got {other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "cannot list s3://backups/p/: the store rejected the credentials (SignatureDoesNotMatch)"
    );
    let hint = e.hint().unwrap();
    assert!(
        hint.contains("AWS_SECRET_ACCESS_KEY") && hint.contains("AWS_PROFILE"),
        "{hint}"
    );
    assert!(hint.contains("the environment"), "{hint}");
    let all = format!("{e} {} {hint}", source_text(&e));
    assert!(
        !all.contains("not-the-secret-at-all"),
        "secret printed: {all}"
    );

    // A HEAD carries no body: its 403 is still a credentials error naming the object.
    let e = r.upload("k2.db", &mut Pattern::new(1, 1000)).unwrap_err();
    assert!(matches!(e, RemoteError::Credentials { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with(
            "cannot upload to s3://backups/p/k2.db: the store rejected the credentials"
        ),
        "{e}"
    );
    let e = r.get_small("k.db").unwrap_err();
    assert!(matches!(e, RemoteError::Credentials { .. }), "{e:?}");

    let wrong_key = Environment::default()
        .with("AWS_ACCESS_KEY_ID", "AKIANOSUCHKEY")
        .with("AWS_SECRET_ACCESS_KEY", &sw.secret_key);
    let r = Remote::open_in(&sw.url("p"), &sw.options(), &wrong_key).unwrap();
    let e = r.list().unwrap_err();
    assert!(matches!(e, RemoteError::Credentials { .. }), "{e:?}");

    // No such bucket: listing, reading and uploading all say so.
    let r = Remote::open_in("s3://no-such-bucket/p", &sw.options(), &sw.env()).unwrap();
    let e = r.list().unwrap_err();
    assert!(matches!(e, RemoteError::NoSuchBucket { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "cannot list s3://no-such-bucket/p/: bucket \"no-such-bucket\" does not exist at {}",
            sw.endpoint
        )
    );
    assert!(e.hint().unwrap().contains("create the bucket"));
    let e = r.upload("k.db", &mut Pattern::new(1, 1000)).unwrap_err();
    assert!(matches!(e, RemoteError::NoSuchBucket { .. }), "{e:?}");
    let e = r
        .upload("big.db", &mut Pattern::new(1, 9 * MIB))
        .unwrap_err();
    assert!(matches!(e, RemoteError::NoSuchBucket { .. }), "{e:?}");
    match r.reader("k.db") {
        Err(RemoteError::NoSuchBucket { .. }) => {}
        Err(e) => panic!("expected NoSuchBucket, got {e:?}"),
        Ok(_) => panic!("expected NoSuchBucket, got a reader"),
    }

    // The object written with the right credentials is untouched.
    assert_eq!(sw.remote("p").get_small("k.db").unwrap(), b"data");
}

#[test]
fn profile_files_supply_keys_and_endpoint() {
    let sw = SeaweedFs::start();
    let d = tempfile::tempdir().unwrap();
    let creds = d.path().join("credentials");
    let config = d.path().join("config");
    std::fs::write(
        &creds,
        format!(
            "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n\
             [backup]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            sw.access_key, sw.secret_key
        ),
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            "[profile backup]\nregion = us-east-1\nendpoint_url = {}\n",
            sw.endpoint
        ),
    )
    .unwrap();
    let files = Environment::default()
        .with("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap())
        .with("AWS_CONFIG_FILE", config.to_str().unwrap());
    let opts = RemoteOptions {
        retries: 1,
        ..RemoteOptions::default()
    };

    // Keys and endpoint from profile "backup"; no flag, no AWS_* key variables.
    let env = files.clone().with("AWS_PROFILE", "backup");
    let r = Remote::open_in(&sw.url("prof"), &opts, &env).unwrap();
    r.put_small("a.json", b"{}", false).unwrap();
    assert_eq!(keys(&r), ["a.json"]);

    // The environment's keys beat the profile's.
    let env = env
        .with("AWS_ACCESS_KEY_ID", &sw.access_key)
        .with("AWS_SECRET_ACCESS_KEY", "wrong-secret-from-env");
    let e = Remote::open_in(&sw.url("prof"), &opts, &env)
        .unwrap()
        .list()
        .unwrap_err();
    assert!(matches!(e, RemoteError::Credentials { .. }), "{e:?}");

    // The default profile's (wrong) keys are used and named in the hint.
    let env = files.with("AWS_ENDPOINT_URL", &sw.endpoint);
    let e = Remote::open_in(&sw.url("prof"), &opts, &env)
        .unwrap()
        .list()
        .unwrap_err();
    assert!(matches!(e, RemoteError::Credentials { .. }), "{e:?}");
    let hint = e.hint().unwrap();
    assert!(
        hint.contains("profile \"default\"") && hint.contains(creds.to_str().unwrap()),
        "{hint}"
    );
}

/// [`FailsAfter`] that notes the unfinished multipart uploads the server holds when it fails.
struct FailsAndLooks<'a> {
    inner: FailsAfter,
    server: &'a SeaweedFs,
    unfinished: Option<Vec<String>>,
}

impl Read for FailsAndLooks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.inner.ok == 0 && self.unfinished.is_none() {
            self.unfinished = Some(self.server.filer_list(UPLOADS).expect("filer listing"));
        }
        self.inner.read(buf)
    }
}

/// Where SeaweedFS keeps unfinished multipart uploads of the test bucket.
const UPLOADS: &str = "/buckets/backups/.uploads";

#[test]
fn source_error_mid_upload_leaves_no_object() {
    let sw = SeaweedFs::start();
    let r = sw.remote("node1");
    // Fails in the third part, with two parts sent or in flight.
    let mut src = FailsAndLooks {
        inner: FailsAfter {
            inner: Pattern::new(7, u64::MAX),
            ok: 20 * MIB + 123,
        },
        server: &sw,
        unfinished: None,
    };
    let e = r.upload("etcd-snapshot.db", &mut src).unwrap_err();
    assert_eq!(
        src.unfinished.as_ref().map(Vec::len),
        Some(1),
        "one multipart upload in progress when the source failed: {:?}",
        src.unfinished
    );
    assert_eq!(
        sw.filer_list(UPLOADS).unwrap(),
        Vec::<String>::new(),
        "not aborted"
    );
    match &e {
        RemoteError::Source { url, offset, .. } => {
            assert_eq!(url, "s3://backups/node1/etcd-snapshot.db");
            assert_eq!(*offset, 20 * MIB + 123);
        }
        other => panic!("expected a source error, got {other:?}"),
    }
    assert!(source_text(&e).contains("simulated: etcd stream broke"));
    assert_eq!(keys(&r), Vec::<String>::new());
    assert!(matches!(
        r.reader("etcd-snapshot.db"),
        Err(RemoteError::NotFound { .. })
    ));
    // The aborted upload does not block a new one of the same key.
    let up = r
        .upload("etcd-snapshot.db", &mut Pattern::new(8, 17 * MIB))
        .unwrap();
    assert_eq!(up.size, 17 * MIB);

    // A failure in the first part (a single PUT would follow) leaves nothing either.
    let mut src = FailsAfter {
        inner: Pattern::new(9, u64::MAX),
        ok: MIB,
    };
    assert!(matches!(
        r.upload("second.db", &mut src),
        Err(RemoteError::Source { offset, .. }) if offset == MIB
    ));
    assert_eq!(keys(&r), ["etcd-snapshot.db"]);
}

#[test]
fn server_stopped_mid_upload_fails_cleanly() {
    let mut sw = SeaweedFs::start();
    let opts = RemoteOptions {
        retries: 1,
        timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(5),
        ..sw.options()
    };
    let r = Remote::open_in(&sw.url("node1"), &opts, &sw.env()).unwrap();
    let endpoint = sw.endpoint.clone();
    let t = Instant::now();
    let e = {
        // Stopped (SIGTERM, then SIGKILL) after 12 MiB.
        let mut src = Tripwire::new(Pattern::new(11, 64 * MIB), 12 * MIB, || sw.stop());
        r.upload("etcd-snapshot.db", &mut src).unwrap_err()
    };
    eprintln!(
        "upload failed after {:.1?}: {e}\n  cause: {}",
        t.elapsed(),
        source_text(&e)
    );
    assert!(!sw.running());
    let text = e.to_string();
    assert!(
        text.starts_with("cannot upload to s3://backups/node1/etcd-snapshot.db"),
        "{text}"
    );
    // SeaweedFS's S3 gateway answers the part in flight with 500 InternalError while it shuts
    // down; a store that goes away without answering gives Unreachable (below) or TimedOut.
    assert!(
        matches!(
            e,
            RemoteError::Unreachable { .. }
                | RemoteError::TimedOut { .. }
                | RemoteError::Store { .. }
        ),
        "{e:?}"
    );

    // Back on the same data: no object appeared, and the key can be written.
    sw.restart();
    let r = Remote::open_in(&sw.url("node1"), &opts, &sw.env()).unwrap();
    assert_eq!(keys(&r), Vec::<String>::new());
    let up = r
        .upload("etcd-snapshot.db", &mut Pattern::new(12, 9 * MIB))
        .unwrap();
    assert_eq!(up.size, 9 * MIB);
    assert_eq!(keys(&r), ["etcd-snapshot.db"]);

    // Killed outright: the next part finds nobody listening, and the error names the endpoint.
    let e = {
        let mut src = Tripwire::new(Pattern::new(13, 64 * MIB), 12 * MIB, || sw.kill());
        r.upload("second.db", &mut src).unwrap_err()
    };
    eprintln!(
        "upload to a killed server: {e}\n  cause: {}",
        source_text(&e)
    );
    assert!(
        matches!(&e, RemoteError::Unreachable { endpoint: ep, .. } if ep == &endpoint),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!("cannot upload to s3://backups/node1/second.db: no connection to {endpoint}")
    );
    assert!(e.hint().unwrap().contains("--remote-endpoint"));
    sw.restart();
    assert_eq!(keys(&r), ["etcd-snapshot.db"]);
}

#[test]
fn unreachable_endpoint_is_named() {
    let port = common::free_port(); // nothing listens there
    let endpoint = format!("http://127.0.0.1:{port}");
    let opts = RemoteOptions {
        endpoint: Some(endpoint.clone()),
        retries: 1,
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        ..RemoteOptions::default()
    };
    let env = Environment::default()
        .with("AWS_ACCESS_KEY_ID", "AKIAX")
        .with("AWS_SECRET_ACCESS_KEY", "secret");
    let r = Remote::open_in("s3://b/p/", &opts, &env).unwrap();
    let e = r.list().unwrap_err();
    assert!(matches!(e, RemoteError::Unreachable { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!("cannot list s3://b/p/: no connection to {endpoint}")
    );
    assert!(source_text(&e).contains("onnect"), "{}", source_text(&e));
    let e = r.upload("x.db", &mut Pattern::new(1, 10)).unwrap_err();
    assert!(matches!(e, RemoteError::Unreachable { .. }), "{e:?}");
}

#[test]
fn file_remote_round_trip_atomicity_and_modes() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("backups");
    let r = Remote::open(
        &format!("file://{}", root.display()),
        &RemoteOptions::default(),
    )
    .unwrap();
    assert_eq!(r.url(), format!("file://{}/", root.display()));
    let up = r
        .upload("node1/a.db", &mut Pattern::new(5, 10 * MIB + 1))
        .unwrap();
    assert_eq!(up, {
        let (size, sha256) = digest(&mut Pattern::new(5, 10 * MIB + 1));
        etcd_backup::remote::Uploaded { size, sha256 }
    });
    assert_eq!(digest(&mut r.reader("node1/a.db").unwrap()).1, up.sha256);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join("node1")), 0o700);
    assert_eq!(mode(&root.join("node1/a.db")), 0o600);

    // A failed upload leaves no temp file and no object.
    let mut src = FailsAfter {
        inner: Pattern::new(6, u64::MAX),
        ok: 5 * MIB,
    };
    let e = r.upload("node1/b.db", &mut src).unwrap_err();
    assert!(matches!(e, RemoteError::Source { .. }), "{e:?}");
    assert_eq!(keys(&r), ["node1/a.db"]);
    let names: Vec<String> = std::fs::read_dir(root.join("node1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a.db"]);

    // Refusal, replace, delete.
    assert!(matches!(
        r.upload("node1/a.db", &mut io::empty()),
        Err(RemoteError::Exists { .. })
    ));
    r.put_small("node1/a.db.json", b"1", false).unwrap();
    r.put_small("node1/a.db.json", b"2", true).unwrap();
    assert_eq!(r.get_small("node1/a.db.json").unwrap(), b"2");
    assert_eq!(mode(&root.join("node1/a.db.json")), 0o600);
    r.delete("node1/a.db").unwrap();
    assert_eq!(keys(&r), ["node1/a.db.json"]);
}

/// The worked example of AWS's SigV4 signing-key derivation (secret
/// wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam), which the rig's
/// CreateBucket request relies on.
#[test]
fn rig_signing_key_matches_the_aws_example() {
    let mut k = hmac_sha256(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215");
    for part in ["us-east-1", "iam", "aws4_request"] {
        k = hmac_sha256(&k, part.as_bytes());
    }
    assert_eq!(
        hex::encode(k),
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );
}
