//! Every launch-digest vector in `../shared/testdata/measure/` reproduces: the sev-snp-measure
//! `tests/test_guest.py` vectors (including its three expected errors), the ID-block vectors,
//! and the virtee/sev EC2 values as a documented divergence.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use remits_measure::launch::idblock::{self, IdBlock};
use remits_measure::launch::{
    launch_digest, snp_ovmf_hash, Error, LaunchInputs, Measurement, Mode, SevHashes, VmmType,
};
use serde_json::Value;

fn measure_dir() -> Option<PathBuf> {
    remits_testsupport::testdata::dir().map(|d| d.join("measure"))
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn hex_u32(v: &Value) -> Option<u32> {
    v.as_str()
        .map(|s| u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap())
}

fn file_or_empty(dir: &Path, v: &Value) -> Option<Vec<u8>> {
    match v.as_str() {
        None => None,
        Some("/dev/null") => Some(Vec::new()),
        Some(name) => Some(read(dir, name)),
    }
}

/// Runs one vector of `sev-snp-measure-vectors.json`; returns the digest or the error.
fn run_vector(dir: &Path, v: &Value, legacy_ec2: bool) -> Result<Measurement, Error> {
    let ovmf = read(dir, v["ovmf"].as_str().unwrap());
    let mode = v["mode"].as_str().unwrap();
    if mode == "snp:ovmf-hash" {
        return snp_ovmf_hash(&ovmf).map(Measurement::Sha384);
    }
    let svsm = v["svsm"].as_str().map(|s| read(dir, s));
    let mut i = LaunchInputs::new(mode.parse::<Mode>().unwrap(), &ovmf);
    i.vcpus = v["vcpus"].as_u64().map(|n| n as u32).unwrap_or(1);
    i.vcpu_sig = hex_u32(&v["vcpu_sig"]);
    i.guest_features = v["guest_features"]
        .as_str()
        .map(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap())
        .unwrap_or(1);
    i.vmm = v["vmm_type"].as_str().unwrap().parse::<VmmType>().unwrap();
    if let Some(kernel) = file_or_empty(dir, &v["kernel"]) {
        let initrd = file_or_empty(dir, &v["initrd"]);
        i.kernel_hashes = Some(SevHashes::new(
            &kernel,
            initrd.as_deref(),
            v["append"].as_str(),
        ));
    }
    i.ovmf_hash = v["snp_ovmf_hash"]
        .as_str()
        .map(|h| hex::decode(h).unwrap().try_into().unwrap());
    i.svsm = svsm.as_deref().map(Into::into);
    i.ovmf_vars_size = v["ovmf_vars_size"].as_u64().unwrap_or(0);
    i.ec2_legacy_rdx_zero = legacy_ec2;
    launch_digest(&i)
}

#[test]
fn sev_snp_measure_vectors_reproduce() {
    let Some(dir) = measure_dir() else { return };
    let vectors: Vec<Value> =
        serde_json::from_slice(&read(&dir, "sev-snp-measure-vectors.json")).unwrap();
    assert_eq!(vectors.len(), 27);
    let (mut digests, mut errors) = (0, 0);
    for v in &vectors {
        let name = v["test"].as_str().unwrap();
        let got = run_vector(&dir, v, false);
        if let Some(expected) = v["expected"].as_str() {
            let got = got.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got.to_string(), expected, "{name}");
            digests += 1;
        } else {
            let expected = v["expected_error"].as_str().unwrap();
            let err = got.expect_err(name);
            assert_eq!(err.to_string(), expected, "{name}");
            errors += 1;
        }
    }
    assert_eq!((digests, errors), (24, 3));
}

