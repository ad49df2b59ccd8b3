//! Errors as the operator sees them: `error: …`, each `Caused by: …`, and a `hint: …` saying what
//! to do. Exit statuses are decided here: [`ExitStatus`], and which errors are interruptions.

use std::fmt;

use crate::etcd::EtcdError;
use crate::fsutil::FsError;

/// How a run ends: the documented exit codes (`--help`, the README, the man pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0.
    Success,
    /// 1: the answer is "no" (a check found a problem, or a prompt was declined).
    Failure,
    /// 2: an error; the message says what failed.
    Error,
    /// 3: done part-way (a backup saved but not pruned, a restore stopped part-way).
    Partial,
    /// 130: interrupted by SIGINT or SIGTERM.
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Error => 2,
            ExitStatus::Partial => 3,
            ExitStatus::Interrupted => 130,
        }
    }

    /// The status a run that ends with `err` exits with: [`ExitStatus::Interrupted`] when a
    /// signal stopped it (see [`interrupted_by`]), else [`ExitStatus::Error`].
    pub fn of_error(err: &anyhow::Error) -> ExitStatus {
        match interrupted_by(err) {
            Some(_) => ExitStatus::Interrupted,
            None => ExitStatus::Error,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

/// Short names of the statuses.
pub(crate) mod exit {
    use super::ExitStatus;

    pub(crate) const SUCCESS: ExitStatus = ExitStatus::Success;
    /// The answer is "no": a check found a problem.
    pub(crate) const NO: ExitStatus = ExitStatus::Failure;
    pub(crate) const ERROR: ExitStatus = ExitStatus::Error;
    /// A restore stopped part-way.
    pub(crate) const PARTIAL: ExitStatus = ExitStatus::Partial;
}

/// The signal that stopped the run that ended with `err`, if one did: the one place that tells
/// an interruption from an error. Signals reach errors as [`EtcdError::Interrupted`], from calls
/// to etcd, `crate::cancel` (save's other phases) and `crate::node::interrupt` (restores).
pub(crate) fn interrupted_by(err: &anyhow::Error) -> Option<&'static str> {
    causes(err)
        .into_iter()
        .find_map(|c| match c.downcast_ref::<EtcdError>() {
            Some(EtcdError::Interrupted(sig)) => Some(*sig),
            _ => None,
        })
}

/// Every error in `err`'s chain, including those a [`Hinted`] hides (its `source` skips the
/// error it wraps, so that the chain reads as if the hint were not there).
fn causes(err: &anyhow::Error) -> Vec<&(dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    for c in err.chain() {
        out.push(c);
        if let Some(h) = c.downcast_ref::<Hinted>() {
            out.extend(causes(&h.inner));
        }
    }
    out
}

/// An error with advice attached. Displays as the error it wraps, so the chain reads unchanged.
#[derive(Debug)]
pub(crate) struct Hinted {
    pub hint: String,
    inner: anyhow::Error,
}

impl Hinted {
    /// The error the hint is attached to.
    pub(crate) fn inner(&self) -> &anyhow::Error {
        &self.inner
    }
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

/// Attaches a hint to an error.
pub(crate) fn with_hint(err: impl Into<anyhow::Error>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        hint: hint.into(),
        inner: err.into(),
    })
}

/// `.hint("…")` on results.
pub(crate) trait HintExt<T> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> HintExt<T> for Result<T, E> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| with_hint(e, hint))
    }
}

/// Advice for a non-root user denied access to a root-owned path (kubeadm's certificates in
/// /etc/kubernetes/pki, /var/lib/etcd, a backup dir made by root): "run as root". `None` when the
/// error is no such denial, or when this already runs as root.
pub(crate) fn root_hint(err: &anyhow::Error) -> Option<String> {
    let euid = rustix::process::geteuid();
    if euid.is_root() {
        return None;
    }
    fn denied<'a>(c: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::path::Path> {
        let (path, source) = match c.downcast_ref::<EtcdError>() {
            Some(EtcdError::ReadTls { path, source, .. }) => (path, source),
            _ => match c.downcast_ref::<FsError>() {
                Some(FsError::Io { path, source, .. }) => (path, source),
                _ => return None,
            },
        };
        (source.kind() == std::io::ErrorKind::PermissionDenied).then_some(path.as_path())
    }
    let path = causes(err).into_iter().find_map(denied)?;
    // The path itself, or the nearest ancestor this user can stat.
    let owner = path
        .ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .find_map(|p| std::fs::metadata(p).ok().map(|m| (p, m)))?;
    use std::os::unix::fs::MetadataExt;
    (owner.1.uid() == 0).then(|| {
        format!(
            "{} belongs to root and this runs as uid {}: run etcd-backup as root (sudo)",
            owner.0.display(),
            euid.as_raw()
        )
    })
}

/// An error taken apart: its message, each cause that adds something, and its hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parts {
    pub msg: String,
    pub causes: Vec<String>,
    pub hints: Vec<String>,
}

/// Splits an error into what `render` prints and what the JSON log lines carry.
pub(crate) fn parts(err: &anyhow::Error) -> Parts {
    let mut causes = Vec::new();
    let mut last = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        // Some libraries repeat their source in their own message; print each text once.
        if text != last && !last.ends_with(&text) {
            causes.push(text.clone());
        }
        last = text;
    }
    fn hints(err: &anyhow::Error, out: &mut Vec<String>) {
        for c in err.chain() {
            if let Some(h) = c.downcast_ref::<Hinted>() {
                out.push(h.hint.clone());
                // The rest of the chain is the wrapped error's, which may hold hints of its own
                // (a hint on a hint hides it from `chain`).
                return hints(&h.inner, out);
            }
        }
    }
    let mut hints_found = Vec::new();
    hints(err, &mut hints_found);
    let hints = hints_found;
    Parts {
        msg: err.to_string(),
        causes,
        hints,
    }
}

/// Renders an error for stderr.
pub(crate) fn render(err: &anyhow::Error) -> String {
    let p = parts(err);
    let mut out = format!("error: {}\n", p.msg);
    for c in p.causes {
        out.push_str(&format!("  Caused by: {c}\n"));
    }
    for h in p.hints {
        out.push_str(&format!("  hint: {h}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn hints_and_causes_are_shown() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let err: anyhow::Result<()> = Err(io.into());
        let err = err
            .context("cannot read client key /k")
            .hint("pass --key")
            .context("save failed")
            .unwrap_err();
        let text = render(&err);
        assert_eq!(
            text,
            "error: save failed\n  Caused by: cannot read client key /k\n  \
             Caused by: No such file or directory\n  hint: pass --key\n"
        );
        assert_eq!(ExitStatus::of_error(&err), ExitStatus::Error);
    }

    #[test]
    fn interruption_exits_130() {
        let err = with_hint(EtcdError::Interrupted("SIGINT"), "run it again");
        assert_eq!(ExitStatus::of_error(&err), ExitStatus::Interrupted);
        assert_eq!(ExitStatus::Interrupted.code(), 130);
    }
}
