//! # lockstep-operator
//!
//! Reconciles every Lockstep kind (`AlbumService`, `NoteService`, `UserService`): every
//! distinct (image, config file, pod fields) becomes an immutable, numbered revision, rolled out
//! progressively and rolled back as a unit.
//!
//! The crate is a stack of layers; each imports only the ones below it (`tests/layers.rs`
//! checks it, and that no two files import each other):
//!
//! ```text
//!  run      wiring: arguments, the controllers, reconcile (observe ─► plan ─► execute ─► settle),
//!           triggers, metrics and health endpoints, the RBAC the operator needs
//!  cluster  I/O: watches, caches and their projections, observing, executing a plan, events,
//!           the Lease, Prometheus, the CRDs
//!  core     pure decisions: rendering objects, pod health, the plan, the rollout state machine
//!  kinds    the one view over every kind (LockstepService), and what a revision is
//!  error    the error every layer with I/O returns
//! ```
//!
//! The pure parts take values and return values; `cluster` reads and writes the API server,
//! and `run` connects them.

pub mod cluster;
pub mod core;
pub mod error;
pub mod kinds;
pub mod run;
