//! The edge every Tickforge binary shares: settings read in layers (a flag,
//! then its `TICKFORGE_…` environment variable, then the `--config` TOML
//! file, then the default) and log output as text or JSON.

pub mod logging;
pub mod settings;

pub use logging::LogFormat;
pub use settings::{Layered, Settings, SettingsError, Source, parse};
