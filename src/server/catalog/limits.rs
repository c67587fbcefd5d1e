//! The catalog flow's bounds, shared by its pages and the connect popup.

/// How long the provider has to send the browser back (and a popup's sign-in lasts).
pub(super) const FLOW_TTL: chrono::Duration = chrono::Duration::minutes(15);
/// Bound on query values that name nothing we stored (`state`, `code`, `token`).
pub(super) const MAX_PARAM_CHARS: usize = 4096;
