//! One log set-up for every remits binary: `--log-format text|json` (or `REMITS_LOG_FORMAT`),
//! level from `REMITS_LOG` (`RUST_LOG` is still read when `REMITS_LOG` is unset), always on
//! stderr, with ANSI colour only when stderr is a terminal (and `NO_COLOR` is unset).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The environment variable holding the log filter (`info`, `remits_kbs=debug,warn`, ...).
pub const LOG_ENV: &str = "REMITS_LOG";
/// The fallback filter variable, read only when [`LOG_ENV`] is unset.
pub const LOG_ENV_FALLBACK: &str = "RUST_LOG";
/// The environment variable naming the log format (`text` or `json`).
pub const LOG_FORMAT_ENV: &str = "REMITS_LOG_FORMAT";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`).
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("log format {other:?}: expected text or json")),
        }
    }
}

/// The `--log-format` flag (global: accepted before or after the subcommand), for
/// `#[command(flatten)]`.
#[cfg(feature = "clap")]
#[derive(clap::Args, Clone, Debug, Default)]
pub struct LogArgs {
    /// Log format on stderr: text or json. Level: REMITS_LOG (e.g. `info`, `debug`,
    /// `remits_kbs=debug,warn`; RUST_LOG is read when REMITS_LOG is unset).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "REMITS_LOG_FORMAT",
        value_name = "FORMAT"
    )]
    pub log_format: Option<LogFormat>,
}

#[cfg(feature = "clap")]
impl LogArgs {
    /// Installs the global subscriber with this format (see [`init_logging`]).
    pub fn init(&self, default_level: &str) {
        init_logging(self.log_format.unwrap_or_default(), default_level);
    }
}

/// The format named by `REMITS_LOG_FORMAT`, for binaries that read no flags; unset or invalid
/// means text (an invalid value is reported on stderr).
pub fn log_format_from_env() -> LogFormat {
    match std::env::var(LOG_FORMAT_ENV) {
        Ok(v) => v.parse().unwrap_or_else(|e| {
            eprintln!("{LOG_FORMAT_ENV}: {e}; using text");
            LogFormat::Text
        }),
        Err(_) => LogFormat::Text,
    }
}

/// The filter from `REMITS_LOG`, else `RUST_LOG`, else `default_level`. An unparsable value
/// is reported on stderr and `default_level` is used.
fn filter(default_level: &str) -> EnvFilter {
    let (var, value) = match std::env::var(LOG_ENV) {
        Ok(v) => (LOG_ENV, v),
        Err(_) => match std::env::var(LOG_ENV_FALLBACK) {
            Ok(v) => (LOG_ENV_FALLBACK, v),
            Err(_) => return EnvFilter::new(default_level),
        },
    };
    EnvFilter::try_new(&value).unwrap_or_else(|e| {
        eprintln!("{var}: invalid log filter ({e}); using {default_level:?}");
        EnvFilter::new(default_level)
    })
}

/// Whether log lines may carry ANSI colour: stderr is a terminal and `NO_COLOR` is unset.
pub fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Installs the process-wide tracing subscriber: `format` on stderr, level from
/// `REMITS_LOG`/`RUST_LOG` or `default_level` (e.g. `"info"` for servers, `"warn"` for
/// command-line tools). A second call does nothing.
pub fn init_logging(format: LogFormat, default_level: &str) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(default_level))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(stderr_color()).try_init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .json()
            .flatten_event(false)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_parses() {
        assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(" text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert!("yaml".parse::<LogFormat>().is_err());
    }
}
