//! Keys from files: a Kubernetes Secret mounted as a directory, or any directory of files.
//!
//! ```text
//! <dir>/<tenant>.<key_id>.key       exactly 32 raw bytes           (one file per key id)
//! <dir>/<tenant>.<key_id>.key.hex   64 hex digits, one newline at most
//! <dir>/<tenant>.<key_id>.key.b64   base64 of 32 bytes, one newline at most
//! <dir>/<tenant>.current            the key id for new writes       (default: the highest id)
//! <dir>/<tenant>.blind[.hex|.b64]   blind-index key                 (optional)
//! ```
//!
//! The suffix declares the encoding, so a hex AES-128 key, a passphrase or "31 characters and a
//! newline" are refused instead of being taken as 32 raw bytes. A key id has one spelling (`1`,
//! never `01`) and one file; two files for one key are refused, naming both. Tenant ids may
//! contain `.`: `acme.eu.1.key` is tenant `acme.eu`'s and never breaks loading `acme`.
//!
//! Files must not be readable by other users. The rule is PostgreSQL's for its TLS key: a file
//! owned by the process's user has no group or other permissions (0600, 0400); a file owned by
//! root may also be read by its group (0640, 0440), which is how Kubernetes mounts a Secret for a
//! non-root pod (`fsGroup` and `defaultMode: 0440`). [`FileKeys::allow_loose_permissions`]
//! switches the check off, for development stacks that bind-mount a checkout. Every file read
//! (keys, the blind-index key, `<tenant>.current`) must belong to the process's user or root,
//! and the directory must not let other users add or swap files (writable by others only with
//! the sticky bit, as a Secret volume's root-owned 1777 tmpfs is).

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{KeyEncoding, KeyMaterial, TenantKeys, validate_tenant};

/// Keys read from a directory of files (see the module docs for the layout and the rules).
#[derive(Debug, Clone)]
pub struct FileKeys {
    dir: PathBuf,
    loose_permissions: bool,
}

/// What a file in the directory is for one tenant.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Key(u32, KeyEncoding),
    Blind(KeyEncoding),
    /// `<tenant>.<id>.disabled`: key `id` is kept but opens nothing (see `crate::revoke`).
    Disabled(u32),
    Other,
}

fn encoding(suffix: &str) -> Option<KeyEncoding> {
    match suffix {
        "" => Some(KeyEncoding::Raw),
        ".hex" => Some(KeyEncoding::Hex),
        ".b64" => Some(KeyEncoding::Base64),
        _ => None,
    }
}

/// What the file named `name` is for `tenant`; `Err` names a file that is the tenant's but whose
/// name is not one of the accepted spellings.
pub(crate) fn role(tenant: &str, name: &str) -> std::result::Result<Role, String> {
    let Some(rest) = name.strip_prefix(tenant).and_then(|r| r.strip_prefix('.')) else {
        return Ok(Role::Other);
    };
    if let Some(suffix) = rest.strip_prefix("blind") {
        return match encoding(suffix) {
            Some(enc) => Ok(Role::Blind(enc)),
            // `acme.blind.txt` is misspelt; `acme.blind.1.key` and `acme.blindfold.1.key` are
            // other tenants' files.
            None if suffix.starts_with('.') && !suffix[1..].contains('.') => Err(format!(
                "`{name}`: a blind-index key file ends in `.blind`, `.blind.hex` or `.blind.b64`"
            )),
            None => Ok(Role::Other),
        };
    }
    if let Some(id) = rest.strip_suffix(".disabled") {
        return Ok(canonical_id(id).map_or(Role::Other, Role::Disabled));
    }
    let Some((id, suffix)) = rest.split_once(".key") else {
        return Ok(Role::Other);
    };
    // `acme.eu.1.key` seen by tenant `acme`: another tenant's file. `acme.1.keyring`: not a key.
    if id.contains('.') || !(suffix.is_empty() || suffix.starts_with('.')) {
        return Ok(Role::Other);
    }
    let enc = encoding(suffix).ok_or_else(|| {
        format!("`{name}`: unknown key encoding `{suffix}` (use `.key`, `.key.hex` or `.key.b64`)")
    })?;
    let id = canonical_id(id)
        .ok_or_else(|| format!("`{name}`: the key id must be a number without leading zeros"))?;
    Ok(Role::Key(id, enc))
}

/// Digits only, no leading zero: `acme.1.key` and `acme.01.key` would both be id 1.
fn canonical_id(id: &str) -> Option<u32> {
    let canonical = !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'));
    id.parse().ok().filter(|_| canonical)
}

/// Why a file owned by `owner` must not hold a key for a process running as `me`: another
/// user could replace it (PostgreSQL's rule for `ssl_key_file`: the server's user or root).
pub(crate) fn owner_problem(owner: u32, me: u32) -> Option<String> {
    (owner != me && owner != 0).then(|| {
        format!("it is owned by uid {owner}, not by this process's user (uid {me}) or root")
    })
}

