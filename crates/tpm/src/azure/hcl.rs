//! The HCL report Azure's paravisor writes to vTPM NV index 0x01400001 (little-endian).
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0x000 | 32 | header: "HCLA", version (1, 2), report_size, request_type = 2, status = 0, reserved |
//! | 0x020 | 1184 | SEV-SNP ATTESTATION_REPORT |
//! | 0x4C0 | 20 | IGVM request data: data_size, version = 1, report_type (2 = SNP), hash_type, variable_data_size |
//! | 0x4D4 | var | runtime-claims JSON, then zero padding to the NV size |

use serde::{Deserialize, Serialize};

use crate::alg::HashAlg;
use crate::cursor::Cursor;
use crate::error::Error;

/// "HCLA", little-endian.
const HCL_SIGNATURE: u32 = 0x414C_4348;
/// Size of an SEV-SNP report.
pub const SNP_REPORT_LEN: usize = 1184;
/// Offset of the runtime claims.
const VAR_DATA_OFFSET: usize = 0x4D4;
/// Largest HCL report accepted (the NV index is 2-3 KiB in practice).
const MAX_HCL_LEN: usize = 64 * 1024;

/// A parsed HCL report. The SNP report and runtime claims are borrowed from the input.
#[derive(Debug, Clone)]
pub struct HclReport<'a> {
    version: u32,
    report_size: u32,
    snp_report: &'a [u8],
    hash: HashAlg,
    var_data: &'a [u8],
    claims: RuntimeClaims,
}

impl<'a> HclReport<'a> {
    /// Parse an HCL report strictly: header values, IGVM request data consistent with
    /// report_size, SNP report type only, runtime claims valid JSON with exactly one
    /// `HCLAkPub` RSA key, and zero padding after report_size.
    ///
    /// # Errors
    ///
    /// [`Error::HclField`] naming the header field that is wrong, [`Error::RuntimeClaims`] when the
    /// claims are not JSON with one RSA `HCLAkPub`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_HCL_LEN {
            return Err(field(
                "length",
                format!("at most {MAX_HCL_LEN}"),
                bytes.len(),
            ));
        }
        let mut c = Cursor::new(bytes, "HCL report");
        let sig = c.u32_le("header.signature")?;
        if sig != HCL_SIGNATURE {
            return Err(field(
                "header.signature",
                "0x414c4348 (\"HCLA\")",
                format!("0x{sig:08x}"),
            ));
        }
        let version = c.u32_le("header.version")?;
        if !(1..=2).contains(&version) {
            return Err(field("header.version", "1 or 2", version));
        }
        let report_size = c.u32_le("header.report_size")?;
        let request_type = c.u32_le("header.request_type")?;
        if request_type != 2 {
            return Err(field("header.request_type", "2", request_type));
        }
        let status = c.u32_le("header.status")?;
        if status != 0 {
            return Err(field("header.status", "0", status));
        }
        c.take(12, "header.reserved")?;
        let snp_report = c.take(SNP_REPORT_LEN, "snp_report")?;
        let data_size = c.u32_le("igvm.data_size")?;
        let igvm_version = c.u32_le("igvm.version")?;
        if igvm_version != 1 {
            return Err(field("igvm.version", "1", igvm_version));
        }
        let report_type = c.u32_le("igvm.report_type")?;
        if report_type != 2 {
            return Err(field(
                "igvm.report_type",
                "2 (SEV-SNP; TDX reports cannot be verified offline)",
                report_type,
            ));
        }
        let hash = match c.u32_le("igvm.report_data_hash_type")? {
            1 => HashAlg::Sha256,
            2 => HashAlg::Sha384,
            3 => HashAlg::Sha512,
            other => return Err(field("igvm.report_data_hash_type", "1, 2 or 3", other)),
        };
        let var_size = c.u32_le("igvm.variable_data_size")?;
        if u64::from(data_size) != 20 + u64::from(var_size) {
            return Err(field(
                "igvm.data_size",
                format!("20 + variable_data_size = {}", 20 + u64::from(var_size)),
                data_size,
            ));
        }
        let total = VAR_DATA_OFFSET as u64 + u64::from(var_size);
        if u64::from(report_size) != total {
            return Err(field(
                "header.report_size",
                format!("0x4d4 + variable_data_size = {total}"),
                report_size,
            ));
        }
        let var_data = c.take(
            usize::try_from(var_size).unwrap_or(usize::MAX),
            "runtime_claims",
        )?;
        if c.rest().iter().any(|b| *b != 0) {
            return Err(field(
                "padding",
                "zero bytes after report_size",
                "non-zero bytes",
            ));
        }
        let claims = RuntimeClaims::parse(var_data)?;
        Ok(Self {
            version,
            report_size,
            snp_report,
            hash,
            var_data,
            claims,
        })
    }

    /// Header version.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// Header report_size.
    pub fn report_size(&self) -> u32 {
        self.report_size
    }
    /// The raw SNP report (1184 bytes).
    pub fn snp_report(&self) -> &'a [u8] {
        self.snp_report
    }
    /// The hash the runtime claims are bound with (report_data_hash_type).
    pub fn hash(&self) -> HashAlg {
        self.hash
    }
    /// The runtime-claims bytes exactly as hashed into report_data.
    pub fn var_data(&self) -> &'a [u8] {
        self.var_data
    }
    /// The parsed runtime claims.
    pub fn runtime_claims(&self) -> &RuntimeClaims {
        &self.claims
    }
}

