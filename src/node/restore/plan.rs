//! The plan of a node restore: the snapshot verified, the node read, the new cluster decided,
//! all fixed before the first step runs; and how it is printed.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::backup::verify;
use crate::bbolt::Db;
use crate::datadir::build as data_restore;
use crate::datadir::member;
use crate::diagnostics::HintExt;
use crate::etcd;
use crate::fsutil::{self, FsError};
use crate::node::manifest::EtcdManifest;
use crate::output::Printer;

use super::Options;

/// Everything the steps need, fixed before the first one runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub snapshot: PathBuf,
    pub node_name: String,
    pub manifests_dir: PathBuf,
    pub staging_dir: PathBuf,
    /// Manifest file names moved out and back (`etcd.yaml`, `kube-apiserver.yaml` if present).
    pub manifests: Vec<String>,
    pub data_dir: PathBuf,
    pub new_dir: PathBuf,
    pub aside_dir: PathBuf,
    pub failed_dir: PathBuf,
    pub kubelet_service: String,
    pub endpoint: String,
    pub cacert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The new cluster: (name, peer URLs), sorted by name.
    pub members: Vec<(String, Vec<String>)>,
    pub token: String,
    pub bump: Option<u64>,
    pub keep_alarms: bool,
    pub skip_hash_check: bool,
    /// The snapshot's revision (newest of its keys and compaction marks).
    pub snapshot_revision: i64,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub stop_timeout_secs: u64,
    pub start_timeout_secs: u64,
    /// The data dir is a mount point (a dedicated disk), which cannot be renamed: its `member/`
    /// is swapped inside it instead, and `new_dir` is the build inside it.
    #[serde(default)]
    pub inside_mount: bool,
    /// The IDs this restore writes: the restored etcd must report them, which proves that it
    /// serves this restore's data and not an older one. Absent in journals of older versions.
    #[serde(default)]
    pub cluster_id: Option<u64>,
    #[serde(default)]
    pub member_id: Option<u64>,
}

impl Plan {
    /// What move-aside and move-into-place swap: the data dir, or its `member/` in a mount point.
    pub(crate) fn live(&self) -> PathBuf {
        if self.inside_mount {
            self.data_dir.join("member")
        } else {
            self.data_dir.clone()
        }
    }

    /// The plan with the cluster and member IDs its build will write.
    fn with_ids(mut self) -> anyhow::Result<Plan> {
        let c = self.cluster()?;
        self.cluster_id = Some(c.cluster_id);
        self.member_id = Some(c.members[c.local].id);
        Ok(self)
    }

    /// The new cluster as the build writes it.
    pub(crate) fn cluster(&self) -> anyhow::Result<member::Cluster> {
        let members: Vec<String> = self
            .members
            .iter()
            .flat_map(|(n, us)| us.iter().map(move |u| format!("{n}={u}")))
            .collect();
        let local = self
            .members
            .iter()
            .find(|(n, _)| *n == self.node_name)
            .map(|(_, u)| u.join(","))
            .unwrap_or_default();
        member::build_cluster(&self.node_name, &members.join(","), &local, &self.token)
            .map_err(|e| anyhow!("invalid cluster: {e}"))
    }

    /// The restored counterpart of [`Plan::live`] once built.
    pub(crate) fn new_unit(&self) -> PathBuf {
        if self.inside_mount {
            self.new_dir.join("member")
        } else {
            self.new_dir.clone()
        }
    }

    /// The directory the swaps happen in (fsynced after each).
    pub(super) fn swap_parent(&self) -> PathBuf {
        fsutil::parent_dir(&self.live())
    }

    /// In a mount point, the build dir once its `member/` has gone (moved into place or aside).
    pub(super) fn remove_empty_build_dir(&self) -> anyhow::Result<()> {
        if self.inside_mount {
            match std::fs::remove_dir(&self.new_dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(FsError::io("cannot remove", &self.new_dir, e).into()),
            }
        }
        Ok(())
    }

    /// The revision etcd must serve at least once restored.
    pub(crate) fn expect_revision(&self) -> i64 {
        self.snapshot_revision
            .saturating_add(self.bump.map_or(0, |b| b as i64))
    }
}

