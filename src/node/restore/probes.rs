//! What the steps look at on the node: etcd processes in /proc, the db lock, the client port,
//! systemctl, and etcd's own health.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::anyhow;

use crate::diagnostics::HintExt;
use crate::etcd::{self, ConnectConfig, MemberStatus, Session, TlsFiles};
use crate::fsutil::FsError;
use crate::node::interrupt;
use crate::output::Printer;

use super::Plan;

/// What shows that an etcd still runs on the data dir: a process started on it, the db's lock,
/// or the client port. `None` when there is none.
pub(super) fn etcd_still_there(p: &Plan) -> anyhow::Result<Option<String>> {
    etcd_on(&p.data_dir, &p.endpoint)
}

/// What shows that an etcd still runs on `data_dir`: a process started on it, the db's lock,
/// or the client port `endpoint`. `None` when there is none. (`member rejoin` asks too.)
pub(crate) fn etcd_on(data_dir: &Path, endpoint: &str) -> anyhow::Result<Option<String>> {
    let db = data_dir.join("member").join("snap").join("db");
    if let Some(pid) = etcd_processes(data_dir).first() {
        return Ok(Some(format!(
            "etcd pid {pid} runs on {}",
            data_dir.display()
        )));
    }
    if db_locked(&db)? {
        return Ok(Some(format!("{} is still locked", db.display())));
    }
    if port_open(endpoint) {
        return Ok(Some(format!("{endpoint} still accepts connections")));
    }
    Ok(None)
}

/// PIDs of the `etcd` processes whose command line names `data_dir` (`--data-dir=DIR` or
/// `--data-dir DIR`, one dash or two), seen in /proc: such a process may not have opened the db
/// or the port yet. Containers' processes are visible here too.
fn etcd_processes(data_dir: &Path) -> Vec<u32> {
    let want = data_dir.as_os_str().as_encoded_bytes();
    let want = want.strip_suffix(b"/").unwrap_or(want);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            names_data_dir(&cmdline, want)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Whether a NUL-separated command line runs `etcd` on `want`.
fn names_data_dir(cmdline: &[u8], want: &[u8]) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let Some(prog) = args.first() else {
        return false;
    };
    if prog.rsplit(|&b| b == b'/').next() != Some(b"etcd".as_slice()) {
        return false;
    }
    let same = |v: &[u8]| v.strip_suffix(b"/").unwrap_or(v) == want;
    args.iter().enumerate().skip(1).any(|(i, a)| {
        let flag = a.strip_prefix(b"--").or_else(|| a.strip_prefix(b"-"));
        match flag {
            Some(f) if f == b"data-dir" => args.get(i + 1).is_some_and(|v| same(v)),
            Some(f) => f.strip_prefix(b"data-dir=").is_some_and(same),
            None => false,
        }
    })
}

pub(super) fn systemctl(verb: &str, unit: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new("systemctl")
        .args([verb, unit])
        .output()
        .map_err(|e| anyhow!("cannot run systemctl {verb} {unit}: {e}"))
        .hint("systemctl must be on PATH")?;
    if !out.status.success() {
        return Err(anyhow!(
            "systemctl {verb} {unit} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .hint(format!(
            "check `systemctl status {unit}` and `journalctl -u {unit}`"
        ));
    }
    Ok(())
}

/// Whether a process holds bbolt's flock on the db (etcd does while it has it open).
fn db_locked(db: &Path) -> anyhow::Result<bool> {
    use rustix::fs::{flock, FlockOperation};
    let f = match std::fs::File::open(db) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(FsError::io("cannot open", db, e).into()),
    };
    match flock(&f, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            let _ = flock(&f, FlockOperation::Unlock);
            Ok(false)
        }
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(true),
        Err(e) => Err(FsError::io("cannot probe the lock of", db, e.into()).into()),
    }
}

/// Whether something accepts TCP connections at the endpoint's address.
fn port_open(endpoint: &str) -> bool {
    use std::net::ToSocketAddrs;
    let hostport = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, r)| r)
        .trim_end_matches('/');
    let Ok(addrs) = hostport.to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

