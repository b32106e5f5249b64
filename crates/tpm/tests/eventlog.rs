//! Every real event log in the shared test data replays to its expected PCRs; corrupted and
//! truncated logs fail cleanly.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use remits_tpm::{replay, CompareMode, EventData, EventLog, LogFormat};
use remits_tpm::{Error, HashAlg, PcrValues};

fn logs() -> Option<Vec<(String, Vec<u8>, PcrValues)>> {
    let d = remits_testsupport::testdata::dir()?.join("tpm/eventlog");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&d).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "bin") {
            let exp = p.with_extension("pcrs.json");
            let expected = PcrValues::from_json(&std::fs::read(&exp).unwrap()).unwrap();
            out.push((
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
                expected,
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 12, "expected 12 logs");
    Some(out)
}

#[test]
fn every_log_replays_to_expected() {
    let Some(logs) = logs() else { return };
    for (name, bytes, expected) in &logs {
        let log = EventLog::parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let r = replay(&log).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut checked = 0;
        for (bank, pcrs) in expected.banks() {
            for (pcr, want) in pcrs {
                let got = r
                    .pcrs()
                    .get(*bank, *pcr)
                    .unwrap_or_else(|| panic!("{name}: {bank} PCR{pcr} not replayed"));
                assert_eq!(
                    hex::encode(got),
                    hex::encode(want),
                    "{name}: {bank} PCR{pcr}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 8, "{name}");
        r.compare(expected, CompareMode::AllQuoted)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Every event decodes without panicking and serialises.
        serde_json::to_string(&log.describe()).unwrap();
    }
}

#[test]
fn formats_and_special_events() {
    let Some(logs) = logs() else { return };
    let get = |n: &str| logs.iter().find(|l| l.0 == n).unwrap();
    let deb = EventLog::parse(&get("debian-10.bin").1).unwrap();
    assert_eq!(deb.format(), LogFormat::LegacySha1);
    assert_eq!(deb.banks(), vec![HashAlg::Sha1]);
    assert_eq!(deb.events().len(), 25);
    let gdc = EventLog::parse(&get("gdc-host.bin").1).unwrap();
    assert_eq!(gdc.format(), LogFormat::CryptoAgile);
    assert_eq!(replay(&gdc).unwrap().startup_locality(), Some(3));
    assert!(gdc
        .events()
        .iter()
        .any(|e| e.decode() == EventData::StartupLocality { locality: 3 }));
    let arch = EventLog::parse(&get("arch-linux-workstation.bin").1).unwrap();
    assert_eq!(arch.events().len(), 25); // 24 events after the Spec ID record
    let sep = arch.events().iter().find(|e| e.event_type == 4).unwrap();
    assert_eq!(sep.decode(), EventData::Separator { value: 0 });
    let cos = EventLog::parse(&get("cos-85-amd-sev.bin").1).unwrap();
    let descr = serde_json::to_string(&cos.describe()).unwrap();
    assert!(
        descr.contains("efi-variable") && descr.contains("SecureBoot"),
        "{descr}"
    );
    assert!(descr.contains("efi-image-load"));
    assert!(cos
        .events()
        .iter()
        .any(|e| matches!(e.decode(), EventData::EfiGpt { .. })));
    assert!(cos.events().iter().any(|e| matches!(
        e.decode(),
        EventData::GrubCommand { .. } | EventData::KernelCmdline { .. }
    )));
}

#[test]
fn sp800155_events_not_extended() {
    let Some(logs) = logs() else { return };
    let (_, bytes, expected) = logs
        .iter()
        .find(|l| l.0 == "eventlogwithsp800155.bin")
        .unwrap();
    let log = EventLog::parse(bytes).unwrap();
    assert!(log
        .events()
        .iter()
        .any(|e| e.decode() == EventData::Sp800155));
    let r = replay(&log).unwrap();
    assert_eq!(
        r.pcrs().get(HashAlg::Sha256, 0),
        expected.get(HashAlg::Sha256, 0)
    );
}

#[test]
fn mismatch_names_pcr_and_event() {
    let Some(logs) = logs() else { return };
    let (_, bytes, expected) = &logs[0];
    let r = replay(&EventLog::parse(bytes).unwrap()).unwrap();
    let mut quoted = expected.clone();
    let v = quoted.get(HashAlg::Sha256, 4).unwrap().to_vec();
    let mut w = v.clone();
    w[0] ^= 1;
    quoted.insert(HashAlg::Sha256, 4, w).unwrap();
    match r.compare(&quoted, CompareMode::AllQuoted).unwrap_err() {
        Error::ReplayMismatch {
            pcr: 4,
            bank,
            last_type,
            ..
        } => {
            assert_eq!(bank, "sha256");
            assert!(last_type.starts_with(", EV_"), "{last_type}");
        }
        e => panic!("{e}"),
    }
    // A quoted PCR the log never touches and which is not at its reset value fails closed.
    let mut quoted = expected.clone();
    quoted.insert(HashAlg::Sha256, 16, vec![7; 32]).unwrap();
    assert!(matches!(
        r.compare(&quoted, CompareMode::AllQuoted),
        Err(Error::ReplayCoverage { pcr: 16, .. })
    ));
    quoted.insert(HashAlg::Sha256, 16, vec![0; 32]).unwrap();
    quoted.insert(HashAlg::Sha256, 18, vec![0xFF; 32]).unwrap();
    r.compare(&quoted, CompareMode::AllQuoted).unwrap();
    // LogCovered: a logged PCR the quote omits fails.
    let mut partial = PcrValues::new();
    partial
        .insert(
            HashAlg::Sha256,
            0,
            expected.get(HashAlg::Sha256, 0).unwrap().to_vec(),
        )
        .unwrap();
    assert!(matches!(
        r.compare(&partial, CompareMode::LogCovered),
        Err(Error::ReplayCoverage { .. })
    ));
}

#[test]
fn truncated_and_corrupted_logs_never_panic() {
    let Some(logs) = logs() else { return };
    for (name, bytes, _) in &logs {
        // Every truncation point inside the first events and a sample of the rest.
        let cut_points: Vec<usize> = (0..bytes.len().min(160))
            .chain((160..bytes.len()).step_by(211))
            .collect();
        for n in cut_points {
            if let Ok(log) = EventLog::parse(&bytes[..n]) {
                let _ = replay(&log);
            }
        }
        // Single-byte corruption.
        for i in (0..bytes.len()).step_by(61) {
            let mut b = bytes.clone();
            b[i] = b[i].wrapping_add(0x5A);
            if let Ok(log) = EventLog::parse(&b) {
                let _ = replay(&log).map(|r| r.pcrs().clone());
                let _ = serde_json::to_string(&log.describe());
            }
        }
        // A huge eventSize is an error, not an allocation.
        let mut b = bytes.clone();
        // eventSize of the first record (a TCG_PCR_EVENT in both formats) is at byte 28.
        b[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(EventLog::parse(&b).is_err(), "{name}");
    }
    assert!(EventLog::parse(&[]).is_err());
    assert!(EventLog::parse(&[0xFF; 64]).is_err());
}
