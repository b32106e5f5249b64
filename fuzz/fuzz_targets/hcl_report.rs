#![no_main]
//! The Azure HCL report and its runtime claims (see `remits_tpm::fuzzing::hcl_report`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_tpm::fuzzing::hcl_report(data));
