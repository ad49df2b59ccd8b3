//! The backup set: what a backup is on disk and in a store, and what is done to it once written.
//! The commands (`crate::commands`) drive these; nothing here prints a result (the save engine
//! reports its progress and warnings through the `Printer` it is given).
//!
//! - [`catalog`]: backup and sidecar names, sidecar metadata, listing a dir, suspect clocks;
//! - [`layers`]: the `.zst`/`.age` layers of a backup file, and the age keys;
//! - [`set`]: the backup set, a backup dir or a store, behind one interface (list, name, sidecars,
//!   a prune's scan, checks and deletions);
//! - [`named`]: a backup named on the command line, a local file or an object in a store;
//! - [`spill`]: a random-access, optionally sealed spill of a layered backup, for checking it;
//! - [`verify`]: what `verify` (and `save`, before it names a file) proves about a backup;
//! - [`retention`]: which backups the `--keep-*` rules keep;
//! - [`prune`]: a prune's plan for a backup dir (the rules plus the verified floor) and its
//!   deletions;
//! - [`pki_bundle`]: the `--with-pki` disaster-recovery bundle written beside a snapshot;
//! - [`save`]: the save engine, one file per phase, from the checks before a save to the upload
//!   and prune after its commit.

pub mod catalog;
pub(crate) mod encryption;
pub(crate) mod layers;
pub(crate) mod named;
pub(crate) mod pki_bundle;
pub(crate) mod prune;
pub(crate) mod retention;
pub(crate) mod save;
pub(crate) mod set;
pub(crate) mod spill;
pub(crate) mod verify;
