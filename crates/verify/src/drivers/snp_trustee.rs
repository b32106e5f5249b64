//! trustee's SNP evidence form: `{"attestation_report": <virtee/sev AttestationReport as serde
//! JSON>, "cert_chain": [{"cert_type": "VCEK", "data": [u8, ...]}] | null}`.
//!
//! The parsed report is re-encoded to the raw 1184-byte layout (reserved bytes zero), and the
//! signature is then verified over those bytes by remits-snp: a report whose reserved bytes were
//! not zero, or a field that was altered, fails the signature check. Unknown fields are refused.
use serde_json::{Map, Value};

use crate::Error;

/// Size of a raw SEV-SNP attestation report.
pub const REPORT_LEN: usize = 1184;

fn rej(reason: impl Into<String>) -> Error {
    Error::malformed("snp", reason)
}

const KNOWN: &[&str] = &[
    "version",
    "guest_svn",
    "policy",
    "family_id",
    "image_id",
    "vmpl",
    "sig_algo",
    "current_tcb",
    "plat_info",
    "key_info",
    "report_data",
    "measurement",
    "host_data",
    "id_key_digest",
    "author_key_digest",
    "report_id",
    "report_id_ma",
    "reported_tcb",
    "cpuid_fam_id",
    "cpuid_mod_id",
    "cpuid_step",
    "chip_id",
    "committed_tcb",
    "current",
    "committed",
    "launch_tcb",
    "launch_mit_vector",
    "current_mit_vector",
    "signature",
];

struct W<'a> {
    obj: &'a Map<String, Value>,
    out: [u8; REPORT_LEN],
}

impl W<'_> {
    fn int(&self, name: &str, max: u64) -> Result<u64, Error> {
        let v = self
            .obj
            .get(name)
            .ok_or_else(|| rej(format!("attestation_report.{name}: missing")))?;
        v.as_u64().filter(|n| *n <= max).ok_or_else(|| {
            rej(format!(
                "attestation_report.{name}: not an integer <= {max}"
            ))
        })
    }

    fn opt_int(&self, name: &str, max: u64) -> Result<Option<u64>, Error> {
        match self.obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.int(name, max).map(Some),
        }
    }

    /// Copy `b` to `out[off..]`. The offsets are this module's constants, all inside the
    /// report; one that is not is a bug here, reported rather than a panic.
    fn put(&mut self, off: usize, b: &[u8]) -> Result<(), Error> {
        self.out
            .get_mut(off..off + b.len())
            .ok_or_else(|| Error::Internal(format!("report field at {off:#x} out of range")))?
            .copy_from_slice(b);
        Ok(())
    }

    fn put_le(&mut self, off: usize, len: usize, v: u64) -> Result<(), Error> {
        let b = v.to_le_bytes();
        let b = b
            .get(..len)
            .ok_or_else(|| Error::Internal(format!("field at {off:#x} wider than 8 bytes")))?;
        self.put(off, b)
    }

    fn bytes(&mut self, name: &str, off: usize, len: usize) -> Result<(), Error> {
        let v = self
            .obj
            .get(name)
            .ok_or_else(|| rej(format!("attestation_report.{name}: missing")))?;
        let b = byte_list(v, len).map_err(|e| rej(format!("attestation_report.{name}: {e}")))?;
        self.put(off, &b)
    }

    fn tcb(&mut self, name: &str, off: usize, turin: bool) -> Result<(), Error> {
        let t = self
            .obj
            .get(name)
            .and_then(Value::as_object)
            .ok_or_else(|| {
                rej(format!(
                    "attestation_report.{name}: missing or not an object"
                ))
            })?;
        let part = |p: &str| -> Result<u8, Error> {
            t.get(p)
                .and_then(Value::as_u64)
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| rej(format!("attestation_report.{name}.{p}: not a byte")))
        };
        let fmc = match t.get("fmc") {
            None | Some(Value::Null) => None,
            Some(_) => Some(part("fmc")?),
        };
        let mut b = [0u8; 8];
        if turin {
            b[0] =
                fmc.ok_or_else(|| rej(format!("attestation_report.{name}.fmc: missing on Turin")))?;
            b[1] = part("bootloader")?;
            b[2] = part("tee")?;
            b[3] = part("snp")?;
            b[7] = part("microcode")?;
        } else {
            if fmc.is_some() {
                return Err(rej(format!(
                    "attestation_report.{name}.fmc: set on a pre-Turin report"
                )));
            }
            b[0] = part("bootloader")?;
            b[1] = part("tee")?;
            b[6] = part("snp")?;
            b[7] = part("microcode")?;
        }
        self.put(off, &b)
    }

    fn version(&mut self, name: &str, off: usize) -> Result<(), Error> {
        let t = self
            .obj
            .get(name)
            .and_then(Value::as_object)
            .ok_or_else(|| {
                rej(format!(
                    "attestation_report.{name}: missing or not an object"
                ))
            })?;
        for (i, p) in ["build", "minor", "major"].iter().enumerate() {
            let n = t
                .get(*p)
                .and_then(Value::as_u64)
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| rej(format!("attestation_report.{name}.{p}: not a byte")))?;
            self.put(off + i, &[n])?;
        }
        Ok(())
    }
}

