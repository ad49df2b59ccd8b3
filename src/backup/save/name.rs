//! The backup's name: the start time to the second and the label, never one already taken.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::stop::stopped;
use crate::backup::catalog;
use crate::backup::layers::Layers;
use crate::cancel::Deadline;
use crate::diagnostics::HintExt;
use crate::fsutil::{self, FsError};
use crate::output::Printer;

/// How many times a name already taken in this second makes the save wait for the next one.
const NAME_RETRIES: u32 = 3;

/// The backup's name: the time of `started_at` (to the second) and the label. Two saves in the
/// same second would want the same name; then this one waits for the next second and takes
/// that time instead (moving `started_at` with it), so that the name stays truthful, never
/// ahead of the clock, and sorts after the one before it. Taken means any file of that
/// backup: the file, its sidecar, its DR bundle, or the temp file of any of them.
pub(super) fn pick_name(
    dir: &Path,
    started_at: &mut DateTime<Utc>,
    label: Option<&str>,
    layers: Layers,
    bound: &Deadline,
    printer: &Printer,
) -> anyhow::Result<String> {
    let mut tries = 0;
    loop {
        let name = catalog::layered_file_name(*started_at, label, layers);
        let Some(taken) = name_taken(dir, &name) else {
            return Ok(name);
        };
        if tries == NAME_RETRIES {
            return Err(FsError::Exists { path: taken }).hint(format!(
                "the clock did not move past a second already used in {} (or went back); \
                 check the system clock, or use --label",
                dir.display()
            ));
        }
        tries += 1;
        printer.detail(format!(
            "{} exists: waiting for the next second for a new name",
            taken.display()
        ));
        let into_second = Duration::from_nanos(u64::from(Utc::now().timestamp_subsec_nanos()));
        bound
            .sleep(Duration::from_secs(1).saturating_sub(into_second) + Duration::from_millis(5))
            .map_err(|e| stopped(e, "choosing the backup's name"))?;
        *started_at = Utc::now();
    }
}

/// The first file of backup `name` that exists in `dir`, if any.
fn name_taken(dir: &Path, name: &str) -> Option<PathBuf> {
    let file = dir.join(name);
    let sidecar = dir.join(catalog::sidecar_name(name));
    let bundle = catalog::parse_backup_name(name).map(|n| dir.join(n.bundle_name()));
    [Some(file), Some(sidecar), bundle]
        .into_iter()
        .flatten()
        .flat_map(|p| [fsutil::temp_name(&p), p])
        .find(|p| p.symlink_metadata().is_ok())
}
