//! Signals and `--timeout` for `save`, in the phases that do not talk to etcd.
//!
//! The etcd calls notice SIGINT/SIGTERM and the run's deadline themselves (tokio's signal
//! streams, in [`crate::etcd`]); but once a signal handler is installed the default action no
//! longer ends the process, so the other phases (verifying the file, the DR bundle, the commit,
//! the upload, the prune) would run on and exit 0. Here the first SIGINT/SIGTERM is recorded in
//! an atomic, beside tokio's handler (signal-hook-registry runs every registered action), and
//! `save` asks [`check`] at each point where stopping is safe. SIGHUP is ignored.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::etcd::EtcdError;

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static RUN_DEADLINE: OnceLock<Deadline> = OnceLock::new();

/// Records SIGINT and SIGTERM from now on, for the rest of the process, and ignores SIGHUP: a
/// dropped SSH session lets an ad hoc save run to its end (output to the gone terminal is
/// dropped) instead of killing it part-way, as a node restore does.
pub(crate) fn install() -> std::io::Result<()> {
    // SAFETY: setting SIGHUP's disposition to SIG_IGN installs no handler code.
    if unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(std::io::Error::last_os_error());
    }
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the action only does an atomic compare-and-swap, which is async-signal-safe.
        unsafe {
            signal_hook_registry::register(sig, move || {
                let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
            })?;
        }
    }
    Ok(())
}

/// The first SIGINT/SIGTERM received since [`install`], if any.
pub(crate) fn received() -> Option<&'static str> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        libc::SIGTERM => Some("SIGTERM"),
        _ => Some("SIGINT"),
    }
}

/// Makes `deadline` the one [`check`] applies, for code that is not handed it (the prune that
/// `save --prune` runs). Set once per process; later calls change nothing.
pub(crate) fn set_deadline(deadline: Deadline) {
    let _ = RUN_DEADLINE.set(deadline);
}

/// An error if a signal came since [`install`] or the deadline of [`set_deadline`] passed;
/// always `Ok` in a run that installed neither.
pub(crate) fn check() -> Result<(), EtcdError> {
    match RUN_DEADLINE.get() {
        Some(d) => d.check(),
        None => received().map_or(Ok(()), |sig| Err(EtcdError::Interrupted(sig))),
    }
}

/// The run's bound: `--timeout` from the start of the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub at: Instant,
    pub timeout: Duration,
}

impl Deadline {
    /// An error if a signal came or the deadline passed: the run must stop here.
    pub(crate) fn check(&self) -> Result<(), EtcdError> {
        if let Some(sig) = received() {
            return Err(EtcdError::Interrupted(sig));
        }
        if Instant::now() >= self.at {
            return Err(EtcdError::Deadline {
                after: self.timeout,
            });
        }
        Ok(())
    }

    /// Sleeps up to `d`, waking early (with the error) on a signal or at the deadline.
    pub(crate) fn sleep(&self, d: Duration) -> Result<(), EtcdError> {
        let until = Instant::now() + d;
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            std::thread::sleep((until - now).min(Duration::from_millis(20)));
        }
    }
}

/// A reader that fails once a signal came or the deadline passed, so that a long copy (an
/// upload) stops within one read instead of running to its end.
pub(crate) struct Reader<R> {
    pub inner: R,
    pub deadline: Deadline,
}

impl<R: std::io::Read> std::io::Read for Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.deadline.check().map_err(std::io::Error::other)?;
        self.inner.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_passed_deadline_stops_checks_sleeps_and_reads() {
        let past = Deadline {
            at: Instant::now(),
            timeout: Duration::from_secs(7),
        };
        assert!(matches!(
            past.check(),
            Err(EtcdError::Deadline { after }) if after == Duration::from_secs(7)
        ));
        let t = Instant::now();
        assert!(past.sleep(Duration::from_secs(60)).is_err());
        assert!(t.elapsed() < Duration::from_secs(1));
        let mut r = Reader {
            inner: &b"data"[..],
            deadline: past,
        };
        let err = r.read(&mut [0u8; 4]).unwrap_err();
        assert!(err.to_string().contains("--timeout"), "{err}");

        let later = Deadline {
            at: Instant::now() + Duration::from_secs(60),
            timeout: Duration::from_secs(60),
        };
        let mut r = Reader {
            inner: &b"data"[..],
            deadline: later,
        };
        let mut got = String::new();
        r.read_to_string(&mut got).unwrap();
        assert_eq!(got, "data");
        assert!(later.sleep(Duration::from_millis(30)).is_ok());
    }
}
