//! Cross-checks with an independent implementation: virtee's `sev` crate (OpenSSL), the
//! guest-owner library sevctl and Kata's SEV pre-attestation path use. Tests only.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use rand::rngs::OsRng;
use remits_sev::sim::SimPlatform;
use remits_sev::table::{build_secret_table, parse_secret_table};
use remits_sev::{
    compute_measure, verify_measurement, Generation, LaunchMeasurement, LaunchPolicy, RootChoice,
    SecretPacket, SessionBlob, PACKET_HEADER_LEN,
};
use sev_openssl::certs::sev::Verifiable;
use sev_openssl::parser::{Decoder, Encoder};

fn sev_cert(bytes: &[u8]) -> sev_openssl::certs::sev::sev::Certificate {
    sev_openssl::certs::sev::sev::Certificate::decode(&mut &bytes[..], ()).unwrap_or_else(|e| {
        panic!(
            "sev crate decode of {} bytes (usage {:02x?}): {e}",
            bytes.len(),
            &bytes[8..12]
        )
    })
}

fn encode<T: Encoder<()>>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode(&mut out, ()).unwrap();
    out
}

/// `sev`'s guest owner starts a session with the simulated PDH; remits' firmware side
/// unwraps exactly `sev`'s TEK/TIK (so remits' ECDH, KDF, KEK/KIK, AES-CTR and MACs agree
/// with it); a measurement computed with remits is accepted by `sev`'s check and a wrong one
/// refused; `sev`'s secret packet is authenticated and decrypted by remits to the table.
type SevSession = sev_openssl::session::Session<sev_openssl::session::Initialized>;

/// A session started by the `sev` crate with the simulated PDH, and the transport keys the
/// simulated platform unwraps from it (checked equal to `sev`'s own TEK and TIK). `None` when
/// `sev` cannot make keys here (it draws them with RDRAND).
fn sev_session(
    sim: &SimPlatform,
    policy: LaunchPolicy,
) -> Option<(SevSession, remits_sev::TransportKeys)> {
    let session = match sev_openssl::session::Session::try_from(
        sev_openssl::launch::sev::Policy::from(policy.0),
    ) {
        Ok(s) => s,
        Err(e) => {
            println!("SKIPPED: the sev crate could not draw session keys (RDRAND): {e}");
            return None;
        }
    };
    let start = session.start_pdh(sev_cert(&sim.chain().pdh)).unwrap();
    let godh = encode(&start.cert);
    assert_eq!(godh.len(), remits_sev::SEV_CERT_LEN);
    let blob = SessionBlob {
        nonce: start.session.nonce,
        wrap_tk: start.session.wrap_tk,
        wrap_iv: start.session.wrap_iv,
        wrap_mac: start.session.wrap_mac,
        policy_mac: start.session.policy_mac,
    };
    let keys = sim.launch_start(&godh, &blob, policy).unwrap();
    let tek_tik = keys.to_bytes();
    assert_eq!(&tek_tik[..16], &session.tek[..], "TEK");
    assert_eq!(&tek_tik[16..], &session.tik[..], "TIK");
    Some((session, keys))
}