/// Waits until etcd answers over TLS with at least `min_revision` and the planned members.
pub(super) fn wait_healthy(
    p: &Plan,
    min_revision: Option<i64>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let files = TlsFiles {
        cacert: p.cacert.clone(),
        cert: p.cert.clone(),
        key: p.key.clone(),
    };
    let tls = if p.endpoint.starts_with("https://") {
        Some(etcd::load_tls(&files)?)
    } else {
        None
    };
    let config = ConnectConfig {
        tls: files,
        dial_timeout: Duration::from_secs(2),
        stall_timeout: Duration::from_secs(5),
    };
    let limit = Duration::from_secs(p.start_timeout_secs);
    let t = Instant::now();
    let mut last = String::from("no answer yet");
    while t.elapsed() < limit {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let attempt = Session::connect(
            &p.endpoint,
            tls.as_ref(),
            &config,
            Duration::from_secs(10),
            deadline,
        )
        .and_then(|mut s| Ok((s.status()?, s.members()?)));
        match attempt {
            Ok((st, members)) => match judge(p, min_revision, &st, members) {
                Ok(healthy) => {
                    printer.phase(healthy);
                    return Ok(());
                }
                Err(why) => last = why,
            },
            Err(e) => last = e.to_string(),
        }
        interrupt::check()?;
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(anyhow!(
        "etcd at {} did not become healthy within {}s: {last}",
        p.endpoint,
        p.start_timeout_secs
    ))
    .hint("check the etcd container's log (crictl logs) and raise --start-timeout if it is slow")
}

/// Whether etcd's answer shows it healthy: a leader, at least `min_revision`, and, once
/// restored (`min_revision` set), the planned members and this restore's IDs. `Ok` says so;
/// `Err` says what is still missing.
fn judge(
    p: &Plan,
    min_revision: Option<i64>,
    st: &MemberStatus,
    mut members: Vec<(String, Vec<String>)>,
) -> Result<String, String> {
    members.sort();
    let restored = min_revision.is_some();
    let rev_ok = min_revision.is_none_or(|m| st.revision >= m);
    let members_ok = !restored || members == p.members;
    // The IDs this restore wrote: only its data carries them (a revision can be met by an older
    // restore, or by data that is not this snapshot's).
    let ids_ok = !restored
        || (p.cluster_id.is_none_or(|c| c == st.cluster_id)
            && p.member_id.is_none_or(|m| m == st.member_id));
    if st.leader != 0 && rev_ok && members_ok && ids_ok {
        return Ok(format!(
            "{} is healthy: revision {}, {} member(s), cluster {:x}, member {:x}",
            p.endpoint,
            st.revision,
            members.len(),
            st.cluster_id,
            st.member_id
        ));
    }
    Err(if restored && !ids_ok {
        format!(
            "it serves cluster {:x} member {:x}, not the restored cluster {:x} member {:x}: this \
             is not the restored data",
            st.cluster_id,
            st.member_id,
            p.cluster_id.unwrap_or(0),
            p.member_id.unwrap_or(0)
        )
    } else {
        format!(
            "revision {} (want >= {}), leader {:x}, members {:?}",
            st.revision,
            min_revision.unwrap_or(0),
            st.leader,
            members
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmdline(args: &[&str]) -> Vec<u8> {
        let mut b = args.join("\0").into_bytes();
        b.push(0);
        b
    }

    #[test]
    fn etcd_on_the_data_dir_is_recognised_however_the_flag_is_written() {
        let want = b"/var/lib/etcd".as_slice();
        for args in [
            &["etcd", "--name=cp1", "--data-dir=/var/lib/etcd"][..],
            &["/usr/local/bin/etcd", "--data-dir", "/var/lib/etcd/"],
            &["etcd", "-data-dir=/var/lib/etcd"],
            &["etcd", "-data-dir", "/var/lib/etcd"],
        ] {
            assert!(names_data_dir(&cmdline(args), want), "{args:?}");
        }
        for args in [
            &["etcd", "--data-dir=/var/lib/etcd.before-restore-1"][..],
            &["etcd-backup", "--data-dir=/var/lib/etcd"],
            &["etcd", "--wal-dir=/var/lib/etcd"],
            &["etcd", "--data-dir"],
            &["bash", "-c", "etcd --data-dir=/var/lib/etcd"],
            &[],
        ] {
            assert!(!names_data_dir(&cmdline(args), want), "{args:?}");
        }
    }

    #[test]
    fn a_process_named_etcd_on_the_dir_is_found_in_proc() {
        let dir = tempfile::tempdir().unwrap();
        // argv[0] `etcd`, `--data-dir=DIR` among its arguments; `; :` keeps bash from exec'ing
        // sleep in its place.
        let mut child = std::process::Command::new("bash")
            .arg("-c")
            .arg(r#"exec -a etcd bash -c 'sleep 30; :' x "--data-dir=$0""#)
            .arg(dir.path())
            .spawn()
            .unwrap();
        let t = Instant::now();
        let mut found = Vec::new();
        while t.elapsed() < Duration::from_secs(5) {
            found = etcd_processes(dir.path());
            if !found.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found, vec![child.id()]);
        assert!(etcd_processes(&dir.path().join("other")).is_empty());
    }
}
