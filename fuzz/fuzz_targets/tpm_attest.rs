#![no_main]
//! TPMS_ATTEST, TPML_PCR_SELECTION and the tpm2-tools PCR files (see `remits_tpm::fuzzing::tpm_attest`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_tpm::fuzzing::tpm_attest(data));
