//! # lockstep-operator
//!
//! Reconciles `AlbumService`, `NoteService` and `UserService`: every distinct (image, config file, pod fields)
//! becomes an immutable, numbered revision, rolled out progressively and rolled back as a unit.
//!
//! ```text
//!  CR spec ──► revision (hash, ControllerRevision + immutable ConfigMap)   pure: revision.rs
//!          ──► rollout::decide(observed) ──► replicas per revision,       pure: rollout.rs
//!                                             status, events, requeue
//!          ──► resources: Deployment per revision, one Service            pure: resources.rs
//! ```
//!
//! The pure parts take values and return values; the controller (IO) reads the cluster, calls
//! them, and applies the result.

pub mod analysis;
pub mod args;
pub mod caches;
pub mod children;
pub mod controller;
pub mod crds;
pub mod error;
pub mod events;
pub mod failure;
pub mod leader;
/// RFC 7386 merge patches (in `lockstep-crd`, shared with the plugin and the test API server).
pub use lockstep_crd::merge;
pub mod metrics;
pub mod observe;
pub mod plan;
pub mod pods;
pub mod rbac;
pub mod readiness;
pub mod resources;
pub mod revision;
pub mod rollout;
pub mod routing;
pub mod run;
pub mod service;
pub mod triggers;
pub mod watch;
