//! What admission reports.

use serde::Serialize;

/// One problem: a field path (`spec.rollout.steps[1]`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Field path, kubectl style; empty for the whole object.
    pub path: String,
    /// What is wrong, worded like the API server's field errors.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}
