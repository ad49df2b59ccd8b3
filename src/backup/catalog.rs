//! Names and sidecar metadata of backup files, shared by every command.
//!
//! A backup is `etcd-snapshot-YYYY-MM-DD_HH-MM-SS[_LABEL].db[.zst][.age]` (UTC), the pattern the
//! old cron script used, so its files are recognised too; `.zst` and `.age` name its compression
//! and encryption layers (`crate::backup::layers`). Beside it, `<file>.json` records where and
//! how it was taken, and `save --with-pki` adds the DR bundle
//! `etcd-snapshot-…[_LABEL]-pki.tar[.zst][.age]`.
//! While being written, a file is `<final name>.part`.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backup::layers::Layers;

pub(crate) const PREFIX: &str = "etcd-snapshot-";
pub(crate) const SUFFIX: &str = ".db";
pub(crate) const SIDECAR_SUFFIX: &str = ".json";
/// What follows the stem in a DR bundle's name, before its layers.
pub(crate) const BUNDLE_SUFFIX: &str = "-pki.tar";
const TIME_FORMAT: &str = "%Y-%m-%d_%H-%M-%S";
/// Longest label accepted; keeps file names well under NAME_MAX.
pub(crate) const MAX_LABEL_LEN: usize = 64;

/// Checks a user-supplied label: `[A-Za-z0-9._-]`, 1..=64 characters, not starting with `.` or
/// `-` (no hidden files, nothing that looks like a flag, no path separators).
pub(crate) fn validate_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > MAX_LABEL_LEN {
        return Err(format!(
            "label must be 1 to {MAX_LABEL_LEN} characters, got {}",
            label.len()
        ));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "label {label:?} contains {c:?}; only letters, digits, '.', '_' and '-' are allowed"
        ));
    }
    if label.starts_with(['.', '-']) {
        return Err(format!("label {label:?} must not start with '.' or '-'"));
    }
    Ok(())
}

/// The file name of a plain backup taken at `at` with an optional (already validated) label.
pub fn backup_file_name(at: DateTime<Utc>, label: Option<&str>) -> String {
    layered_file_name(at, label, Layers::PLAIN)
}

/// The file name of a backup with its layers: `etcd-snapshot-…[_LABEL].db[.zst][.age]`.
pub(crate) fn layered_file_name(at: DateTime<Utc>, label: Option<&str>, layers: Layers) -> String {
    format!("{}{SUFFIX}{}", stem(at, label), layers.suffix())
}

/// `etcd-snapshot-YYYY-MM-DD_HH-MM-SS[_LABEL]`: what a backup and its bundle share.
fn stem(at: DateTime<Utc>, label: Option<&str>) -> String {
    let stamp = at.format(TIME_FORMAT);
    match label {
        Some(l) => format!("{PREFIX}{stamp}_{l}"),
        None => format!("{PREFIX}{stamp}"),
    }
}

/// A backup file name taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupName {
    pub taken_at: DateTime<Utc>,
    pub label: Option<String>,
    pub layers: Layers,
}

impl BackupName {
    /// The backup's file name.
    pub fn file_name(&self) -> String {
        layered_file_name(self.taken_at, self.label.as_deref(), self.layers)
    }

    /// The name of its DR bundle (`save --with-pki`), with the same layers.
    pub fn bundle_name(&self) -> String {
        format!(
            "{}{BUNDLE_SUFFIX}{}",
            stem(self.taken_at, self.label.as_deref()),
            self.layers.suffix()
        )
    }
}

/// Parses a backup file name; `None` for anything that is not exactly our pattern.
pub fn parse_backup_name(name: &str) -> Option<BackupName> {
    let (plain, layers) = Layers::strip(name);
    let rest = plain.strip_suffix(SUFFIX)?;
    parse_stem(rest, layers)
}

/// Parses a DR bundle's name (`etcd-snapshot-…[_LABEL]-pki.tar[.zst][.age]`) into the name of
/// the backup it belongs to.
pub(crate) fn parse_bundle_name(name: &str) -> Option<BackupName> {
    let (plain, layers) = Layers::strip(name);
    let rest = plain.strip_suffix(BUNDLE_SUFFIX)?;
    parse_stem(rest, layers)
}

