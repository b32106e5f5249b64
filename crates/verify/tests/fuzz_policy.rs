//! The `evidence_policy` fuzz entry (feature `fuzzing` only: `cargo test -p remits-verify
//! --features fuzzing --test fuzz_policy`, run by `scripts/test.sh`) over real evidence and
//! mutations of it, under the allocation cap: it reaches the shipped policies past the
//! signatures, even with a corrupted report signature, and nothing panics.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use base64::Engine as _;
use remits_verify::fuzzing::evidence_policy;
use serde_json::{json, Value};

#[path = "../../../fuzz/support/alloc_cap.rs"]
mod alloc_cap;

#[global_allocator]
static ALLOC: alloc_cap::Counting = alloc_cap::Counting;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// SNP envelope, trustee SNP, Azure v0-v2 and TPM evidence from `$REMITS_TESTDATA`.
fn seeds() -> Option<Vec<(String, Value)>> {
    let d = remits_testsupport::testdata::dir()?;
    let read = |p: &str| std::fs::read(d.join(p)).unwrap();
    let mut out = Vec::new();
    for f in [
        "snp/genoa-v3-evidence.json",
        "az-snp-vtpm/evidence-v0.json",
        "az-snp-vtpm/evidence-v1.json",
        "az-snp-vtpm/evidence-v2.json",
    ] {
        out.push((f.to_string(), serde_json::from_slice(&read(f)).unwrap()));
    }
    let mut report = read("snp/milan-v2-sev-report.bin");
    out.push((
        "milan envelope".into(),
        json!({"report": b64(&report), "cert_chain": [{"cert_type": "VCEK",
            "data": b64(&read("snp/milan-v2-sev-vcek.der"))}]}),
    ));
    // The same report with its signature corrupted: only a fuzzing build gets past it.
    report[0x2A0 + 5] ^= 0x55;
    out.push((
        "milan envelope, bad signature".into(),
        json!({"report": b64(&report), "cert_chain": [{"cert_type": "VCEK",
            "data": b64(&read("snp/milan-v2-sev-vcek.der"))}]}),
    ));
    let pcrs: Value = serde_json::from_slice(&read("tpm/azure-snp-vtpm-quote-pcrs.json")).unwrap();
    let list: Vec<Value> = (0..24)
        .map(|i| pcrs["sha256"][i.to_string()].clone())
        .collect();
    out.push((
        "tpm quote".into(),
        json!({"ak_public": "", "tpm_quote": {"signature": "",
            "message": b64(&read("tpm/azure-snp-vtpm-quote.msg")), "pcrs": list.clone()}}),
    ));
    // The same quote with another machine's event log: the replay check refuses it (the
    // mutations of this seed exercise the event-log path).
    out.push((
        "tpm quote, foreign event log".into(),
        json!({"ak_public": "", "tpm_quote": {"signature": "",
            "message": b64(&read("tpm/azure-snp-vtpm-quote.msg")), "pcrs": list},
            "event_log": b64(&read("tpm/eventlog/glinux-alex.bin"))}),
    ));
    Some(out)
}

fn capped(what: &str, data: &[u8]) -> usize {
    alloc_cap::capped(&format_args!("{what} ({} bytes)", data.len()), || {
        evidence_policy(data)
    })
}

#[test]
fn evidence_reaches_the_shipped_policies_past_the_signatures() {
    let _serial = alloc_cap::serial();
    let Some(seeds) = seeds() else {
        return;
    };
    let mut runs = 0;
    for (name, seed) in &seeds {
        let bytes = serde_json::to_vec(seed).unwrap();
        let n = capped(name, &bytes);
        println!("{name}: {n} policy outcomes");
        if name != "tpm quote, foreign event log" {
            assert!(
                n >= 4,
                "{name}: the shipped policies were not reached ({n})"
            );
        }
        // Byte flips and truncations, bounded and deterministic.
        let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ bytes.len() as u64;
        for _ in 0..40 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut m = bytes.clone();
            let i = (x % m.len() as u64) as usize;
            m[i] ^= 1 << (x % 8);
            capped(name, &m);
            capped(name, &bytes[..i]);
            runs += 2;
        }
    }
    assert!(runs >= 400, "{runs}");
}
