//! The replay check, behind a trait so the gateway can plug in stores.

use crate::time::Instant;

/// Remembers assertions until they expire.
pub trait ReplayCache: Send + Sync {
    /// Records `(issuer, assertion_id)` until `expires`; returns false when
    /// it was already recorded (a replay). Errors mean the store could not
    /// answer; callers fail closed.
    fn check_and_insert(
        &self,
        issuer: &str,
        assertion_id: &str,
        expires: Instant,
    ) -> Result<bool, String>;
}