/// Pre-flight: the snapshot verified, the node's settings read, the new cluster decided.
pub(super) fn plan(
    opts: &Options<'_>,
    manifest: &EtcdManifest,
    snapshot: &Path,
    data_dir: &Path,
    printer: &Printer,
) -> anyhow::Result<Plan> {
    let (sha256, revision, storage) = verified(snapshot, opts.skip_hash_check, printer)?;
    check_versions(
        snapshot,
        storage.as_deref(),
        manifest,
        opts.skip_version_check,
        printer,
    )?;
    let (inside_mount, meta) = live_data(data_dir)?;
    let node_name = opts
        .cluster
        .name
        .clone()
        .or_else(|| manifest.flag("name").map(str::to_string))
        .unwrap_or_else(|| "default".into());
    // A new token, the same on every node restored from this file: the new cluster then has a
    // new cluster ID, and members of the old cluster still running elsewhere (an HA node not
    // yet restored) are refused by the restored ones instead of replicating old data to them.
    let token = opts
        .cluster
        .initial_cluster_token
        .clone()
        .unwrap_or_else(|| format!("etcd-backup-restore-{}", &hex::encode(sha256)[..16]));
    let members = new_members(opts, manifest, snapshot, &node_name, &token, printer)?;

    let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    // Beside the data dir, or for a mount point inside it (etcd 3.4 and 3.5 start with such
    // entries in their data dir and only warn "found invalid file under data directory").
    let sibling = |suffix: &str| {
        if inside_mount {
            match suffix {
                "restored" => data_dir.join(format!("etcd-backup-restored-{stamp}")),
                other => data_dir.join(format!("member.{other}-{stamp}")),
            }
        } else {
            let mut p = data_dir.as_os_str().to_owned();
            p.push(format!(".{suffix}-{stamp}"));
            PathBuf::from(p)
        }
    };
    let manifests_dir = opts.manifests_dir.clone();
    let staging_dir =
        fsutil::parent_dir(&manifests_dir).join(format!("etcd-backup-staging-{stamp}"));
    let manifests = manifests_to_move(&manifests_dir)?;
    let endpoint = etcd::normalize_endpoint(
        &manifest
            .client_url()
            .unwrap_or_else(|| "https://127.0.0.1:2379".to_string()),
    )?;
    let bump = data_restore::bump_of(&opts.bump)?;
    Plan {
        snapshot: std::fs::canonicalize(snapshot).unwrap_or_else(|_| snapshot.to_path_buf()),
        node_name,
        manifests_dir,
        staging_dir,
        manifests,
        data_dir: data_dir.to_path_buf(),
        new_dir: sibling("restored"),
        aside_dir: sibling("before-restore"),
        failed_dir: sibling("failed-restore"),
        kubelet_service: opts.kubelet_service.clone(),
        endpoint,
        cacert: opts.tls.cacert.clone(),
        cert: opts.tls.cert.clone(),
        key: opts.tls.key.clone(),
        members,
        token,
        bump,
        keep_alarms: opts.keep_alarms,
        skip_hash_check: opts.skip_hash_check,
        snapshot_revision: revision,
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode() & 0o7777,
        stop_timeout_secs: opts.stop_timeout.as_secs().max(1),
        start_timeout_secs: opts.start_timeout.as_secs().max(1),
        inside_mount,
        cluster_id: None,
        member_id: None,
    }
    .with_ids()
}

/// The snapshot verified in full: its SHA-256, the revision etcd starts from (the newest key or
/// compaction mark), and its storage version (`meta/storageVersion`, etcd 3.6+).
fn verified(
    snapshot: &Path,
    skip_hash_check: bool,
    printer: &Printer,
) -> anyhow::Result<([u8; 32], i64, Option<String>)> {
    printer.phase(format!("verifying {}", snapshot.display()));
    let verdict = verify::verify_file(snapshot, verify::Content::Sha256, skip_hash_check, true)?;
    if !verdict.ok() {
        let list: String = verdict
            .problems
            .iter()
            .map(|p| format!("\n    {p}"))
            .collect();
        return Err(anyhow!("{} fails verification:{list}", snapshot.display()))
            .hint("restore an older backup (`etcd-backup verify --all` lists the good ones)");
    }
    let revision = verdict
        .status
        .as_ref()
        .map_or(0, |s| s.revision)
        .max(crate::datadir::db::compacted(&Db::open(snapshot)?)?);
    let storage = verdict.status.as_ref().and_then(|s| s.version.clone());
    Ok((verdict.sha256, revision, storage))
}

/// Warns when the Kubernetes version the backup's DR bundle recorded (`then`, the kube-apiserver
/// image's tag) is not the one this node's kube-apiserver manifest runs now.
pub(super) fn warn_kubernetes_skew(then: &str, manifests_dir: &Path, printer: &Printer) {
    let path = manifests_dir.join("kube-apiserver.yaml");
    let now = match EtcdManifest::load_pod(&path, "kube-apiserver") {
        Ok(Some(pod)) => pod
            .image
            .as_deref()
            .and_then(crate::node::manifest::image_tag)
            .map(str::to_string),
        _ => None,
    };
    let Some(now) = now.filter(|now| now != then) else {
        return;
    };
    let older = crate::node::manifest::semver_prefix(now.trim_start_matches('v'))
        < crate::node::manifest::semver_prefix(then.trim_start_matches('v'));
    printer.warn(format!(
        "this backup was taken under Kubernetes {then} (its DR bundle records it) and {} runs \
         {now}{}",
        path.display(),
        if older {
            ": an older kube-apiserver may not read what a newer one stored; restore under \
             the version the backup was taken with"
        } else {
            ": the restored objects keep the storage versions the older one wrote (the newer \
             kube-apiserver reads them)"
        }
    ));
}