/// The virtee/sev crate's EC2 values use RDX 0 (sev-snp-measure before 2026-04-28). Current
/// semantics (RDX 0x600, what live EC2 guests measure) must NOT give them; the explicit legacy
/// switch must.
#[test]
fn sev_crate_ec2_vectors_are_a_known_divergence() {
    let Some(dir) = measure_dir() else { return };
    let vectors: Vec<Value> =
        serde_json::from_slice(&read(&dir, "sev-crate-ec2-legacy-vectors.json")).unwrap();
    assert_eq!(vectors.len(), 2);
    for v in &vectors {
        let expected = v["expected"].as_str().unwrap();
        let current = run_vector(&dir, v, false).unwrap().to_string();
        assert_ne!(current, expected, "{}", v["test"]);
        let legacy = run_vector(&dir, v, true).unwrap().to_string();
        assert_eq!(legacy, expected, "{}", v["test"]);
    }
}

/// Seeding with the OVMF hash gives the same digest as measuring the OVMF.
#[test]
fn seeded_equals_full() {
    let Some(dir) = measure_dir() else { return };
    let ovmf = read(&dir, "ovmf_AmdSev_suffix.bin");
    let mut i = LaunchInputs::new(Mode::Snp, &ovmf);
    i.vcpus = 3;
    i.vcpu_sig = Some(0xa00f11);
    i.kernel_hashes = Some(SevHashes::new(b"k", Some(b"i"), Some("a b")));
    let full = launch_digest(&i).unwrap();
    i.ovmf_hash = Some(snp_ovmf_hash(&ovmf).unwrap());
    assert_eq!(launch_digest(&i).unwrap(), full);
}

/// Tampered firmware: a flipped byte changes the digest; broken structures give typed errors.
#[test]
fn tampered_firmware() {
    let Some(dir) = measure_dir() else { return };
    let ovmf = read(&dir, "ovmf_AmdSev_suffix.bin");
    let mut i = LaunchInputs::new(Mode::Snp, &ovmf);
    i.vcpu_sig = Some(0x800f12);
    let good = launch_digest(&i).unwrap();
    let mut t = ovmf.clone();
    t[100] ^= 1;
    i.ovmf = (&t).into();
    assert_ne!(launch_digest(&i).unwrap(), good);
    // Break the footer table: an entry size of 0xffff.
    let mut t = ovmf.clone();
    let footer = t.len() - 50;
    let table_size = u16::from_le_bytes([t[footer], t[footer + 1]]) as usize - 18;
    assert!(table_size > 18);
    t[footer - 18] = 0xff;
    t[footer - 17] = 0xff;
    i.ovmf = (&t).into();
    assert!(matches!(
        launch_digest(&i),
        Err(Error::InvalidEntrySize { .. })
    ));
    // Break the ASEV signature.
    let pos = ovmf.windows(4).position(|w| w == b"ASEV").unwrap();
    let mut t = ovmf.clone();
    t[pos] = b'B';
    i.ovmf = (&t).into();
    assert!(matches!(launch_digest(&i), Err(Error::MetadataSignature)));
    // Truncated image.
    i.ovmf = ovmf[..2048].into();
    assert!(matches!(launch_digest(&i), Err(Error::ImageSize { .. })));
}

