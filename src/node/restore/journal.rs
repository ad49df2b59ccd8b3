//! The journal beside the manifests dir: the plan and each step, recorded before and after, so
//! that `--resume` and `--rollback` find where a restore stopped.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fsutil::{self, FsError};
use crate::output::Printer;

use super::{Plan, Step};

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
    pub(super) path: PathBuf,
}

/// `etcd-backup-restore-journal.json` beside the manifests dir (`/etc/kubernetes/`).
pub fn journal_path(manifests_dir: &Path) -> PathBuf {
    fsutil::parent_dir(manifests_dir).join("etcd-backup-restore-journal.json")
}

impl Journal {
    pub(super) fn load(path: &Path) -> anyhow::Result<Journal> {
        let bytes = std::fs::read(path).map_err(|e| FsError::io("cannot read journal", path, e))?;
        let mut j: Journal = serde_json::from_slice(&bytes)
            .with_context(|| format!("journal {} is not valid", path.display()))?;
        j.path = path.to_path_buf();
        Ok(j)
    }

    pub(super) fn save(&self) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        fsutil::write_atomic(&self.path, &bytes, true)?;
        Ok(())
    }

    pub(super) fn event(&mut self, printer: &Printer, msg: String) {
        printer.phase(&msg);
        self.events
            .push(format!("{} {msg}", Utc::now().to_rfc3339()));
    }
}
