#![no_main]
//! FUZZING BUILD ONLY (feature `remits-verify/fuzzing`): evidence JSON (SNP envelope and trustee
//! forms, Azure SNP vTPM, TPM quotes) past the signatures into claim extraction and both shipped
//! Rego policies (see `remits_verify::fuzzing::evidence_policy`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    remits_verify::fuzzing::evidence_policy(data);
});