/// Refuses, before anything stops, a snapshot whose storage version (etcd 3.6+ writes
/// `meta/storageVersion`) is a newer minor than the etcd of this node's manifest: etcd 3.6+
/// validates it at start (`schema.Validate`) and will not run on it, and a 3.5 or older etcd
/// does not know the 3.6 schema (etcd downgrades data only through `etcdctl downgrade`). Files
/// without a storage version (3.4, 3.5) start under any etcd 3.4+ once restored.
fn check_versions(
    snapshot: &Path,
    storage: Option<&str>,
    manifest: &EtcdManifest,
    skip: bool,
    printer: &Printer,
) -> anyhow::Result<()> {
    let Some(raw) = storage else {
        return Ok(());
    };
    let Some((sm, sn, _)) = crate::node::manifest::semver_prefix(raw) else {
        printer.warn(format!(
            "{} has a storage version etcd-backup cannot read ({raw:?}); not checked against \
             the manifest's etcd",
            snapshot.display()
        ));
        return Ok(());
    };
    let image = manifest.image.as_deref().unwrap_or("(none)");
    let Some((tm, tn, tp)) = manifest
        .image
        .as_deref()
        .and_then(crate::node::manifest::image_version)
    else {
        printer.warn(format!(
            "cannot tell which etcd {} runs (image {image}); {} needs etcd {sm}.{sn} or newer",
            manifest.path.display(),
            snapshot.display()
        ));
        return Ok(());
    };
    if (tm, tn) >= (sm, sn) {
        return Ok(());
    }
    let what = format!(
        "{} holds etcd {sm}.{sn} data (storage version {raw}) and {} runs etcd {tm}.{tn}.{tp} \
         ({image}): etcd does not start on data of a newer minor version",
        snapshot.display(),
        manifest.path.display()
    );
    if skip {
        printer.warn(format!("{what}; restoring anyway (--skip-version-check)"));
        return Ok(());
    }
    Err(anyhow!("{what}")).hint(format!(
        "nothing was changed. Set the manifest's image to etcd {sm}.{sn} or newer first (as \
         `kubeadm upgrade` would), or restore a backup taken before the upgrade to {sm}.{sn}; \
         --skip-version-check restores anyway"
    ))
}

/// Whether the data dir is a mount point, and the metadata of what the swap replaces (the dir,
/// or its `member/` in a mount point).
fn live_data(data_dir: &Path) -> anyhow::Result<(bool, std::fs::Metadata)> {
    std::fs::metadata(data_dir)
        .map_err(|e| FsError::io("cannot read the data dir", data_dir, e))
        .hint("check --data-dir (or the manifest's --data-dir and its hostPath volume)")?;
    // A mount point (a dedicated etcd disk) cannot be renamed: swap its member/ instead.
    let inside_mount = fsutil::is_mount_point(data_dir)?;
    let live = if inside_mount {
        data_dir.join("member")
    } else {
        data_dir.to_path_buf()
    };
    let meta = std::fs::metadata(&live)
        .map_err(|e| FsError::io("cannot read", &live, e))
        .hint(if inside_mount {
            format!(
                "{} is a mount point without etcd data (member/) to replace; to build a data \
                 dir into it, stop etcd and use `etcd-backup restore SNAPSHOT --output-dir {}`",
                data_dir.display(),
                data_dir.display()
            )
        } else {
            "check --data-dir (or the manifest's --data-dir and its hostPath volume)".to_string()
        })?;
    Ok((inside_mount, meta))
}

/// The new cluster's members, (name, peer URLs) sorted by name: from the flags if given, else
/// the members recorded in the snapshot, so that every node restored from the same file
/// computes the same cluster.
fn new_members(
    opts: &Options<'_>,
    manifest: &EtcdManifest,
    snapshot: &Path,
    node_name: &str,
    token: &str,
    printer: &Printer,
) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let cluster = if opts.cluster.initial_cluster.is_some() {
        data_restore::cluster_of(&opts.cluster, Some(manifest), printer)?
    } else {
        let recorded = members_in(snapshot)?;
        let Some((_, urls)) = recorded.iter().find(|(n, _)| *n == node_name) else {
            let names: Vec<&str> = recorded.iter().map(|(n, _)| n.as_str()).collect();
            return Err(anyhow!(
                "this node's member name {node_name:?} is not among the members recorded in the \
                 snapshot ({})",
                names.join(", ")
            ))
            .hint("pass --initial-cluster NAME=URL,.. (and --name) for the new cluster");
        };
        let initial: Vec<String> = recorded
            .iter()
            .flat_map(|(n, us)| us.iter().map(move |u| format!("{n}={u}")))
            .collect();
        member::build_cluster(node_name, &initial.join(","), &urls.join(","), token)
            .map_err(|e| anyhow!("the snapshot's members do not make a valid cluster: {e}"))
            .hint("pass --initial-cluster NAME=URL,.. for the new cluster")?
    };
    let mut members: Vec<(String, Vec<String>)> = cluster
        .members
        .iter()
        .map(|m| (m.name.clone(), m.peer_urls.clone()))
        .collect();
    members.sort();
    Ok(members)
}

