//! TPM 2.0 evidence through tss-esapi 7 with any TCTI (`device:/dev/tpmrm0`, `tabrmd`,
//! `swtpm:host=127.0.0.1,port=2321`): a quote over the configured PCR banks with the runtime
//! binding as qualifying data, the AK, the PCR values and the event log, in trustee's `tpm`
//! evidence form plus remits' optional fields.
//!
//! The quote and the PCR read are separate commands; a PCR extended in between would make the
//! values disagree with the quoted digest. The collector recomputes the digest from the values it
//! read and quotes again (up to [`MAX_QUOTE_ATTEMPTS`] times) until they agree.
//!
//! A `tss_esapi::Context` is not `Send`; each call opens its own, so the attester is `Send + Sync`.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use remits_evidence::attester::{Attester, AttesterError};
use remits_evidence::TeeKind;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use tss_esapi::abstraction::pcr;
use tss_esapi::constants::response_code::Tss2ResponseCodeKind;
use tss_esapi::handles::{KeyHandle, PcrHandle, PersistentTpmHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::HashingAlgorithm;
use tss_esapi::interface_types::session_handles::AuthSession;
use tss_esapi::structures::{
    Data, Digest, DigestValues, PcrSelectionList, PcrSelectionListBuilder, PcrSlot, SignatureScheme,
};
use tss_esapi::traits::Marshall;
use tss_esapi::{Context, TctiNameConf};

use crate::AttestError;

/// How many times a quote is retaken when PCRs move between quote and read.
pub const MAX_QUOTE_ATTEMPTS: u32 = 5;
/// trustee's default persistent AK handle.
pub const DEFAULT_AK_HANDLE: u32 = 0x8101_0002;
/// Where Linux exposes the firmware's TCG event log.
pub const DEFAULT_EVENT_LOG: &str = "/sys/kernel/security/tpm0/binary_bios_measurements";

const SLOTS: [PcrSlot; 24] = [
    PcrSlot::Slot0,
    PcrSlot::Slot1,
    PcrSlot::Slot2,
    PcrSlot::Slot3,
    PcrSlot::Slot4,
    PcrSlot::Slot5,
    PcrSlot::Slot6,
    PcrSlot::Slot7,
    PcrSlot::Slot8,
    PcrSlot::Slot9,
    PcrSlot::Slot10,
    PcrSlot::Slot11,
    PcrSlot::Slot12,
    PcrSlot::Slot13,
    PcrSlot::Slot14,
    PcrSlot::Slot15,
    PcrSlot::Slot16,
    PcrSlot::Slot17,
    PcrSlot::Slot18,
    PcrSlot::Slot19,
    PcrSlot::Slot20,
    PcrSlot::Slot21,
    PcrSlot::Slot22,
    PcrSlot::Slot23,
];

/// A PCR bank the collector can quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bank {
    /// SHA-256 (always quoted: trustee's `pcrs` list comes from it).
    Sha256,
    /// SHA-384.
    Sha384,
}

impl Bank {
    fn alg(self) -> HashingAlgorithm {
        match self {
            Bank::Sha256 => HashingAlgorithm::Sha256,
            Bank::Sha384 => HashingAlgorithm::Sha384,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Bank::Sha256 => "sha256",
            Bank::Sha384 => "sha384",
        }
    }
}

impl FromStr for Bank {
    type Err = AttestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sha256" => Ok(Bank::Sha256),
            "sha384" => Ok(Bank::Sha384),
            other => Err(AttestError::Invalid {
                what: "PCR bank",
                reason: format!("{other:?} (expected sha256 or sha384)"),
            }),
        }
    }
}

/// TPM collector configuration.
#[derive(Clone, Debug)]
pub struct TpmConfig {
    /// TCTI string, e.g. `device:/dev/tpmrm0` or `swtpm:host=127.0.0.1,port=2321`.
    pub tcti: String,
    /// Persistent handle of the attestation key (restricted signing key).
    pub ak_handle: u32,
    /// Banks to quote (SHA-256 is always included).
    pub banks: Vec<Bank>,
    /// TCG event log to include (skipped silently when the file does not exist).
    pub event_log: Option<PathBuf>,
    /// How many bytes of the report data become the quote's qualifying data. trustee's attester
    /// and verifier use 32 (the 48-byte binding digest truncated); at most 64.
    pub nonce_len: usize,
    /// How long one TPM interaction (connect + quote, probe, or an extend plan) may take before it
    /// is reported as busy instead of waited on: swtpm serves one connection at a time, so a TPM
    /// held by another client would otherwise block the attester forever.
    pub timeout: Duration,
}

