//! Writes the CRDs into a directory (default `charts/lockstep/crds`).
//!
//! `cargo run -p lockstep-crd --bin crdgen [DIR]`

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("charts/lockstep/crds"), PathBuf::from);
    std::fs::create_dir_all(&dir)?;
    for (name, yaml) in lockstep_crd::crds_yaml()? {
        let path = dir.join(name);
        std::fs::write(&path, yaml)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
