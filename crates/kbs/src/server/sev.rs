//! SEV/SEV-ES pre-launch endpoints (the guest owner's side, over `remits-sev`) and workload
//! registration. See `docs/sev-prelaunch.md` for the flow and the threat model of each check.
//!
//! * `POST /kbs/v0/sev/session` (host-side agent, unauthenticated): verifies the platform
//!   chain (AMD's pinned roots; configured development roots only when listed in `[sev]`),
//!   starts a launch session with the workload's registered guest policy and answers the GODH
//!   certificate and session blob as QEMU reads them. The transport keys (TEK/TIK) are kept in
//!   [`Namespace::LaunchSession`] (sealed under the store's KEK; a persistent store without a
//!   KEK refuses them), single use, with expiry; outstanding sessions are capped
//!   ([`PendingChallenges`](super::PendingChallenges)): beyond the cap, 503 + `Retry-After`
//!   and nothing is stored.
//! * `POST /kbs/v0/sev/secret`: consumes the session atomically (a compare-and-swap to a
//!   tombstone: a second submission is refused as a replay), recomputes the launch
//!   measurement against the workload's registered digest, runs the SEV claims through the
//!   attestation policy, and only on `affirming` answers the launch-secret packet
//!   (`sev-inject-launch-secret` arguments) carrying the workload's EFI secret table.
//! * Admin: `POST /kbs/v0/sev/workload` (remits' form or the seed system's
//!   `{workload_id, launch_measurement, tee_config, passphrase}`, also accepted at
//!   `POST /kbs/v0/register_workload`), `GET`/`DELETE /kbs/v0/sev/workload/<id>`. A registration
//!   writes, in one store transaction, the workload record, its secret(s) as KBS resources
//!   (`workload/<id>/<name>`), a per-resource policy releasing them only to evidence whose launch
//!   measurement is the registered one, and the measurement as a reference value.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use remits_sev::{
    start_session, verify_measurement, AmdRoots, Generation, LaunchMeasurement, LaunchPolicy,
    PlatformBuild, PlatformChain, RootChoice, TransportKeys, VerifiedPlatform,
};
use remits_store::{Expect, Namespace, TxWrite};
use remits_verify::{EarStatus, PER_RESOURCE_POLICY_PREFIX};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use super::handlers::{admin_check, admin_ok, body_bytes, err, parse_json, storage, HResult};
use super::KbsState;
use crate::config::{ConfigError, SevConfig};
use crate::error::KbsError;
use crate::protocol::valid_segment;
use crate::rng::Rng;

/// Default lifetime of a launch session.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(600);
/// Default cap on outstanding launch sessions.
pub const DEFAULT_MAX_PENDING: usize = 1024;
/// Prefix of workload records in [`Namespace::Config`].
pub const WORKLOAD_PREFIX: &str = "sev-workload/";
/// Repository of the resources a workload registration creates (`workload/<id>/<name>`).
pub const WORKLOAD_REPO: &str = "workload";
/// Resource name (tag) of the seed form's `passphrase`.
pub const PASSPHRASE_NAME: &str = "passphrase";
/// GUID of the seed form's `passphrase` in the EFI secret table (the disk-passphrase GUID
/// of Linux's `efi_secret` documentation).
pub const DEFAULT_SECRET_GUID: &str = "736869e5-84f0-4973-92ec-06879ce3da0b";
/// Reference-value name of registered SEV launch digests (32 bytes).
pub const SEV_DIGEST_RV: &str = "sev_launch_digest";
/// Reference-value name of registered SNP launch measurements (48 bytes).
pub const SNP_MEASUREMENT_RV: &str = "snp_launch_measurement";
/// Reference-value name of registered TPM ENCLAVE IDs (32 bytes; what the shipped production
/// policy's TPM and Azure vTPM identity checks read).
pub const ENCLAVE_ID_RV: &str = "enclave_id";
/// Most secrets per workload.
pub const MAX_WORKLOAD_SECRETS: usize = 8;
/// How many times a registration retries when another one changes the same keys meanwhile.
const REGISTER_ATTEMPTS: usize = 16;
/// Longest `Retry-After`, in seconds.
const MAX_RETRY_AFTER: u64 = 60;

/// One ARK → ASK pair trusted for development (never AMD's).
#[derive(Clone)]
pub struct DevRoots {
    ark: Vec<u8>,
    ask: Vec<u8>,
}

impl std::fmt::Debug for DevRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevRoots").finish_non_exhaustive()
    }
}

impl DevRoots {
    /// An ARK/ASK pair from bytes (AMD certificate format); the ASK must verify under the ARK.
    ///
    /// # Errors
    ///
    /// When a certificate does not parse or the ASK does not verify under the ARK.
    pub fn new(ark: Vec<u8>, ask: Vec<u8>) -> Result<Self, remits_sev::Error> {
        AmdRoots::verify(&ark, &ask, None)?;
        Ok(Self { ark, ask })
    }
}

/// Settings of the SEV endpoints (from `[sev]`, see [`SevConfig`]).
#[derive(Clone, Debug)]
pub struct SevSettings {
    /// Lifetime of a launch session.
    pub session_ttl: Duration,
    /// Most outstanding launch sessions.
    pub max_pending_sessions: usize,
    /// Development roots accepted besides AMD's (recorded as `production_root = false`).
    pub dev_roots: Vec<DevRoots>,
}

impl Default for SevSettings {
    fn default() -> Self {
        Self {
            session_ttl: DEFAULT_SESSION_TTL,
            max_pending_sessions: DEFAULT_MAX_PENDING,
            dev_roots: Vec::new(),
        }
    }
}

impl SevSettings {
    /// Reads and checks the configured development roots.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] when a file cannot be read or the pair does not verify.
    pub fn load(cfg: &SevConfig) -> Result<Self, ConfigError> {
        let mut dev_roots = Vec::new();
        for (i, r) in cfg.dev_roots.iter().enumerate() {
            let read = |p: &std::path::Path, what: &str| {
                remits_evidence::input::read_capped(p, remits_evidence::input::MAX_INPUT_FILE, what)
                    .map_err(|e| ConfigError::Invalid(format!("sev.dev_roots[{i}]: {e}")))
            };
            let ark = read(&r.ark, "SEV ARK")?;
            let ask = read(&r.ask, "SEV ASK")?;
            dev_roots.push(DevRoots::new(ark, ask).map_err(|e| {
                ConfigError::Invalid(format!("sev.dev_roots[{i}] ({}): {e}", r.ask.display()))
            })?);
        }
        Ok(Self {
            session_ttl: cfg.session_ttl,
            max_pending_sessions: cfg.max_pending_sessions,
            dev_roots,
        })
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn bad(field: &str, reason: impl std::fmt::Display) -> KbsError {
    KbsError::BadRequest(format!("{field}: {reason}"))
}

// ------------------------------------------------------------------ workload registration

/// What a workload's registered measurement is, and so which claim releases its secrets.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TeeKind {
    /// SEV/SEV-ES: the 32-byte launch digest (pre-launch secret injection).
    Sev,
    /// SEV-SNP (and Azure SNP vTPM): the 48-byte launch measurement.
    Snp,
    /// TPM (and Azure SNP vTPM): the 32-byte ENCLAVE ID v1 of the quoted PCRs 4, 5, 9, 15
    /// (claim `tpm.enclave_id` / `az-snp-vtpm.enclave_id`).
    Tpm,
}

impl TeeKind {
    /// The name used in requests and records.
    pub fn name(self) -> &'static str {
        match self {
            TeeKind::Sev => "sev",
            TeeKind::Snp => "snp",
            TeeKind::Tpm => "tpm",
        }
    }