/// Default for [`TpmConfig::timeout`].
pub const DEFAULT_TPM_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for TpmConfig {
    fn default() -> Self {
        TpmConfig {
            tcti: "device:/dev/tpmrm0".into(),
            ak_handle: DEFAULT_AK_HANDLE,
            banks: vec![Bank::Sha256],
            event_log: Some(PathBuf::from(DEFAULT_EVENT_LOG)),
            nonce_len: 32,
            timeout: DEFAULT_TPM_TIMEOUT,
        }
    }
}

fn tpm_err(op: &'static str, e: tss_esapi::Error) -> AttestError {
    let busy = matches!(
        e,
        tss_esapi::Error::Tss2Error(rc) if matches!(
            rc.kind(),
            Some(Tss2ResponseCodeKind::Retry | Tss2ResponseCodeKind::Yielded | Tss2ResponseCodeKind::Testing)
        )
    );
    AttestError::Tpm {
        op,
        reason: e.to_string(),
        busy,
    }
}

/// Opens a context on `tcti`.
///
/// # Errors
///
/// [`AttestError::Tpm`] when the TCTI does not parse or the TPM cannot be reached.
pub fn open_context(tcti: &str) -> Result<Context, AttestError> {
    let conf = TctiNameConf::from_str(tcti).map_err(|e| tpm_err("TCTI configuration", e))?;
    Context::new(conf).map_err(|e| tpm_err("connect", e))
}

fn selection(banks: &[Bank]) -> Result<PcrSelectionList, AttestError> {
    let mut b = PcrSelectionListBuilder::new();
    for bank in banks {
        b = b.with_selection(bank.alg(), &SLOTS);
    }
    b.build().map_err(|e| tpm_err("PCR selection", e))
}

/// Extends `digest` (SHA-256) into PCR `index` (15 or 16 in remits' plan; any 0..=23 allowed).
///
/// # Errors
///
/// [`AttestError::Tpm`] when the index is out of range or the TPM refuses the extend.
pub fn extend_sha256(ctx: &mut Context, index: u32, digest: &[u8; 32]) -> Result<(), AttestError> {
    let handle = pcr_handle(index)?;
    let mut vals = DigestValues::new();
    vals.set(
        HashingAlgorithm::Sha256,
        Digest::try_from(digest.to_vec()).map_err(|e| tpm_err("PCR_Extend", e))?,
    );
    ctx.execute_with_session(Some(AuthSession::Password), |c| c.pcr_extend(handle, vals))
        .map_err(|e| tpm_err("PCR_Extend", e))
}

/// Applies an extend plan (`remits_measure` manifest `extend_plan()`): `(pcr, sha256 digest)` in order.
/// Gives up after `timeout` with a busy error (see [`TpmConfig::timeout`]).
///
/// # Errors
///
/// [`AttestError::Tpm`] when an extend fails or the TPM stays busy past `timeout`.
pub fn apply_extend_plan(
    tcti: &str,
    plan: &[(u32, [u8; 32])],
    timeout: Duration,
) -> Result<(), AttestError> {
    let (tcti, plan) = (tcti.to_owned(), plan.to_vec());
    within("PCR_Extend", timeout, move || {
        let mut ctx = open_context(&tcti)?;
        for (i, d) in &plan {
            extend_sha256(&mut ctx, *i, d)?;
        }
        Ok(())
    })
}

/// What [`bind_init_data_pcr8`] found in PCR8 (SHA-256 bank).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pcr8Binding {
    /// PCR8 was zero: the init-data digest was extended into it.
    Extended,
    /// PCR8 already holds `SHA-256(0^32 || digest)`: nothing to do (a restart).
    AlreadyBound,
    /// PCR8 holds something else (other init-data, or other events): left alone; the verifier
    /// will deny the init-data binding.
    Other(Vec<u8>),
}