fn parse_stem(stem: &str, layers: Layers) -> Option<BackupName> {
    let rest = stem.strip_prefix(PREFIX)?;
    // "YYYY-MM-DD_HH-MM-SS" is 19 ASCII bytes.
    let stamp = rest.get(..19)?;
    let taken_at = NaiveDateTime::parse_from_str(stamp, TIME_FORMAT)
        .ok()?
        .and_utc();
    let label = match &rest[19..] {
        "" => None,
        tail => {
            let l = tail.strip_prefix('_')?;
            validate_label(l).ok()?;
            Some(l.to_string())
        }
    };
    Some(BackupName {
        taken_at,
        label,
        layers,
    })
}

/// The sidecar name of a backup file name.
pub(crate) fn sidecar_name(backup_file_name: &str) -> String {
    format!("{backup_file_name}{SIDECAR_SUFFIX}")
}

/// The sidecar path of a backup file path (`<file>.json` beside it).
pub fn sidecar_path(backup: &std::path::Path) -> std::path::PathBuf {
    let mut name = backup.as_os_str().to_owned();
    name.push(SIDECAR_SUFFIX);
    name.into()
}

/// Current sidecar format; bump on incompatible changes only.
pub(crate) const SIDECAR_FORMAT_VERSION: u32 = 1;

/// What `save` records beside each backup (`<file>.json`). A stable interface: fields are only
/// ever added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    pub format_version: u32,
    pub tool: String,
    pub tool_version: String,
    /// File name of the backup, relative to the sidecar's directory.
    pub file: String,
    pub label: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_seconds: f64,
    pub endpoint: String,
    pub member_name: String,
    /// Hex, as etcdctl prints member IDs.
    pub member_id: String,
    pub cluster_id: String,
    pub server_version: String,
    /// Revision in the file (what `etcdutl snapshot status` prints).
    pub revision: i64,
    pub raft_index: u64,
    pub raft_term: u64,
    /// Database size the server reported before the snapshot (`endpoint status` DB SIZE).
    pub db_size: i64,
    /// Bytes of bbolt data in the snapshot stream (the file minus its 32-byte trailer).
    pub snapshot_db_size: u64,
    pub file_size: u64,
    /// SHA-256 of the whole file, trailer included (`sha256sum` of the file).
    pub sha256: String,
    /// The 32-byte trailer: SHA-256 of the bbolt data, as sent by etcd and checked by restore.
    pub db_sha256: String,
    /// When the file last passed `verify` (save verifies before the final rename).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
    /// Layers of the stored file (`zstd`, `age`, `zstd+age`); absent for a plain `.db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<String>,
    /// The age recipients (public keys) an encrypted file can be opened with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// SHA-256 of the snapshot inside the layers (what `sha256sum` says of the decrypted,
    /// decompressed `.db`); `sha256` and `file_size` are of the stored file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_sha256: Option<String>,
    /// The DR bundle saved with this backup (`save --with-pki`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pki_bundle: Option<BundleRecord>,
    /// The last `verify` of the file failed: `verified_at` is cleared when this is set, and this
    /// is cleared when the file passes again. While set, the backup is not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_verification: Option<FailedVerification>,
    /// etcd's `HashKV` of the snapshot at its revision, computed from the file, and the members
    /// whose own `HashKV` at that revision agreed (docs/formats.md §4.3). Absent in sidecars
    /// written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_kv: Option<HashKvRecord>,
    /// `meta/storageVersion` of the snapshot (etcd 3.6+ writes it; absent before): a node
    /// restore refuses it under an older etcd minor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_version: Option<String>,
    /// The last `drill` of this backup: when, and what it found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillRecord>,
}

