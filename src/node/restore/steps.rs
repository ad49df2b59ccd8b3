//! The steps of a node restore, each idempotent, and the rollback that undoes them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::datadir::build::{self as data_restore, Build};
use crate::diagnostics::HintExt;
use crate::fsutil::{self, FsError};
use crate::node::interrupt;
use crate::output::Printer;

use super::probes::{etcd_still_there, systemctl, wait_healthy};
use super::{Journal, State};

/// The steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Step {
    Build,
    StopControlPlane,
    MoveAside,
    MoveIntoPlace,
    StartControlPlane,
    WaitHealthy,
}

pub(crate) const STEPS: [Step; 6] = [
    Step::Build,
    Step::StopControlPlane,
    Step::MoveAside,
    Step::MoveIntoPlace,
    Step::StartControlPlane,
    Step::WaitHealthy,
];

impl Step {
    pub(crate) fn name(self) -> &'static str {
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

/// Puts the node back as it was: old data dir in place, manifests back, kubelet running.
pub(super) fn rollback(j: &mut Journal, printer: &Printer) -> anyhow::Result<()> {
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

pub(super) fn run_step(j: &mut Journal, step: Step, printer: &Printer) -> anyhow::Result<()> {
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
            if j.extra.down_at.is_none() {
                j.extra.down_at = Some(Utc::now());
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