/// Binds init-data to PCR8 as the verifier expects it (`SHA-256(0^32 || digest)`, the digest
/// fitted to 32 bytes): extends `digest` into PCR8 when it is still zero, does nothing when it
/// already holds exactly that value, and never extends a PCR8 that holds anything else. Gives
/// up after `timeout` with a busy error.
///
/// # Errors
///
/// [`AttestError::Tpm`] when PCR8 holds another value, a read or extend fails, or the TPM stays
/// busy past `timeout`.
pub fn bind_init_data_pcr8(
    tcti: &str,
    digest: &[u8; 32],
    timeout: Duration,
) -> Result<Pcr8Binding, AttestError> {
    let (tcti, digest) = (tcti.to_owned(), *digest);
    within("PCR8 init-data", timeout, move || {
        let mut ctx = open_context(&tcti)?;
        let sel = PcrSelectionListBuilder::new()
            .with_selection(HashingAlgorithm::Sha256, &[PcrSlot::Slot8])
            .build()
            .map_err(|e| tpm_err("PCR selection", e))?;
        let data = pcr::read_all(&mut ctx, sel).map_err(|e| tpm_err("PCR_Read", e))?;
        let current = data
            .pcr_bank(HashingAlgorithm::Sha256)
            .and_then(|b| b.get_digest(PcrSlot::Slot8))
            .map(|d| d.value().to_vec())
            .ok_or_else(|| AttestError::Tpm {
                op: "PCR_Read",
                reason: "sha256 PCR8 not returned".into(),
                busy: false,
            })?;
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(digest);
        if current == h.finalize().to_vec() {
            return Ok(Pcr8Binding::AlreadyBound);
        }
        if current.iter().all(|&b| b == 0) {
            extend_sha256(&mut ctx, 8, &digest)?;
            return Ok(Pcr8Binding::Extended);
        }
        Ok(Pcr8Binding::Other(current))
    })
}

/// Runs `f` (blocking TPM I/O through the TSS) on its own thread and waits at most `limit` for
/// its answer. A TPM that does not answer in time — held by another client, or hung — becomes
/// a typed busy error instead of a hang; the blocked thread is abandoned (it owns only its
/// context and ends with the process).
fn within<T: Send + 'static>(
    op: &'static str,
    limit: Duration,
    f: impl FnOnce() -> Result<T, AttestError> + Send + 'static,
) -> Result<T, AttestError> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("remits-tpm".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| AttestError::Tpm {
            op,
            reason: format!("start the TPM worker thread: {e}"),
            busy: false,
        })?;
    match rx.recv_timeout(limit) {
        Ok(result) => result,
        Err(RecvTimeoutError::Timeout) => Err(AttestError::Tpm {
            op,
            reason: format!(
                "no answer within {} s: the TPM is busy (held by another client) or hung",
                limit.as_secs_f32()
            ),
            busy: true,
        }),
        Err(RecvTimeoutError::Disconnected) => Err(AttestError::Tpm {
            op,
            reason: "the TPM worker thread ended without an answer".into(),
            busy: false,
        }),
    }
}

fn pcr_handle(index: u32) -> Result<PcrHandle, AttestError> {
    Ok(match index {
        0 => PcrHandle::Pcr0,
        1 => PcrHandle::Pcr1,
        2 => PcrHandle::Pcr2,
        3 => PcrHandle::Pcr3,
        4 => PcrHandle::Pcr4,
        5 => PcrHandle::Pcr5,
        6 => PcrHandle::Pcr6,
        7 => PcrHandle::Pcr7,
        8 => PcrHandle::Pcr8,
        9 => PcrHandle::Pcr9,
        10 => PcrHandle::Pcr10,
        11 => PcrHandle::Pcr11,
        12 => PcrHandle::Pcr12,
        13 => PcrHandle::Pcr13,
        14 => PcrHandle::Pcr14,
        15 => PcrHandle::Pcr15,
        16 => PcrHandle::Pcr16,
        17 => PcrHandle::Pcr17,
        18 => PcrHandle::Pcr18,
        19 => PcrHandle::Pcr19,
        20 => PcrHandle::Pcr20,
        21 => PcrHandle::Pcr21,
        22 => PcrHandle::Pcr22,
        23 => PcrHandle::Pcr23,
        other => {
            return Err(AttestError::Invalid {
                what: "PCR index",
                reason: format!("{other} (expected 0..=23)"),
            })
        }
    })
}

/// One quote with the values it covers.
#[derive(Clone, Debug)]
pub struct TpmQuote {
    /// TPMS_ATTEST bytes (what the AK signed).
    pub message: Vec<u8>,
    /// TPMT_SIGNATURE bytes.
    pub signature: Vec<u8>,
    /// Per bank: the 24 PCR values in index order.
    pub pcrs: Vec<(Bank, Vec<Vec<u8>>)>,
    /// The AK as TPM2B_PUBLIC.
    pub ak_tpm2b_public: Vec<u8>,
    /// The AK as DER SubjectPublicKeyInfo.
    pub ak_spki: Vec<u8>,
}