/// The `hash_kv` of a sidecar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HashKvRecord {
    pub revision: i64,
    /// -1 when nothing was compacted (etcd's answer then).
    pub compact_revision: i64,
    pub hash: u32,
    /// Keys alive at `revision`, counted in the same pass (absent in older sidecars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    /// The voting members (`name (id)`) whose `HashKV` at `revision` equalled `hash`.
    #[serde(default)]
    pub members: Vec<String>,
    /// Why some or all members did not confirm the hash (`--skip-hash-check`, unreachable, the
    /// revision compacted since), when that happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The `drill` of a sidecar: the last restore rehearsal of this backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRecord {
    pub drilled_at: DateTime<Utc>,
    pub passed: bool,
    /// What failed; empty when it passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The etcd binary started on the restored dir (its `--version` line), when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<String>,
    pub duration_seconds: f64,
}

/// A failed verification, as the sidecar records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedVerification {
    pub at: DateTime<Utc>,
    pub problems: Vec<String>,
}

/// The most a sidecar may be; ours are about 1 KiB. Anything larger is not read.
pub(crate) const SIDECAR_MAX_BYTES: u64 = 1 << 20;

/// Reads the sidecar beside a local backup file: `Ok(None)` when there is none. The sidecar must
/// be a regular file (not a symlink, FIFO or device) of at most [`SIDECAR_MAX_BYTES`]; anything
/// else is reported in the `Err`, never waited on or read without bound.
pub(crate) fn read_sidecar(backup: &std::path::Path) -> Result<Option<Sidecar>, String> {
    let path = sidecar_path(backup);
    match crate::fsutil::read_small(&path, SIDECAR_MAX_BYTES) {
        Ok(bytes) => Sidecar::parse(&bytes, &path.display().to_string()).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // Refused by `read_small` (a symlink, FIFO, device or runaway file): not ours.
        Err(e) if e.kind() == std::io::ErrorKind::Other => Err(format!(
            "cannot read sidecar {}: {e}; a sidecar is a regular file save writes beside its \
             backup, so move this one out of the backup dir",
            path.display()
        )),
        Err(e) => Err(format!("cannot read sidecar {}: {e}", path.display())),
    }
}

impl Sidecar {
    /// Passed its last verification: `verified_at` set and no failure recorded since.
    pub fn verified(&self) -> bool {
        self.verified_at.is_some() && self.failed_verification.is_none()
    }
}

/// The DR bundle beside a backup, as its sidecar records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleRecord {
    /// File name, relative to the sidecar's directory.
    pub file: String,
    /// Size and SHA-256 of the stored file.
    pub file_size: u64,
    pub sha256: String,
    /// Files in the archive.
    pub entries: usize,
    /// The kube-apiserver image's tag when the bundle was written (`v1.28.0`); a node restore
    /// warns when the node's differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// The etcd image of the node's manifest (`registry.k8s.io/etcd:3.5.15-0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_image: Option<String>,
    /// Archive path of the kube-apiserver's `--encryption-provider-config`, when it sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_config: Option<String>,
}

impl Sidecar {
    /// The fields every sidecar must have that this one lacks: empty text, or an ID of 0.
    pub(crate) fn missing_fields(&self) -> Vec<&'static str> {
        let text = [
            ("tool", &self.tool),
            ("tool_version", &self.tool_version),
            ("file", &self.file),
            ("endpoint", &self.endpoint),
            ("member_name", &self.member_name),
            ("member_id", &self.member_id),
            ("cluster_id", &self.cluster_id),
            ("server_version", &self.server_version),
            ("sha256", &self.sha256),
            ("db_sha256", &self.db_sha256),
        ];
        text.into_iter()
            .filter(|(field, v)| {
                v.trim().is_empty() || (field.ends_with("_id") && v.as_str() == "0")
            })
            .map(|(field, _)| field)
            .collect()
    }

    /// Writes the sidecar atomically (pretty JSON and a final newline), replacing an existing
    /// one only when `replace` is true. Refuses one that lacks a required field
    /// ([`Sidecar::missing_fields`]): a sidecar is the record restore and status rely on.
    pub fn write(
        &self,
        path: &std::path::Path,
        replace: bool,
    ) -> Result<(), crate::fsutil::FsError> {
        let missing = self.missing_fields();
        if !missing.is_empty() {
            return Err(crate::fsutil::FsError::io(
                "refusing to write the sidecar",
                path,
                std::io::Error::other(format!("required fields are empty: {}", missing.join(", "))),
            ));
        }
        let bytes = self.to_bytes().map_err(|e| {
            crate::fsutil::FsError::io("cannot encode", path, std::io::Error::other(e))
        })?;
        crate::fsutil::write_atomic(path, &bytes, replace)
    }

    /// The sidecar as stored, beside a file or in a store: pretty JSON and a final newline.
    pub(crate) fn to_bytes(&self) -> serde_json::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Parses a stored sidecar; `shown` names where it came from in the error.
    pub fn parse(bytes: &[u8], shown: &str) -> Result<Sidecar, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("sidecar {shown} is not valid: {e}"))
    }
}

