#![no_main]
//! trustee az-snp-vtpm evidence JSON v0/v1/v2 and its full verification (see `remits_tpm::fuzzing::az_evidence_json`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_tpm::fuzzing::az_evidence_json(data));
