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
            let mut seen: HashSet<[u8; 12]> = before.iter().copied().collect();
            let mut repeats = 0usize;
            for n in parent.iter().chain(child.iter()) {
                if !seen.insert(*n) {
                    repeats += 1;
                }
            }
            println!(
                "fork_nonces: {} nonces from the parent, {} from the child, {repeats} repeated",
                parent.len() + before.len(),
                child.len()
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