fn field(name: &'static str, expected: impl ToString, actual: impl ToString) -> Error {
    Error::HclField {
        field: name,
        expected: expected.to_string(),
        actual: actual.to_string(),
    }
}

/// A JWK from the runtime claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key id ("HCLAkPub", "HCLEkPub").
    pub kid: String,
    /// Key type ("RSA").
    pub kty: String,
    /// Allowed operations.
    #[serde(default)]
    pub key_ops: Vec<String>,
    /// RSA public exponent (base64url).
    #[serde(default)]
    pub e: Option<String>,
    /// RSA modulus (base64url).
    #[serde(default)]
    pub n: Option<String>,
}

/// The runtime-claims JSON.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeClaims {
    /// The keys.
    pub keys: Vec<Jwk>,
    /// `vm-configuration`, as given.
    pub vm_configuration: serde_json::Value,
    /// `user-data` (the 64 bytes written to NV 0x01400002), decoded; absent in older reports.
    #[serde(with = "opt_hex", skip_serializing_if = "Option::is_none")]
    pub user_data: Option<Vec<u8>>,
}

mod opt_hex {
    pub(super) fn serialize<S: serde::Serializer>(
        v: &Option<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }
}

#[derive(Deserialize)]
struct RawClaims {
    keys: Vec<Jwk>,
    #[serde(rename = "vm-configuration", default)]
    vm_configuration: serde_json::Value,
    #[serde(rename = "user-data", default)]
    user_data: Option<String>,
}

impl RuntimeClaims {
    /// Parse the runtime-claims JSON (no trailing bytes besides whitespace).
    ///
    /// # Errors
    ///
    /// [`Error::RuntimeClaims`] when the bytes are not one JSON object.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let raw: RawClaims = serde_json::from_slice(bytes)
            .map_err(|e| Error::RuntimeClaims(format!("JSON: {e}")))?;
        let user_data = match raw.user_data {
            Some(h) => Some(
                hex::decode(h.trim())
                    .map_err(|e| Error::RuntimeClaims(format!("user-data: {e}")))?,
            ),
            None => None,
        };
        let c = Self {
            keys: raw.keys,
            vm_configuration: raw.vm_configuration,
            user_data,
        };
        c.hcl_ak_pub()?;
        Ok(c)
    }

    /// The one `HCLAkPub` RSA key.
    ///
    /// # Errors
    ///
    /// [`Error::RuntimeClaims`] when there is no such key, more than one, or it is not RSA.
    pub fn hcl_ak_pub(&self) -> Result<(&str, &str), Error> {
        let mut it = self.keys.iter().filter(|k| k.kid == "HCLAkPub");
        let k = it
            .next()
            .ok_or_else(|| Error::RuntimeClaims("no HCLAkPub key".into()))?;
        if it.next().is_some() {
            return Err(Error::RuntimeClaims("more than one HCLAkPub key".into()));
        }
        if k.kty != "RSA" {
            return Err(Error::RuntimeClaims(format!(
                "HCLAkPub kty {:?}, expected \"RSA\"",
                k.kty
            )));
        }
        match (&k.n, &k.e) {
            (Some(n), Some(e)) => Ok((n.as_str(), e.as_str())),
            _ => Err(Error::RuntimeClaims("HCLAkPub lacks n or e".into())),
        }
    }
}