/// Why a key directory with this mode and owner lets others plant or swap key files, or `None`.
/// Writable by group or others is allowed only with the sticky bit on a directory of root or of
/// this user (a Kubernetes Secret volume is a root-owned 1777 tmpfs): then nobody else can
/// remove or rename our files, and a file someone else adds fails [`owner_problem`].
pub(crate) fn dir_problem(mode: u32, owner: u32, me: u32) -> Option<String> {
    let writable_by_others = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    if !writable_by_others || (sticky && (owner == 0 || owner == me)) {
        return None;
    }
    Some(format!(
        "directory mode {:04o} lets other users add, replace or remove key files (chmod 0700, or 1777 owned by root)",
        mode & 0o7777
    ))
}

/// The effective uid of this process, from `/proc/self/status` (Linux; no `unsafe`).
#[cfg(unix)]
pub(crate) fn process_uid() -> std::result::Result<u32, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| {
        format!("cannot tell this process's user to check key file owners: /proc/self/status: {e}")
    })?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .ok_or_else(|| "cannot tell this process's user: no Uid line in /proc/self/status".into())
}

/// Why a file with this mode and owner must not hold a key, or `None` when it may.
pub(crate) fn mode_problem(mode: u32, owner: u32) -> Option<String> {
    let mode = mode & 0o777;
    if mode & 0o007 != 0 {
        return Some(format!(
            "mode {mode:04o} lets every user of the machine read or change it"
        ));
    }
    if mode & 0o070 == 0 {
        return None;
    }
    // Root-owned, group may only read: a Secret volume mounted for the pod's fsGroup.
    if owner == 0 && mode & 0o030 == 0 {
        return None;
    }
    Some(format!(
        "mode {mode:04o} lets its group access it; only a root-owned file may be group-readable (0440)"
    ))
}

impl FileKeys {
    /// The key directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads keys from `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileKeys {
            dir: dir.into(),
            loose_permissions: false,
        }
    }

    /// Loads key files whatever their permissions. For development stacks whose keys are files
    /// of a checkout (0644); never for real keys.
    pub fn allow_loose_permissions(mut self, allow: bool) -> Self {
        self.loose_permissions = allow;
        self
    }

    /// Checks who may read and who may change the file at `path` (a key, the blind-index key,
    /// `<tenant>.current`): its mode, and that it belongs to this process's user or root.
    fn check_file(&self, path: &Path) -> std::result::Result<(), String> {
        #[cfg(unix)]
        if !self.loose_permissions {
            use std::os::unix::fs::MetadataExt as _;
            let shown = path.display();
            let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
            let me = process_uid()?;
            if let Some(problem) =
                mode_problem(meta.mode(), meta.uid()).or_else(|| owner_problem(meta.uid(), me))
            {
                return Err(format!(
                    "{shown}: {problem} (chmod 0400 and chown, or allow loose permissions for a development stack)"
                ));
            }
        }
        Ok(())
    }

    /// The directory must not let other users plant or swap key files.
    fn check_dir(&self) -> std::result::Result<(), String> {
        #[cfg(unix)]
        if !self.loose_permissions {
            use std::os::unix::fs::MetadataExt as _;
            let shown = self.dir.display();
            let meta = std::fs::metadata(&self.dir).map_err(|e| format!("{shown}: {e}"))?;
            if let Some(problem) = dir_problem(meta.mode(), meta.uid(), process_uid()?) {
                return Err(format!("{shown}: {problem}"));
            }
        }
        Ok(())
    }

    /// Reads one key file, after checking who may read it. The bytes are wiped once decoded.
    fn read(&self, path: &Path, encoding: KeyEncoding) -> std::result::Result<KeyMaterial, String> {
        let shown = path.display();
        self.check_file(path)?;
        let data = Zeroizing::new(std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?);
        KeyMaterial::decode(&data, encoding).map_err(|e| format!("{shown}: {e}"))
    }

    pub(crate) fn load(&self, tenant: &str) -> Result<TenantKeys> {
        validate_tenant(tenant)?;
        let fail = |reason: String| Error::KeyProvider {
            tenant: tenant.into(),
            reason,
        };
        self.check_dir().map_err(fail)?;
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| fail(format!("{}: {e}", self.dir.display())))?;
        // Sized once: a Vec that grows moves its keys and leaves the old block unwiped.
        let entries: Vec<_> = entries.collect();
        let mut keys: Vec<(u32, KeyMaterial)> = Vec::with_capacity(entries.len());
        let mut names: Vec<String> = Vec::with_capacity(entries.len());
        let mut blind: Option<(KeyMaterial, String)> = None;
        let names_here: Vec<String> = entries
            .into_iter()
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| fail(e.to_string()))?;
        // Disabled keys are not even read: their ids are only named in errors.
        let disabled: Vec<u32> = names_here
            .iter()
            .filter_map(|n| match role(tenant, n) {
                Ok(Role::Disabled(id)) => Some(id),
                _ => None,
            })
            .collect();
        for name in &names_here {
            let name = name.as_str();
            let path = self.dir.join(name);
            match role(tenant, name).map_err(fail)? {
                Role::Other | Role::Disabled(_) => {}
                Role::Key(id, _) if disabled.contains(&id) => {}
                Role::Key(id, enc) => {
                    if let Some(at) = keys.iter().position(|(k, _)| *k == id) {
                        let other = &names[at];
                        return Err(fail(format!(
                            "key id {id} is in two files: `{other}` and `{name}`"
                        )));
                    }
                    keys.push((id, self.read(&path, enc).map_err(fail)?));
                    names.push(name.to_owned());
                }
                Role::Blind(enc) => {
                    if let Some((_, other)) = &blind {
                        return Err(fail(format!(
                            "two blind-index key files: `{other}` and `{name}`"
                        )));
                    }
                    blind = Some((self.read(&path, enc).map_err(fail)?, name.to_owned()));
                }
            }
        }
        if keys.is_empty() {
            return Err(Error::NoKeys {
                tenant: tenant.into(),
            });
        }
        let current_path = self.dir.join(format!("{tenant}.current"));
        // Whoever can write `<tenant>.current` chooses the key every new value is sealed with.
        if current_path.exists() {
            self.check_file(&current_path).map_err(fail)?;
        }
        let current = match std::fs::read_to_string(&current_path) {
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| fail(format!("{}: not a key id", current_path.display())))?,
            Err(_) => keys.iter().map(|(id, _)| *id).max().unwrap_or(0),
        };
        if disabled.contains(&current) {
            return Err(fail(format!(
                "the current key {current} is disabled: rotate to another key first"
            )));
        }
        let loaded = TenantKeys::new(tenant, current, &keys, blind.map(|(key, _)| key));
        drop(keys);
        crate::keys::scrub_stack();
        loaded.map(|k| k.with_disabled(disabled))
    }
}

