#![no_main]
//! Enclave configuration YAML: validation, canonical parts and PCR15 events (see
//! `remits_measure::fuzzing::enclave_yaml`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_measure::fuzzing::enclave_yaml(data));