/// A backup file found in a backup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub name: String,
    pub path: std::path::PathBuf,
    pub taken_at: DateTime<Utc>,
    pub label: Option<String>,
    pub layers: Layers,
}

/// The backups in `dir`, newest first. Only regular files whose names match our pattern count;
/// symlinks and everything else are ignored.
pub(crate) fn list_backups(dir: &std::path::Path) -> std::io::Result<Vec<Backup>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some(parsed) = parse_backup_name(&name) else {
            continue;
        };
        if !entry.file_type()?.is_file() {
            continue;
        }
        out.push(Backup {
            path: entry.path(),
            name,
            taken_at: parsed.taken_at,
            label: parsed.label,
            layers: parsed.layers,
        });
    }
    out.sort_by(|a, b| {
        b.taken_at
            .cmp(&a.taken_at)
            .then_with(|| b.name.cmp(&a.name))
    });
    Ok(out)
}

/// How far in the future a backup's time may be before it is suspect: clocks of one host, or of
/// the members of one cluster, agree far better than this.
pub(crate) const CLOCK_TOLERANCE_SECS: i64 = 300;

/// What a backup is known to hold, for telling whether its name can be trusted: the time in its
/// name, and what its sidecar recorded, when it has a readable one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub taken_at: DateTime<Utc>,
    pub content: Option<Content>,
}

/// What a sidecar says a backup holds and when it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub cluster_id: String,
    pub revision: i64,
    pub raft_index: u64,
    pub finished_at: DateTime<Utc>,
}

impl Content {
    pub fn of(sc: &Sidecar) -> Content {
        Content {
            cluster_id: sc.cluster_id.clone(),
            revision: sc.revision,
            raft_index: sc.raft_index,
            finished_at: sc.finished_at,
        }
    }
}

/// Why each backup's time cannot be trusted (`None`: nothing wrong), in the order given:
/// - its name, or its sidecar's `finished_at`, is more than [`CLOCK_TOLERANCE_SECS`] after `now`
///   (taken while the clock was ahead, or a copy given a future name);
/// - it is named later than another backup of the same cluster that holds a higher revision:
///   its name is newer than what it holds (revisions only grow within a cluster; a restore
///   starts a new cluster ID).
///
/// A suspect backup never counts as recent and never stands for the newest backup; `prune`
/// keeps it and `status` reports it.
pub(crate) fn suspects(items: &[Facts], now: DateTime<Utc>) -> Vec<Option<String>> {
    let limit = now + chrono::Duration::seconds(CLOCK_TOLERANCE_SECS);
    let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    items
        .iter()
        .map(|it| {
            if it.taken_at > limit {
                return Some(format!(
                    "named {}, in the future (clock ahead when it was taken, or a renamed copy)",
                    stamp(it.taken_at)
                ));
            }
            let c = it.content.as_ref()?;
            if c.finished_at > limit {
                return Some(format!(
                    "its sidecar says it was taken at {}, in the future",
                    stamp(c.finished_at)
                ));
            }
            let newer_content = items
                .iter()
                .filter(|o| o.taken_at < it.taken_at)
                .filter_map(|o| o.content.as_ref().map(|oc| (o, oc)))
                .filter(|(_, oc)| oc.cluster_id == c.cluster_id)
                .filter(|(_, oc)| oc.revision > c.revision)
                .max_by_key(|(_, oc)| (oc.revision, oc.raft_index));
            newer_content.map(|(o, oc)| {
                format!(
                    "named later than the backup of {} but holds an older state of the same \
                     cluster (revision {}, raft index {}; that one has revision {}, raft index \
                     {}): its name is not when it was taken",
                    stamp(o.taken_at),
                    c.revision,
                    c.raft_index,
                    oc.revision,
                    oc.raft_index
                )
            })
        })
        .collect()
}

