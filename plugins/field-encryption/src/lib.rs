//! # lockstep-field-encryption — tenant-keyed field encryption for SeaORM
//!
//! Fields declared as [`Encrypted<T, C>`] are sealed with AES-256-GCM under the key of the tenant
//! in scope when the value is built, and opened when SeaORM reads the row:
//!
//! ```text
//!  request ─► middleware: with_tenant(&keyring, tenant, handler)        (task-local scope)
//!                              │ keys resolved once, cached with a TTL (static | files | wrapped in DB)
//!  handler: Encrypted::new(body)? ─► envelope::seal(tenant keys, "notes.body")
//!           ActiveModel / insert_many / update_many ─► Value::Bytes(envelope) ─► database
//!  read:    find / into_model / FromQueryResult ─► TryGetable ─► envelope::open ─► plaintext
//!  search:  BlindIndex::of(title)? = HMAC(tenant blind key, column, title)[..16]
//!  rotate:  new key id for new writes; old ids still open; jobs::rewrap moves old rows over
//! ```
//!
//! No tenant in scope is [`Error::MissingTenant`]: never a plaintext write, never a plaintext
//! read (except in the opt-in migration mode [`Keyring::allow_plaintext_reads`]).
//!
//! SeaORM's `debug-print` feature logs statement parameters; with this crate those are
//! envelopes, never plaintext.
//!
//! ```
//! use lockstep_field_encryption::{Encrypted, KeyMaterial, Keyring, StaticKeys, with_tenant};
//! lockstep_field_encryption::encrypted_column!(NoteBody, "notes.body");
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> lockstep_field_encryption::Result<()> {
//! let keyring = Keyring::new(StaticKeys::new().with_tenant("acme", 1, vec![(1, KeyMaterial::generate())], None));
//! let sealed = with_tenant(&keyring, "acme", async { Encrypted::<String, NoteBody>::new("hi".into()) }).await??;
//! assert_eq!(sealed.get(), "hi");
//! assert!(Encrypted::<String, NoteBody>::new("no tenant".into()).is_err());
//! // The explicit form, for jobs and tools without a request scope:
//! let sealed: Encrypted<String, NoteBody> = lockstep_field_encryption::seal_with(&keyring, "acme", "hi".into()).await?;
//! let opened: Encrypted<String, NoteBody> = lockstep_field_encryption::open_with(&keyring, "acme", sealed.envelope().to_vec()).await?;
//! assert_eq!(opened.get(), "hi");
//! # Ok(()) }
//! ```

pub mod blind;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod context;
pub mod ddl;
pub mod digest;
pub mod envelope;
pub mod error;
pub mod files;
mod fork;
mod format;
pub mod index_spec;
pub mod jobs;
pub mod keys;
mod nonce;
pub mod provider;
pub mod reindex;
pub mod retire;
pub mod revoke;
mod seals;
pub mod value;
mod wipe;
pub mod wrapped;
pub mod write;

pub use blind::{BlindIndex, seal_indexed};
pub use context::{TenantScope, current, require_tenant_for_write, spawn_in_tenant, with_tenant};
pub use ddl::sealed_check;
pub use error::{Error, Result};
pub use files::FileKeys;
pub use keys::KeyEncoding;
pub use keys::{KeyMaterial, TenantKeys};
pub use provider::{KeyProvider, Keyring, StaticKeys};
pub use revoke::Floor;
pub use value::{ColumnBinding, Encrypted, Json, Plaintext, Storage, open_with, seal_with};
pub use wrapped::WrappedKeys;
pub use write::{CheckedWrite, WriteCheck};
