//! Settings in layers: a flag beats its environment variable, which beats
//! the `--config` file, which beats the built-in default.
//!
//! [`Layered`] takes a binary's clap [`Command`] and gives every long flag
//! an environment variable (`PREFIX` + the flag's name in capitals, `-` as
//! `_`; `--help` shows it) unless the flag already names one. It adds
//! `--config FILE` (TOML: the keys are the long flag names, a repeatable
//! flag takes an array, a switch takes `true` or `false`) and
//! `--print-config`, which prints the settings in effect, each with where
//! it came from, and exits. A key the binary has no flag for is refused
//! with its name.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};

/// The flag that names the settings file.
const CONFIG: &str = "config";
/// The flag that prints the settings in effect and exits.
const PRINT_CONFIG: &str = "print-config";

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A flag or an environment variable clap refused (or `--help`, `--version`).
    #[error(transparent)]
    Args(#[from] clap::Error),
    /// The settings file could not be read.
    #[error("cannot read {path}: {source}", path = .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The settings file is not TOML.
    #[error("{path} is not TOML: {message}", path = .path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's account, with the line.
        message: String,
    },
    /// A key that names no flag of this binary.
    #[error("{path}: unknown key `{key}` (the keys are the long flag names; see --help)", path = .path.display())]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// A value of a kind the flag cannot take.
    #[error("{path}: `{key}` {expected}", path = .path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What the flag takes.
        expected: &'static str,
    },
}

impl SettingsError {
    /// Prints the error (or the help or version asked for) and exits with
    /// clap's status for it, or 2 for a settings file that cannot be used.
    pub fn exit(self, binary: &str) -> ! {
        match self {
            Self::Args(e) => e.exit(),
            other => {
                eprintln!("{binary}: {other}");
                std::process::exit(2)
            }
        }
    }
}

/// Where a setting in effect came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A flag on the command line.
    Flag,
    /// The flag's environment variable.
    Environment,
    /// The `--config` file.
    File,
    /// The built-in default.
    Default,
}

/// A binary's command with the environment and file layers added.
pub struct Layered {
    command: Command,
}

impl Layered {
    /// Adds an environment variable named `prefix` + the flag's name to
    /// every long flag that has none, and the `--config` and
    /// `--print-config` flags.
    pub fn new(command: Command, prefix: &str) -> Self {
        let command = command
            .arg(Arg::new(CONFIG).long(CONFIG).value_name("FILE").value_parser(clap::value_parser!(PathBuf)).help(
                "Read settings from this TOML file (keys: the long flag names); flags and the environment win over it",
            ))
            .arg(
                Arg::new(PRINT_CONFIG)
                    .long(PRINT_CONFIG)
                    .action(ArgAction::SetTrue)
                    .help("Print the settings in effect, each with where it came from, and exit"),
            )
            .mut_args(|arg| with_env(arg, prefix));
        Self { command }
    }

    /// The command as parsed (for `--help` text and tests).
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// Parses `argv` (program name first) through every layer.
    pub fn matches_from<I, T>(&self, argv: I) -> Result<Settings, SettingsError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
        // The first look finds the file and what the flags and the
        // environment set; it does not judge their combination yet (a
        // flag may need another that only the file gives).
        let first = self.command.clone().ignore_errors(true).try_get_matches_from(&argv)?;
        let Some(path) = first.get_one::<PathBuf>(CONFIG).cloned() else {
            let matches = self.command.clone().try_get_matches_from(&argv)?;
            return Ok(Settings { command: self.command.clone(), matches, from_file: BTreeSet::new() });
        };
        let text =
            std::fs::read_to_string(&path).map_err(|source| SettingsError::Read { path: path.clone(), source })?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| SettingsError::Syntax { path: path.clone(), message: e.to_string() })?;
        let mut extra = Vec::new();
        let mut from_file = BTreeSet::new();
        let mut built = self.command.clone();
        built.build();
        for (key, value) in &table {
            let arg = self
                .settable()
                .find(|arg| arg.get_long() == Some(key.as_str()))
                .ok_or_else(|| SettingsError::UnknownKey { path: path.clone(), key: key.clone() })?;
            let id = arg.get_id().as_str();
            let above =
                |id: &str| matches!(first.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable));
            // A flag or variable wins over the file: over its own key, and
            // over a key that cannot go with it.
            if above(id) || built.get_arg_conflicts_with(arg).iter().any(|other| above(other.get_id().as_str())) {
                continue;
            }
            let bad = |expected| SettingsError::Value { path: path.clone(), key: key.clone(), expected };
            from_file.insert(id.to_owned());
            match (arg.get_action(), value) {
                (ArgAction::SetTrue, toml::Value::Boolean(on)) => {
                    if *on {
                        extra.push(OsString::from(format!("--{key}")));
                    }
                }
                (ArgAction::SetTrue | ArgAction::SetFalse, _) => return Err(bad("is a switch: true or false")),
                (ArgAction::Append, toml::Value::Array(items)) => {
                    for item in items {
                        extra.push(OsString::from(format!(
                            "--{key}={}",
                            scalar(item).ok_or_else(|| bad("takes an array of strings or numbers"))?
                        )));
                    }
                }
                (_, value) => {
                    let text = scalar(value).ok_or_else(|| bad("takes one string, number or boolean"))?;
                    extra.push(OsString::from(format!("--{key}={text}")));
                }
            }
        }
        let mut argv = argv;
        argv.extend(extra);
        let matches = self.command.clone().try_get_matches_from(&argv)?;
        Ok(Settings { command: self.command.clone(), matches, from_file })
    }

    /// The flags a file may set: every long flag but the layers' own.
    fn settable(&self) -> impl Iterator<Item = &Arg> {
        self.command
            .get_arguments()
            .filter(|arg| arg.get_long().is_some_and(|long| ![CONFIG, PRINT_CONFIG, "help", "version"].contains(&long)))
    }
}

