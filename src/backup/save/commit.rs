//! From the `.part` file to the commit: stream, check, the DR bundle, the sidecar, then the
//! renames. A failure on the way removes what this run wrote ([`abandon`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::bundle::{write_bundle, WrittenBundle};
use super::check::{check_part, Checked};
use super::preflight::Member;
use super::prepare::Prepared;
use super::stop::{failpoint, stopped};
use super::stream::{stream, Streamed};
use super::temp_file::{abandon, TempFile};
use crate::backup::catalog::{self, Sidecar};
use crate::cancel::Deadline;
use crate::diagnostics::HintExt;
use crate::fsutil::{self, FsError};
use crate::output::{human_bytes, Printer};

/// The files of the backup being written, under their final names.
pub(super) struct Paths {
    pub file: PathBuf,
    pub sidecar: PathBuf,
    /// The DR bundle's file name and path, with `--with-pki`.
    pub bundle_name: Option<String>,
    pub bundle: Option<PathBuf>,
}

impl Paths {
    pub(super) fn new(dir: &Path, name: &str, with_pki: bool) -> Paths {
        let bundle_name = with_pki.then(|| {
            catalog::parse_backup_name(name)
                .map(|n| n.bundle_name())
                .unwrap_or_default()
        });
        Paths {
            file: dir.join(name),
            sidecar: dir.join(catalog::sidecar_name(name)),
            bundle: bundle_name.as_ref().map(|n| dir.join(n)),
            bundle_name,
        }
    }

    /// `save FILE` never replaces a file: refuses when the file or its sidecar exists.
    pub(super) fn refuse_existing(&self) -> anyhow::Result<()> {
        for p in [Some(&self.file), Some(&self.sidecar)]
            .into_iter()
            .flatten()
        {
            if p.symlink_metadata().is_ok() {
                return Err(FsError::Exists { path: p.clone() }).hint(
                    "save never replaces a file: name another FILE, or move that one away first",
                );
            }
        }
        Ok(())
    }
}

/// What the phases up to the commit work from.
pub(super) struct Job<'a> {
    pub prep: &'a Prepared,
    pub dir: &'a Path,
    pub name: &'a str,
    pub label: Option<&'a str>,
    pub paths: &'a Paths,
    pub started: Instant,
    pub started_at: DateTime<Utc>,
    pub bound: Deadline,
    /// `--skip-hash-check`: the file's `HashKV` is recorded, not compared with the members'.
    pub skip_hash_check: bool,
}

/// What this run wrote before the commit and must remove if it does not get there.
struct Writing {
    part: TempFile,
    bundle: Option<WrittenBundle>,
    written: Vec<PathBuf>,
}

/// Writes the backup under temp names, checks it, and commits it: the sidecar, then the bundle,
/// then the backup itself under its final name. On failure removes what it wrote.
pub(super) fn write_and_commit(
    job: &Job<'_>,
    member: &mut Member,
    printer: &Printer,
) -> anyhow::Result<Sidecar> {
    let part_path = fsutil::temp_name(&job.paths.file);
    let mut w = Writing {
        part: TempFile::create(&part_path)?,
        bundle: None,
        written: Vec::new(),
    };
    match w.write(job, member, &part_path, printer) {
        Ok(done) => Ok(done),
        Err(e) => {
            let mut temps = vec![&mut w.part];
            if let Some(b) = w.bundle.as_mut() {
                temps.push(&mut b.part);
            }
            Err(abandon(e, temps, &w.written, job.dir))
        }
    }
}

impl Writing {
    fn write(
        &mut self,
        job: &Job<'_>,
        member: &mut Member,
        part_path: &Path,
        printer: &Printer,
    ) -> anyhow::Result<Sidecar> {
        let bound = &job.bound;
        let (streamed, checked) = self.stream_and_check(job, member, part_path, printer)?;
        failpoint("save-hashkv", bound, printer);
        let proof = super::proof::prove(job, member, checked.hash_kv, printer)?;
        bound
            .check()
            .map_err(|e| stopped(e, "comparing the snapshot's HashKV"))?;
        if let (Some(n), Some(p)) = (&job.paths.bundle_name, &job.paths.bundle) {
            failpoint("save-bundle", bound, printer);
            self.bundle = Some(write_bundle(
                &job.prep.pki_sources,
                n,
                p,
                job.prep.layers,
                &job.prep.recipients,
                printer,
            )?);
            bound
                .check()
                .map_err(|e| stopped(e, "writing the DR bundle"))?;
        }
        let sidecar = sidecar(
            job,
            member,
            &streamed,
            &checked,
            &proof,
            self.bundle.as_ref(),
        );
        failpoint("save-commit", bound, printer);
        // The last point where a signal or --timeout still means "nothing saved".
        bound
            .check()
            .map_err(|e| stopped(e, "committing the backup"))?;
        // The commit: sidecar, then bundle, then the backup itself under its final name.
        let paths = job.paths;
        self.written.push(fsutil::temp_name(&paths.sidecar));
        sidecar.write(&paths.sidecar, false)?;
        self.written.push(paths.sidecar.clone());
        failpoint("save-rename", bound, printer);
        if let (Some(b), Some(p)) = (self.bundle.as_mut(), &paths.bundle) {
            b.part.commit(p)?;
            self.written.push(p.clone());
        }
        self.part.commit(&paths.file)?;
        Ok(sidecar)
    }