    /// The measurement length in bytes.
    pub fn measurement_len(self) -> usize {
        match self {
            TeeKind::Sev | TeeKind::Tpm => 32,
            TeeKind::Snp => 48,
        }
    }

    /// The reference-value name the measurement is listed under.
    pub fn rv_name(self) -> &'static str {
        match self {
            TeeKind::Sev => SEV_DIGEST_RV,
            TeeKind::Snp => SNP_MEASUREMENT_RV,
            TeeKind::Tpm => ENCLAVE_ID_RV,
        }
    }

    fn parse(v: &str) -> Result<Self, KbsError> {
        match v.trim().to_ascii_lowercase().as_str() {
            "sev" | "sev-es" => Ok(TeeKind::Sev),
            "snp" | "sev-snp" => Ok(TeeKind::Snp),
            "tpm" => Ok(TeeKind::Tpm),
            _ => Err(bad("tee", "one of \"sev\", \"snp\", \"tpm\"")),
        }
    }

    /// The kind a measurement of `len` bytes meant before `tee` existed.
    fn infer(len: usize) -> Self {
        if len == 32 {
            TeeKind::Sev
        } else {
            TeeKind::Snp
        }
    }
}

/// A registered workload (stored as JSON in [`Namespace::Config`] at
/// `sev-workload/<workload_id>`; holds no secret).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkloadRecord {
    /// The workload id.
    pub workload_id: String,
    /// What the measurement is (absent in records written before it existed: inferred from
    /// the length, 32 bytes SEV and 48 bytes SNP; see [`WorkloadRecord::tee_kind`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tee: Option<TeeKind>,
    /// Expected measurement, lowercase hex: 32 bytes (SEV/SEV-ES launch digest, or TPM
    /// ENCLAVE ID) or 48 bytes (SEV-SNP measurement).
    pub launch_measurement: String,
    /// SEV guest policy the launch session is started with.
    pub guest_policy: u32,
    /// Minimum platform firmware API version (major, minor).
    pub min_api: (u8, u8),
    /// The secrets: EFI secret-table GUID and resource name under `workload/<id>/`.
    pub secrets: Vec<SecretRef>,
}

/// Where one secret of a workload lives.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// GUID of the entry in the EFI secret table.
    pub guid: String,
    /// Resource name (tag) under `workload/<id>/`.
    pub name: String,
}

impl WorkloadRecord {
    fn key(id: &str) -> String {
        format!("{WORKLOAD_PREFIX}{id}")
    }

    fn resource(&self, name: &str) -> String {
        format!("{WORKLOAD_REPO}/{}/{name}", self.workload_id)
    }

    /// What the measurement is: the stored kind, else inferred from its length.
    pub fn tee_kind(&self) -> TeeKind {
        self.tee
            .unwrap_or_else(|| TeeKind::infer(self.launch_measurement.len() / 2))
    }

    /// The reference-value name the measurement is listed under.
    fn rv_name(&self) -> &'static str {
        self.tee_kind().rv_name()
    }

    /// The per-resource policy: release only to affirming evidence whose measurement is the
    /// registered one — SNP launch measurement (`snp.measurement` in hex, Azure
    /// `az-snp-vtpm.measurement` in base64) or TPM ENCLAVE ID (`tpm.enclave_id`,
    /// `az-snp-vtpm.enclave_id`). Only validated hex (and its base64) and a validated id are
    /// interpolated: nothing from the request can end the string literals.
    fn resource_policy(&self) -> String {
        let m = &self.launch_measurement;
        let rules = match self.tee_kind() {
            TeeKind::Sev | TeeKind::Snp => {
                let b64 = hex::decode(m)
                    .map(|b| STANDARD.encode(b))
                    .unwrap_or_default();
                format!(
                    r#"measurement := "{m}"

measurement_b64 := "{b64}"

measured(ev) if lower(ev.snp.measurement) == measurement

measured(ev) if ev["az-snp-vtpm"].measurement == measurement_b64
"#
                )
            }
            TeeKind::Tpm => format!(
                r#"enclave_id := "{m}"

measured(ev) if lower(ev.tpm.enclave_id) == enclave_id

measured(ev) if lower(ev["az-snp-vtpm"].enclave_id) == enclave_id
"#
            ),
        };
        format!(
            r#"# Generated by the registration of workload "{id}" (tee "{tee}"): its secrets are released
# only to affirming evidence whose measurement is the registered one.
package policy

import rego.v1

default allow := false

{rules}
allow if {{
	count(input.submods) > 0
	every _, sub in input.submods {{
		sub["ear.status"] == "affirming"
		measured(sub["ear.veraison.annotated-evidence"])
	}}
}}

deny_reasons contains "workload {id}: the {what} is not the registered one" if not allow
"#,
            id = self.workload_id,
            tee = self.tee_kind().name(),
            what = match self.tee_kind() {
                TeeKind::Tpm => "ENCLAVE ID",
                TeeKind::Sev | TeeKind::Snp => "launch measurement",
            },
        )
    }
}

/// The seed system's registration form (reference-kbs / confidential-workload tooling).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedWorkload {
    workload_id: String,
    launch_measurement: String,
    /// JSON text: `{"flags":{"bits":N},"minfw":{"major":M,"minor":m}}` (virtee `sev`'s
    /// `Policy`).
    tee_config: String,
    passphrase: SecretText,
}

/// A secret string from a request or a stored record, zeroized on drop.
#[derive(Serialize, Deserialize, Default)]
#[serde(transparent)]
struct SecretText(String);

