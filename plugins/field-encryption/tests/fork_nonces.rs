//! A process that sealed, then forked: parent and child must never hand out the same nonce under
//! the same key (with AES-GCM that is keystream reuse and forgeable tags).
//!
//! Runs without the test harness so the process has one thread when it forks; the child writes
//! its nonces to a file and exits, the parent compares.

use std::collections::HashSet;
use std::process::ExitCode;

use lockstep_field_encryption::envelope::seal;
use lockstep_field_encryption::{KeyMaterial, TenantKeys};

const PER_SIDE: usize = 10_000;

fn nonces(keys: &TenantKeys, n: usize) -> Vec<[u8; 12]> {
    (0..n)
        .map(|_| {
            let env = seal(keys, "notes.body", b"x").expect("seal");
            env[6..18].try_into().expect("12 bytes")
        })
        .collect()
}

/// A child made by the raw `clone(2)` system call (what `fork(2)` is), bypassing libc's fork
/// handlers: the nonce pool must notice anyway (the wipe-on-fork canary). The parent seals
/// after the clone too; returns the parent's and the child's nonces.
#[allow(unsafe_code)]
fn raw_clone_nonces(keys: &TenantKeys, file: &std::path::Path) -> (Vec<[u8; 12]>, Vec<[u8; 12]>) {
    // SAFETY: clone with only SIGCHLD and no new stack behaves as fork(2) without libc's
    // handlers; this process has one thread. The child only seals, writes a file and _exits.
    let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD, 0, 0, 0, 0) };
    assert!(pid >= 0, "clone failed");
    if pid == 0 {
        let bytes: Vec<u8> = nonces(keys, PER_SIDE).concat();
        let code = i32::from(std::fs::write(file, bytes).is_err()) * 2;
        // SAFETY: ends the child at once, without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let parent = nonces(keys, PER_SIDE);
    let mut status = 0;
    // SAFETY: waits for the child just made; `status` is a valid out pointer.
    let waited = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
    assert_eq!(waited, pid as libc::pid_t);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status}"
    );
    let child = std::fs::read(file)
        .expect("child's nonces")
        .chunks_exact(12)
        .map(|c| c.try_into().expect("12 bytes"))
        .collect();
    (parent, child)
}

fn main() -> ExitCode {
    let keys = TenantKeys::new("acme", 1, &[(1, KeyMaterial::new([7; 32]))], None).expect("keys");
    // One seal before the fork: the thread's nonce pool is filled and 63 nonces wait in it.
    let before = nonces(&keys, 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let child_file = dir.path().join("child-nonces");

    match fork::fork().expect("fork") {
        fork::Fork::Child => {
            let bytes: Vec<u8> = nonces(&keys, PER_SIDE).concat();
            let code = match std::fs::write(&child_file, bytes) {
                Ok(()) => 0,
                Err(_) => 2,
            };
            std::process::exit(code);
        }
        fork::Fork::Parent(pid) => {
            let parent = nonces(&keys, PER_SIDE);
            let status = fork::waitpid(pid).expect("waitpid");
            assert_eq!(status, 0, "child exit status");
            let raw = std::fs::read(&child_file).expect("child's nonces");
            let child: Vec<[u8; 12]> = raw
                .chunks_exact(12)
                .map(|c| c.try_into().expect("12 bytes"))
                .collect();
            assert_eq!(child.len(), PER_SIDE);
            let (raw_parent, raw_child) = raw_clone_nonces(&keys, &dir.path().join("raw-child"));
            let mut seen: HashSet<[u8; 12]> = before.iter().copied().collect();
            let mut repeats = 0usize;
            let all = [&parent, &child, &raw_parent, &raw_child];
            for n in all.into_iter().flatten() {
                if !seen.insert(*n) {
                    repeats += 1;
                }
            }
            println!(
                "fork_nonces: {} nonces from the parent, {} from the child, {} from a raw clone(2) child, {repeats} repeated",
                parent.len() + raw_parent.len() + before.len(),
                child.len(),
                raw_child.len()
            );
            if repeats == 0 {
                println!("1 passed, 0 failed");
                ExitCode::SUCCESS
            } else {
                println!("0 passed, 1 failed");
                ExitCode::FAILURE
            }
        }
    }
}
