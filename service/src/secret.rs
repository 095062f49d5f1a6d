//! A wrapper for values that must never reach a log line: [`Secret`], defined in the
//! `codereview` library so the CI action's forge settings use the same type.

pub use codereview_forge::Secret;
