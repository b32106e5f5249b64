//! Quotes from a real software TPM: start `swtpm` on free loopback ports, drive it with
//! tpm2-tools (EK, AK, PCR extends, quotes over several banks with RSASSA, RSAPSS and ECDSA),
//! and verify the results with remits_tpm. Genuine quotes are accepted; a wrong nonce, a
//! changed PCR and a relabelled PCR selection are rejected. A hand-built event log, extended
//! into the TPM event by event, replays to what `tpm2_pcrread` reports.
//!
//! Needs `swtpm` and `tpm2-tools` (scripts/setup.sh installs them). When they are missing the
//! tests print SKIPPED, or fail when `CI` is set.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;

use remits_tpm::SigScheme;
use remits_tpm::TpmPublic;
use remits_tpm::{replay, CompareMode, EventLog};
use remits_tpm::{
    verify_quote, Attest, AttestationKey, Error, HashAlg, NonceCheck, PcrValues, Signature,
};

/// Whether swtpm and tpm2-tools are installed; prints SKIPPED or panics under CI when not.
fn tools_present() -> bool {
    remits_testsupport::swtpm::tools_or_skip(&["swtpm", "tpm2_quote"])
}

/// A running swtpm with its own state directory; killed and reaped on drop.
struct Swtpm {
    tpm: remits_testsupport::swtpm::Swtpm,
    dir: tempfile::TempDir,
}

