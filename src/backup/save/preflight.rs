//! Pre-flight: the status of every endpoint, the member to snapshot from, its alarms and name,
//! and the free space the backup needs, all before a byte is written.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context};

use super::stop::stopped;
use crate::backup::layers::Layers;
use crate::diagnostics::{with_hint, HintExt};
use crate::etcd::{self, ConnectConfig, EtcdError, MemberStatus, Session};
use crate::fsutil;
use crate::output::{human_bytes, Printer};

/// Room left free beyond the snapshot itself, so a backup never fills the disk it shares with
/// etcd or the system.
const FREE_SPACE_RESERVE: u64 = 64 << 20;

/// How the connections are made: the endpoints, their TLS and timeouts, and the run's bound.
pub(super) struct Dial<'a> {
    pub endpoints: &'a [String],
    pub tls: Option<&'a tonic::transport::ClientTlsConfig>,
    pub config: &'a ConnectConfig,
    pub run_timeout: std::time::Duration,
    pub deadline: Instant,
}

/// The member a save snapshots from, as pre-flight found it.
pub(super) struct Member {
    pub session: Session,
    pub status: MemberStatus,
    /// Its name in `member list` (never empty).
    pub name: String,
}

/// An endpoint that answered, and what it said.
pub(super) type Answered = (Session, MemberStatus);

/// Asks every endpoint for its status and picks the member to snapshot from: a voting member,
/// preferring one that has a leader, then the highest raft index, then the order given. Also
/// returns the other voting members that answered, in that order of preference: where
/// [`super::agree`] turns when the chosen member's data differs from the majority's.
pub(super) fn preflight(
    dial: &Dial<'_>,
    printer: &Printer,
) -> anyhow::Result<(Member, Vec<Answered>)> {
    let answered = ask_every_endpoint(dial, printer)?;
    one_cluster(&answered)?;
    let mut ranked = rank(answered)?;
    let (mut session, status) = ranked.remove(0);
    warn_status(&status, printer);
    warn_alarms(&mut session, printer)?;
    let why = if dial.endpoints.len() > 1 {
        " (voting member with the highest raft index)"
    } else {
        ""
    };
    let member = adopt(session, status, why, printer)?;
    Ok((member, ranked))
}

/// Warns about a member without a leader, and about the errors its status reports.
pub(super) fn warn_status(status: &MemberStatus, printer: &Printer) {
    if status.leader == 0 {
        printer.warn(format!(
            "member {:x} at {} has no leader: the cluster has lost quorum, so this snapshot \
             holds what this member had applied (raft index {})",
            status.member_id, status.endpoint, status.raft_index
        ));
    }
    for e in &status.errors {
        printer.warn(format!("{} reports: {e}", status.endpoint));
    }
}

/// Makes `session` the member to snapshot from: asks its name and says it is used (`why`).
pub(super) fn adopt(
    mut session: Session,
    status: MemberStatus,
    why: &str,
    printer: &Printer,
) -> anyhow::Result<Member> {
    // Asked now, before the stream: the sidecar and the store's key need it, and a lookup at
    // the end could be cut short by a signal or --timeout and leave it empty.
    let name = member_name(&mut session, &status)?;
    printer.phase(format!(
        "using {}{why}: member {:x}, etcd {}, revision {}, raft index {}",
        status.endpoint, status.member_id, status.version, status.revision, status.raft_index
    ));
    Ok(Member {
        session,
        status,
        name,
    })
}

/// Connects to each endpoint in turn and asks for its status; those that fail are warned
/// about (when there are others) and skipped. An error when none answered.
fn ask_every_endpoint(dial: &Dial<'_>, printer: &Printer) -> anyhow::Result<Vec<Answered>> {
    let endpoints = dial.endpoints;
    let config = dial.config;
    let mut answered: Vec<Answered> = Vec::new();
    let mut failed: Vec<anyhow::Error> = Vec::new();
    for ep in endpoints {
        printer.detail(format!("connecting to {ep}"));
        let result = Session::connect(ep, dial.tls, config, dial.run_timeout, dial.deadline)
            .and_then(|mut s| s.status().map(|st| (s, st)));
        match result {
            Ok((s, st)) => {
                printer.detail(format!(
                    "{ep}: member {:x}, etcd {}, raft index {}, leader {:x}{}, db {}",
                    st.member_id,
                    st.version,
                    st.raft_index,
                    st.leader,
                    if st.is_learner { ", learner" } else { "" },
                    human_bytes(st.db_size.max(0) as u64)
                ));
                answered.push((s, st));
            }
            Err(e @ (EtcdError::Interrupted(_) | EtcdError::Deadline { .. })) => {
                return Err(stopped(e, "connecting to etcd"))
            }
            Err(e) => {
                let e = match probe_failure(ep, &e, config) {
                    Some(m) => {
                        let hint = m.hint();
                        with_hint(anyhow::Error::new(e).context(m.to_string()), hint)
                    }
                    None => connect_error(e),
                };
                if endpoints.len() > 1 {
                    printer.warn(format!("skipping {ep}: {}", one_line(&e)));
                }
                failed.push(e);
            }
        }
    }
    if answered.is_empty() {
        if failed.len() == 1 {
            return Err(failed.remove(0));
        }
        let all = failed
            .iter()
            .map(|e| format!("\n    {}", one_line(e)))
            .collect::<String>();
        return Err(anyhow!("no endpoint answered:{all}")).hint(
            "check that etcd is running and that --endpoints and the certificates are right",
        );
    }
    Ok(answered)
}