/// Gives `arg` the environment variable `prefix` + its long name, unless
/// it has one (or no long name).
fn with_env(arg: Arg, prefix: &str) -> Arg {
    let Some(long) = arg.get_long() else { return arg };
    if arg.get_env().is_some() || ["help", "version", PRINT_CONFIG].contains(&long) {
        return arg;
    }
    let name = format!("{prefix}{}", long.to_ascii_uppercase().replace('-', "_"));
    let repeatable = matches!(arg.get_action(), ArgAction::Append) && arg.get_value_delimiter().is_none();
    let arg = arg.env(name);
    // One variable holds a repeatable flag's values, comma-separated.
    if repeatable { arg.value_delimiter(',') } else { arg }
}

/// A TOML scalar as a flag's value.
fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(_) | toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

/// The parsed settings of every layer.
pub struct Settings {
    command: Command,
    matches: ArgMatches,
    from_file: BTreeSet<String>,
}

impl Settings {
    /// The binary's own arguments.
    pub fn get<T: FromArgMatches>(&self) -> Result<T, SettingsError> {
        Ok(T::from_arg_matches(&self.matches)?)
    }

    /// Whether `--print-config` was given.
    pub fn print_asked(&self) -> bool {
        self.matches.get_flag(PRINT_CONFIG)
    }

    /// Where the setting of flag `id` (its clap id) came from, if it is set.
    pub fn source(&self, id: &str) -> Option<Source> {
        match self.matches.value_source(id)? {
            _ if self.from_file.contains(id) => Some(Source::File),
            ValueSource::CommandLine => Some(Source::Flag),
            ValueSource::EnvVariable => Some(Source::Environment),
            _ => Some(Source::Default),
        }
    }

    /// The settings in effect as a TOML file `--config` takes, each line
    /// commented with its source; a secret (a flag whose environment value
    /// `--help` hides) is shown only as set or not.
    pub fn to_toml(&self) -> String {
        let mut out = String::from("# settings in effect: flag > environment > file > default\n");
        for arg in self.command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if [CONFIG, PRINT_CONFIG, "help", "version"].contains(&long) {
                continue;
            }
            let id = arg.get_id().as_str();
            let (Some(source), Some(raw)) = (self.source(id), self.matches.get_raw(id)) else {
                out += &format!("# {long}: not set\n");
                continue;
            };
            let from = match source {
                Source::Flag => "flag".to_owned(),
                Source::Environment => format!("environment {}", arg.get_env().unwrap_or_default().to_string_lossy()),
                Source::File => "file".to_owned(),
                Source::Default => "default".to_owned(),
            };
            if arg.is_hide_env_values_set() {
                out += &format!("# {long}: set (secret) # {from}\n");
                continue;
            }
            let values: Vec<String> = raw.map(|v| v.to_string_lossy().into_owned()).collect();
            let value = match arg.get_action() {
                ArgAction::SetTrue | ArgAction::SetFalse => values.first().map_or("false".to_owned(), |v| bool_word(v)),
                ArgAction::Append => format!("[{}]", values.iter().map(|v| literal(v)).collect::<Vec<_>>().join(", ")),
                _ => values.first().map_or_else(String::new, |v| literal(v)),
            };
            out += &format!("{long} = {value} # {from}\n");
        }
        out
    }
}

/// A switch's raw value (`true`, `1`, `yes`, `on`, …) as TOML's boolean.
fn bool_word(raw: &str) -> String {
    let on = matches!(raw.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on" | "y");
    on.to_string()
}

/// A flag's value as TOML: a number as a number, anything else as a string.
fn literal(text: &str) -> String {
    let number = text.parse::<i64>().is_ok()
        || (text.contains('.') && text.parse::<f64>().is_ok_and(f64::is_finite) && !text.starts_with(['.', '+']));
    if number { text.to_owned() } else { quoted(text) }
}

/// `text` as a TOML basic string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out += &format!("\\u{:04X}", c as u32),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Reads a binary's arguments through every layer from the process's own
/// command line and environment; prints the settings and exits for
/// `--print-config`, and exits with a clear error on bad settings.
pub fn parse<T: clap::Parser>(prefix: &str) -> T {
    let command = T::command();
    let binary = command.get_name().to_owned();
    let layered = Layered::new(command, prefix);
    let settings = layered.matches_from(std::env::args_os()).unwrap_or_else(|e| e.exit(&binary));
    if settings.print_asked() {
        print!("{}", settings.to_toml());
        std::process::exit(0);
    }
    settings.get().unwrap_or_else(|e| e.exit(&binary))
}
