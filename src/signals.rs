//! Stop requests: SIGTERM, SIGINT and SIGHUP to a `run` (systemd stopping
//! it, a shutdown, a person at a terminal) are noted instead of killing the
//! process at once, so that the run stops its jobs, records them and itself
//! as interrupted, and leaves nothing of them running on a test
//! environment that would then look free.

use std::sync::atomic::{AtomicI32, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn note(sig: libc::c_int) {
    RECEIVED.store(sig, Ordering::SeqCst);
}

/// From now on, SIGTERM, SIGINT and SIGHUP are noted, not fatal; one
/// that was ignored when the process started (`nohup`) stays ignored.
pub fn catch_stop_requests() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; the previous disposition is put back when it
        // was "ignore".
        unsafe {
            let old = libc::signal(sig, note as *const () as libc::sighandler_t);
            if old == libc::SIG_IGN {
                libc::signal(sig, libc::SIG_IGN);
            }
        }
    }
}

extern "C" fn ignore(_: libc::c_int) {}

/// From now on, SIGHUP does nothing here: a job's supervisor outlives the
/// terminal or session that started its run. A handler, not SIG_IGN: the
/// job it starts gets SIGHUP's default back when it execs.
pub fn ignore_hangup() {
    // SAFETY: the handler does nothing at all.
    unsafe {
        libc::signal(libc::SIGHUP, ignore as *const () as libc::sighandler_t);
    }
}

/// The stop signal received, if any.
pub fn stop_requested() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}
