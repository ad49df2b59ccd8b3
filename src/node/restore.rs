//! `etcd-backup restore SNAPSHOT` on a kubeadm control-plane node: a restore that really takes
//! effect and can always be undone.
//!
//! Steps, each journaled before and after in `/etc/kubernetes/etcd-backup-restore-journal.json`
//! (beside the manifests dir), each idempotent
//! (it looks at the disk to see what is already done), so `--resume` can run any of them again:
//!
//! 1. `build`: the new data dir, natively, at `<data-dir>.restored-<time>` (same file system);
//! 2. `stop-control-plane`: `etcd.yaml` and `kube-apiserver.yaml` moved out of the manifests dir
//!    into a staging dir; wait until etcd has let go of `member/snap/db` (a non-blocking flock
//!    probe, docs/formats.md §7.2) and its client port is closed; `systemctl stop kubelet`.
//!    Stopping the kubelet alone would leave the static pods running on the old data;
//! 3. `move-aside`: the old data dir to `<data-dir>.before-restore-<time>`, never deleted;
//! 4. `move-into-place`: the new dir gets the old one's owner, group and mode, and its name;
//! 5. `start-control-plane`: the manifests back, `systemctl start kubelet`;
//! 6. `wait-healthy`: etcd answers over TLS with at least the snapshot's revision plus the bump,
//!    the planned members, and this restore's cluster and member IDs.
//!
//! A data dir that is a mount point (a dedicated disk) cannot be renamed: there the build goes
//! to `<data-dir>/etcd-backup-restored-<time>`, and steps 3 and 4 swap `member/` inside it
//! (`<data-dir>/member.before-restore-<time>`), all on the disk ([`Plan::live`]). etcd starts
//! with such entries in its data dir and only warns (docs/restore.md).
//!
//! `--data-dir` must be the dir the manifest's etcd uses: any other is refused before anything
//! stops. Step 6 also checks the cluster and member IDs this restore wrote.
//!
//! A failure in steps 2-6 rolls back on its own: control plane stopped again, the new dir moved
//! to `<data-dir>.failed-restore-<time>`, the old dir back, manifests back, kubelet started, etcd
//! waited for. `--rollback` does the same for an interrupted run; `--resume` finishes it.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backup::verify;
use crate::bbolt::Db;
use crate::cli::{LogFormat, RestoreArgs};
use crate::datadir::build::{self as data_restore, Build};
use crate::datadir::member;
use crate::diagnostics::{exit, HintExt};
use crate::etcd::{self, ConnectConfig, EtcdError, Session, TlsFiles};
use crate::fsutil::{self, FsError};
use crate::node::interrupt;
use crate::output::Printer;
use crate::settings::Settings;

/// The steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Build,
    StopControlPlane,
    MoveAside,
    MoveIntoPlace,
    StartControlPlane,
    WaitHealthy,
}

pub const STEPS: [Step; 6] = [
    Step::Build,
    Step::StopControlPlane,
    Step::MoveAside,
    Step::MoveIntoPlace,
    Step::StartControlPlane,
    Step::WaitHealthy,
];

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Build => "build",
            Step::StopControlPlane => "stop-control-plane",
            Step::MoveAside => "move-aside",
            Step::MoveIntoPlace => "move-into-place",
            Step::StartControlPlane => "start-control-plane",
            Step::WaitHealthy => "wait-healthy",
        }
    }
}

