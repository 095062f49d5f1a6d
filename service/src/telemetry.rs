//! Logging set-up in one place: `tracing` to stdout, human-readable by default, one JSON
//! object per line with `LOG_FORMAT=json`. The level comes from `RUST_LOG` (default `info`).
//!
//! What is never logged, anywhere: tokens, secrets, signatures, request bodies, message text.
//! Log fields are identifiers (source, event kind, delivery id, team/channel ids) and counts.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Call once, early in `main`; later calls are ignored (tests
/// that build several apps in one process stay quiet instead of panicking).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