fn key_digests_b64(dir: &Path, v: &Value) -> (String, String) {
    let id = idblock::signing_key_from_pem(
        std::str::from_utf8(&read(dir, v["id_key"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let author = idblock::signing_key_from_pem(
        std::str::from_utf8(&read(dir, v["author_key"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    (
        B64.encode(idblock::key_digest(id.verifying_key())),
        B64.encode(idblock::key_digest(author.verifying_key())),
    )
}

#[test]
fn id_block_vectors_reproduce() {
    let Some(dir) = measure_dir() else { return };
    let vectors: Vec<Value> = serde_json::from_slice(&read(&dir, "idblock-vectors.json")).unwrap();
    let mut blocks = 0;
    for v in &vectors {
        let name = v["test"].as_str().unwrap();
        let Some(expected_block) = v["expected_id_block_b64"].as_str() else {
            continue;
        };
        let ld: [u8; 48] = match (
            v["launch_digest_b64"].as_str(),
            v["launch_digest_hex"].as_str(),
        ) {
            (Some(b), _) => B64.decode(b).unwrap().try_into().unwrap(),
            (_, Some(h)) => hex::decode(h).unwrap().try_into().unwrap(),
            _ => panic!("{name}: no launch digest"),
        };
        let mut block = IdBlock::new(ld);
        block.guest_svn = v["guest_svn"].as_u64().unwrap() as u32;
        block.policy =
            u64::from_str_radix(v["policy"].as_str().unwrap().trim_start_matches("0x"), 16)
                .unwrap();
        block.family_id = hex::decode(v["family_id"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        block.image_id = hex::decode(v["image_id"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(B64.encode(block.to_bytes()), expected_block, "{name}");
        let (id_d, author_d) = key_digests_b64(&dir, v);
        assert_eq!(
            id_d,
            v["expected_id_key_digest_b64"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            author_d,
            v["expected_author_key_digest_b64"].as_str().unwrap(),
            "{name}"
        );

        // A fresh signature over it verifies, and the digests come back from ID_AUTH.
        let id = idblock::signing_key_from_pem(
            std::str::from_utf8(&read(&dir, v["id_key"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        let author = idblock::signing_key_from_pem(
            std::str::from_utf8(&read(&dir, v["author_key"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        let signed = idblock::sign_id_block(&block, &id, &author);
        let verified = idblock::verify_id_auth(&signed.id_block, &signed.id_auth[..]).unwrap();
        assert_eq!(B64.encode(verified.id_key_digest()), id_d);
        assert_eq!(B64.encode(verified.author_key_digest()), author_d);
        blocks += 1;
    }
    assert_eq!(blocks, 2);
}

/// The virtee/sev ID_AUTH: built from the two keys and the two recorded signatures it equals
/// `sev-test_auth_block.bin` byte for byte, and both signatures verify over the exact bytes.
#[test]
fn sev_test_auth_block_reproduces_and_verifies() {
    let Some(dir) = measure_dir() else { return };
    let vectors: Vec<Value> = serde_json::from_slice(&read(&dir, "idblock-vectors.json")).unwrap();
    let block_vec = vectors
        .iter()
        .find(|v| v["test"] == "test_id_block_and_key_digests")
        .unwrap();
    let block = B64
        .decode(block_vec["expected_id_block_b64"].as_str().unwrap())
        .unwrap();
    let v = vectors
        .iter()
        .find(|v| v["test"] == "test_auth_block_generation")
        .unwrap();
    let key = |name: &str| {
        idblock::signing_key_from_pem(
            std::str::from_utf8(&read(&dir, v[name].as_str().unwrap())).unwrap(),
        )
        .unwrap()
    };
    let (id, author) = (key("id_key"), key("author_key"));
    let block_sig: [u8; 512] = read(&dir, v["id_block_sig"].as_str().unwrap())
        .try_into()
        .unwrap();
    let key_sig: [u8; 512] = read(&dir, v["id_key_sig"].as_str().unwrap())
        .try_into()
        .unwrap();
    let auth = idblock::id_auth(
        &block_sig,
        &idblock::sev_public_key(id.verifying_key()),
        &key_sig,
        &idblock::sev_public_key(author.verifying_key()),
    );
    let expected = read(&dir, v["expected_id_auth"].as_str().unwrap());
    assert_eq!(&auth[..], &expected[..]);
    let verified = idblock::verify_id_auth(&block, &expected).unwrap();
    assert_eq!(
        B64.encode(verified.id_key_digest()),
        block_vec["expected_id_key_digest_b64"].as_str().unwrap()
    );
    // Tampered: a flipped byte of the ID block, of a signature, of a key.
    let mut b = block.clone();
    b[5] ^= 1;
    assert!(idblock::verify_id_auth(&b, &expected).is_err());
    for off in [0x40 + 3, 0x680 + 3, 0x240 + 10, 0x880 + 10] {
        let mut a = expected.clone();
        a[off] ^= 1;
        assert!(
            idblock::verify_id_auth(&block, &a).is_err(),
            "offset {off:#x}"
        );
    }
    let mut a = expected.clone();
    a[0] = 2;
    assert!(matches!(
        idblock::verify_id_auth(&block, &a),
        Err(Error::IdAuthField { .. })
    ));
}