/// The manifests the restore moves out and back: `etcd.yaml`, which must be there, and
/// `kube-apiserver.yaml` if present.
fn manifests_to_move(manifests_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut manifests = vec!["etcd.yaml".to_string()];
    if manifests_dir.join("kube-apiserver.yaml").exists() {
        manifests.push("kube-apiserver.yaml".to_string());
    }
    if !manifests_dir.join("etcd.yaml").exists() {
        return Err(anyhow!("{} has no etcd.yaml", manifests_dir.display()))
            .hint("pass --manifests-dir (kubeadm's is /etc/kubernetes/manifests)");
    }
    Ok(manifests)
}

/// (name, sorted peer URLs) of the voting members in the snapshot's `members` bucket.
fn members_in(snapshot: &Path) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    #[derive(Deserialize)]
    struct M {
        #[serde(default)]
        name: String,
        #[serde(rename = "peerURLs", default)]
        peer_urls: Vec<String>,
        #[serde(rename = "isLearner", default)]
        is_learner: bool,
    }
    let db = Db::open(snapshot)?;
    let mut out = Vec::new();
    db.walk_bucket(b"members", &mut |e| {
        if e.is_bucket {
            return;
        }
        if let Ok(m) = serde_json::from_slice::<M>(e.value) {
            if !m.is_learner {
                let mut urls = m.peer_urls;
                urls.sort();
                out.push((m.name, urls));
            }
        }
    })?;
    out.sort();
    if out.is_empty() {
        return Err(anyhow!("{} records no members", snapshot.display()))
            .hint("pass --initial-cluster NAME=URL,.. for the new cluster");
    }
    Ok(out)
}

pub(super) fn print_plan(p: &Plan, journal: &Path, printer: &Printer) {
    let members: Vec<String> = p
        .members
        .iter()
        .map(|(n, u)| format!("{n}={}", u.join(",")))
        .collect();
    let bump = match p.bump {
        Some(b) => format!(
            "revision {} bumped by {b} to {}",
            p.snapshot_revision,
            p.expect_revision()
        ),
        None => format!("revision {} (no bump)", p.snapshot_revision),
    };
    let lines = [
        format!(
            "restore plan for node {} from {}:",
            p.node_name,
            p.snapshot.display()
        ),
        format!(
            "  1 build                new data dir {} (members {}, token {}, {bump})",
            p.new_dir.display(),
            members.join(","),
            p.token
        ),
        format!(
            "  2 stop-control-plane   move {} from {} to {}; wait until etcd lets go of {} and {} \
             is closed (at most {}s); systemctl stop {}",
            p.manifests.join(" and "),
            p.manifests_dir.display(),
            p.staging_dir.display(),
            p.data_dir.join("member/snap/db").display(),
            p.endpoint,
            p.stop_timeout_secs,
            p.kubelet_service
        ),
        format!(
            "  3 move-aside           {} -> {} (kept)",
            p.live().display(),
            p.aside_dir.display()
        ),
        format!(
            "  4 move-into-place      owner {}:{} mode {:o}; {} -> {}",
            p.uid,
            p.gid,
            p.mode,
            p.new_unit().display(),
            p.live().display()
        ),
        format!(
            "  5 start-control-plane  manifests back to {}; systemctl start {}",
            p.manifests_dir.display(),
            p.kubelet_service
        ),
        format!(
            "  6 wait-healthy         {} healthy with revision >= {}, members {}, cluster ID {} \
             and member ID {} (this restore's; at most {}s)",
            p.endpoint,
            p.expect_revision(),
            members.join(","),
            p.cluster_id.map_or("?".into(), |c| format!("{c:x}")),
            p.member_id.map_or("?".into(), |m| format!("{m:x}")),
            p.start_timeout_secs
        ),
        format!("  journal: {}", journal.display()),
    ];
    if p.inside_mount {
        printer.result(format!(
            "{} is a mount point, which cannot be renamed: the restore swaps its member/ inside \
             it, on the same file system",
            p.data_dir.display()
        ));
    }
    for l in lines {
        printer.result(l);
    }
}