fn bank_digest(alg: remits_tpm::HashAlg, values: &[(Bank, Vec<Vec<u8>>)]) -> Vec<u8> {
    let mut all = Vec::new();
    for (_, v) in values {
        for d in v {
            all.extend_from_slice(d);
        }
    }
    match alg {
        remits_tpm::HashAlg::Sha384 => Sha384::digest(&all).to_vec(),
        remits_tpm::HashAlg::Sha512 => Sha512::digest(&all).to_vec(),
        _ => Sha256::digest(&all).to_vec(),
    }
}

/// Takes a quote over `cfg.banks` (PCRs 0-23) with `nonce` as qualifying data, reads the PCRs,
/// and retakes the quote while the values read do not hash to the quoted PCR digest. Gives up
/// after `cfg.timeout` with a busy error.
///
/// # Errors
///
/// [`AttestError::Tpm`] when the AK cannot be loaded or the TPM fails or stays busy,
/// [`AttestError::PcrsUnstable`] when the PCRs keep changing, [`AttestError::Invalid`] when an
/// answer is malformed.
pub fn quote(cfg: &TpmConfig, nonce: &[u8]) -> Result<TpmQuote, AttestError> {
    let (cfg, nonce) = (cfg.clone(), nonce.to_vec());
    within("quote", cfg.timeout, move || quote_blocking(&cfg, &nonce))
}

fn quote_blocking(cfg: &TpmConfig, nonce: &[u8]) -> Result<TpmQuote, AttestError> {
    let mut banks = vec![Bank::Sha256];
    for b in &cfg.banks {
        if !banks.contains(b) {
            banks.push(*b);
        }
    }
    let sel = selection(&banks)?;
    let mut ctx = open_context(&cfg.tcti)?;
    let handle = PersistentTpmHandle::new(cfg.ak_handle).map_err(|e| tpm_err("AK handle", e))?;
    let ak_obj = ctx
        .tr_from_tpm_public(TpmHandle::Persistent(handle))
        .map_err(|e| tpm_err("load AK", e))?;
    let ak = KeyHandle::from(ak_obj);
    let (public, _, _) = ctx.read_public(ak).map_err(|e| tpm_err("ReadPublic", e))?;
    let tpmt = public.marshall().map_err(|e| tpm_err("marshal AK", e))?;
    let mut ak_tpm2b = (tpmt.len() as u16).to_be_bytes().to_vec();
    ak_tpm2b.extend_from_slice(&tpmt);
    let ak_key = remits_tpm::AttestationKey::from_tpm2b_public(&ak_tpm2b).map_err(|e| {
        AttestError::Invalid {
            what: "AK",
            reason: e.to_string(),
        }
    })?;
    let data = Data::try_from(nonce.to_vec()).map_err(|e| tpm_err("qualifying data", e))?;

    for _ in 0..MAX_QUOTE_ATTEMPTS {
        let (attest, sig) = ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.quote(ak, data.clone(), SignatureScheme::Null, sel.clone())
            })
            .map_err(|e| tpm_err("Quote", e))?;
        let message = attest
            .marshall()
            .map_err(|e| tpm_err("marshal TPMS_ATTEST", e))?;
        let signature = sig
            .marshall()
            .map_err(|e| tpm_err("marshal TPMT_SIGNATURE", e))?;
        let pcr_data = pcr::read_all(&mut ctx, sel.clone()).map_err(|e| tpm_err("PCR_Read", e))?;
        let mut values = Vec::new();
        for b in &banks {
            let bank = pcr_data.pcr_bank(b.alg()).ok_or_else(|| AttestError::Tpm {
                op: "PCR_Read",
                reason: format!("bank {} not returned", b.name()),
                busy: false,
            })?;
            let mut v = Vec::with_capacity(24);
            for s in SLOTS {
                let d = bank.get_digest(s).ok_or_else(|| AttestError::Tpm {
                    op: "PCR_Read",
                    reason: format!("{} PCR {:?} not returned", b.name(), s),
                    busy: false,
                })?;
                v.push(d.value().to_vec());
            }
            values.push((*b, v));
        }
        let parsed = remits_tpm::Attest::parse(&message).map_err(|e| AttestError::Invalid {
            what: "TPMS_ATTEST",
            reason: e.to_string(),
        })?;
        let sig_alg = remits_tpm::Signature::parse(&signature)
            .map(|s| s.hash())
            .unwrap_or(remits_tpm::HashAlg::Sha256);
        if bank_digest(sig_alg, &values) == parsed.pcr_digest() {
            return Ok(TpmQuote {
                message,
                signature,
                pcrs: values,
                ak_tpm2b_public: ak_tpm2b,
                ak_spki: ak_key.spki_der().to_vec(),
            });
        }
        tracing::debug!("PCRs moved between quote and read; quoting again");
    }
    Err(AttestError::PcrsUnstable {
        attempts: MAX_QUOTE_ATTEMPTS,
    })
}