/// Refuses endpoints that belong to more than one cluster.
fn one_cluster(answered: &[Answered]) -> anyhow::Result<()> {
    let mut clusters: std::collections::BTreeMap<u64, Vec<&str>> = Default::default();
    for (_, st) in answered {
        clusters
            .entry(st.cluster_id)
            .or_default()
            .push(&st.endpoint);
    }
    if clusters.len() > 1 {
        let which = clusters
            .iter()
            .map(|(id, eps)| format!("\n    cluster {id:x}: {}", eps.join(", ")))
            .collect::<String>();
        return Err(anyhow!(
            "the endpoints belong to {} different clusters:{which}",
            clusters.len()
        ))
        .hint(
            "list the client URLs of one cluster's members only (`etcdctl endpoint status -w \
             table` shows each endpoint's cluster ID)",
        );
    }
    Ok(())
}

/// The voting members, best to snapshot from first: one that has a leader, then the highest raft
/// index, then the order given. An error when only learners answered.
fn rank(answered: Vec<Answered>) -> anyhow::Result<Vec<Answered>> {
    let learners: Vec<String> = answered
        .iter()
        .filter(|(_, st)| st.is_learner)
        .map(|(_, st)| format!("{} (member {:x})", st.endpoint, st.member_id))
        .collect();
    let mut voting: Vec<(usize, Answered)> = answered
        .into_iter()
        .enumerate()
        .filter(|(_, (_, st))| !st.is_learner)
        .collect();
    voting.sort_by_key(|(i, (_, st))| {
        std::cmp::Reverse((st.leader != 0, st.raft_index, std::cmp::Reverse(*i)))
    });
    if voting.is_empty() {
        return Err(anyhow!(
            "refusing to snapshot from a learner: {}",
            learners.join(", ")
        ))
        .hint("a learner may lag behind the cluster; point --endpoints at a voting member");
    }
    Ok(voting.into_iter().map(|(_, a)| a).collect())
}

/// Warns about each active alarm, with what it means for the snapshot.
fn warn_alarms(session: &mut Session, printer: &Printer) -> anyhow::Result<()> {
    match session.alarms() {
        Ok(alarms) => {
            for a in alarms {
                let advice = match a.kind.as_str() {
                    "NOSPACE" => {
                        ": etcd refuses writes until space is freed (compact, defragment, then \
                         `etcdctl alarm disarm`); the snapshot still holds all data"
                    }
                    "CORRUPT" => ": a member's data may be corrupt; keep older backups",
                    _ => "",
                };
                printer.warn(format!("active alarm {a}{advice}"));
            }
        }
        Err(e @ (EtcdError::Interrupted(_) | EtcdError::Deadline { .. })) => {
            return Err(stopped(e, "connecting to etcd"))
        }
        Err(e) => printer.warn(format!("cannot list alarms: {}", one_line(&e.into()))),
    }
    Ok(())
}

/// The chosen member's name in `member list`; an error when it has none yet.
fn member_name(session: &mut Session, status: &MemberStatus) -> anyhow::Result<String> {
    match session.member_name(status.member_id) {
        Ok(Some(n)) if !n.is_empty() => Ok(n),
        Ok(_) => Err(anyhow!(
            "member {:x} at {} has no name in `member list`",
            status.member_id,
            status.endpoint
        ))
        .hint(
            "the member has not finished joining the cluster; wait until `etcdctl member \
             list` shows its name, or point --endpoints at another member",
        ),
        Err(e @ (EtcdError::Interrupted(_) | EtcdError::Deadline { .. })) => {
            Err(stopped(e, "connecting to etcd"))
        }
        Err(e) => Err(connect_error(e)).context(format!(
            "cannot read the name of member {:x} from {}",
            status.member_id, status.endpoint
        )),
    }
}

