//! Placeholder until this module lands.
/// Placeholder.
#[derive(Debug, Clone, Copy)]
pub enum SkipReason {
    /// Placeholder.
    InFlightCap,
    /// Placeholder.
    Late,
}