impl TpmQuote {
    /// trustee's `tpm` evidence plus remits' `tpm_quote.pcr_banks` and `event_log`.
    pub fn to_evidence(&self, event_log: Option<&[u8]>) -> Value {
        let sha256 = self
            .pcrs
            .iter()
            .find(|(b, _)| *b == Bank::Sha256)
            .map(|(_, v)| v.iter().map(hex::encode).collect::<Vec<_>>())
            .unwrap_or_default();
        let mut pcr_values = Map::new();
        for (b, v) in &self.pcrs {
            let m: Map<String, Value> = v
                .iter()
                .enumerate()
                .map(|(i, d)| (i.to_string(), Value::String(hex::encode(d))))
                .collect();
            pcr_values.insert(b.name().into(), Value::Object(m));
        }
        // The verifier's form (crates/verify/src/drivers/tpm.rs): trustee's fields plus the
        // optional `tpm_quote.pcr_banks` and `event_log`; unknown fields are refused there.
        let mut ev = json!({
            "ak_public": STANDARD.encode(&self.ak_spki),
            "tpm_quote": {
                "signature": STANDARD.encode(&self.signature),
                "message": STANDARD.encode(&self.message),
                "pcrs": sha256,
                "pcr_banks": pcr_values,
            },
        });
        if let (Some(log), Some(obj)) = (event_log, ev.as_object_mut()) {
            obj.insert("event_log".into(), Value::String(STANDARD.encode(log)));
        }
        ev
    }
}

/// The TPM collector behind the [`Attester`] seam (TEE `tpm`).
#[derive(Clone, Debug)]
pub struct TpmAttester {
    cfg: TpmConfig,
}

impl TpmAttester {
    /// A collector with `cfg`; nothing is opened until evidence is requested.
    pub fn new(cfg: TpmConfig) -> Self {
        TpmAttester { cfg }
    }

    /// Checks that the TPM answers and the AK exists (used by auto-detection).
    ///
    /// # Errors
    ///
    /// [`AttesterError::Unavailable`] when no TPM answers or the AK does not exist,
    /// [`AttesterError::Busy`] when it stays busy.
    pub fn probe(cfg: TpmConfig) -> Result<Self, AttestError> {
        let (tcti, ak) = (cfg.tcti.clone(), cfg.ak_handle);
        within("probe", cfg.timeout, move || {
            let mut ctx = open_context(&tcti)?;
            let handle = PersistentTpmHandle::new(ak).map_err(|e| tpm_err("AK handle", e))?;
            ctx.tr_from_tpm_public(TpmHandle::Persistent(handle))
                .map_err(|e| tpm_err("load AK", e))?;
            Ok(())
        })?;
        Ok(Self::new(cfg))
    }

    /// The configuration.
    pub fn config(&self) -> &TpmConfig {
        &self.cfg
    }

    fn event_log(&self) -> Option<Vec<u8>> {
        let p = self.cfg.event_log.as_ref()?;
        crate::read_limited(p, 16 << 20).ok()
    }
}

pub(crate) fn to_attester_error(tee: &'static str, e: AttestError) -> AttesterError {
    match e {
        AttestError::Tpm {
            busy: true,
            reason,
            op,
        } => AttesterError::Busy {
            tee,
            reason: format!("{op}: {reason}"),
        },
        AttestError::Tpm {
            op: "connect",
            reason,
            ..
        } => AttesterError::Unavailable { tee, reason },
        other => AttesterError::Failed {
            tee,
            reason: other.to_string(),
        },
    }
}

impl Attester for TpmAttester {
    fn tee(&self) -> TeeKind {
        TeeKind::Tpm
    }

    fn evidence(&self, report_data: &[u8]) -> Result<Value, AttesterError> {
        let n = self.cfg.nonce_len.min(64);
        let nonce = report_data
            .get(..n.min(report_data.len()))
            .unwrap_or(report_data);
        let q = quote(&self.cfg, nonce).map_err(|e| to_attester_error("tpm", e))?;
        Ok(q.to_evidence(self.event_log().as_deref()))
    }
}