impl FileKeys {
    /// Deletes the file of key `key_id` of `tenant` once `usage` — a
    /// [`crate::retire::keys_in_use`] report over every table, taken after the last rewrap —
    /// shows no value sealed under it; the current key is never deleted. (A mounted Secret is
    /// read-only: there, check with [`crate::retire::KeyUsage::check_retirable`] and remove the
    /// key from the Secret.)
    pub fn retire(&self, tenant: &str, key_id: u32, usage: &crate::retire::KeyUsage) -> Result<()> {
        let keys = self.load(tenant)?;
        crate::retire::ensure_retirable(usage, tenant, key_id, keys.current_key_id())?;
        self.remove_key_files(tenant, key_id)
    }

    /// Deletes every file of key `key_id` of `tenant`.
    pub(crate) fn remove_key_files(&self, tenant: &str, key_id: u32) -> Result<()> {
        for entry in std::fs::read_dir(&self.dir).map_err(|e| Error::KeyProvider {
            tenant: tenant.into(),
            reason: format!("{}: {e}", self.dir.display()),
        })? {
            let Ok(entry) = entry else { continue };
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if matches!(role(tenant, &name), Ok(Role::Key(id, _)) if id == key_id) {
                std::fs::remove_file(entry.path()).map_err(|e| Error::KeyProvider {
                    tenant: tenant.into(),
                    reason: format!("{}: {e}", entry.path().display()),
                })?;
            }
        }
        Ok(())
    }
}

impl crate::provider::KeyProvider for FileKeys {
    /// Ready when the directory can be listed (a Secret that is not mounted is not).
    fn ready(&self) -> futures::future::BoxFuture<'_, std::result::Result<(), String>> {
        let dir = self.dir.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                std::fs::read_dir(&dir)
                    .map(drop)
                    .map_err(|e| format!("{}: {e}", dir.display()))
            })
            .await
            .map_err(|e| format!("checking the key directory: {e}"))?
        })
    }

    fn keys<'a>(&'a self, tenant: &'a str) -> futures::future::BoxFuture<'a, Result<TenantKeys>> {
        Box::pin(async move { self.load(tenant) })
    }

    /// Writes `<tenant>.<id>.disabled` (see [`FileKeys::disable_key`]).
    fn disable<'a>(
        &'a self,
        tenant: &'a str,
        key_id: u32,
    ) -> futures::future::BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.disable_key(tenant, key_id) })
    }
}

mod states;

#[cfg(test)]
mod tests;
