//! Telling a forked child from its parent without a system call per seal.
//!
//! The nonce pool must be thrown away in a child after `fork()` (it is a copy of the parent's).
//! Comparing `getpid()` on every seal did that, but it is a system call, and it was a
//! large part of what made a 256-byte seal 1.9× raw aes-gcm (commit c48e58c, the
//! bench example). Instead two signals, each one load per seal:
//!
//! * a `pthread_atfork` child handler bumps a process generation (how rand's thread RNG
//!   detected forks) — every `fork()` made through libc;
//! * a page marked `MADV_WIPEONFORK` (Linux 4.14+) holds a non-zero canary that the kernel
//!   zeroes in the child of *any* fork, also a raw `clone(2)`/`fork(2)` system call that
//!   bypasses libc's handlers (it repeated 10,000 of 10,000 nonces before): a zero canary
//!   bumps the generation too.
//!
//! Where `MADV_WIPEONFORK` is refused (an older kernel, not Linux), the raw system call stays a
//! blind spot, and a warning says so once.

// Unsafe: registering the handler, and mapping the canary page. The handler itself only touches
// an atomic, which is async-signal-safe as a handler run in a child of a multi-threaded parent
// must be.
#![allow(unsafe_code)]

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// The canary in its wipe-on-fork page, or null where the kernel refused to mark one.
static CANARY: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());

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
        map_canary();
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
    let canary = CANARY.load(Ordering::Relaxed);
    // SAFETY: a non-null `CANARY` points into a page mapped once and never unmapped, aligned
    // for an `AtomicU64`; the kernel zeroes it in a child, which is a valid `AtomicU64`.
    if let Some(canary) = unsafe { canary.as_ref() }
        && canary.load(Ordering::Relaxed) == 0
    {
        // A child of a fork the atfork handler did not see (or did: one more bump is harmless).
        canary.store(1, Ordering::Relaxed);
        GENERATION.fetch_add(1, Ordering::SeqCst);
    }
    if REGISTERED.load(Ordering::Relaxed) {
        GENERATION.load(Ordering::Relaxed)
    } else {
        // Never equal to a generation: the top bit is set.
        u64::from(std::process::id()) | 1 << 63
    }
}

/// Maps one private anonymous page, marks it `MADV_WIPEONFORK` and arms the canary in it.
#[cfg(target_os = "linux")]
fn map_canary() {
    // SAFETY: an anonymous private mapping of one page with no address hint; the result is
    // checked against MAP_FAILED before use, and the page is never unmapped.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if page == libc::MAP_FAILED {
        tracing::warn!("no page for the fork canary: a raw fork system call is not detected");
        return;
    }
    // SAFETY: `page` is the start of the page just mapped, 4096 bytes long.
    let rc = unsafe { libc::madvise(page, 4096, libc::MADV_WIPEONFORK) };
    if rc != 0 {
        tracing::warn!(
            "MADV_WIPEONFORK refused (Linux before 4.14?): a raw fork system call is not detected"
        );
        return;
    }
    let canary = page.cast::<AtomicU64>();
    // SAFETY: the page is writable, page-aligned (so aligned for AtomicU64) and ours alone.
    unsafe { canary.write(AtomicU64::new(1)) };
    CANARY.store(canary, Ordering::SeqCst);
}

#[cfg(not(target_os = "linux"))]
fn map_canary() {
    tracing::warn!("no MADV_WIPEONFORK here: a raw fork system call is not detected");
}