/// Everything the steps need, fixed before the first one runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
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
    pub fn live(&self) -> PathBuf {
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
    pub fn cluster(&self) -> anyhow::Result<member::Cluster> {
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
    pub fn new_unit(&self) -> PathBuf {
        if self.inside_mount {
            self.new_dir.join("member")
        } else {
            self.new_dir.clone()
        }
    }

    /// The directory the swaps happen in (fsynced after each).
    fn swap_parent(&self) -> PathBuf {
        fsutil::parent_dir(&self.live())
    }

    /// In a mount point, the build dir once its `member/` has gone (moved into place or aside).
    fn remove_empty_build_dir(&self) -> anyhow::Result<()> {
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
    pub fn expect_revision(&self) -> i64 {
        self.snapshot_revision
            .saturating_add(self.bump.map_or(0, |b| b as i64))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Running,
    Finished,
    RolledBack,
    /// A rollback did not finish either: the operator must look (exit 3).
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub format_version: u32,
    pub tool_version: String,
    pub started_at: DateTime<Utc>,
    pub plan: Plan,
    pub state: State,
    pub done: Vec<Step>,
    /// The step under way (started, not recorded as done).
    pub current: Option<Step>,
    /// When the control plane went down (step 2 began).
    pub down_at: Option<DateTime<Utc>>,
    pub events: Vec<String>,
    #[serde(skip)]
    path: PathBuf,
}

/// `etcd-backup-restore-journal.json` beside the manifests dir (`/etc/kubernetes/`).
pub fn journal_path(manifests_dir: &Path) -> PathBuf {
    fsutil::parent_dir(manifests_dir).join("etcd-backup-restore-journal.json")
}

impl Journal {
    fn load(path: &Path) -> anyhow::Result<Journal> {
        let bytes = std::fs::read(path).map_err(|e| FsError::io("cannot read journal", path, e))?;
        let mut j: Journal = serde_json::from_slice(&bytes)
            .with_context(|| format!("journal {} is not valid", path.display()))?;
        j.path = path.to_path_buf();
        Ok(j)
    }

    fn save(&self) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        fsutil::write_atomic(&self.path, &bytes, true)?;
        Ok(())
    }

    fn event(&mut self, printer: &Printer, msg: String) {
        printer.phase(&msg);
        self.events
            .push(format!("{} {msg}", Utc::now().to_rfc3339()));
    }
}

/// A failure the tests can inject: `ETCD_BACKUP_FAILPOINT=<step>` fails that step before it
/// starts; `<step>:hang` hangs right after it is journaled as done (to be killed).
fn failpoint(step: Step, after: bool) -> anyhow::Result<()> {
    let Ok(fp) = std::env::var("ETCD_BACKUP_FAILPOINT") else {
        return Ok(());
    };
    let (name, hang) = match fp.split_once(':') {
        Some((n, "hang")) => (n, true),
        _ => (fp.as_str(), false),
    };
    if name != step.name() {
        return Ok(());
    }
    if hang && after {
        // Until killed, or until a signal the handler records (then the next step stops).
        let t = Instant::now();
        while interrupt::received().is_none() && t.elapsed() < Duration::from_secs(3600) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if !hang && !after {
        return Err(anyhow!(
            "injected failure at step {name} (ETCD_BACKUP_FAILPOINT)"
        ));
    }
    Ok(())
}

pub fn run(settings: &Settings, printer: &Printer, args: &RestoreArgs) -> anyhow::Result<u8> {
    // The journal lives beside the manifests dir, so that it is found while etcd.yaml is
    // moved out.
    let jpath = journal_path(&args.manifests_dir);
    if args.resume || args.rollback {
        let mut j = Journal::load(&jpath).hint(format!(
            "there is no restore to {} here (its journal would be {}; see --manifests-dir)",
            if args.resume { "resume" } else { "roll back" },
            jpath.display()
        ))?;
        if j.state != State::Running && j.state != State::Failed {
            return Err(anyhow!(
                "the restore journaled in {} is {:?}, not interrupted",
                jpath.display(),
                j.state
            ))
            .hint("nothing to do");
        }
        return if args.rollback {
            finish_rollback(&mut j, printer)
        } else {
            printer.phase(format!(
                "resuming the restore journaled in {}",
                jpath.display()
            ));
            execute(&mut j, printer)
        };
    }
    if let Ok(j) = Journal::load(&jpath) {
        if matches!(j.state, State::Running | State::Failed) {
            return Err(anyhow!(
                "another restore is open on this node (journal {}, started {})",
                jpath.display(),
                j.started_at
            ))
            .hint("finish it with `etcd-backup restore --resume --yes` or undo it with `etcd-backup restore --rollback --yes`");
        }
    }
    let Some(manifest) = settings.manifest.as_ref() else {
        return Err(anyhow!(
            "no kubeadm etcd manifest at {}, so there is no node to restore",
            settings.manifest_path.display()
        ))
        .hint(
            "on a kubeadm node point --manifest at etcd.yaml; to build a data dir anywhere, \
             use --output-dir DIR",
        );
    };
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| settings.data_dir())
        .ok_or_else(|| anyhow!("{} has no --data-dir", manifest.path.display()))
        .hint("pass --data-dir")?;
    // etcd opens only the manifest's data dir: a restore into another would stop the control
    // plane for data nobody reads (the etcdutl habit `--data-dir /var/lib/etcd-from-backup`).
    if let (Some(given), Some(used)) = (&args.data_dir, settings.data_dir()) {
        if !data_restore::same_dir(given, &used) {
            return Err(anyhow!(
                "--data-dir {} is not the data dir this node's etcd uses: {} runs it on {}",
                given.display(),
                manifest.path.display(),
                used.display()
            ))
            .hint(format!(
                "nothing was changed. To replace this node's etcd data, leave --data-dir out (or \
                 pass {}); to build a data dir elsewhere without touching the node, use \
                 `etcd-backup restore SNAPSHOT --output-dir {}`",
                used.display(),
                given.display()
            ));
        }
    }

    let Some(snapshot) = &args.snapshot else {
        return Err(anyhow!("no snapshot file given")).hint("name the snapshot to restore");
    };
    let input = data_restore::Input::resolve(
        snapshot,
        args,
        &crate::fsutil::parent_dir(&data_dir),
        printer,
    )?;
    let plan = plan(settings, args, &input.path, &data_dir, printer)?;
    print_plan(&plan, &jpath, printer);
    if args.dry_run {
        printer.result("dry run: nothing was changed");
        return Ok(exit::SUCCESS);
    }
    if !confirm(&plan, args.yes)? {
        printer.warn("not confirmed; nothing was changed");
        return Ok(exit::NO);
    }
    let mut j = Journal {
        format_version: 1,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: Utc::now(),
        plan,
        state: State::Running,
        done: Vec::new(),
        current: None,
        down_at: None,
        events: Vec::new(),
        path: jpath,
    };
    j.save()?;
    let result = execute(&mut j, printer);
    if input.is_copy() && !matches!(result, Ok(exit::SUCCESS)) && j.state != State::RolledBack {
        // --resume needs the snapshot again; the copy is plain, so say where it is.
        let kept = input.keep();
        printer.warn(format!(
            "the decrypted snapshot is kept at {} for --resume; remove it when done",
            kept.display()
        ));
    }
    result
}

/// Pre-flight: the snapshot verified, the node's settings read, the new cluster decided.
fn plan(
    settings: &Settings,
    args: &RestoreArgs,
    snapshot: &Path,
    data_dir: &Path,
    printer: &Printer,
) -> anyhow::Result<Plan> {
    let manifest = settings.manifest.as_ref().expect("checked by the caller");
    printer.phase(format!("verifying {}", snapshot.display()));
    let verdict = verify::verify_file(
        snapshot,
        verify::Content::Sha256,
        args.skip_hash_check,
        true,
    )?;
    if !verdict.ok() {
        let list: String = verdict
            .problems
            .iter()
            .map(|p| format!("\n    {p}"))
            .collect();
        return Err(anyhow!("{} fails verification:{list}", snapshot.display()))
            .hint("restore an older backup (`etcd-backup verify --all` lists the good ones)");
    }
    // The revision etcd starts from: the newest key or compaction mark.
    let revision = verdict
        .status
        .as_ref()
        .map_or(0, |s| s.revision)
        .max(crate::datadir::db::compacted(&Db::open(snapshot)?)?);
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
    let node_name = args
        .name
        .clone()
        .or_else(|| manifest.flag("name").map(str::to_string))
        .unwrap_or_else(|| "default".into());
    // A new token, the same on every node restored from this file: the new cluster then has a
    // new cluster ID, and members of the old cluster still running elsewhere (an HA node not
    // yet restored) are refused by the restored ones instead of replicating old data to them.
    let token = args
        .initial_cluster_token
        .clone()
        .unwrap_or_else(|| format!("etcd-backup-restore-{}", &hex::encode(verdict.sha256)[..16]));

    // Membership: flags if given, else the members recorded in the snapshot, so that every
    // node restored from the same file computes the same cluster.
    let cluster = if args.initial_cluster.is_some() {
        data_restore::cluster_of(settings, args, printer)?
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
        member::build_cluster(&node_name, &initial.join(","), &urls.join(","), &token)
            .map_err(|e| anyhow!("the snapshot's members do not make a valid cluster: {e}"))
            .hint("pass --initial-cluster NAME=URL,.. for the new cluster")?
    };
    let mut members: Vec<(String, Vec<String>)> = cluster
        .members
        .iter()
        .map(|m| (m.name.clone(), m.peer_urls.clone()))
        .collect();
    members.sort();

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
    let manifests_dir = args.manifests_dir.clone();
    let staging_dir =
        fsutil::parent_dir(&manifests_dir).join(format!("etcd-backup-staging-{stamp}"));
    let mut manifests = vec!["etcd.yaml".to_string()];
    if manifests_dir.join("kube-apiserver.yaml").exists() {
        manifests.push("kube-apiserver.yaml".to_string());
    }
    if !manifests_dir.join("etcd.yaml").exists() {
        return Err(anyhow!("{} has no etcd.yaml", manifests_dir.display()))
            .hint("pass --manifests-dir (kubeadm's is /etc/kubernetes/manifests)");
    }
    let endpoint = etcd::normalize_endpoint(
        &manifest
            .client_url()
            .unwrap_or_else(|| "https://127.0.0.1:2379".to_string()),
    )?;
    let bump = data_restore::bump_of(args)?;
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
        kubelet_service: args.kubelet_service.clone(),
        endpoint,
        cacert: settings.cacert.value.clone(),
        cert: settings.cert.value.clone(),
        key: settings.key.value.clone(),
        members,
        token,
        bump,
        keep_alarms: args.keep_alarms,
        skip_hash_check: args.skip_hash_check,
        snapshot_revision: revision,
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode() & 0o7777,
        stop_timeout_secs: args.stop_timeout.as_secs().max(1),
        start_timeout_secs: args.start_timeout.as_secs().max(1),
        inside_mount,
        cluster_id: None,
        member_id: None,
    }
    .with_ids()
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

fn print_plan(p: &Plan, journal: &Path, printer: &Printer) {
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

/// On a terminal, the operator types the node name; without one, `--yes` is required.
fn confirm(p: &Plan, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(anyhow!(
            "refusing to restore node {} without confirmation",
            p.node_name
        ))
        .hint("add --yes (there is no terminal to ask on); --dry-run shows the plan");
    }
    eprint!(
        "This stops etcd and kube-apiserver on this node and replaces {}.\nType the node name \
         ({}) to go on: ",
        p.data_dir.display(),
        p.node_name
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == p.node_name)
}

/// Runs the steps not yet done; on a failure after the control plane was touched, rolls back.
fn execute(j: &mut Journal, printer: &Printer) -> anyhow::Result<u8> {
    interrupt::install(printer.log_format == LogFormat::Json)
        .map_err(|e| anyhow!("cannot install the signal handlers: {e}"))?;
    for step in STEPS {
        if j.done.contains(&step) {
            continue;
        }
        if let Some(sig) = interrupt::received() {
            return interrupted(j, step, sig, printer);
        }
        j.current = Some(step);
        j.event(printer, format!("step {}: starting", step.name()));
        j.save()?;
        let result = failpoint(step, false).and_then(|()| run_step(j, step, printer));
        match result {
            Ok(()) => {
                j.done.push(step);
                j.current = None;
                j.event(printer, format!("step {}: done", step.name()));
                j.save()?;
                failpoint(step, true)?;
            }
            Err(e) => return fail(j, step, e, printer),
        }
    }
    j.state = State::Finished;
    let down = j
        .down_at
        .map(|t| (Utc::now() - t).num_milliseconds() as f64 / 1000.0);
    if let Some(d) = down {
        j.event(printer, format!("control plane was down for {d:.1}s"));
    }
    j.save()?;
    let ids = match (j.plan.cluster_id, j.plan.member_id) {
        (Some(c), Some(m)) => format!(" (cluster {c:x}, member {m:x}: this restore's)"),
        _ => String::new(),
    };
    printer.phase(format!(
        "restored {}: etcd serves the snapshot at {}{ids}; the old data dir is kept at {}",
        j.plan.data_dir.display(),
        j.plan.endpoint,
        j.plan.aside_dir.display()
    ));
    printer.result(format!(
        "restored {} from {} (old data: {}; downtime {})",
        j.plan.data_dir.display(),
        j.plan.snapshot.display(),
        j.plan.aside_dir.display(),
        down.map_or("unknown".into(), |d| format!("{d:.1}s"))
    ));
    Ok(exit::SUCCESS)
}

/// A signal came between steps: undo what was done, or, if nothing live was touched yet, move
/// the built dir aside and stop.
fn interrupted(
    j: &mut Journal,
    step: Step,
    sig: &'static str,
    printer: &Printer,
) -> anyhow::Result<u8> {
    let e = anyhow::Error::new(EtcdError::Interrupted(sig))
        .context(format!("interrupted before step {}", step.name()));
    // Nothing live is touched before stop-control-plane starts; a resumed run that died inside
    // it has its manifests moved out, so that one must roll back.
    let untouched = step == Step::Build
        || (step == Step::StopControlPlane && j.current != Some(Step::StopControlPlane));
    if !untouched {
        return fail(j, step, e, printer);
    }
    interrupt::shield();
    let p = j.plan.clone();
    if p.new_unit().exists() {
        fsutil::rename_noreplace(&p.new_unit(), &p.failed_dir)?;
        p.remove_empty_build_dir()?;
        fsutil::fsync_dir(&p.swap_parent())?;
        j.event(
            printer,
            format!("the restored dir was moved to {}", p.failed_dir.display()),
        );
    }
    j.state = State::RolledBack;
    j.current = None;
    j.event(
        printer,
        format!("interrupted by {sig} before step {}", step.name()),
    );
    j.save()?;
    Err(e.context("the restore stopped before touching the node; nothing was changed"))
}

fn fail(j: &mut Journal, step: Step, e: anyhow::Error, printer: &Printer) -> anyhow::Result<u8> {
    j.event(printer, format!("step {} failed: {e:#}", step.name()));
    if step == Step::Build {
        // Nothing live was touched; `build` leaves no new dir behind.
        j.state = State::RolledBack;
        j.save()?;
        return Err(e.context("the restore failed before touching the node; nothing was changed"));
    }
    printer.warn(format!("step {} failed: {e:#}; rolling back", step.name()));
    match rollback(j, printer) {
        Ok(()) => Err(e.context(format!(
            "the restore stopped at step {} and was rolled back: etcd serves the old data again",
            step.name()
        ))),
        Err(r) => {
            j.state = State::Failed;
            j.event(printer, format!("rollback failed: {r:#}"));
            j.save()?;
            printer.error(&e);
            printer.warn(format!(
                "the rollback failed too: {r:#}. The node is part-way; journal {}. Fix the \
                 cause, then `etcd-backup restore --rollback --yes` (or --resume)",
                j.path.display()
            ));
            Ok(exit::PARTIAL)
        }
    }
}

/// `--rollback`: undo, and say how it went.
fn finish_rollback(j: &mut Journal, printer: &Printer) -> anyhow::Result<u8> {
    interrupt::install(printer.log_format == LogFormat::Json)
        .map_err(|e| anyhow!("cannot install the signal handlers: {e}"))?;
    match rollback(j, printer) {
        Ok(()) => {
            printer.result(format!(
                "rolled back: {} holds the data it had before the restore",
                j.plan.data_dir.display()
            ));
            Ok(exit::SUCCESS)
        }
        Err(e) => {
            j.state = State::Failed;
            j.save()?;
            printer.error(&e);
            printer.warn(format!(
                "the rollback did not finish; journal {}",
                j.path.display()
            ));
            Ok(exit::PARTIAL)
        }
    }
}

/// Puts the node back as it was: old data dir in place, manifests back, kubelet running.
fn rollback(j: &mut Journal, printer: &Printer) -> anyhow::Result<()> {
    interrupt::shield();
    let p = j.plan.clone();
    j.event(printer, "rollback: starting".into());
    let (live, new) = (p.live(), p.new_unit());
    if p.aside_dir.exists() || new.exists() {
        // Whatever runs on the data dir now must stop before it moves.
        stop_control_plane(j, printer)?;
        if p.aside_dir.exists() {
            if live.exists() {
                fsutil::rename_noreplace(&live, &p.failed_dir)?;
                j.event(
                    printer,
                    format!("rollback: restored dir moved to {}", p.failed_dir.display()),
                );
            }
            fsutil::rename_noreplace(&p.aside_dir, &live)?;
            j.event(printer, format!("rollback: {} is back", live.display()));
        }
        if new.exists() {
            fsutil::rename_noreplace(&new, &p.failed_dir)?;
        }
        p.remove_empty_build_dir()?;
        fsutil::fsync_dir(&p.swap_parent())?;
    }
    start_control_plane(j, printer)?;
    wait_healthy(&p, None, printer)?;
    j.state = State::RolledBack;
    j.current = None;
    j.event(printer, "rollback: done; etcd serves the old data".into());
    j.save()?;
    Ok(())
}

fn run_step(j: &mut Journal, step: Step, printer: &Printer) -> anyhow::Result<()> {
    let p = j.plan.clone();
    match step {
        Step::Build => {
            if p.new_dir.exists() {
                return Ok(()); // built before an interruption; builds are all-or-nothing
            }
            let cluster = p.cluster()?;
            data_restore::build(
                &Build {
                    snapshot: &p.snapshot,
                    out_dir: &p.new_dir,
                    wal_dir: None,
                    cluster: &cluster,
                    bump: p.bump,
                    keep_alarms: p.keep_alarms,
                    skip_hash_check: p.skip_hash_check,
                },
                printer,
            )?;
            Ok(())
        }
        Step::StopControlPlane => {
            if j.down_at.is_none() {
                j.down_at = Some(Utc::now());
                j.save()?;
            }
            stop_control_plane(j, printer)
        }
        Step::MoveAside => {
            let live = p.live();
            if p.aside_dir.exists() && !live.exists() {
                return Ok(());
            }
            fsutil::rename_noreplace(&live, &p.aside_dir)?;
            fsutil::fsync_dir(&p.swap_parent())?;
            Ok(())
        }
        Step::MoveIntoPlace => {
            let (live, new) = (p.live(), p.new_unit());
            if live.exists() && !new.exists() {
                p.remove_empty_build_dir()?;
                return Ok(());
            }
            chown_tree(&new, p.uid, p.gid)?;
            std::fs::set_permissions(&new, std::os::unix::fs::PermissionsExt::from_mode(p.mode))
                .map_err(|e| FsError::io("cannot set the mode of", &new, e))?;
            fsutil::rename_noreplace(&new, &live)?;
            p.remove_empty_build_dir()?;
            fsutil::fsync_dir(&p.swap_parent())?;
            Ok(())
        }
        Step::StartControlPlane => start_control_plane(j, printer),
        Step::WaitHealthy => wait_healthy(&p, Some(p.expect_revision()), printer),
    }
}

/// Manifests out to the staging dir, etcd gone from the data dir and its port, kubelet stopped.
fn stop_control_plane(j: &mut Journal, printer: &Printer) -> anyhow::Result<()> {
    let p = j.plan.clone();
    fsutil::create_private_dir(&p.staging_dir)?;
    for m in &p.manifests {
        let (from, to) = (p.manifests_dir.join(m), p.staging_dir.join(m));
        if from.exists() {
            fsutil::rename_noreplace(&from, &to)?;
            j.event(
                printer,
                format!("moved {} to {}", from.display(), to.display()),
            );
        }
    }
    fsutil::fsync_dir(&p.manifests_dir)?;
    let limit = Duration::from_secs(p.stop_timeout_secs);
    let t = Instant::now();
    // Stopped once it was seen running and then let go; if it was never seen, it may be starting
    // (a kubelet restart, a crash loop): stopped only after SETTLE with nothing seen, while the
    // kubelet still runs to stop what it started.
    const SETTLE: Duration = Duration::from_secs(2);
    let mut seen = false;
    let mut quiet_since: Option<Instant> = None;
    loop {
        match etcd_still_there(&p)? {
            Some(what) => {
                seen = true;
                quiet_since = None;
                if t.elapsed() > limit {
                    return Err(anyhow!(
                        "etcd did not stop within {}s after its manifest was moved out ({what})",
                        p.stop_timeout_secs
                    ))
                    .hint(
                        "check the kubelet and the container runtime (crictl ps); raise \
                         --stop-timeout",
                    );
                }
            }
            None => {
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if seen || since.elapsed() >= SETTLE {
                    break;
                }
            }
        }
        interrupt::check()?;
        std::thread::sleep(Duration::from_millis(100));
    }
    j.event(
        printer,
        format!("etcd has let go of {}", p.data_dir.display()),
    );
    systemctl("stop", &p.kubelet_service)?;
    j.event(printer, format!("systemctl stop {}", p.kubelet_service));
    // An etcd whose start was under way as the kubelet stopped would run on, unsupervised.
    if let Some(what) = etcd_still_there(&p)? {
        return Err(anyhow!(
            "etcd came back after systemctl stop {} ({what})",
            p.kubelet_service
        ))
        .hint(
            "stop that etcd container (crictl ps --name etcd; crictl stop ID), then `etcd-backup \
             restore --resume --yes` (or --rollback --yes)",
        );
    }
    Ok(())
}

/// What shows that an etcd still runs on the data dir: a process started on it, the db's lock,
/// or the client port. `None` when there is none.
fn etcd_still_there(p: &Plan) -> anyhow::Result<Option<String>> {
    etcd_on(&p.data_dir, &p.endpoint)
}

/// What shows that an etcd still runs on `data_dir`: a process started on it, the db's lock,
/// or the client port `endpoint`. `None` when there is none.
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

/// Manifests back from the staging dir, kubelet started.
fn start_control_plane(j: &mut Journal, printer: &Printer) -> anyhow::Result<()> {
    let p = j.plan.clone();
    for m in &p.manifests {
        let (from, to) = (p.staging_dir.join(m), p.manifests_dir.join(m));
        if from.exists() {
            fsutil::rename_noreplace(&from, &to)?;
            j.event(printer, format!("moved {} back", to.display()));
        }
    }
    fsutil::fsync_dir(&p.manifests_dir)?;
    let _ = std::fs::remove_dir(&p.staging_dir);
    systemctl("start", &p.kubelet_service)?;
    j.event(printer, format!("systemctl start {}", p.kubelet_service));
    Ok(())
}

fn systemctl(verb: &str, unit: &str) -> anyhow::Result<()> {
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
fn wait_healthy(p: &Plan, min_revision: Option<i64>, printer: &Printer) -> anyhow::Result<()> {
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
            Ok((st, mut members)) => {
                members.sort();
                let restored = min_revision.is_some();
                let rev_ok = min_revision.is_none_or(|m| st.revision >= m);
                let members_ok = !restored || members == p.members;
                // The IDs this restore wrote: only its data carries them (a revision can be met
                // by an older restore, or by data that is not this snapshot's).
                let ids_ok = !restored
                    || (p.cluster_id.is_none_or(|c| c == st.cluster_id)
                        && p.member_id.is_none_or(|m| m == st.member_id));
                if st.leader != 0 && rev_ok && members_ok && ids_ok {
                    printer.phase(format!(
                        "{} is healthy: revision {}, {} member(s), cluster {:x}, member {:x}",
                        p.endpoint,
                        st.revision,
                        members.len(),
                        st.cluster_id,
                        st.member_id
                    ));
                    return Ok(());
                }
                last = if restored && !ids_ok {
                    format!(
                        "it serves cluster {:x} member {:x}, not the restored cluster {:x} \
                         member {:x}: this is not the restored data",
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
                };
            }
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

/// `chown -R uid:gid dir` without following symlinks.
fn chown_tree(dir: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    std::os::unix::fs::lchown(dir, Some(uid), Some(gid))
        .map_err(|e| FsError::io("cannot chown", dir, e))?;
    for entry in std::fs::read_dir(dir).map_err(|e| FsError::io("cannot read", dir, e))? {
        let entry = entry.map_err(|e| FsError::io("cannot read", dir, e))?;
        let path = entry.path();
        let ft = entry
            .file_type()
            .map_err(|e| FsError::io("cannot read", &path, e))?;
        if ft.is_dir() {
            chown_tree(&path, uid, gid)?;
        } else {
            std::os::unix::fs::lchown(&path, Some(uid), Some(gid))
                .map_err(|e| FsError::io("cannot chown", &path, e))?;
        }
    }
    Ok(())
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
