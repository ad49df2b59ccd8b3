//! The restore's journal beside the manifests dir ([`crate::node::journal`]): the plan and each
//! step, recorded before and after, so that `--resume` and `--rollback` find where a restore
//! stopped.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fsutil;

pub(crate) use crate::node::journal::State;

use super::{Plan, Step};

/// The restore's journal.
pub(crate) type Journal = crate::node::journal::Journal<Plan, Step, Downtime>;

/// What the restore's journal records besides the plan and the steps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Downtime {
    /// When the control plane went down (step 2 began).
    pub down_at: Option<DateTime<Utc>>,
}

/// `etcd-backup-restore-journal.json` beside the manifests dir (`/etc/kubernetes/`).
pub(crate) fn journal_path(manifests_dir: &Path) -> PathBuf {
    fsutil::parent_dir(manifests_dir).join("etcd-backup-restore-journal.json")
}