/// `items` (newest first by name) with the suspect ones ([`suspects`]) moved to the end, each
/// group keeping its order: the order in which to look for the newest good backup. `facts` reads
/// what each item's name and local sidecar say.
pub(crate) fn trusted_first<T>(items: Vec<T>, facts: impl Fn(&T) -> Facts) -> Vec<T> {
    let known: Vec<Facts> = items.iter().map(facts).collect();
    let suspect = suspects(&known, Utc::now());
    let (trusted, suspects): (Vec<_>, Vec<_>) = items
        .into_iter()
        .zip(suspect)
        .partition(|(_, s)| s.is_none());
    trusted
        .into_iter()
        .chain(suspects)
        .map(|(b, _)| b)
        .collect()
}

/// The [`Facts`] of a local backup: the time in its name and what its sidecar (if readable) says.
pub(crate) fn local_facts(path: &std::path::Path, taken_at: DateTime<Utc>) -> Facts {
    Facts {
        taken_at,
        content: read_sidecar(path).ok().flatten().as_ref().map(Content::of),
    }
}

/// Formats a member or cluster ID the way etcdctl does (`%x`).
pub(crate) fn id_hex(id: u64) -> String {
    format!("{id:x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn name_round_trips() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let n = backup_file_name(at, None);
        assert_eq!(n, "etcd-snapshot-2026-01-02_03-04-05.db");
        assert_eq!(
            parse_backup_name(&n),
            Some(BackupName {
                taken_at: at,
                label: None,
                layers: Layers::PLAIN,
            })
        );
        let n = backup_file_name(at, Some("pre-upgrade-1.31"));
        assert_eq!(n, "etcd-snapshot-2026-01-02_03-04-05_pre-upgrade-1.31.db");
        assert_eq!(
            parse_backup_name(&n).unwrap().label.as_deref(),
            Some("pre-upgrade-1.31")
        );
    }

    #[test]
    fn foreign_names_are_not_ours() {
        for n in [
            "etcd-snapshot-2026-01-02_03-04-05.db.part",
            "etcd-snapshot-2026-01-02_03-04-05.db.json",
            "etcd-snapshot-2026-13-02_03-04-05.db",
            "etcd-snapshot-2026-01-02_03-04-05-x.db",
            "etcd-snapshot-2026-01-02_03-04-05_.db",
            "etcd-snapshot-2026-01-02_03-04-05_a/b.db",
            "etcd-snapshot-2026-01-02.db",
            "snapshot.db",
            "etcd-snapshot-2026-01-02_03-04-05é.db",
            "etcd-snapshot-2026-01-02_03-04-05.db.age.zst",
            "etcd-snapshot-2026-01-02_03-04-05.db.gz",
            "etcd-snapshot-2026-01-02_03-04-05-pki.tar",
        ] {
            assert_eq!(parse_backup_name(n), None, "{n}");
        }
    }

    #[test]
    fn layered_names_and_bundles() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let layers = Layers {
            zstd: true,
            age: true,
        };
        let n = layered_file_name(at, Some("pre-upgrade"), layers);
        assert_eq!(
            n,
            "etcd-snapshot-2026-01-02_03-04-05_pre-upgrade.db.zst.age"
        );
        let parsed = parse_backup_name(&n).unwrap();
        assert_eq!(parsed.layers, layers);
        assert_eq!(parsed.file_name(), n);
        let bundle = parsed.bundle_name();
        assert_eq!(
            bundle,
            "etcd-snapshot-2026-01-02_03-04-05_pre-upgrade-pki.tar.zst.age"
        );
        assert_eq!(parse_bundle_name(&bundle), Some(parsed));
        assert_eq!(parse_bundle_name(&n), None);
        assert_eq!(parse_backup_name(&bundle), None);
        // A label may end in "-pki": the extension still tells the two apart.
        let odd = layered_file_name(at, Some("x-pki"), Layers::PLAIN);
        assert_eq!(
            parse_backup_name(&odd).unwrap().label.as_deref(),
            Some("x-pki")
        );
        assert_eq!(parse_bundle_name(&odd), None);
    }

    #[test]
    fn suspects_are_future_times_and_names_newer_than_their_content() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        let mins = |m: i64| now + chrono::Duration::minutes(m);
        let content = |cluster: &str, revision: i64, at: DateTime<Utc>| {
            Some(Content {
                cluster_id: cluster.to_string(),
                revision,
                raft_index: revision as u64 + 10,
                finished_at: at,
            })
        };
        let facts = |taken_at, content| Facts { taken_at, content };
        let items = [
            // 0: a copy of an old backup given a future name.
            facts(mins(120), content("c1", 100, mins(-3000))),
            // 1: within the tolerance of a clock a little ahead: fine.
            facts(mins(4), None),
            // 2: the name is fine, the sidecar says it was taken in the future.
            facts(mins(-10), content("c1", 500, mins(60))),
            // 3: named later than 4 but holds an older revision of the same cluster.
            facts(mins(-20), content("c1", 300, mins(-20))),
            // 4 and 5: in order.
            facts(mins(-30), content("c1", 400, mins(-30))),
            facts(mins(-60), content("c1", 200, mins(-60))),
            // 6: another cluster (after a restore): revisions are not compared across clusters.
            facts(mins(-25), content("c2", 5, mins(-25))),
            // 7: no sidecar: only its name can be judged.
            facts(mins(-40), None),
        ];
        let got = suspects(&items, now);
        let flagged: Vec<usize> = (0..items.len()).filter(|&i| got[i].is_some()).collect();
        assert_eq!(flagged, vec![0, 2, 3], "{got:?}");
        assert!(got[0].as_deref().unwrap().contains("in the future"));
        assert!(got[2].as_deref().unwrap().contains("its sidecar says"));
        let why = got[3].as_deref().unwrap();
        assert!(
            why.contains("revision 300") && why.contains("revision 400"),
            "{why}"
        );
    }

    #[test]
    fn labels_are_restricted() {
        assert!(validate_label("pre-upgrade_1.31").is_ok());
        for bad in [
            "",
            "../x",
            "a/b",
            "a b",
            ".hidden",
            "-x",
            "é",
            &"x".repeat(65),
        ] {
            assert!(validate_label(bad).is_err(), "{bad:?}");
        }
    }

    /// Issue 13: a save whose member lookup was cut short wrote `"member_name": ""`.
    #[test]
    fn a_sidecar_with_an_empty_required_field_is_refused() {
        let json = serde_json::json!({
            "format_version": SIDECAR_FORMAT_VERSION,
            "tool": "etcd-backup",
            "tool_version": "0.1.0",
            "file": "etcd-snapshot-2026-01-02_03-04-05.db",
            "label": null,
            "started_at": "2026-01-02T03:04:05Z",
            "finished_at": "2026-01-02T03:04:06Z",
            "duration_seconds": 1.0,
            "endpoint": "https://127.0.0.1:2379",
            "member_name": "node1",
            "member_id": "8e9e05c52164694d",
            "cluster_id": "cdf818194e3a8c32",
            "server_version": "3.5.1",
            "revision": 5,
            "raft_index": 9,
            "raft_term": 2,
            "db_size": 20480,
            "snapshot_db_size": 20480,
            "file_size": 20512,
            "sha256": "ab",
            "db_sha256": "cd",
        });
        let good = Sidecar::parse(json.to_string().as_bytes(), "test").unwrap();
        assert!(good.missing_fields().is_empty());
        let dir = tempfile::tempdir().unwrap();
        let mut bad = good.clone();
        bad.member_name = String::new();
        bad.cluster_id = "0".to_string();
        assert_eq!(bad.missing_fields(), ["member_name", "cluster_id"]);
        let path = dir.path().join("x.db.json");
        let err = bad.write(&path, false).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        good.write(&path, false).unwrap();
    }
}
