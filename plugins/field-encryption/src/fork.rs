//! Telling a forked child from its parent without a system call per seal.
//!
//! The nonce pool must be thrown away in a child after `fork()` (it is a copy of the parent's).
//! Comparing `getpid()` on every seal did that, but it is a system call, and it was a
//! large part of what made a 256-byte seal 1.9× raw aes-gcm (commit c48e58c, the
//! bench example). Instead a `pthread_atfork` child handler bumps
//! a process generation, and the pool compares one atomic load. This is how rand's thread RNG
//! detected forks; the handler runs in the child of every `fork()` made through libc
//! (`std::process::Command` and `posix_spawn` exec a new image anyway). A raw `clone(2)` system
//! call that bypasses libc is not seen: such a child must not seal before calling `exec`.

// The one unsafe call of the library: registering the handler. The handler itself only touches
// an atomic, which is async-signal-safe as a handler run in a child of a multi-threaded parent
// must be.
#![allow(unsafe_code)]

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Starts at 1, so a pool that was never filled (generation 0) always refills.
static GENERATION: AtomicU64 = AtomicU64::new(1);
static REGISTER: Once = Once::new();
static REGISTERED: AtomicBool = AtomicBool::new(false);

extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// The current process generation: it differs in a child after `fork()` from what the parent
/// saw. If the handler could not be registered, the process id (a system call) stands in.
pub(crate) fn generation() -> u64 {
    REGISTER.call_once(|| {
        // SAFETY: `in_child` is a plain `extern "C" fn` that only increments an atomic; the
        // other two handlers are absent. pthread_atfork has no other preconditions.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        REGISTERED.store(rc == 0, Ordering::SeqCst);
        if rc != 0 {
            tracing::warn!(
                rc,
                "pthread_atfork failed: nonce pools check the process id instead"
            );
        }
    });
    if REGISTERED.load(Ordering::Relaxed) {
        GENERATION.load(Ordering::Relaxed)
    } else {
        // Never equal to a generation: the top bit is set.
        u64::from(std::process::id()) | 1 << 63
    }
}
