//! `serve --dev`: a self-contained development broker under one directory.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use remits_kbs::admin::AdminSigningKey;
use remits_kbs::config::{
    AdminConfig, AdminKeyFile, Backend, BrokerConfig, SessionPlace, StorageConfig,
};
use remits_kbs::Compat;
use remits_verify::{PolicyChoice, ServiceConfig};

/// Writes `data` to a NEW file `path` with `mode` (fails if it exists), fsynced.
pub(crate) fn write_new(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    remits_evidence::output::write_new(path, data, mode)
        .with_context(|| format!("creating {}", path.display()))
}

/// The resource policy a fresh development broker starts with: release a resource to any token
/// whose every submodule is affirming, including the (unsigned) sample TEE that `--dev` enables.
/// The production default (`resource_affirming.rego`) never releases to sample evidence. An
/// administrator can replace it (`admin set-resource-policy`); it is installed only when the data
/// directory is created, so a replaced policy survives restarts.
pub(crate) const DEV_RESOURCE_POLICY: &str = r#"# remits DEVELOPMENT resource policy (installed by `remits-broker serve --dev`)
package policy

import rego.v1

default allow := false

allow if {
	count(input.submods) > 0
	every _, sub in input.submods {
		sub["ear.status"] == "affirming"
	}
}

deny_reasons contains msg if {
	some name, sub in input.submods
	sub["ear.status"] != "affirming"
	msg := sprintf("submod %s: ear.status is %v, expected affirming", [name, sub["ear.status"]])
}

deny_reasons contains "the token has no submodules" if count(object.get(input, "submods", {})) == 0
"#;

/// What [`prepare`] set up.
pub(crate) struct Prepared {
    /// The development configuration.
    pub(crate) config: BrokerConfig,
    /// The data directory was created now (install the development resource policy).
    pub(crate) fresh: bool,
}

/// Creates (or reuses) `dir`: embedded store, KEK, admin key, simulator chain; returns the
/// development configuration. Refuses a non-loopback address.
pub(crate) fn prepare(dir: &Path, listen: SocketAddr) -> anyhow::Result<Prepared> {
    anyhow::ensure!(
        listen.ip().is_loopback(),
        "--dev listens on loopback only (got {listen})"
    );
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let kek = dir.join("kek");
    let fresh = !kek.exists();
    if fresh {
        remits_store::Kek::generate_file(&kek, &mut rand::rngs::OsRng)?;
    }
    let admin_priv = dir.join("admin-key.pem");
    let admin_pub = dir.join("admin-key.pub.pem");
    if !admin_priv.exists() {
        let k = AdminSigningKey::generate_ed25519(&mut rand::rngs::OsRng);
        write_new(&admin_priv, k.to_pem()?.as_bytes(), 0o600)?;
        let _ = std::fs::remove_file(&admin_pub);
    }
    if !admin_pub.exists() {
        let k = AdminSigningKey::from_pem(&remits_evidence::input::read_capped_string(
            &admin_priv,
            remits_evidence::input::MAX_INPUT_FILE,
            "admin key",
        )?)?;
        write_new(&admin_pub, k.public_pem()?.as_bytes(), 0o644)?;
    }
    let sim = dir.join("sim");
    if !sim.join(remits_sim::files::ARK_DER).exists() {
        remits_sim::SimChain::generate(&mut rand::rngs::OsRng)?.write_to(&sim)?;
    } else {
        remits_sim::SimChain::load(&sim)?;
    }
    let config = BrokerConfig {
        listen,
        insecure_http: false,
        compat: Compat::Remits,
        session_ttl: std::time::Duration::from_secs(300),
        max_body_bytes: 2 << 20,
        request_timeout: std::time::Duration::from_secs(30),
        max_pending_sessions: remits_kbs::server::DEFAULT_MAX_PENDING_SESSIONS,
        net: Default::default(),
        tls: None,
        storage: StorageConfig {
            backend: Backend::Embedded,
            dir: Some(dir.join("store")),
            url: None,
            kek_file: Some(kek),
            allow_plaintext: false,
            sslmode: None,
            ssl_root_cert: None,
            password_file: None,
            max_connections: 16,
            sessions: Some(SessionPlace::Memory),
            rollback_marks_file: Some(dir.join("rollback-marks")),
        },
        admin: AdminConfig {
            max_token_lifetime: std::time::Duration::from_secs(3600),
            keys: vec![AdminKeyFile {
                name: "dev-admin".into(),
                public_key: admin_pub,
            }],
            ..AdminConfig::default()
        },
        attestation: ServiceConfig {
            allow_sample: true,
            attestation_policy: PolicyChoice::Development,
            snp_extra_arks: vec![sim.join(remits_sim::files::ARK_DER)],
            ..ServiceConfig::default()
        },
        sev: Default::default(),
    };
    Ok(Prepared { config, fresh })
}

/// Tells the developer what was set up and how to use it.
pub(crate) fn print_usage(dir: &Path, url: &str) {
    let d = dir.display();
    // Best effort: the broker keeps serving when nobody reads stdout.
    remits_serve::stdout::announce(format_args!(
        "remits-broker DEVELOPMENT MODE (not for production)\n\
         \x20 listening:        {url}\n\
         \x20 data directory:   {d} (embedded store in {d}/store, KEK {d}/kek, rollback marks {d}/rollback-marks)\n\
         \x20 admin key:        {d}/admin-key.pem (Ed25519; public half {d}/admin-key.pub.pem)\n\
         \x20 SNP simulator:    {d}/sim (test ARK/ASK/VCEK + VCEK private key; NOT AMD) - trusted\n\
         \x20 TEEs:             snp (AMD roots + simulator), sample (unsigned, dev only)\n\
         \x20 policy:           development (attestation and resource)\n\
         try:\n\
         \x20 echo -n s3cret > /tmp/s && remits-broker admin --broker {url} --key {d}/admin-key.pem put-resource default/key/1 --file /tmp/s\n\
         \x20 remits-attester get-resource --broker {url} --path default/key/1 --tee sample\n\
         \x20 remits-broker bench --broker {url} --tee sim-snp --sim-dir {d}/sim --concurrency 64 --handshakes 2000 --path default/key/1\n"
    ));
}
