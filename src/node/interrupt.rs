//! Signals while a restore changes the node.
//!
//! Once the steps start, the default actions would leave a node part-way: kubelet stopped, the
//! data dir moved aside, etcd down, until someone reads the journal. So while the steps run:
//!
//! - the first SIGINT or SIGTERM is only recorded; the restore stops at its next safe point
//!   (between steps, or in a wait) and rolls back, then exits 130;
//! - a second one stops the process at once (exit 130): the journal says where it stopped, for
//!   `--resume` or `--rollback`;
//! - SIGHUP is ignored: a dropped SSH session does not cut a restore in the middle.
//!
//! The rollback itself is not interrupted by the first signal ([`shield`]).
//!
//! `restore --output-dir` installs the same handlers ([`install_for_build`]): the first signal
//! stops the build at its next check and the temp dir is removed as on any failure (exit 130);
//! a second one stops at once and says which temp dir may be left.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crate::etcd::EtcdError;

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static SHIELDED: AtomicBool = AtomicBool::new(false);
static JSON: AtomicBool = AtomicBool::new(false);
/// Set by [`install_for_build`]: the second signal's message is about a temp dir, not a node.
static BUILD: AtomicBool = AtomicBool::new(false);

const SECOND_TEXT: &[u8] = b"etcd-backup: second interrupt: stopping now; the node may be \
part-way: `etcd-backup restore --rollback --yes` puts it back, `--resume --yes` finishes it \
(the journal says where it stopped)\n";
const SECOND_JSON: &[u8] = b"{\"level\":\"error\",\"msg\":\"second interrupt: stopping now; the \
node may be part-way\",\"hint\":\"`etcd-backup restore --rollback --yes` puts it back, \
`--resume --yes` finishes it (the journal says where it stopped)\"}\n";

const SHIELDED_TEXT: &[u8] = b"etcd-backup: interrupt: the rollback runs to its end (send it \
again to stop at once)\n";
const SHIELDED_JSON: &[u8] = b"{\"level\":\"warn\",\"msg\":\"interrupt: the rollback runs to its \
end (send it again to stop at once)\"}\n";

const SECOND_BUILD_TEXT: &[u8] = b"etcd-backup: second interrupt: stopping now; the unfinished \
build (`.<dir>.restoring` beside the output dir, or `.etcd-backup-restoring` inside a mount point) \
may be left: remove it\n";
const SECOND_BUILD_JSON: &[u8] = b"{\"level\":\"error\",\"msg\":\"second interrupt: stopping now; \
the unfinished build may be left\",\"hint\":\"remove `.<dir>.restoring` beside the output dir (or \
`.etcd-backup-restoring` inside a mount point)\"}\n";

/// write(2) of a static message to stderr: async-signal-safe.
fn say(text: &'static [u8], json: &'static [u8]) {
    let msg = if JSON.load(Ordering::SeqCst) {
        json
    } else {
        text
    };
    // SAFETY: write(2) is async-signal-safe; `msg` is a static buffer.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe calls here: atomics, write(2), _exit(2).
    if RECEIVED.swap(sig, Ordering::SeqCst) == 0 {
        // Between steps the restore says what it does next itself; a rollback never looks.
        if SHIELDED.load(Ordering::SeqCst) {
            say(SHIELDED_TEXT, SHIELDED_JSON);
        }
    } else {
        if BUILD.load(Ordering::SeqCst) {
            say(SECOND_BUILD_TEXT, SECOND_BUILD_JSON);
        } else {
            say(SECOND_TEXT, SECOND_JSON);
        }
        // SAFETY: _exit(2) is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
}

/// Installs the handlers for the rest of the process (the restore is its last act).
pub(crate) fn install(json_log: bool) -> std::io::Result<()> {
    JSON.store(json_log, Ordering::SeqCst);
    for (sig, handler) in [
        (
            libc::SIGINT,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        ),
        (
            libc::SIGTERM,
            on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        ),
        (libc::SIGHUP, libc::SIG_IGN),
    ] {
        // SAFETY: a zeroed sigaction is valid (empty mask, no flags); the handler only touches
        // atomics and async-signal-safe calls.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// [`install`] for `restore --output-dir`, which has no node to put back.
pub(crate) fn install_for_build(json_log: bool) -> std::io::Result<()> {
    BUILD.store(true, Ordering::SeqCst);
    install(json_log)
}

/// The first SIGINT/SIGTERM received since [`install`], if any.
pub(crate) fn received() -> Option<&'static str> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        libc::SIGTERM => Some("SIGTERM"),
        _ => Some("SIGINT"),
    }
}

/// From now on [`check`] never fails: the rollback runs to its end.
pub(crate) fn shield() {
    SHIELDED.store(true, Ordering::SeqCst);
}

/// An error if a signal came and the rollback has not begun: called in the waits of the steps.
pub(crate) fn check() -> Result<(), EtcdError> {
    if SHIELDED.load(Ordering::SeqCst) {
        return Ok(());
    }
    received().map_or(Ok(()), |sig| Err(EtcdError::Interrupted(sig)))
}
