//! The `evidence_json` fuzz entry on every real evidence JSON form and on bounded, deterministic
//! mutations of them (byte flips, truncations, type swaps of every JSON value): nothing panics.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use base64::Engine as _;
use remits_verify::fuzzing;
use serde_json::{json, Value};

#[path = "../../../fuzz/support/alloc_cap.rs"]
mod alloc_cap;

#[global_allocator]
static ALLOC: alloc_cap::Counting = alloc_cap::Counting;

/// `fuzzing::evidence_json` under the allocation cap of `alloc_cap`.
fn evidence_json(d: &[u8]) {
    alloc_cap::capped(&format_args!("evidence_json on {} bytes", d.len()), || {
        fuzzing::evidence_json(d)
    })
}

fn seeds() -> Option<Vec<Value>> {
    let d = remits_testsupport::testdata::dir()?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let read = |p: &str| std::fs::read(d.join(p)).unwrap();
    let mut out = Vec::new();
    for f in [
        "az-snp-vtpm/evidence-v0.json",
        "az-snp-vtpm/evidence-v1.json",
        "az-snp-vtpm/evidence-v2.json",
        "snp/genoa-v3-evidence.json",
    ] {
        out.push(serde_json::from_slice(&read(f)).unwrap());
    }
    out.push(json!({"report": b64(&read("snp/milan-v2-sev-report.bin")),
        "cert_chain": [{"cert_type": "VCEK", "data": b64(&read("snp/milan-v2-sev-vcek.der"))}]}));
    let pem = String::from_utf8(read("tpm/azure-snp-vtpm-akpub.pem")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut sig = vec![0x00, 0x14, 0x00, 0x0b, 0x01, 0x00];
    sig.extend(read("tpm/azure-snp-vtpm-quote.sig"));
    let pcrs: Value = serde_json::from_slice(&read("tpm/azure-snp-vtpm-quote-pcrs.json")).unwrap();
    let list: Vec<Value> = (0..24)
        .map(|i| pcrs["sha256"][i.to_string()].clone())
        .collect();
    out.push(
        json!({"ak_public": body, "tpm_quote": {"signature": b64(&sig),
        "message": b64(&read("tpm/azure-snp-vtpm-quote.msg")), "pcrs": list},
        "event_log": b64(&read("tpm/eventlog/glinux-alex.bin"))}),
    );
    out.push(json!({"svn": "1", "report_data": b64(&[0u8; 48])}));
    Some(out)
}

/// xorshift64: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Every JSON pointer in `v` (objects and arrays; arrays sampled to at most 8 elements).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                pointers(
                    c,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                )
            }
        }
        Value::Array(a) => {
            for i in (0..a.len()).step_by((a.len() / 8).max(1)) {
                pointers(&a[i], format!("{at}/{i}"), out)
            }
        }
        _ => {}
    }
}

#[test]
fn real_evidence_and_mutations_do_not_panic() {
    let _serial = alloc_cap::serial();
    let Some(seeds) = seeds() else { return };
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let swaps = [
        json!(null),
        json!(0),
        json!(-1),
        json!(u64::MAX),
        json!(""),
        json!("AAAA"),
        json!("zz"),
        json!([]),
        json!({}),
        json!([0, 1, 2]),
        json!(true),
    ];
    let mut runs = 0usize;
    for seed in &seeds {
        let bytes = serde_json::to_vec(seed).unwrap();
        evidence_json(&bytes);
        // Value-level: every field replaced by every other JSON type.
        let mut ptrs = Vec::new();
        pointers(seed, String::new(), &mut ptrs);
        for p in ptrs.iter().skip(1) {
            for s in &swaps {
                let mut m = seed.clone();
                *m.pointer_mut(p).unwrap() = s.clone();
                evidence_json(&serde_json::to_vec(&m).unwrap());
                runs += 1;
            }
        }
        // Byte-level: flips and truncations, bounded.
        for _ in 0..40 {
            let mut b = bytes.clone();
            for _ in 0..=rng.below(4) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            evidence_json(&b);
            evidence_json(&bytes[..rng.below(bytes.len())]);
            runs += 2;
        }
        // Inside base64 fields: decode, flip a byte, re-encode (reaches the binary parsers).
        for p in &ptrs {
            if let Some(Value::String(s)) = seed.pointer(p) {
                let Ok(mut raw) = remits_evidence::b64ser::decode_any(s) else {
                    continue;
                };
                if raw.len() < 16 {
                    continue;
                }
                for _ in 0..8 {
                    let i = rng.below(raw.len());
                    raw[i] ^= 0xff;
                    let mut m = seed.clone();
                    *m.pointer_mut(p).unwrap() =
                        json!(base64::engine::general_purpose::STANDARD.encode(&raw));
                    evidence_json(&serde_json::to_vec(&m).unwrap());
                    runs += 1;
                }
            }
        }
    }
    assert!(runs > 1000, "only {runs} mutations ran");
}

