//! Disabling and destroying a key of a key directory (see `crate::revoke` for the states).

use super::FileKeys;

impl FileKeys {
    /// Disables `tenant`'s `key_id` for every process reading this directory: writes the marker
    /// `<tenant>.<id>.disabled` (mode 0400), after which loading skips the key and values under it
    /// fail with [`crate::Error::KeyDisabled`]. The current key is refused (rotate first);
    /// disabling twice is fine. [`crate::Keyring::disable`] also applies it in this process at
    /// once. A read-only mounted Secret cannot take the marker: add it to the Secret instead.
    pub fn disable_key(&self, tenant: &str, key_id: u32) -> crate::Result<()> {
        let keys = self.load(tenant)?;
        if keys.current_key_id() == key_id {
            return Err(crate::Error::KeyIsCurrent {
                tenant: tenant.into(),
                key_id,
            });
        }
        let marker = self.dir().join(format!("{tenant}.{key_id}.disabled"));
        let fail = |e: std::io::Error| crate::Error::KeyProvider {
            tenant: tenant.into(),
            reason: format!("{}: {e}", marker.display()),
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(fail(e)),
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&marker, std::fs::Permissions::from_mode(0o400))
                .map_err(fail)?;
        }
        Ok(())
    }

    /// Destroys a disabled key: deletes its file(s) and marker, but only after scanning every
    /// table in `tables` itself ([`crate::retire::keys_in_use`]) and finding no value of
    /// `tenant` sealed under it ([`crate::Error::KeyInUse`] otherwise). Unlike
    /// [`crate::FileKeys::retire`] it takes no report from the caller, so it cannot be handed an
    /// empty one. A key that is not disabled first is refused: disable, wait past the cache TTL
    /// on every replica, rewrap, then destroy.
    pub async fn destroy(
        &self,
        db: &sea_orm::DatabaseConnection,
        tables: &[crate::retire::Table<'_>],
        tenant: &str,
        key_id: u32,
    ) -> crate::Result<()> {
        let marker = self.dir().join(format!("{tenant}.{key_id}.disabled"));
        if !marker.exists() {
            return Err(crate::Error::KeyProvider {
                tenant: tenant.into(),
                reason: format!("key id {key_id} is not disabled: disable it before destroying it"),
            });
        }
        let mut usage = crate::retire::KeyUsage::empty();
        for table in tables {
            usage.merge(crate::retire::keys_in_use(db, table).await?);
        }
        usage.check_retirable(tenant, key_id)?;
        self.remove_key_files(tenant, key_id)?;
        std::fs::remove_file(&marker).map_err(|e| crate::Error::KeyProvider {
            tenant: tenant.into(),
            reason: format!("{}: {e}", marker.display()),
        })
    }
}