/// `--skip-unless-leader`: when another member leads, the skip to report (nothing is saved);
/// with no leader at all this member takes the backup, with a warning.
pub(super) fn not_the_leader(status: &MemberStatus, printer: &Printer) -> Option<super::Skipped> {
    if status.leader == 0 {
        printer.warn(format!(
            "--skip-unless-leader: there is no leader, so member {:x} takes the backup",
            status.member_id
        ));
        None
    } else if status.leader != status.member_id {
        Some(super::Skipped {
            member_id: status.member_id,
            leader: status.leader,
            endpoint: status.endpoint.clone(),
        })
    } else {
        None
    }
}

/// Refuses to start when `dir` lacks room for the backup (and, for a layered file, the scratch
/// copy its check reads through) plus [`FREE_SPACE_RESERVE`].
pub(super) fn check_free_space(
    dir: &Path,
    status: &MemberStatus,
    layers: Layers,
) -> anyhow::Result<()> {
    // A layered file is checked through a scratch copy of the snapshot in the same directory.
    let db_size = u64::try_from(status.db_size).unwrap_or(0);
    let scratch = if layers.is_plain() { 0 } else { db_size + 32 };
    let need = db_size + 32 + scratch + FREE_SPACE_RESERVE;
    let free = fsutil::available_space(dir)?;
    if free < need {
        return Err(anyhow!(
            "not enough free space in {}: {} available, need {} (etcd db {} + {} reserve)",
            dir.display(),
            human_bytes(free),
            human_bytes(need),
            human_bytes(status.db_size.max(0) as u64),
            human_bytes(FREE_SPACE_RESERVE)
        ))
        .hint(format!(
            "free space in {} (remove old backups) or point --backup-dir at a larger \
             file system",
            dir.display()
        ));
    }
    Ok(())
}

/// The whole cause chain on one line, for warnings.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

/// For a failure that could be a misdirected endpoint (an answer, then a closed connection),
/// finds out what listens there instead: a TLS port named http://, or etcd's peer port.
fn probe_failure(
    ep: &str,
    e: &EtcdError,
    config: &ConnectConfig,
) -> Option<etcd::probe::Misdirected> {
    match e {
        EtcdError::Connect { .. } | EtcdError::Rpc { .. } => {
            etcd::probe::misdirected(ep, &config.tls, config.dial_timeout)
        }
        _ => None,
    }
}

/// Adds advice to a connection or status failure, based on what the TLS/transport layer said.
pub(super) fn connect_error(e: EtcdError) -> anyhow::Error {
    let text = chain_text(&e);
    let hint = match &e {
        EtcdError::ConnectTimeout { .. } | EtcdError::Stalled { .. } => {
            "etcd did not answer: check that it is running and not overloaded, and that \
             --endpoints is right (raise --dial-timeout for slow links)"
        }
        _ if text.contains("UnknownIssuer")
            || text.contains("BadSignature")
            || text.contains("certificate verify failed") =>
        {
            "etcd's serving certificate is not signed by --cacert; on a kubeadm node use \
             /etc/kubernetes/pki/etcd/ca.crt"
        }
        _ if text.contains("NotValidForName") || text.contains("not valid for name") => {
            "etcd's certificate does not cover this host name or IP; connect with a name or \
             IP listed in its SANs (kubeadm certs include 127.0.0.1 and localhost)"
        }
        _ if text.contains("BadCertificate")
            || text.contains("CertificateRequired")
            || text.contains("UnknownCA")
            || text.contains("bad certificate") =>
        {
            "etcd rejected the client certificate; use a certificate signed by etcd's CA \
             (--cert/--key), e.g. /etc/kubernetes/pki/etcd/server.crt and server.key"
        }
        // With TLS 1.3 the server checks the client certificate after the handshake and just
        // drops the connection, so a rejected certificate shows up on the first request.
        // Which of these the client sees depends on a race with the server's close.
        EtcdError::Rpc { .. }
            if text.contains("broken pipe")
                || text.contains("BrokenPipe")
                || text.contains("ConnectionReset")
                || text.contains("connection closed") =>
        {
            "etcd closed the connection on the first request, which is what it does when it \
             rejected the client certificate; use a certificate signed by etcd's CA \
             (--cert/--key), e.g. /etc/kubernetes/pki/etcd/server.crt and server.key"
        }
        _ if text.contains("Connection refused") || text.contains("connection refused") => {
            "nothing listens there: check that etcd is running and that --endpoints is right"
        }
        _ => "check that etcd is running and that --endpoints and the certificates are right",
    };
    with_hint(e, hint)
}

/// Every message and debug form in an error chain, to recognise TLS failures by their names.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut cur = Some(e);
    while let Some(c) = cur {
        text.push_str(&format!("{c} {c:?} "));
        cur = c.source();
    }
    text
}