impl Drop for SecretText {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

/// remits' registration form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemitsWorkload {
    workload_id: String,
    launch_measurement: String,
    /// `"sev"`, `"snp"` or `"tpm"` (default: inferred from the length, 32 bytes SEV, 48 SNP).
    #[serde(default)]
    tee: Option<String>,
    /// Guest policy: a number or a `0x` hex string (default `0x3`: no debug, no key sharing).
    #[serde(default)]
    guest_policy: Option<Value>,
    /// Minimum firmware API version (default the policy's own bits 23:16 / 31:24).
    #[serde(default)]
    min_api: Option<ApiVersion>,
    secrets: Vec<RemitsSecret>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct ApiVersion {
    major: u8,
    minor: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemitsSecret {
    /// Resource name under `workload/<id>/`.
    name: String,
    /// EFI secret-table GUID (default: the disk-passphrase GUID, for one secret only).
    #[serde(default)]
    guid: Option<String>,
    /// The value, base64.
    value: SecretText,
}

/// virtee `sev`'s `Policy` as JSON (reference-kbs' `tee_config`).
#[derive(Deserialize)]
struct TeeConfig {
    flags: TeeFlags,
    #[serde(default)]
    minfw: Option<ApiVersion>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TeeFlags {
    Bits { bits: u64 },
    Number(u64),
}

/// A parsed registration: the record and the secret values (zeroized on drop).
struct Registration {
    record: WorkloadRecord,
    values: Vec<Zeroizing<Vec<u8>>>,
}

/// The measurement as lowercase hex and its kind: `tee` when given (the length must match),
/// else inferred from the length (32 bytes SEV, 48 bytes SNP).
fn parse_measurement(m: &str, tee: Option<TeeKind>) -> Result<(String, TeeKind), KbsError> {
    let t = m.trim().to_ascii_lowercase();
    let bytes = hex::decode(&t).map_err(|e| bad("launch_measurement", format!("not hex: {e}")))?;
    match tee {
        Some(k) if bytes.len() != k.measurement_len() => Err(bad(
            "launch_measurement",
            format!(
                "{} bytes; tee \"{}\" expects {} ({})",
                bytes.len(),
                k.name(),
                k.measurement_len(),
                match k {
                    TeeKind::Sev => "SEV/SEV-ES launch digest",
                    TeeKind::Snp => "SEV-SNP measurement",
                    TeeKind::Tpm => "TPM ENCLAVE ID",
                }
            ),
        )),
        Some(k) => Ok((t, k)),
        None if bytes.len() == 32 || bytes.len() == 48 => Ok((t, TeeKind::infer(bytes.len()))),
        None => Err(bad(
            "launch_measurement",
            format!(
                "{} bytes; expected 32 (SEV/SEV-ES launch digest) or 48 (SEV-SNP measurement)",
                bytes.len()
            ),
        )),
    }
}

fn parse_guest_policy(v: &Value) -> Result<u32, KbsError> {
    parse_policy_field(v, "guest_policy")
}

fn parse_policy_field(v: &Value, field: &str) -> Result<u32, KbsError> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let t = s.trim();
            match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => t.parse().ok(),
            }
        }
        _ => None,
    };
    let p = n
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| bad(field, "not a 32-bit number"))?;
    if LaunchPolicy(p).reserved_bits() != 0 {
        return Err(bad(field, format!("{p:#010x} sets reserved bits 15:6")));
    }
    Ok(p)
}

fn check_workload_id(id: &str) -> Result<(), KbsError> {
    if !valid_segment(id) {
        return Err(bad(
            "workload_id",
            "1..=128 characters of [A-Za-z0-9_.-], starting with a letter, digit, _ or -",
        ));
    }
    Ok(())
}

fn parse_registration(body: &[u8]) -> Result<Registration, KbsError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        KbsError::BadRequest(format!(
            "not JSON: {}",
            remits_evidence::parse_error::json(&e)
        ))
    })?;
    let json_err = |e: serde_json::Error| {
        KbsError::BadRequest(remits_evidence::parse_error::json(&e).to_string())
    };
    if v.get("passphrase").is_some() || v.get("tee_config").is_some() {
        let w: SeedWorkload = serde_json::from_value(v).map_err(json_err)?;
        check_workload_id(&w.workload_id)?;
        let tc: TeeConfig = serde_json::from_str(&w.tee_config).map_err(|e| {
            bad(
                "tee_config",
                format!(
                    "expected {{\"flags\":{{\"bits\":N}},\"minfw\":{{\"major\":M,\"minor\":m}}}}: {}",
                    remits_evidence::parse_error::json(&e)
                ),
            )
        })?;
        let bits = match tc.flags {
            TeeFlags::Bits { bits } | TeeFlags::Number(bits) => bits,
        };
        if bits > 0xffff {
            return Err(bad("tee_config.flags.bits", "more than 16 bits"));
        }
        let minfw = tc.minfw.unwrap_or(ApiVersion { major: 0, minor: 0 });
        // virtee's Policy: flags in bits 15:0, minimum firmware major 23:16, minor 31:24.
        let policy = u32::try_from(bits).unwrap_or(0)
            | u32::from(minfw.major) << 16
            | u32::from(minfw.minor) << 24;
        let policy = parse_guest_policy(&json!(policy))
            .map_err(|_| bad("tee_config.flags.bits", "sets reserved bits 15:6"))?;
        if w.passphrase.0.is_empty() {
            return Err(bad("passphrase", "empty"));
        }
        let (launch_measurement, tee) = parse_measurement(&w.launch_measurement, None)?;
        return Ok(Registration {
            record: WorkloadRecord {
                launch_measurement,
                tee: Some(tee),
                workload_id: w.workload_id.clone(),
                guest_policy: policy,
                min_api: (minfw.major, minfw.minor),
                secrets: vec![SecretRef {
                    guid: DEFAULT_SECRET_GUID.into(),
                    name: PASSPHRASE_NAME.into(),
                }],
            },
            values: vec![Zeroizing::new(w.passphrase.0.as_bytes().to_vec())],
        });
    }
    let w: RemitsWorkload = serde_json::from_value(v).map_err(json_err)?;
    check_workload_id(&w.workload_id)?;
    let tee = w.tee.as_deref().map(TeeKind::parse).transpose()?;
    let (launch_measurement, tee) = parse_measurement(&w.launch_measurement, tee)?;
    let policy = match &w.guest_policy {
        Some(p) => parse_guest_policy(p)?,
        None => 0x3,
    };
    let lp = LaunchPolicy(policy);
    let min_api = w.min_api.unwrap_or(ApiVersion {
        major: lp.api_major(),
        minor: lp.api_minor(),
    });
    if w.secrets.is_empty() || w.secrets.len() > MAX_WORKLOAD_SECRETS {
        return Err(bad(
            "secrets",
            format!("1..={MAX_WORKLOAD_SECRETS} secrets required"),
        ));
    }
    let mut secrets = Vec::new();
    let mut values = Vec::new();
    for (i, s) in w.secrets.iter().enumerate() {
        if !valid_segment(&s.name) {
            return Err(bad(
                &format!("secrets[{i}].name"),
                "not a valid resource tag",
            ));
        }
        let guid = match &s.guid {
            Some(g) => uuid::Uuid::parse_str(g.trim())
                .map_err(|e| bad(&format!("secrets[{i}].guid"), e))?
                .hyphenated()
                .to_string(),
            None if w.secrets.len() == 1 => DEFAULT_SECRET_GUID.into(),
            None => {
                return Err(bad(
                    &format!("secrets[{i}].guid"),
                    "required when there are several secrets",
                ))
            }
        };
        if secrets
            .iter()
            .any(|r: &SecretRef| r.name == s.name || r.guid == guid)
        {
            return Err(bad(&format!("secrets[{i}]"), "name or GUID used twice"));
        }
        let value = Zeroizing::new(
            STANDARD
                .decode(s.value.0.trim())
                .map_err(|_| bad(&format!("secrets[{i}].value"), "not base64"))?,
        );
        if value.is_empty() {
            return Err(bad(&format!("secrets[{i}].value"), "empty"));
        }
        secrets.push(SecretRef {
            guid,
            name: s.name.clone(),
        });
        values.push(value);
    }
    let record = WorkloadRecord {
        launch_measurement,
        tee: Some(tee),
        workload_id: w.workload_id,
        guest_policy: policy,
        min_api: (min_api.major, min_api.minor),
        secrets,
    };
    // The whole table must fit in the secret area the guest firmware reserves.
    let pairs: Vec<(&str, &[u8])> = record
        .secrets
        .iter()
        .zip(&values)
        .map(|(r, v)| (r.guid.as_str(), v.as_slice()))
        .collect();
    remits_sev::table::build_secret_table(&pairs, remits_sev::table::DEFAULT_MAX_TABLE_LEN)
        .map_err(|e| bad("secrets", e))?;
    Ok(Registration { record, values })
}