/// The fuzzing build (feature `fuzzing`: an SNP backend accepting every signature) never
/// reaches a normal build: the feature is in no default set, no workspace member turns it on
/// (only `fuzz/` and the `fuzz_policy` test do), and this build refuses a corrupted signature.
#[test]
fn normal_build_refuses_a_bad_signature_and_never_enables_fuzzing() {
    let _serial = alloc_cap::serial();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for krate in ["crates/snp", "crates/verify"] {
        let text = std::fs::read_to_string(root.join(krate).join("Cargo.toml")).unwrap();
        let t: toml::Table = toml::from_str(&text).unwrap();
        let default = t["features"]["default"].as_array().unwrap();
        assert!(
            default
                .iter()
                .all(|f| !f.as_str().unwrap().contains("fuzzing")),
            "{krate}: `fuzzing` is a default feature"
        );
    }
    for dir in ["crates", "bins"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path().join("Cargo.toml");
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            for line in text.lines() {
                let l = line.trim_start();
                let enables = l.contains("features")
                    && l.contains("fuzzing")
                    && !l.starts_with("required-features")
                    && !l.starts_with('#');
                let defines = l.starts_with("fuzzing =");
                assert!(
                    !enables || defines,
                    "{}: enables the fuzzing feature: {line}",
                    p.display()
                );
            }
        }
    }
    let Some(d) = remits_testsupport::testdata::dir() else {
        return;
    };
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut report = std::fs::read(d.join("snp/milan-v2-sev-report.bin")).unwrap();
    let vcek = std::fs::read(d.join("snp/milan-v2-sev-vcek.der")).unwrap();
    use remits_verify::driver::TeeDriver as _;
    let driver = remits_verify::drivers::snp::SnpDriver::new(
        std::sync::Arc::new(remits_snp::Verifier::new(remits_snp::TrustAnchors::amd())),
        std::sync::Arc::new(remits_verify::drivers::snp::ProductionRoots::default()),
    );
    let expected = remits_verify::driver::Expected {
        report_data: remits_verify::binding::ReportDataCheck::Unchecked,
        init_data: None,
    };
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_793_491_200);
    let ev = |r: &[u8]| json!({"report": b64(r), "cert_chain": [{"cert_type": "VCEK", "data": b64(&vcek)}]});
    let _ = driver
        .verify(&ev(&report), &expected, now)
        .expect("the genuine report verifies");
    report[0x2A0 + 5] ^= 0x55;
    let e = driver
        .verify(&ev(&report), &expected, now)
        .expect_err("a corrupted signature was accepted");
    println!("corrupted signature refused: {e}");
}

#[test]
fn reference_values_entry_survives_registrations_and_mutations() {
    let _serial = alloc_cap::serial();
    let sample = json!({"snp_launch_measurement": ["ab".repeat(48)], "tpm_pcr11": "00".repeat(32)});
    let rvps = json!({"version": "0.1.0", "type": "sample",
        "payload": base64::engine::general_purpose::STANDARD.encode(sample.to_string())});
    let mut runs = 0;
    for seed in [
        json!({"values": sample, "expires_at": "2030-01-01T00:00:00Z"}),
        sample.clone(),
        rvps,
        json!({"format_version": 1, "pcrs": {"15": "00".repeat(32)}, "events": {}, "signature": null}),
    ] {
        let b = serde_json::to_vec(&seed).unwrap();
        runs += alloc_cap::exercise("reference values", &b, 500, fuzzing::reference_values);
    }
    // Hostile sizes: 200,000 values under one name, deep nesting.
    let many = json!({"x": vec!["a"; 200_000]}).to_string();
    runs += alloc_cap::exercise(
        "200,000 values",
        many.as_bytes(),
        2,
        fuzzing::reference_values,
    );
    let deep = format!("{{\"x\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    runs += alloc_cap::exercise("deep", deep.as_bytes(), 2, fuzzing::reference_values);
    assert!(runs > 2000, "{runs}");
}

/// Seeds for `fuzz/run.sh` (with `REMITS_FUZZ_SEEDS` set): every evidence JSON form built from
/// `$REMITS_TESTDATA`, for `evidence_json` and `evidence_policy`, and registrations for
/// `reference_values`.
#[test]
#[ignore = "writes fuzz seeds; run by fuzz/run.sh"]
fn write_fuzz_seeds() {
    let _serial = alloc_cap::serial();
    let sample = json!({"snp_launch_measurement": ["ab".repeat(48)], "tpm_pcr11": "00".repeat(32)});
    alloc_cap::write_seed(
        "reference_values",
        "sample.json",
        sample.to_string().as_bytes(),
    );
    alloc_cap::write_seed(
        "reference_values",
        "registration.json",
        json!({"values": sample, "expires_at": "2030-01-01T00:00:00Z"})
            .to_string()
            .as_bytes(),
    );
    let Some(seeds) = seeds() else { return };
    for (i, s) in seeds.iter().enumerate() {
        let b = serde_json::to_vec(s).unwrap();
        alloc_cap::write_seed("evidence_json", &format!("evidence-{i}.json"), &b);
        alloc_cap::write_seed("evidence_policy", &format!("evidence-{i}.json"), &b);
    }
}
