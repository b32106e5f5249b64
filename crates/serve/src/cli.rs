//! [`NetArgs`]: the [`Limits`] as command-line flags, for `remits-verifier serve` and
//! `remits-attester serve` (`#[command(flatten)]`), and [`parse_duration`], the one duration
//! syntax of every remits timeout flag.

use std::time::Duration;

use crate::Limits;

/// The duration syntax of every remits timeout or duration flag: a bare number of seconds
/// (`30`, `0.5`; the form earlier versions took), or humantime's `30s`, `5m`, `1h 30m`,
/// `250ms`. Zero is accepted here; flags that need a positive value check it themselves.
///
/// # Errors
///
/// A message naming the value and the expected forms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration: expected seconds (30) or a duration (30s, 5m, 250ms)".into());
    }
    if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = t
            .parse()
            .map_err(|_| format!("{s:?}: expected seconds (30) or a duration (30s, 5m, 250ms)"))?;
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{s:?}: seconds out of range"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{s:?}: {e}; expected seconds (30) or a duration (30s, 5m, 250ms)"))
}

/// [`parse_duration`], refusing zero (for timeouts where zero would mean "never wait").
///
/// # Errors
///
/// As [`parse_duration`], and for a zero duration.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("{s:?}: must be positive")),
        d => Ok(d),
    }
}

/// Connection limits and timeouts of an HTTP server (defaults: [`Limits::default`]).
/// Durations take [`parse_duration`]'s syntax; the `--*-timeout-secs` spellings of earlier
/// versions remain as hidden aliases.
#[derive(clap::Args, Clone, Debug)]
pub struct NetArgs {
    /// Time a client has to send a complete request head; also how long an idle keep-alive
    /// connection is kept.
    #[arg(long, default_value = "10s", value_name = "DURATION", alias = "header-timeout-secs",
          value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Close a connection on which no byte moved for this long (stalled TLS connections,
    /// clients that do not read their response). Must exceed the request timeout.
    #[arg(long, default_value = "120s", value_name = "DURATION", alias = "idle-timeout-secs",
          value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers) in bytes; larger gets 431.
    #[arg(long, default_value_t = 16 << 10, value_name = "BYTES")]
    pub max_header_bytes: usize,
    /// Most connections open at once; lowered automatically below the open-file limit.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub max_connections: usize,
    /// Time in-flight requests get to finish after SIGINT or SIGTERM.
    #[arg(long, default_value = "30s", value_name = "DURATION", alias = "drain-timeout-secs",
          value_parser = parse_duration)]
    pub drain_timeout: Duration,
}

impl NetArgs {
    /// The limits these flags describe (TLS handshake timeout: the default).
    pub fn limits(&self) -> Limits {
        Limits {
            header_read_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            max_header_bytes: self.max_header_bytes,
            max_connections: self.max_connections,
            drain_timeout: self.drain_timeout,
            ..Limits::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        net: NetArgs,
    }

    #[test]
    fn defaults_match_limits_default() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.net.limits(), Limits::default());
        let cli = Cli::try_parse_from(["x", "--header-timeout-secs", "2"]).unwrap();
        assert_eq!(cli.net.limits().header_read_timeout, Duration::from_secs(2));
        let cli =
            Cli::try_parse_from(["x", "--header-timeout", "1m", "--idle-timeout", "90"]).unwrap();
        assert_eq!(
            cli.net.limits().header_read_timeout,
            Duration::from_secs(60)
        );
        assert_eq!(cli.net.limits().idle_timeout, Duration::from_secs(90));
        let err = Cli::try_parse_from(["x", "--drain-timeout", "soon"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("--drain-timeout") && err.contains("30s"),
            "{err}"
        );
    }

    #[test]
    fn one_duration_syntax() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("1.2.3").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_positive_duration("0s").is_err());
        assert_eq!(parse_positive_duration("2"), Ok(Duration::from_secs(2)));
    }
}
