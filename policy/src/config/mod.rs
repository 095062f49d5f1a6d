//! `CODEREVIEW.toml`: the model as written ([`model`]), per-file checks ([`validate`]),
//! and resolution of the whole set ([`compile`]) into the effective form ([`compiled`]). The
//! caller reads the files (from a checkout, a git revision or a forge's API).

pub mod compile;
pub mod compiled;
pub mod error;
pub mod model;
pub mod pyregex;
pub mod validate;

pub use compile::{ConfigFile, RawSet, Teams, is_config_path};
pub use compiled::{
    CONFIG_FILENAME, CheckRef, Config, ConfigSet, LARGE_SCALE_CHANGE_SCOPE, LargeScaleChange,
    Ownership, Scope,
};
pub use error::{ConfigError, ConfigErrors};
