//! The envelope versions, apart from the envelope code so that key sets (which default to the
//! newest) and the envelope (which reads every one) both use them without depending on each
//! other.

/// Envelope format version new values are sealed with.
pub const VERSION: u8 = 2;
/// The first version: the key itself, the tenant and column in a longer AAD. Still opens.
pub const VERSION_1: u8 = 1;
