//! The policy engine.
