//! A whole pre-launch flow against the simulated platform: session, measurement check, secret
//! packet, and every way the guest owner must refuse.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use rand::rngs::OsRng;
use remits_sev::sim::SimPlatform;
use remits_sev::table::{build_secret_table, parse_secret_table};
use remits_sev::{
    start_session, verify_measurement, Error, LaunchMeasurement, LaunchPolicy, PlatformBuild,
    RootChoice, SessionBlob, TransportKeys,
};

const GUID: &str = "736869e5-84f0-4973-92ec-06879ce3da0b";
const NODBG_NOKS_ES: LaunchPolicy = LaunchPolicy(0b111);

struct Launch {
    sim: SimPlatform,
    owner_keys: TransportKeys,
    fw_keys: TransportKeys,
    digest: [u8; 32],
    m: LaunchMeasurement,
}

fn launch(policy: LaunchPolicy) -> Launch {
    let sim = SimPlatform::generate(&mut OsRng).unwrap();
    let roots = sim.roots().unwrap();
    let platform = sim.chain().verify_with_roots(&roots).unwrap();
    let (start, owner_keys) = start_session(&platform, policy, &mut OsRng).unwrap();
    assert_eq!(start.godh_cert.len(), remits_sev::SEV_CERT_LEN);
    assert_eq!(start.session.to_bytes().len(), 128);
    // The firmware unwraps exactly the keys the owner generated.
    let fw_keys = sim
        .launch_start(&start.godh_cert, &start.session, policy)
        .unwrap();
    assert_eq!(&fw_keys.to_bytes()[..], &owner_keys.to_bytes()[..]);
    let digest = [0x5au8; 32];
    let m = sim.launch_measure(&fw_keys, policy, &digest, &mut OsRng);
    Launch {
        sim,
        owner_keys,
        fw_keys,
        digest,
        m,
    }
}

#[test]
fn matching_measurement_releases_a_packet_the_platform_accepts() {
    let l = launch(NODBG_NOKS_ES);
    let v =
        verify_measurement(&l.owner_keys, l.sim.build(), NODBG_NOKS_ES, &l.digest, &l.m).unwrap();
    let table = build_secret_table(&[(GUID, b"disk passphrase")], 4096).unwrap();
    let packet = v.secret_packet(&table, &mut OsRng).unwrap();
    assert_eq!(packet.header.len(), 52);
    assert_ne!(
        &packet.ciphertext[..],
        &table[..],
        "the secret travels encrypted"
    );
    let placed = SimPlatform::launch_secret(&l.fw_keys, &l.m, &packet).unwrap();
    let entries = parse_secret_table(&placed).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, GUID);
    assert_eq!(&entries[0].1[..], b"disk passphrase");
    // The same packet bound to another launch's MEASURE is refused by the platform.
    let other = LaunchMeasurement {
        measure: [0u8; 32],
        ..l.m
    };
    assert!(matches!(
        SimPlatform::launch_secret(&l.fw_keys, &other, &packet),
        Err(Error::MacMismatch { .. })
    ));
    // Two packets never share an IV.
    let p2 = v.secret_packet(&table, &mut OsRng).unwrap();
    assert_ne!(packet.header[4..20], p2.header[4..20]);
}

#[test]
fn wrong_digest_mnonce_build_or_policy_gives_no_launch() {
    let l = launch(NODBG_NOKS_ES);
    let b = l.sim.build();
    let ok =
        |build: PlatformBuild, policy: LaunchPolicy, digest: &[u8; 32], m: &LaunchMeasurement| {
            verify_measurement(&l.owner_keys, build, policy, digest, m)
        };
    assert!(ok(b, NODBG_NOKS_ES, &l.digest, &l.m).is_ok());
    let mut d = l.digest;
    d[31] ^= 1;
    assert!(matches!(
        ok(b, NODBG_NOKS_ES, &d, &l.m),
        Err(Error::MeasurementMismatch)
    ));
    let mut m = l.m;
    m.mnonce[0] ^= 1;
    assert!(matches!(
        ok(b, NODBG_NOKS_ES, &l.digest, &m),
        Err(Error::MeasurementMismatch)
    ));
    let mut m = l.m;
    m.measure[0] ^= 1;
    assert!(matches!(
        ok(b, NODBG_NOKS_ES, &l.digest, &m),
        Err(Error::MeasurementMismatch)
    ));
    for build in [
        PlatformBuild {
            build: b.build + 1,
            ..b
        },
        PlatformBuild {
            api_minor: b.api_minor + 1,
            ..b
        },
        PlatformBuild {
            api_major: b.api_major + 1,
            ..b
        },
    ] {
        assert!(matches!(
            ok(build, NODBG_NOKS_ES, &l.digest, &l.m),
            Err(Error::MeasurementMismatch)
        ));
    }
    // A guest launched with debugging allowed cannot pass as one launched without.
    assert!(matches!(
        ok(b, LaunchPolicy(0b110), &l.digest, &l.m),
        Err(Error::MeasurementMismatch)
    ));
    // Another session's keys do not verify this measurement.
    let other = TransportKeys::generate(&mut rand::rngs::OsRng);
    assert!(matches!(
        verify_measurement(&other, b, NODBG_NOKS_ES, &l.digest, &l.m),
        Err(Error::MeasurementMismatch)
    ));
}

#[test]
fn the_platform_refuses_a_tampered_session_or_policy() {
    let sim = SimPlatform::generate(&mut OsRng).unwrap();
    let roots = sim.roots().unwrap();
    let platform = sim.chain().verify_with_roots(&roots).unwrap();
    let (start, _) = start_session(&platform, NODBG_NOKS_ES, &mut OsRng).unwrap();
    for i in 0..128 {
        let mut blob = start.session.to_bytes();
        blob[i] ^= 1;
        let s = SessionBlob::from_bytes(&blob).unwrap();
        assert!(
            sim.launch_start(&start.godh_cert, &s, NODBG_NOKS_ES)
                .is_err(),
            "byte {i}"
        );
    }
    // The hypervisor cannot relax the policy the owner MACed.
    assert!(matches!(
        sim.launch_start(&start.godh_cert, &start.session, LaunchPolicy(0)),
        Err(Error::MacMismatch { what: "POLICY_MAC" })
    ));
    // Reserved policy bits are refused before any key is made.
    assert!(start_session(&platform, LaunchPolicy(1 << 6), &mut OsRng).is_err());
}

#[test]
fn a_simulated_chain_never_verifies_under_amds_roots() {
    let sim = SimPlatform::generate(&mut OsRng).unwrap();
    let e = sim.chain().verify(RootChoice::AnyGeneration).unwrap_err();
    assert!(matches!(e, Error::NoGeneration { .. }), "{e}");
}

#[test]
fn wire_forms_parse_strictly() {
    let l = launch(NODBG_NOKS_ES);
    let b64 = l.m.to_b64();
    assert_eq!(LaunchMeasurement::from_b64(&b64).unwrap(), l.m);
    assert!(LaunchMeasurement::from_b64("AAAA").is_err());
    assert!(LaunchMeasurement::from_b64("not base64!").is_err());
    assert!(SessionBlob::from_bytes(&[0u8; 127]).is_err());
    assert!(TransportKeys::from_bytes(&[0u8; 31]).is_err());
    assert_eq!(format!("{:?}", l.owner_keys), "TransportKeys(<redacted>)");
}
