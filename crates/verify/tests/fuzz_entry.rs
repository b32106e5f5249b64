//! The `evidence_json` fuzz entry on every real evidence JSON form and on bounded, deterministic
//! mutations of them (byte flips, truncations, type swaps of every JSON value): nothing panics.
use base64::Engine as _;
use remits_verify::fuzzing::evidence_json;
use serde_json::{json, Value};

fn seeds() -> Option<Vec<Value>> {
    let d = remits_evidence::testdata::dir()?;
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