#[test]
fn sev_crate_sessions_measurements_and_packets_agree_with_remits() {
    let sim = SimPlatform::generate(&mut OsRng).unwrap();
    let policy = LaunchPolicy(0x0000_0007);
    let Some((session, keys)) = sev_session(&sim, policy) else {
        return;
    };

    let digest = [0x11u8; 32];
    let m = sim.launch_measure(&keys, policy, &digest, &mut OsRng);
    let build = sim.build();
    let sev_build = sev_openssl::firmware::host::Build {
        version: sev_openssl::firmware::host::Version {
            major: build.api_major,
            minor: build.api_minor,
        },
        build: build.build,
    };
    let msr = |m: &LaunchMeasurement| sev_openssl::launch::sev::Measurement {
        measure: m.measure,
        mnonce: m.mnonce,
    };
    // A measurement of another digest under the same session: `sev` refuses it, as remits does.
    let Some((other_session, other_keys)) = sev_session(&sim, policy) else {
        return;
    };
    let other_m = sim.launch_measure(&other_keys, policy, &[0x22u8; 32], &mut OsRng);
    assert!(verify_measurement(&other_keys, build, policy, &digest, &other_m).is_err());
    assert!(other_session
        .verify(&digest, sev_build, msr(&other_m))
        .is_err());
    let verified = session.verify(&digest, sev_build, msr(&m)).unwrap();

    // remits' own check agrees.
    let _ = verify_measurement(&keys, build, policy, &digest, &m).unwrap();
    assert_eq!(
        compute_measure(&keys, build, policy, &digest, &m.mnonce),
        m.measure
    );

    let table =
        build_secret_table(&[("736869e5-84f0-4973-92ec-06879ce3da0b", b"k")], 4096).unwrap();
    let secret = verified
        .secret(sev_openssl::launch::sev::HeaderFlags::default(), &table)
        .unwrap();
    let wire = encode(&secret);
    let header = wire[..PACKET_HEADER_LEN].to_vec();
    assert_eq!(&wire[PACKET_HEADER_LEN..], &secret.ciphertext[..]);
    let packet = SecretPacket {
        header: header.try_into().unwrap(),
        ciphertext: secret.ciphertext.clone(),
    };
    let placed = SimPlatform::launch_secret(&keys, &m, &packet).unwrap();
    assert_eq!(&placed[..], &table[..]);
    assert_eq!(parse_secret_table(&placed).unwrap()[0].1.as_slice(), b"k");

    // remits' packet for the same launch has the same layout: sev's Header decodes it.
    let v = verify_measurement(&keys, build, policy, &digest, &m).unwrap();
    let ours = v.secret_packet(&table, &mut OsRng).unwrap();
    let wire = [&ours.header[..], &ours.ciphertext].concat();
    let s = sev_openssl::launch::sev::Secret::decode(&mut &wire[..], ()).unwrap();
    assert_eq!(s.header.iv, ours.header[4..20]);
    assert_eq!(s.header.mac, ours.header[20..]);
    assert_eq!(s.ciphertext, ours.ciphertext);
    assert_eq!(LaunchMeasurement::from_bytes(&m.to_bytes()).unwrap(), m);
}

/// Both implementations accept the real chains and reject the same tampered ones.
#[test]
fn sev_crate_and_remits_agree_on_real_chains() {
    let Some(d) = common::sev_dir() else { return };
    for (name, g, ark, ask) in [
        (
            "naples",
            Generation::Naples,
            Generation::Naples.ark(),
            Generation::Naples.ask(),
        ),
        (
            "rome",
            Generation::Rome,
            Generation::Rome.ark(),
            Generation::Rome.ask(),
        ),
        (
            "milan",
            Generation::Milan,
            Generation::Milan.ark(),
            Generation::Milan.ask(),
        ),
    ] {
        let ours = common::chain(&d, name);
        // sev's verdict: decoding (version, usage, algorithm) and every signature.
        let theirs_ok = |c: &remits_sev::PlatformChain| -> bool {
            let dec = |b: &[u8]| sev_openssl::certs::sev::sev::Certificate::decode(&mut &b[..], ());
            let (Ok(pdh), Ok(pek), Ok(oca), Ok(cek)) =
                (dec(&c.pdh), dec(&c.pek), dec(&c.oca), dec(&c.cek))
            else {
                return false;
            };
            let chain = sev_openssl::certs::sev::Chain {
                ca: sev_openssl::certs::sev::ca::Chain {
                    ark: sev_openssl::certs::sev::ca::Certificate::decode(&mut &ark[..], ())
                        .unwrap(),
                    ask: sev_openssl::certs::sev::ca::Certificate::decode(&mut &ask[..], ())
                        .unwrap(),
                },
                sev: sev_openssl::certs::sev::sev::Chain { pdh, pek, oca, cek },
            };
            (&chain).verify().is_ok()
        };
        assert!(theirs_ok(&ours), "{name}: sev crate");
        assert!(
            ours.verify(RootChoice::Generation(g)).is_ok(),
            "{name}: remits"
        );
        for pos in (0..0x414).step_by(61) {
            let mut bad = ours.clone();
            bad.pek[pos] ^= 1;
            let t = theirs_ok(&bad);
            let r = bad.verify(RootChoice::Generation(g)).is_ok();
            assert!(!t && !r, "{name} PEK byte {pos}: sev {t}, remits {r}");
        }
    }
}
