//! [`NetArgs`]: the [`Limits`] as command-line flags, for `remits-verifier serve` and
//! `remits-attester serve` (`#[command(flatten)]`).

use std::time::Duration;

use crate::Limits;

/// Connection limits and timeouts of an HTTP server (defaults: [`Limits::default`]).
#[derive(clap::Args, Clone, Debug)]
pub struct NetArgs {
    /// Seconds a client has to send a complete request head; also how long an idle
    /// keep-alive connection is kept.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub header_timeout_secs: u64,
    /// Close a connection on which no byte moved for this many seconds (stalled TLS
    /// connections, clients that do not read their response). Must exceed the request timeout.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub idle_timeout_secs: u64,
    /// Largest request head (request line and headers) in bytes; larger gets 431.
    #[arg(long, default_value_t = 16 << 10, value_name = "BYTES")]
    pub max_header_bytes: usize,
    /// Most connections open at once; lowered automatically below the open-file limit.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub max_connections: usize,
    /// Seconds in-flight requests get to finish after SIGINT or SIGTERM.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub drain_timeout_secs: u64,
}

impl NetArgs {
    /// The limits these flags describe (TLS handshake timeout: the default).
    pub fn limits(&self) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(self.header_timeout_secs),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs),
            max_header_bytes: self.max_header_bytes,
            max_connections: self.max_connections,
            drain_timeout: Duration::from_secs(self.drain_timeout_secs),
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
    }
}
