#![no_main]
//! AMD certificate parsing (DER, PEM, bundles), explicit ARKs, leaf chains and CRLs (see
//! `remits_snp::fuzzing::cert`). Seeds: the certificates of `../shared/testdata/snp`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_snp::fuzzing::cert(data));