impl Swtpm {
    fn start() -> Swtpm {
        let dir = tempfile::tempdir().unwrap();
        let tpm = remits_testsupport::swtpm::Swtpm::start(&dir.path().join("state"));
        Swtpm { tpm, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Run a tpm2-tools command against this TPM; panics with its stderr on failure.
    fn tool(&self, args: &[&str]) -> Vec<u8> {
        let out = self.tpm.run(self.dir.path(), args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn flush(&self) {
        self.tool(&["tpm2_flushcontext", "-t"]);
        self.tool(&["tpm2_flushcontext", "-s"]);
    }

    /// EK, then an AK of `alg` (rsa/ecc) with `scheme` (rsassa/rsapss/ecdsa), as ak.ctx.
    fn create_ak(&self, alg: &str, scheme: &str) {
        self.tool(&["tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub"]);
        self.flush();
        self.tool(&[
            "tpm2_createak",
            "-C",
            "ek.ctx",
            "-c",
            "ak.ctx",
            "-G",
            alg,
            "-g",
            "sha256",
            "-s",
            scheme,
            "-u",
            "ak.tpm2b",
            "-f",
            "tss",
            "-n",
            "ak.name",
            "-r",
            "ak.priv",
        ]);
        self.flush();
        let pem = self.path("ak.pem");
        self.tool(&[
            "tpm2_readpublic",
            "-c",
            "ak.ctx",
            "-f",
            "pem",
            "-o",
            pem.to_str().unwrap(),
        ]);
        self.flush();
    }

    /// Extend `data`'s digests into `pcr` in the sha1, sha256 and sha384 banks.
    fn extend(&self, pcr: u32, data: &[u8]) {
        let spec = format!(
            "{pcr}:sha1={},sha256={},sha384={}",
            hex::encode(HashAlg::Sha1.hash(data)),
            hex::encode(HashAlg::Sha256.hash(data)),
            hex::encode(HashAlg::Sha384.hash(data)),
        );
        self.tool(&["tpm2_pcrextend", &spec]);
    }

    /// Quote `sel` with `nonce`; returns (TPMS_ATTEST, TPMT_SIGNATURE, `values` PCR file).
    fn quote(&self, sel: &str, nonce: &str, extra: &[&str]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let mut args = vec![
            "tpm2_quote",
            "-c",
            "ak.ctx",
            "-l",
            sel,
            "-q",
            nonce,
            "-m",
            "q.msg",
            "-s",
            "q.sig",
            "-o",
            "q.pcrs",
            "-F",
            "values",
            "-g",
            "sha256",
        ];
        args.extend_from_slice(extra);
        self.tool(&args);
        self.flush();
        let r = |n: &str| std::fs::read(self.path(n)).unwrap();
        (r("q.msg"), r("q.sig"), r("q.pcrs"))
    }

    /// PCR values as `tpm2_pcrread` prints them (parsed independently of the quote).
    fn pcrread(&self, sel: &str) -> PcrValues {
        let out = self.tool(&["tpm2_pcrread", sel]);
        PcrValues::from_tpm2_pcrread(std::str::from_utf8(&out).unwrap()).unwrap()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
}

/// Values with one PCR's value moved to another index (same bank).
fn relabel(v: &PcrValues, bank: HashAlg, from: u32, to: u32) -> PcrValues {
    let mut out = PcrValues::new();
    for (b, pcrs) in v.banks() {
        for (i, val) in pcrs {
            let i = if *b == bank && *i == from { to } else { *i };
            out.insert(*b, i, val.clone()).unwrap();
        }
    }
    out
}

fn changed(v: &PcrValues, bank: HashAlg, pcr: u32) -> PcrValues {
    let mut out = v.clone();
    let mut val = v.get(bank, pcr).unwrap().to_vec();
    val[0] ^= 0x01;
    out.insert(bank, pcr, val).unwrap();
    out
}

/// The whole scenario for one key type and scheme.
fn scenario(alg: &str, scheme: &str, want: SigScheme, sel: &str, quote_extra: &[&str]) {
    if !tools_present() {
        return;
    }
    let t = Swtpm::start();
    t.create_ak(alg, scheme);
    t.extend(1, b"remits swtpm test: pcr 1");
    t.extend(16, b"remits swtpm test: pcr 16");
    let nonce = "0011223344556677a1b2";
    let nonce_bytes = hex::decode(nonce).unwrap();
    let (msg, sig_raw, values) = t.quote(sel, nonce, quote_extra);

    let ak = AttestationKey::from_tpm2b_public(&t.read("ak.tpm2b")).unwrap();
    let ak_pem =
        AttestationKey::from_spki_pem(&String::from_utf8(t.read("ak.pem")).unwrap()).unwrap();
    assert!(
        ak.same_key(&ak_pem),
        "TPM2B_PUBLIC and PEM describe one key"
    );
    let sig = Signature::parse(&sig_raw).unwrap();
    assert_eq!(sig.scheme(), want);
    let attest = Attest::parse(&msg).unwrap();
    assert_eq!(attest.selection().to_string(), sel);
    let from_quote = PcrValues::from_tpm2_values(&values, attest.selection()).unwrap();
    let read = t.pcrread(sel);
    assert_eq!(from_quote, read, "tpm2_quote -o and tpm2_pcrread agree");

    // Genuine: accepted under both forms of the key, with values from either source.
    let q = verify_quote(&msg, &sig, &ak, &read, NonceCheck::Expected(&nonce_bytes)).unwrap();
    assert_eq!(q.quote().extra_data, nonce);
    assert_eq!(q.pcrs(), &read);
    assert_eq!(q.signature_scheme(), format!("{want}-sha256"));
    let _ = verify_quote(
        &msg,
        &sig,
        &ak_pem,
        &from_quote,
        NonceCheck::Expected(&nonce_bytes),
    )
    .unwrap();

    // Wrong nonce.
    let mut wrong = nonce_bytes.clone();
    wrong[0] ^= 1;
    let e = verify_quote(&msg, &sig, &ak, &read, NonceCheck::Expected(&wrong)).unwrap_err();
    assert!(matches!(e, Error::NonceMismatch { .. }), "{e}");
    // A changed PCR, in each bank.
    for (bank, pcrs) in read.banks() {
        let last = *pcrs.keys().last().unwrap();
        let e = verify_quote(
            &msg,
            &sig,
            &ak,
            &changed(&read, *bank, last),
            NonceCheck::Expected(&nonce_bytes),
        )
        .unwrap_err();
        assert!(matches!(e, Error::PcrDigestMismatch { .. }), "{bank}: {e}");
    }
    // A relabelled selection: PCR16's value presented as PCR15's.
    let e = verify_quote(
        &msg,
        &sig,
        &ak,
        &relabel(&read, HashAlg::Sha256, 16, 15),
        NonceCheck::Expected(&nonce_bytes),
    )
    .unwrap_err();
    assert!(matches!(e, Error::PcrSelectionMismatch { .. }), "{e}");
    // A tampered quote or signature.
    let mut m = msg.clone();
    let last = m.len() - 1;
    m[last] ^= 1;
    let e = verify_quote(&m, &sig, &ak, &read, NonceCheck::Unchecked).unwrap_err();
    assert!(matches!(e, Error::BadSignature { .. }), "{e}");
    // The EK is a decrypt key: refused as an attestation key.
    let e = AttestationKey::from_tpm2b_public(&t.read("ek.pub")).unwrap_err();
    assert!(matches!(e, Error::NotRestrictedSigningKey { .. }), "{e}");
    // The AK's Name as the TPM computed it.
    let name = TpmPublic::parse(&t.read("ak.tpm2b")).unwrap().name();
    assert_eq!(name, t.read("ak.name"));
}

#[test]
fn rsa_rsassa_quote_sha1_sha256() {
    scenario(
        "rsa",
        "rsassa",
        SigScheme::Rsassa,
        "sha1:0,1,2+sha256:0,1,16",
        &[],
    );
}

#[test]
fn rsa_rsapss_quote_three_banks() {
    scenario(
        "rsa",
        "rsapss",
        SigScheme::Rsapss,
        "sha1:1,16+sha256:0,1,16+sha384:16",
        &["--scheme", "rsapss"],
    );
}

#[test]
fn ecc_ecdsa_quote_three_banks() {
    scenario(
        "ecc",
        "ecdsa",
        SigScheme::Ecdsa,
        "sha1:0,1,2+sha256:0,1,16+sha384:1,16",
        &[],
    );
}

/// Append a TCG_PCR_EVENT2 with sha1+sha256+sha384 digests of `data` (or of `digest_of`).
fn event2(log: &mut Vec<u8>, pcr: u32, ty: u32, data: &[u8], digest_of: &[u8]) {
    log.extend(pcr.to_le_bytes());
    log.extend(ty.to_le_bytes());
    log.extend(3u32.to_le_bytes());
    for h in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384] {
        log.extend(h.id().to_le_bytes());
        log.extend(h.hash(digest_of));
    }
    log.extend((data.len() as u32).to_le_bytes());
    log.extend(data);
}

fn spec_id_log() -> Vec<u8> {
    let mut spec = b"Spec ID Event03\0".to_vec();
    spec.extend(0u32.to_le_bytes()); // platformClass
    spec.extend([0, 2, 0, 2]); // minor, major, errata, uintnSize
    spec.extend(3u32.to_le_bytes());
    for h in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384] {
        spec.extend(h.id().to_le_bytes());
        spec.extend((h.size() as u16).to_le_bytes());
    }
    spec.push(0); // vendorInfoSize
    let mut log = Vec::new();
    log.extend(0u32.to_le_bytes());
    log.extend(3u32.to_le_bytes()); // EV_NO_ACTION
    log.extend([0u8; 20]);
    log.extend((spec.len() as u32).to_le_bytes());
    log.extend(spec);
    log
}

#[test]
fn replayed_log_matches_tpm_pcrs_and_quote() {
    if !tools_present() {
        return;
    }
    let t = Swtpm::start();
    t.create_ak("rsa", "rsassa");
    let mut log = spec_id_log();
    let events: [(u32, u32, &[u8]); 5] = [
        (10, 0x0D, b"grub_cmd: linux /vmlinuz root=/dev/vda1"), // EV_IPL
        (16, 0x8000_0007, b"Calling EFI Application"),          // EV_EFI_ACTION
        (10, 0x0D, b"kernel_cmdline: /vmlinuz root=/dev/vda1"),
        (16, 0x04, &[0, 0, 0, 0]), // EV_SEPARATOR
        (23, 0x0D, b"application-defined PCR 23"),
    ];
    for (pcr, ty, data) in events {
        event2(&mut log, pcr, ty, data, data);
        t.extend(pcr, data);
    }
    // EV_NO_ACTION in the log is never extended (and is not extended into the TPM).
    event2(&mut log, 16, 3, b"not measured", b"not measured");
    let sel = "sha1:10,16,23+sha256:0,10,16,23+sha384:10,16,23";
    let read = t.pcrread(sel);

    let parsed = EventLog::parse(&log).unwrap();
    assert_eq!(parsed.events().len(), 7);
    let r = replay(&parsed).unwrap();
    r.compare(&read, CompareMode::AllQuoted).unwrap();
    for (bank, pcrs) in r.pcrs().banks() {
        for (i, v) in pcrs {
            assert_eq!(read.get(*bank, *i), Some(v.as_slice()), "{bank} PCR{i}");
        }
    }

    // The same values through a verified quote, then the replay against the quote.
    let (msg, sig, _) = t.quote(sel, "abcdef", &[]);
    let ak = AttestationKey::from_tpm2b_public(&t.read("ak.tpm2b")).unwrap();
    let q = verify_quote(
        &msg,
        &Signature::parse(&sig).unwrap(),
        &ak,
        &read,
        NonceCheck::Expected(&[0xab, 0xcd, 0xef]),
    )
    .unwrap();
    r.compare(q.pcrs(), CompareMode::AllQuoted).unwrap();

    // One more extend the log does not record: the comparison names the PCR.
    t.extend(10, b"unlogged");
    let e = r
        .compare(&t.pcrread(sel), CompareMode::AllQuoted)
        .unwrap_err();
    assert!(matches!(&e, Error::ReplayMismatch { pcr: 10, .. }), "{e}");
    assert!(e.to_string().contains("PCR10"), "{e}");
}