/// The stored reference-value entries of `name` (the shape `remits_verify`'s reference-value
/// store keeps: `[{"value": …, "expires_at"?: …}]`).
fn rv_entries(raw: Option<&[u8]>) -> Result<Vec<Value>, KbsError> {
    match raw {
        None => Ok(Vec::new()),
        Some(b) => serde_json::from_slice(b)
            .map_err(|e| KbsError::Internal(format!("stored reference values corrupt: {e}"))),
    }
}

async fn load_workload(
    s: &KbsState,
    id: &str,
) -> Result<Option<(WorkloadRecord, Zeroizing<Vec<u8>>)>, KbsError> {
    let Some(raw) = s
        .store
        .get(Namespace::Config, &WorkloadRecord::key(id))
        .await
        .map_err(storage)?
    else {
        return Ok(None);
    };
    let rec: WorkloadRecord = serde_json::from_slice(&raw)
        .map_err(|e| KbsError::Internal(format!("workload record {id:?} corrupt: {e}")))?;
    Ok(Some((rec, raw)))
}

/// Whether another registered workload than `except` lists `measurement` under the same
/// reference-value name as `rec`.
async fn measurement_used_elsewhere(
    s: &KbsState,
    except: &str,
    rec: &WorkloadRecord,
) -> Result<bool, KbsError> {
    let measurement = rec.launch_measurement.as_str();
    for key in s
        .store
        .list(Namespace::Config, WORKLOAD_PREFIX)
        .await
        .map_err(storage)?
    {
        let id = &key[WORKLOAD_PREFIX.len()..];
        if id == except {
            continue;
        }
        if let Some((r, _)) = load_workload(s, id).await? {
            if r.launch_measurement == measurement && r.rv_name() == rec.rv_name() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// New reference-value lists after replacing `old` (if any) by `new` (if any).
struct RvChange {
    name: String,
    old_raw: Option<Zeroizing<Vec<u8>>>,
    new_raw: Option<Vec<u8>>,
}

async fn rv_change(
    s: &KbsState,
    name: &str,
    remove: Option<&str>,
    add: Option<&str>,
) -> Result<RvChange, KbsError> {
    let old_raw = s
        .store
        .get(Namespace::ReferenceValue, name)
        .await
        .map_err(storage)?;
    let mut entries = rv_entries(old_raw.as_deref().map(Vec::as_slice))?;
    if let Some(r) = remove {
        entries.retain(|e| e.get("value").and_then(Value::as_str) != Some(r));
    }
    if let Some(a) = add {
        // A registration's value never expires (an earlier expiring entry is replaced).
        entries.retain(|e| e.get("value").and_then(Value::as_str) != Some(a));
        entries.push(json!({ "value": a }));
    }
    let new_raw = if entries.is_empty() {
        None
    } else {
        Some(serde_json::to_vec(&entries).map_err(|e| KbsError::Internal(e.to_string()))?)
    };
    Ok(RvChange {
        name: name.to_owned(),
        old_raw,
        new_raw,
    })
}

fn rv_write(c: &RvChange) -> TxWrite<'_> {
    let expect = match &c.old_raw {
        Some(v) => Expect::Value(v),
        None => Expect::Absent,
    };
    TxWrite {
        ns: Namespace::ReferenceValue,
        key: &c.name,
        expect,
        new: c.new_raw.as_deref(),
        expires_at: None,
    }
}

/// `POST /kbs/v0/sev/workload` and `POST /kbs/v0/register_workload` (admin): register or
/// re-register a workload (see the module documentation).
pub(super) async fn register_workload(
    State(s): State<Arc<KbsState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HResult {
    let who = admin_check(&s, &headers, "register-workload")?;
    let body = body_bytes(&s, body)?;
    let reg = parse_registration(&body).map_err(|e| err(&s, e))?;
    let rec = &reg.record;
    let policy_text = rec.resource_policy();
    s.backend
        .check_resource_policy("workload-resource", &policy_text)
        .map_err(|e| err(&s, KbsError::AdminInput(e)))?;
    let record_json =
        serde_json::to_vec(rec).map_err(|e| err(&s, KbsError::Internal(e.to_string())))?;
    let id = rec.workload_id.clone();
    for _ in 0..REGISTER_ATTEMPTS {
        let old = load_workload(&s, &id).await.map_err(|e| err(&s, e))?;
        // Reference values: add the new measurement, drop the old one unless another
        // workload still lists it.
        let mut changes = Vec::new();
        let new_name = rec.rv_name();
        let mut removed = None;
        if let Some((o, _)) = &old {
            if (o.launch_measurement != rec.launch_measurement || o.rv_name() != rec.rv_name())
                && !measurement_used_elsewhere(&s, &id, o)
                    .await
                    .map_err(|e| err(&s, e))?
            {
                removed = Some((o.rv_name(), o.launch_measurement.clone()));
            }
        }
        match &removed {
            Some((name, m)) if *name != new_name => {
                changes.push(rv_change(&s, name, Some(m.as_str()), None).await);
                changes.push(rv_change(&s, new_name, None, Some(&rec.launch_measurement)).await);
            }
            Some((_, m)) => changes.push(
                rv_change(
                    &s,
                    new_name,
                    Some(m.as_str()),
                    Some(&rec.launch_measurement),
                )
                .await,
            ),
            None => {
                changes.push(rv_change(&s, new_name, None, Some(&rec.launch_measurement)).await)
            }
        }
        let changes: Vec<RvChange> = changes
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| err(&s, e))?;
        let wkey = WorkloadRecord::key(&id);
        let resources: Vec<String> = rec.secrets.iter().map(|r| rec.resource(&r.name)).collect();
        let policy_keys: Vec<String> = resources
            .iter()
            .map(|r| format!("{PER_RESOURCE_POLICY_PREFIX}{r}"))
            .collect();
        // Secrets of the previous registration that are not kept.
        let (stale_res, stale_pol): (Vec<String>, Vec<String>) = old
            .as_ref()
            .map(|(o, _)| {
                o.secrets
                    .iter()
                    .map(|r| o.resource(&r.name))
                    .filter(|r| !resources.contains(r))
                    .map(|r| (r.clone(), format!("{PER_RESOURCE_POLICY_PREFIX}{r}")))
                    .unzip()
            })
            .unwrap_or_default();
        let mut writes = vec![
            TxWrite::put(Namespace::Config, &wkey, &record_json).expecting(match &old {
                Some((_, raw)) => Expect::Value(raw),
                None => Expect::Absent,
            }),
        ];
        for (r, v) in resources.iter().zip(&reg.values) {
            writes.push(TxWrite::put(Namespace::Resource, r, v));
        }
        for k in &policy_keys {
            writes.push(TxWrite::put(
                Namespace::ResourcePolicy,
                k,
                policy_text.as_bytes(),
            ));
        }
        for r in &stale_res {
            writes.push(TxWrite::delete(Namespace::Resource, r));
        }
        for k in &stale_pol {
            writes.push(TxWrite::delete(Namespace::ResourcePolicy, k));
        }
        writes.extend(changes.iter().map(rv_write));
        if s.store
            .transact(&writes)
            .await
            .map_err(|e| err(&s, storage(e)))?
        {
            return Ok(admin_ok(&s, who, "register-workload", &id));
        }
    }
    Err(err(
        &s,
        KbsError::Internal(format!(
            "workload {id:?}: too many concurrent registrations, try again"
        )),
    ))
}

/// `GET /kbs/v0/sev/workload/<id>` (admin): the record (no secret values).
pub(super) async fn get_workload(
    State(s): State<Arc<KbsState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> HResult {
    admin_check(&s, &headers, "get-workload")?;
    check_workload_id(&id).map_err(|e| err(&s, e))?;
    match load_workload(&s, &id).await.map_err(|e| err(&s, e))? {
        Some((r, _)) => Ok(Json(r).into_response()),
        None => Err(err(&s, KbsError::UnknownWorkload(id))),
    }
}

/// `DELETE /kbs/v0/sev/workload/<id>` (admin): removes, in one transaction, the record, its
/// resources, their per-resource policies and its reference value (unless another workload
/// lists the same measurement).
pub(super) async fn delete_workload(
    State(s): State<Arc<KbsState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> HResult {
    let who = admin_check(&s, &headers, "delete-workload")?;
    check_workload_id(&id).map_err(|e| err(&s, e))?;
    for _ in 0..REGISTER_ATTEMPTS {
        let Some((rec, raw)) = load_workload(&s, &id).await.map_err(|e| err(&s, e))? else {
            return Err(err(&s, KbsError::UnknownWorkload(id)));
        };
        let change = if measurement_used_elsewhere(&s, &id, &rec)
            .await
            .map_err(|e| err(&s, e))?
        {
            None
        } else {
            Some(
                rv_change(&s, rec.rv_name(), Some(&rec.launch_measurement), None)
                    .await
                    .map_err(|e| err(&s, e))?,
            )
        };
        let wkey = WorkloadRecord::key(&id);
        let resources: Vec<String> = rec.secrets.iter().map(|r| rec.resource(&r.name)).collect();
        let policies: Vec<String> = resources
            .iter()
            .map(|r| format!("{PER_RESOURCE_POLICY_PREFIX}{r}"))
            .collect();
        let mut writes =
            vec![TxWrite::delete(Namespace::Config, &wkey).expecting(Expect::Value(&raw))];
        writes.extend(
            resources
                .iter()
                .map(|r| TxWrite::delete(Namespace::Resource, r)),
        );
        writes.extend(
            policies
                .iter()
                .map(|k| TxWrite::delete(Namespace::ResourcePolicy, k)),
        );
        writes.extend(change.iter().map(rv_write));
        if s.store
            .transact(&writes)
            .await
            .map_err(|e| err(&s, storage(e)))?
        {
            return Ok(admin_ok(&s, who, "delete-workload", &id));
        }
    }
    Err(err(
        &s,
        KbsError::Internal(format!(
            "workload {id:?}: too many concurrent changes, try again"
        )),
    ))
}

// ------------------------------------------------------------------ launch session

/// `POST /kbs/v0/sev/session` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionRequest {
    workload_id: String,
    /// The platform chain: base64 of `sevctl export` (PDH ‖ PEK ‖ OCA ‖ CEK), or an object
    /// `{"pdh","pek","oca","cek"}` of base64 certificates.
    chain: ChainInput,
    /// The platform generation (`naples`, `rome`, `milan`, `genoa`, `turin`); absent: any.
    #[serde(default)]
    generation: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ChainInput {
    Export(String),
    Parts {
        pdh: String,
        pek: String,
        oca: String,
        cek: String,
    },
}

impl ChainInput {
    fn decode(&self) -> Result<PlatformChain, KbsError> {
        let d = |field: &str, v: &str| {
            STANDARD
                .decode(v.trim())
                .map_err(|_| bad(field, "not base64"))
        };
        match self {
            ChainInput::Export(b) => {
                PlatformChain::from_sevctl_export(&d("chain", b)?).map_err(|e| bad("chain", e))
            }
            ChainInput::Parts { pdh, pek, oca, cek } => Ok(PlatformChain {
                pdh: d("chain.pdh", pdh)?,
                pek: d("chain.pek", pek)?,
                oca: d("chain.oca", oca)?,
                cek: d("chain.cek", cek)?,
            }),
        }
    }
}

/// The stored launch session (in [`Namespace::LaunchSession`], sealed under the KEK).
#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case", deny_unknown_fields)]
enum LaunchRecord {
    /// Started: waiting for the measurement.
    Started {
        workload_id: String,
        /// TEK ‖ TIK, base64.
        keys: SecretText,
        policy: u32,
        production_root: bool,
        generation: Option<String>,
        expires_at: u64,
    },
    /// A measurement was submitted: the keys are gone; kept until expiry to name replays.
    Used { expires_at: u64 },
}

impl LaunchRecord {
    fn expires_at(&self) -> u64 {
        match self {
            LaunchRecord::Started { expires_at, .. } | LaunchRecord::Used { expires_at } => {
                *expires_at
            }
        }
    }
}

fn busy(s: &KbsState, full: super::pending::Full) -> Response {
    if full.first {
        tracing::warn!(
            max = s.sev_pending.max(),
            retry_after = full.retry_after,
            "too many pending SEV launch sessions: refused until sessions are used or expire"
        );
    }
    let body = crate::protocol::ErrorInformation {
        error_type: format!("{}ServiceBusy", crate::protocol::ERROR_TYPE_PREFIX),
        detail: "too many pending SEV launch sessions; retry later".into(),
    };
    let mut resp = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(full.retry_after.clamp(1, MAX_RETRY_AFTER)),
    );
    resp
}

/// Verifies the chain under AMD's roots, then (only if configured) the development roots.
/// Returns the platform and whether its root is AMD's.
fn verify_chain(
    s: &KbsState,
    chain: &PlatformChain,
    generation: Option<Generation>,
) -> Result<(VerifiedPlatform, bool), KbsError> {
    let choice = generation.map_or(RootChoice::AnyGeneration, RootChoice::Generation);
    let amd = match chain.verify(choice) {
        Ok(p) => return Ok((p, true)),
        Err(e) => e,
    };
    for r in &s.settings.sev.dev_roots {
        let Ok(roots) = AmdRoots::verify(&r.ark, &r.ask, None) else {
            continue;
        };
        if let Ok(p) = chain.verify_with_roots(&roots) {
            tracing::warn!("SEV platform chain verified under a DEVELOPMENT root (not AMD's)");
            return Ok((p, false));
        }
    }
    Err(KbsError::SevRejected(format!("platform chain: {amd}")))
}

/// `POST /kbs/v0/sev/session`: `{workload_id, chain, generation?}` →
/// `{session_id, godh, session, policy, expires_at}`.
pub(super) async fn start(
    State(s): State<Arc<KbsState>>,
    body: Result<Bytes, BytesRejection>,
) -> HResult {
    let body = body_bytes(&s, body)?;
    let req: SessionRequest = parse_json(&s, &body)?;
    check_workload_id(&req.workload_id).map_err(|e| err(&s, e))?;
    let generation = match &req.generation {
        None => None,
        Some(g) => Some(
            Generation::from_name(&g.to_ascii_lowercase()).ok_or_else(|| {
                err(
                    &s,
                    bad("generation", "one of naples, rome, milan, genoa, turin"),
                )
            })?,
        ),
    };
    let chain = req.chain.decode().map_err(|e| err(&s, e))?;
    let (rec, _) = load_workload(&s, &req.workload_id)
        .await
        .map_err(|e| err(&s, e))?
        .ok_or_else(|| err(&s, KbsError::UnknownWorkload(req.workload_id.clone())))?;
    if rec.tee_kind() != TeeKind::Sev {
        return Err(err(
            &s,
            bad(
                "workload_id",
                format!(
                    "workload {} is registered with tee \"{}\"; an SEV launch session needs a \
                     workload registered with tee \"sev\" (a 32-byte SEV launch digest)",
                    rec.workload_id,
                    rec.tee_kind().name()
                ),
            ),
        ));
    }
    // Admission first: when the pending cap is reached the chain's RSA and ECDSA checks are not
    // spent at all (an unauthenticated caller cannot make a full broker do signature work).
    let now = s.clock.now();
    let expires = now + s.settings.sev.session_ttl;
    if let Err(full) = s.sev_pending.try_admit(unix(now), unix(expires)) {
        return Ok(busy(&s, full));
    }
    let r = match verify_chain(&s, &chain, generation) {
        Ok((platform, production_root)) => {
            start_admitted(&s, &rec, &platform, production_root, expires).await
        }
        Err(e) => Err(err(&s, e)),
    };
    if r.is_err() {
        s.sev_pending.release(unix(expires));
    }
    r
}

async fn start_admitted(
    s: &KbsState,
    rec: &WorkloadRecord,
    platform: &VerifiedPlatform,
    production_root: bool,
    expires: SystemTime,
) -> HResult {
    let policy = LaunchPolicy(rec.guest_policy);
    let (launch, keys) = start_session(platform, policy, &mut Rng(s.rng.as_ref()))
        .map_err(|e| err(s, KbsError::SevRejected(e.to_string())))?;
    let mut idb = [0u8; 16];
    s.rng.fill(&mut idb);
    let id = hex::encode(idb);
    let record = LaunchRecord::Started {
        workload_id: rec.workload_id.clone(),
        keys: SecretText(STANDARD.encode(keys.to_bytes().as_slice())),
        policy: policy.0,
        production_root,
        generation: platform.generation().map(|g| g.name().to_string()),
        expires_at: unix(expires),
    };
    let raw = Zeroizing::new(
        serde_json::to_vec(&record).map_err(|e| err(s, KbsError::Internal(e.to_string())))?,
    );
    let mut w = TxWrite::put(Namespace::LaunchSession, &id, &raw).expecting(Expect::Absent);
    w.expires_at = Some(expires);
    if !s
        .store
        .transact(&[w])
        .await
        .map_err(|e| err(s, storage(e)))?
    {
        return Err(err(s, KbsError::Internal("session id collision".into())));
    }
    tracing::info!(
        workload = %rec.workload_id,
        session = &id[..8],
        production_root,
        "SEV launch session started"
    );
    Ok(Json(json!({
        "session_id": id,
        "workload_id": rec.workload_id,
        "godh": launch.godh_b64(),
        "session": launch.session_b64(),
        "policy": policy.0,
        "policy_hex": format!("{:#x}", policy.0),
        "expires_at": unix(expires),
    }))
    .into_response())
}

// ------------------------------------------------------------------ measurement → secret

/// `POST /kbs/v0/sev/secret` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretRequest {
    session_id: String,
    /// Base64 of MEASURE ‖ MNONCE (`query-sev-launch-measure`).
    measurement: String,
    api_major: u8,
    api_minor: u8,
    build: u8,
    /// The guest policy the guest was launched with (number or `0x` hex string).
    policy: Value,
}

/// The SEV claims the attestation policy sees as `input.sev`.
fn sev_claims(
    rec: &WorkloadRecord,
    build: PlatformBuild,
    policy: LaunchPolicy,
    production_root: bool,
    generation: Option<&str>,
) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("workload_id", json!(rec.workload_id));
    put("launch_digest", json!(rec.launch_measurement));
    put("policy", json!(policy.0));
    put("policy_debug_allowed", json!(!policy.no_debug()));
    put(
        "policy_key_sharing_allowed",
        json!(!policy.no_key_sharing()),
    );
    put("policy_es", json!(policy.es()));
    put("policy_send_allowed", json!(!policy.no_send()));
    put("policy_domain", json!(policy.domain()));
    put("policy_sev", json!(policy.sev_only()));
    put("policy_api_major", json!(policy.api_major()));
    put("policy_api_minor", json!(policy.api_minor()));
    put("api_major", json!(build.api_major));
    put("api_minor", json!(build.api_minor));
    put("build", json!(build.build));
    put("min_api_major", json!(rec.min_api.0));
    put("min_api_minor", json!(rec.min_api.1));
    put("production_root", json!(production_root));
    put("generation", json!(generation));
    m
}

/// `POST /kbs/v0/sev/secret`: `{session_id, measurement, api_major, api_minor, build,
/// policy}` → `{"packet-header", "secret"}` (QMP `sev-inject-launch-secret` arguments).
pub(super) async fn secret(
    State(s): State<Arc<KbsState>>,
    body: Result<Bytes, BytesRejection>,
) -> HResult {
    let body = body_bytes(&s, body)?;
    let req: SecretRequest = parse_json(&s, &body)?;
    let id = req.session_id.trim();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err(&s, KbsError::SevSessionUnknown));
    }
    let m = LaunchMeasurement::from_b64(&req.measurement)
        .map_err(|e| err(&s, bad("measurement", e)))?;
    let submitted_policy = parse_policy_field(&req.policy, "policy").map_err(|e| err(&s, e))?;
    let raw = s
        .store
        .get(Namespace::LaunchSession, id)
        .await
        .map_err(|e| err(&s, storage(e)))?
        .ok_or_else(|| err(&s, KbsError::SevSessionUnknown))?;
    let rec: LaunchRecord = serde_json::from_slice(&raw).map_err(|_| {
        err(
            &s,
            KbsError::Internal("unreadable SEV session record".into()),
        )
    })?;
    let now = unix(s.clock.now());
    if rec.expires_at() <= now {
        return Err(err(&s, KbsError::SevSessionUnknown));
    }
    let LaunchRecord::Started {
        workload_id,
        keys,
        policy,
        production_root,
        generation,
        expires_at,
    } = rec
    else {
        return Err(err(&s, KbsError::SevSessionUsed));
    };
    // Consume first (single use, whatever the outcome): a tombstone without keys until expiry.
    let used = serde_json::to_vec(&LaunchRecord::Used { expires_at })
        .map_err(|e| err(&s, KbsError::Internal(e.to_string())))?;
    let swapped = s
        .store
        .compare_and_swap(
            Namespace::LaunchSession,
            id,
            Some(&raw),
            Some(&used),
            Some(UNIX_EPOCH + Duration::from_secs(expires_at)),
        )
        .await
        .map_err(|e| err(&s, storage(e)))?;
    if !swapped {
        return Err(err(&s, KbsError::SevSessionUsed));
    }
    s.sev_pending.release(expires_at);
    let key_bytes = Zeroizing::new(
        STANDARD
            .decode(keys.0.as_bytes())
            .map_err(|_| err(&s, KbsError::Internal("SEV session keys corrupt".into())))?,
    );
    drop(keys);
    let tk = TransportKeys::from_bytes(&key_bytes)
        .map_err(|_| err(&s, KbsError::Internal("SEV session keys corrupt".into())))?;
    let policy = LaunchPolicy(policy);
    if submitted_policy != policy.0 {
        return Err(err(
            &s,
            KbsError::SevRejected(format!(
                "policy: {submitted_policy:#x} submitted, the session was started with {:#x}",
                policy.0
            )),
        ));
    }
    let (wl, _) = load_workload(&s, &workload_id)
        .await
        .map_err(|e| err(&s, e))?
        .ok_or_else(|| err(&s, KbsError::UnknownWorkload(workload_id.clone())))?;
    if wl.tee_kind() != TeeKind::Sev {
        return Err(err(
            &s,
            KbsError::SevRejected(format!(
                "workload {} is now registered with tee \"{}\", not \"sev\"",
                wl.workload_id,
                wl.tee_kind().name()
            )),
        ));
    }
    let mut digest = [0u8; 32];
    hex::decode_to_slice(&wl.launch_measurement, &mut digest).map_err(|_| {
        err(
            &s,
            KbsError::SevRejected("the workload has no SEV launch digest".into()),
        )
    })?;
    let build = PlatformBuild {
        api_major: req.api_major,
        api_minor: req.api_minor,
        build: req.build,
    };
    let launch = verify_measurement(&tk, build, policy, &digest, &m).map_err(|_| {
        err(
            &s,
            KbsError::SevRejected(
                "launch measurement mismatch: MEASURE is not HMAC(TIK, api_major, api_minor, \
                 build, policy, registered digest, MNONCE) for this session"
                    .into(),
            ),
        )
    })?;
    let claims = sev_claims(&wl, build, policy, production_root, generation.as_deref());
    let appraisal = s
        .backend
        .appraise_sev_launch(claims)
        .await
        .map_err(|e| err(&s, KbsError::Verifier(e)))?;
    if appraisal.status != EarStatus::Affirming {
        let failed: Vec<String> = appraisal
            .explanation
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.id.clone())
            .collect();
        let reasons = if appraisal.explanation.reasons.is_empty() {
            failed.join(", ")
        } else {
            appraisal.explanation.reasons.join("; ")
        };
        tracing::info!(workload = %wl.workload_id, failed = ?failed, "SEV launch denied by policy");
        return Err(err(
            &s,
            KbsError::PolicyDeny(format!(
                "SEV launch of workload {}: {} (status {})",
                wl.workload_id,
                reasons,
                appraisal.status.as_str()
            )),
        ));
    }
    let mut values = Vec::with_capacity(wl.secrets.len());
    for r in &wl.secrets {
        let path = wl.resource(&r.name);
        let v = s
            .store
            .get(Namespace::Resource, &path)
            .await
            .map_err(|e| err(&s, storage(e)))?
            .ok_or_else(|| err(&s, KbsError::NotFound(path.clone())))?;
        values.push(v);
    }
    let pairs: Vec<(&str, &[u8])> = wl
        .secrets
        .iter()
        .zip(&values)
        .map(|(r, v)| (r.guid.as_str(), v.as_slice()))
        .collect();
    let table =
        remits_sev::table::build_secret_table(&pairs, remits_sev::table::DEFAULT_MAX_TABLE_LEN)
            .map_err(|e| err(&s, KbsError::Internal(format!("secret table: {e}"))))?;
    let packet = launch
        .secret_packet(&table, &mut Rng(s.rng.as_ref()))
        .map_err(|e| err(&s, KbsError::Internal(format!("secret packet: {e}"))))?;
    tracing::info!(workload = %wl.workload_id, session = &id[..8], "SEV launch secret released");
    Ok(Json(json!({
        "packet-header": packet.header_b64(),
        "secret": packet.secret_b64(),
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(r: Result<Registration, KbsError>) -> String {
        match r {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn seed_form_maps_tee_config_to_the_guest_policy() {
        let body = json!({
            "workload_id": "vm1",
            "launch_measurement": "AB".repeat(32),
            "tee_config": r#"{"flags":{"bits":63},"minfw":{"major":1,"minor":2}}"#,
            "passphrase": "pw",
        });
        let r = parse_registration(body.to_string().as_bytes()).unwrap();
        // virtee's Policy: flags | major << 16 | minor << 24.
        assert_eq!(r.record.guest_policy, 63 | 1 << 16 | 2 << 24);
        assert_eq!(r.record.min_api, (1, 2));
        assert_eq!(r.record.launch_measurement, "ab".repeat(32));
        assert_eq!(r.record.secrets[0].guid, DEFAULT_SECRET_GUID);
        assert_eq!(r.record.secrets[0].name, PASSPHRASE_NAME);
        assert_eq!(&r.values[0][..], b"pw");
        assert_eq!(r.record.rv_name(), SEV_DIGEST_RV);
    }

    #[test]
    fn refusals_name_the_field() {
        let seed = |m: &str, tc: &str, pw: &str, id: &str| {
            json!({"workload_id": id, "launch_measurement": m, "tee_config": tc, "passphrase": pw})
                .to_string()
        };
        let tc = r#"{"flags":{"bits":7}}"#;
        let m = "00".repeat(48);
        for (body, field) in [
            (seed("00", tc, "p", "w"), "launch_measurement"),
            (seed("zz", tc, "p", "w"), "launch_measurement"),
            (seed(&m, "{}", "p", "w"), "tee_config"),
            (
                seed(&m, r#"{"flags":{"bits":64}}"#, "p", "w"),
                "tee_config.flags.bits",
            ),
            (seed(&m, tc, "", "w"), "passphrase"),
            (seed(&m, tc, "p", "../x"), "workload_id"),
            (
                json!({"workload_id": "w", "launch_measurement": m, "secrets": []}).to_string(),
                "secrets",
            ),
            (
                json!({"workload_id": "w", "launch_measurement": m, "guest_policy": "0x40",
                       "secrets": [{"name": "a", "value": "YQ=="}]})
                .to_string(),
                "guest_policy",
            ),
            (
                json!({"workload_id": "w", "launch_measurement": m,
                       "secrets": [{"name": "a", "value": "YQ=="}, {"name": "b", "value": "Yg=="}]})
                .to_string(),
                "secrets[0].guid",
            ),
            (
                json!({"workload_id": "w", "launch_measurement": m,
                       "secrets": [{"name": "a", "value": "not base64!"}]})
                .to_string(),
                "secrets[0].value",
            ),
        ] {
            let d = detail(parse_registration(body.as_bytes()));
            assert!(d.contains(field), "{field}: {d}");
        }
    }

    #[test]
    fn remits_form_with_several_secrets() {
        let body = json!({
            "workload_id": "w", "launch_measurement": "11".repeat(48), "guest_policy": "0x7",
            "min_api": {"major": 0, "minor": 24},
            "secrets": [
                {"name": "disk", "guid": "736869E5-84F0-4973-92EC-06879CE3DA0B", "value": "ZGlzaw=="},
                {"name": "tls", "guid": "b81f5a1a-7f77-4b34-8c5e-6c1c4d8d7e2a", "value": "dGxz"},
            ],
        });
        let r = parse_registration(body.to_string().as_bytes()).unwrap();
        assert_eq!(r.record.guest_policy, 7);
        assert_eq!(r.record.min_api, (0, 24));
        assert_eq!(r.record.secrets[0].guid, DEFAULT_SECRET_GUID);
        assert_eq!(r.record.resource("tls"), "workload/w/tls");
        assert_eq!(r.record.rv_name(), SNP_MEASUREMENT_RV);
        assert_eq!(&r.values[1][..], b"tls");
    }

    fn evaluate(rec: &WorkloadRecord, evidence: Value) -> bool {
        let engine = remits_policy::PolicyEngine::new();
        let claims = json!({"submods": {"cpu0": {
            "ear.status": "affirming",
            "ear.veraison.annotated-evidence": evidence}}});
        let data = json!({"plugin": "resource", "resource-path": ["workload", "w", "passphrase"],
                          "query": {}});
        engine
            .evaluate_resource("t", &rec.resource_policy(), &claims, &data)
            .unwrap()
            .allow
    }

    #[test]
    fn tee_kind_explicit_or_inferred() {
        let remits = |m: String, tee: Option<&str>| {
            let mut v = json!({"workload_id": "w", "launch_measurement": m,
                               "secrets": [{"name": "passphrase", "value": "cHc="}]});
            if let Some(t) = tee {
                v["tee"] = json!(t);
            }
            parse_registration(v.to_string().as_bytes())
        };
        let id = "AB".repeat(32);
        let r = remits(id.clone(), Some("tpm")).unwrap();
        assert_eq!(r.record.tee, Some(TeeKind::Tpm));
        assert_eq!(r.record.rv_name(), ENCLAVE_ID_RV);
        assert_eq!(r.record.launch_measurement, "ab".repeat(32));
        // Default: inferred from the length as before.
        let r = remits(id.clone(), None).unwrap();
        assert_eq!(r.record.tee_kind(), TeeKind::Sev);
        assert_eq!(r.record.rv_name(), SEV_DIGEST_RV);
        let r = remits("11".repeat(48), None).unwrap();
        assert_eq!(r.record.tee_kind(), TeeKind::Snp);
        let r = remits("11".repeat(48), Some("SNP")).unwrap();
        assert_eq!(r.record.tee_kind(), TeeKind::Snp);
        // A length that does not fit the kind, and unknown kinds, name the field.
        let d = detail(remits("11".repeat(48), Some("tpm")));
        assert!(
            d.contains("launch_measurement") && d.contains("ENCLAVE ID"),
            "{d}"
        );
        let d = detail(remits(id.clone(), Some("snp")));
        assert!(d.contains("launch_measurement"), "{d}");
        for t in ["tdx", "", "tpm\"", "tpm } allow := true"] {
            let d = detail(remits(id.clone(), Some(t)));
            assert!(d.starts_with("tee:") || d.contains("tee:"), "{t}: {d}");
        }
        // Rego injection: only hex and validated ids reach the policy text.
        let d = detail(remits(format!("{}\"", "ab".repeat(31)), Some("tpm")));
        assert!(d.contains("launch_measurement"), "{d}");
        let v = json!({"workload_id": "w\" allow", "launch_measurement": id, "tee": "tpm",
                       "secrets": [{"name": "p", "value": "cHc="}]});
        let d = detail(parse_registration(v.to_string().as_bytes()));
        assert!(d.contains("workload_id"), "{d}");
    }

    #[test]
    fn records_without_tee_still_load() {
        let old = json!({"workload_id": "w", "launch_measurement": "cd".repeat(32),
                         "guest_policy": 3, "min_api": [0, 0],
                         "secrets": [{"guid": DEFAULT_SECRET_GUID, "name": "passphrase"}]});
        let rec: WorkloadRecord = serde_json::from_value(old).unwrap();
        assert_eq!(rec.tee, None);
        assert_eq!(rec.tee_kind(), TeeKind::Sev);
        let mut snp = rec.clone();
        snp.launch_measurement = "cd".repeat(48);
        assert_eq!(snp.tee_kind(), TeeKind::Snp);
        // A new record round-trips with its kind.
        let mut tpm = rec;
        tpm.tee = Some(TeeKind::Tpm);
        let text = serde_json::to_string(&tpm).unwrap();
        assert!(text.contains(r#""tee":"tpm""#), "{text}");
        assert_eq!(serde_json::from_str::<WorkloadRecord>(&text).unwrap(), tpm);
    }

    #[test]
    fn generated_policies_match_the_registered_claim_only() {
        let rec = |m: String, tee: TeeKind| WorkloadRecord {
            workload_id: "w".into(),
            tee: Some(tee),
            launch_measurement: m,
            guest_policy: 3,
            min_api: (0, 0),
            secrets: Vec::new(),
        };
        let id = "ab".repeat(32);
        let tpm = rec(id.clone(), TeeKind::Tpm);
        assert!(evaluate(&tpm, json!({"tpm": {"enclave_id": id}})));
        assert!(evaluate(
            &tpm,
            json!({"tpm": {"enclave_id": id.to_uppercase()}})
        ));
        assert!(evaluate(&tpm, json!({"az-snp-vtpm": {"enclave_id": id}})));
        assert!(!evaluate(
            &tpm,
            json!({"tpm": {"enclave_id": "cd".repeat(32)}})
        ));
        assert!(!evaluate(&tpm, json!({"tpm": {"pcr15": id}})));
        // A TPM registration is not satisfied by an SNP measurement of the same bytes.
        assert!(!evaluate(&tpm, json!({"snp": {"measurement": id}})));

        let m = "11".repeat(48);
        let snp = rec(m.clone(), TeeKind::Snp);
        assert!(evaluate(&snp, json!({"snp": {"measurement": m}})));
        // Azure's claim is base64 (trustee's convention).
        let b64 = STANDARD.encode(hex::decode(&m).unwrap());
        assert!(evaluate(&snp, json!({"az-snp-vtpm": {"measurement": b64}})));
        assert!(!evaluate(&snp, json!({"az-snp-vtpm": {"measurement": m}})));
        assert!(!evaluate(
            &snp,
            json!({"snp": {"measurement": "22".repeat(48)}})
        ));
        assert!(!evaluate(&snp, json!({"tpm": {"enclave_id": m}})));
    }
}