    /// Streams the snapshot into the `.part` file, fsyncs it, and checks what reached the disk.
    fn stream_and_check(
        &mut self,
        job: &Job<'_>,
        member: &mut Member,
        part_path: &Path,
        printer: &Printer,
    ) -> anyhow::Result<(Streamed, Checked)> {
        let (layers, recipients) = (job.prep.layers, &job.prep.recipients);
        let check_key = job.prep.check_key.as_ref();
        let bound = &job.bound;
        let session = &mut member.session;
        printer.phase(format!(
            "streaming snapshot ({}) from {} into {}{}",
            human_bytes(member.status.db_size.max(0) as u64),
            session.endpoint(),
            part_path.display(),
            match (layers.zstd, layers.age) {
                (false, false) => String::new(),
                (true, false) => ", compressing".to_string(),
                (false, true) => format!(", encrypting to {} recipient(s)", recipients.len()),
                (true, true) => format!(
                    ", compressing and encrypting to {} recipient(s)",
                    recipients.len()
                ),
            }
        ));
        let streamed = stream(
            session, &self.part, part_path, layers, recipients, check_key, printer,
        )?;
        self.part
            .file()
            .sync_all()
            .map_err(|e| FsError::io("cannot fsync", part_path, e))?;
        bound
            .check()
            .map_err(|e| stopped(e, "streaming the snapshot"))?;
        let checked = check_part(
            part_path,
            layers,
            &streamed,
            check_key,
            session.endpoint(),
            bound,
            printer,
        )?;
        bound
            .check()
            .map_err(|e| stopped(e, "verifying the file"))?;
        Ok((streamed, checked))
    }
}

/// The sidecar of the backup just written and checked.
fn sidecar(
    job: &Job<'_>,
    member: &Member,
    streamed: &Streamed,
    checked: &Checked,
    proof: &crate::backup::catalog::HashKvRecord,
    bundle: Option<&WrittenBundle>,
) -> Sidecar {
    let (layers, status) = (job.prep.layers, &member.status);
    let received = &streamed.received;
    let finished_at = Utc::now();
    Sidecar {
        format_version: catalog::SIDECAR_FORMAT_VERSION,
        tool: env!("CARGO_PKG_NAME").to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        file: job.name.to_string(),
        label: job.label.map(str::to_string),
        started_at: job.started_at,
        finished_at,
        duration_seconds: job.started.elapsed().as_secs_f64(),
        endpoint: member.session.endpoint().to_string(),
        member_name: member.name.clone(),
        member_id: catalog::id_hex(status.member_id),
        cluster_id: catalog::id_hex(status.cluster_id),
        server_version: status.version.clone(),
        storage_version: checked.status.version.clone().filter(|v| !v.is_empty()),
        revision: checked.status.revision,
        raft_index: status.raft_index,
        raft_term: status.raft_term,
        db_size: status.db_size,
        snapshot_db_size: received.db_size,
        file_size: checked.file_size,
        sha256: hex::encode(checked.file_sha256),
        db_sha256: hex::encode(received.db_sha256),
        verified_at: Some(Utc::now()),
        layers: (!layers.is_plain()).then(|| layers.describe().to_string()),
        recipients: job
            .prep
            .recipients
            .iter()
            .map(ToString::to_string)
            .collect(),
        snapshot_sha256: (!layers.is_plain()).then(|| hex::encode(received.file_sha256)),
        pki_bundle: bundle.map(|b| b.record.clone()),
        failed_verification: None,
        hash_kv: Some(proof.clone()),
        drill: None,
    }
}
