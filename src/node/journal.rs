//! The journal of a node operation (the node restore, a member rejoin) beside the manifests dir:
//! its plan and each step, recorded before and after, so that `--resume` and `--rollback` find
//! where it stopped; and the failures the tests inject between steps.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::fsutil::{self, FsError};
use crate::node::interrupt;
use crate::output::Printer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum State {
    Running,
    Finished,
    RolledBack,
    /// A rollback did not finish either: the operator must look (exit 3).
    Failed,
}

/// The journal of an operation whose plan is `P` and steps `S`; `X` is what this kind of
/// operation records besides (its fields sit between `current` and `events` in the file).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Journal<P, S, X> {
    pub format_version: u32,
    pub tool_version: String,
    pub started_at: DateTime<Utc>,
    pub plan: P,
    pub state: State,
    pub done: Vec<S>,
    /// The step under way (started, not recorded as done).
    pub current: Option<S>,
    #[serde(flatten)]
    pub extra: X,
    pub events: Vec<String>,
    #[serde(skip)]
    path: PathBuf,
}

impl<P, S, X> Journal<P, S, X>
where
    Self: Serialize + DeserializeOwned,
{
    /// A journal at `path` for an operation that starts now (not written yet).
    pub(crate) fn new(plan: P, extra: X, path: PathBuf) -> Self {
        Journal {
            format_version: 1,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: Utc::now(),
            plan,
            state: State::Running,
            done: Vec::new(),
            current: None,
            extra,
            events: Vec::new(),
            path,
        }
    }

    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| FsError::io("cannot read journal", path, e))?;
        let mut j: Self = serde_json::from_slice(&bytes)
            .with_context(|| format!("journal {} is not valid", path.display()))?;
        j.path = path.to_path_buf();
        Ok(j)
    }

    pub(crate) fn save(&self) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        fsutil::write_atomic(&self.path, &bytes, true)?;
        Ok(())
    }

    /// Says `msg` and records it with the time.
    pub(crate) fn event(&mut self, printer: &Printer, msg: String) {
        printer.phase(&msg);
        self.events
            .push(format!("{} {msg}", Utc::now().to_rfc3339()));
    }

    /// Where the journal is.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A failure the tests can inject: `ETCD_BACKUP_FAILPOINT=<prefix><step>` fails that step
/// before it starts (`after` false); `<prefix><step>:hang` hangs right after it is journaled as
/// done (`after` true), to be killed.
pub(crate) fn failpoint(prefix: &str, step: &str, after: bool) -> anyhow::Result<()> {
    let Ok(fp) = std::env::var("ETCD_BACKUP_FAILPOINT") else {
        return Ok(());
    };
    let (name, hang) = match fp.split_once(':') {
        Some((n, "hang")) => (n, true),
        _ => (fp.as_str(), false),
    };
    if name.strip_prefix(prefix) != Some(step) {
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
            "injected failure at step {step} (ETCD_BACKUP_FAILPOINT)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    struct Extra {
        new_member_id: Option<u64>,
        initial_cluster: Option<String>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    struct Plan {
        name: String,
        id: Option<u64>,
    }

    /// The fields in the order the journals have always been written, the extra ones between
    /// `current` and `events`; and read back.
    #[test]
    fn the_file_keeps_its_field_order_and_reads_back() {
        let mut j = Journal::<Plan, String, Extra>::new(
            Plan {
                name: "n".into(),
                id: Some(u64::MAX),
            },
            Extra {
                new_member_id: None,
                initial_cluster: None,
            },
            PathBuf::from("/nowhere"),
        );
        j.started_at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        j.tool_version = "1.2.3".into();
        j.done.push("a".into());
        j.current = Some("b".into());
        j.extra.new_member_id = Some(u64::MAX - 1);
        j.events.push("e".into());
        let text = String::from_utf8(serde_json::to_vec_pretty(&j).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{
  "format_version": 1,
  "tool_version": "1.2.3",
  "started_at": "2026-01-02T03:04:05Z",
  "plan": {
    "name": "n",
    "id": 18446744073709551615
  },
  "state": "running",
  "done": [
    "a"
  ],
  "current": "b",
  "new_member_id": 18446744073709551614,
  "initial_cluster": null,
  "events": [
    "e"
  ]
}"#
        );
        let back: Journal<Plan, String, Extra> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.plan, j.plan);
        assert_eq!(back.extra, j.extra);
        assert_eq!(back.done, j.done);
        assert_eq!(back.current, j.current);
        assert_eq!(back.state, State::Running);
        assert_eq!(back.events, j.events);
    }
}