/// A JSON array of exactly `len` integers 0..=255.
///
/// # Errors
///
/// A message naming the problem when `v` is not an array of `len` integers 0..=255.
pub fn byte_list(v: &Value, len: usize) -> Result<Vec<u8>, String> {
    let a = v.as_array().ok_or("not an array of bytes")?;
    if a.len() != len {
        return Err(format!("{} bytes, expected {len}", a.len()));
    }
    a.iter()
        .map(|x| {
            x.as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| "not a byte".to_string())
        })
        .collect()
}

/// Re-encode trustee's parsed report JSON to the raw 1184 bytes.
///
/// # Errors
///
/// [`Error::EvidenceRejected`] (check `evidence.format`) naming the member that is missing or out
/// of range.
pub fn encode_report(report: &Value) -> Result<Vec<u8>, Error> {
    let obj = report
        .as_object()
        .ok_or_else(|| rej("attestation_report: not an object"))?;
    for k in obj.keys() {
        if !KNOWN.contains(&k.as_str()) {
            return Err(rej(format!("attestation_report: unknown field {k:?}")));
        }
    }
    let mut w = W {
        obj,
        out: [0u8; REPORT_LEN],
    };
    let version = w.int("version", u32::MAX.into())?;
    w.put_le(0x00, 4, version)?;
    let v = w.int("guest_svn", u32::MAX.into())?;
    w.put_le(0x04, 4, v)?;
    let v = w.int("policy", u64::MAX)?;
    w.put_le(0x08, 8, v)?;
    w.bytes("family_id", 0x10, 16)?;
    w.bytes("image_id", 0x20, 16)?;
    let v = w.int("vmpl", u32::MAX.into())?;
    w.put_le(0x30, 4, v)?;
    let v = w.int("sig_algo", u32::MAX.into())?;
    w.put_le(0x34, 4, v)?;
    let fam = w.opt_int("cpuid_fam_id", 255)?;
    // Turin (family 1Ah) uses the TCB layout with an FMC byte first.
    let turin = fam == Some(0x1A);
    w.tcb("current_tcb", 0x38, turin)?;
    let v = w.int("plat_info", u64::MAX)?;
    w.put_le(0x40, 8, v)?;
    let v = w.int("key_info", u32::MAX.into())?;
    w.put_le(0x48, 4, v)?;
    w.bytes("report_data", 0x50, 64)?;
    w.bytes("measurement", 0x90, 48)?;
    w.bytes("host_data", 0xC0, 32)?;
    w.bytes("id_key_digest", 0xE0, 48)?;
    w.bytes("author_key_digest", 0x110, 48)?;
    w.bytes("report_id", 0x140, 32)?;
    w.bytes("report_id_ma", 0x160, 32)?;
    w.tcb("reported_tcb", 0x180, turin)?;
    if version >= 3 {
        w.out[0x188] = fam.unwrap_or(0) as u8;
        w.out[0x189] = w.opt_int("cpuid_mod_id", 255)?.unwrap_or(0) as u8;
        w.out[0x18A] = w.opt_int("cpuid_step", 255)?.unwrap_or(0) as u8;
    }
    w.bytes("chip_id", 0x1A0, 64)?;
    w.tcb("committed_tcb", 0x1E0, turin)?;
    w.version("current", 0x1E8)?;
    w.version("committed", 0x1EC)?;
    w.tcb("launch_tcb", 0x1F0, turin)?;
    if let Some(v) = w.opt_int("launch_mit_vector", u64::MAX)? {
        w.put_le(0x1F8, 8, v)?;
    }
    if let Some(v) = w.opt_int("current_mit_vector", u64::MAX)? {
        w.put_le(0x200, 8, v)?;
    }
    let sig = obj
        .get("signature")
        .and_then(Value::as_object)
        .ok_or_else(|| rej("attestation_report.signature: missing or not an object"))?;
    for (name, off) in [("r", 0x2A0usize), ("s", 0x2E8usize)] {
        let v = sig
            .get(name)
            .ok_or_else(|| rej(format!("attestation_report.signature.{name}: missing")))?;
        let b = byte_list(v, 72)
            .map_err(|e| rej(format!("attestation_report.signature.{name}: {e}")))?;
        w.put(off, &b)?;
    }
    Ok(w.out.to_vec())
}
