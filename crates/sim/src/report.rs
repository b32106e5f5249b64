//! Simulated ATTESTATION_REPORTs (version 3 layout, snp.md section 1), signed by the simulated VCEK.

use sha2::{Digest, Sha384};

use crate::{SimChain, SimError};

/// Size of an SEV-SNP attestation report.
pub const REPORT_LEN: usize = 0x4A0;
/// End of the signed region (the signature starts here).
pub const SIGNED_LEN: usize = 0x2A0;

/// Guest-chosen and launch-time values of a simulated report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportParams {
    /// MEASUREMENT (launch digest). Default: SHA-384 of `"remits simulator - NOT AMD"`.
    pub measurement: [u8; 48],
    /// HOST_DATA. Default: zero.
    pub host_data: [u8; 32],
    /// Guest POLICY. Default 0x30000 (SMT allowed, reserved bit 17 set, no debug, no migration).
    pub policy: u64,
    /// VMPL the report is requested at. Default 0.
    pub vmpl: u32,
    /// GUEST_SVN. Default 0.
    pub guest_svn: u32,
    /// FAMILY_ID from the ID block. Default zero.
    pub family_id: [u8; 16],
    /// IMAGE_ID from the ID block. Default zero.
    pub image_id: [u8; 16],
}

impl Default for ReportParams {
    fn default() -> Self {
        let mut measurement = [0u8; 48];
        measurement.copy_from_slice(&Sha384::digest(crate::certs::SIM_ORGANIZATION.as_bytes()));
        ReportParams {
            measurement,
            host_data: [0; 32],
            policy: 0x30000,
            vmpl: 0,
            guest_svn: 0,
            family_id: [0; 16],
            image_id: [0; 16],
        }
    }
}

fn put(buf: &mut [u8; REPORT_LEN], off: usize, bytes: &[u8]) {
    // Offsets are constants of the layout below, all inside the buffer.
    if let Some(dst) = buf.get_mut(off..off + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

impl SimChain {
    /// Builds a version-3 report for `report_data` (at most 64 bytes, zero-padded) with every TCB
    /// field equal to the certified TCB, CHIP_ID equal to the VCEK's hwID, KEY_INFO "signed by
    /// VCEK", and signs bytes `[0, 0x2A0)` with the VCEK key (ECDSA P-384, SHA-384), storing R and
    /// S little-endian and zero-extended to 72 bytes at 0x2A0 and 0x2E8. With the `aws-lc`
    /// feature the signature is computed by aws-lc-rs (several times faster than `p384`).
    ///
    /// # Errors
    ///
    /// [`SimError::ReportDataTooLong`] for more than 64 bytes of report data, [`SimError::Sign`]
    /// when signing fails.
    pub fn report(&self, params: &ReportParams, report_data: &[u8]) -> Result<Vec<u8>, SimError> {
        self.report_with(params, report_data, true)
    }

    /// [`SimChain::report`], signed by aws-lc-rs (`fast`, with the feature on) or by `p384`.
    pub(crate) fn report_with(
        &self,
        params: &ReportParams,
        report_data: &[u8],
        fast: bool,
    ) -> Result<Vec<u8>, SimError> {
        if report_data.len() > 64 {
            return Err(SimError::ReportDataTooLong {
                actual: report_data.len(),
            });
        }
        let meta = self.meta();
        let tcb = meta.tcb.to_bytes();
        let (fam, model, step) = meta.generation.cpuid();
        let mut r = [0u8; REPORT_LEN];
        put(&mut r, 0x000, &3u32.to_le_bytes());
        put(&mut r, 0x004, &params.guest_svn.to_le_bytes());
        put(&mut r, 0x008, &params.policy.to_le_bytes());
        put(&mut r, 0x010, &params.family_id);
        put(&mut r, 0x020, &params.image_id);
        put(&mut r, 0x030, &params.vmpl.to_le_bytes());
        put(&mut r, 0x034, &1u32.to_le_bytes()); // ECDSA P-384 with SHA-384
        put(&mut r, 0x038, &tcb); // CURRENT_TCB
        put(&mut r, 0x040, &0x25u64.to_le_bytes()); // SMT_EN | ECC_EN | ALIAS_CHECK_COMPLETE
        put(&mut r, 0x048, &0u32.to_le_bytes()); // KEY_INFO: signed by the VCEK
        put(&mut r, 0x050, report_data);
        put(&mut r, 0x090, &params.measurement);
        put(&mut r, 0x0C0, &params.host_data);
        // REPORT_ID: stable per simulated "VM", derived from the chip id.
        let report_id =
            Sha384::digest([b"remits-sim report id".as_slice(), &meta.chip_id].concat());
        put(&mut r, 0x140, report_id.get(..32).unwrap_or(&[]));
        put(&mut r, 0x160, &[0xFF; 32]); // REPORT_ID_MA: no migration agent
        put(&mut r, 0x180, &tcb); // REPORTED_TCB
        put(&mut r, 0x188, &[fam, model, step]);
        put(&mut r, 0x1A0, &meta.chip_id);
        put(&mut r, 0x1E0, &tcb); // COMMITTED_TCB
        put(&mut r, 0x1E8, &[29, 55, 1, 0]); // CURRENT firmware 1.55.29
        put(&mut r, 0x1EC, &[29, 55, 1, 0]); // COMMITTED firmware 1.55.29
        put(&mut r, 0x1F0, &tcb); // LAUNCH_TCB

        let sig = self.sign_p384(&r[..SIGNED_LEN], fast)?;
        let (rb, sb) = sig.split_at(48);
        let mut r_le = rb.to_vec();
        r_le.reverse();
        let mut s_le = sb.to_vec();
        s_le.reverse();
        put(&mut r, 0x2A0, &r_le);
        put(&mut r, 0x2E8, &s_le);
        Ok(r.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p384::ecdsa::signature::Verifier as _;

    /// Both signers (aws-lc-rs with the feature on, `p384` always) put a valid VCEK signature
    /// in the report's little-endian R and S fields over exactly bytes `[0, 0x2A0)`.
    #[test]
    fn both_signers_produce_valid_report_signatures() {
        let chain = SimChain::generate(&mut rand::thread_rng()).expect("chain");
        let key = chain.vcek_public();
        for fast in [false, true] {
            let report = chain
                .report_with(&ReportParams::default(), b"nonce", fast)
                .expect("report");
            let be = |off: usize| {
                let mut v = report[off..off + 48].to_vec();
                v.reverse();
                v
            };
            assert!(
                report[0x2A0 + 48..0x2E8].iter().all(|b| *b == 0),
                "R zero-extended"
            );
            let sig = p384::ecdsa::Signature::from_slice(&[be(0x2A0), be(0x2E8)].concat())
                .expect("r and s in range");
            assert!(
                key.verify(&report[..SIGNED_LEN], &sig).is_ok(),
                "fast={fast}"
            );
            let mut tampered = report.clone();
            tampered[0x50] ^= 1;
            assert!(
                key.verify(&tampered[..SIGNED_LEN], &sig).is_err(),
                "fast={fast}"
            );
        }
    }
}
