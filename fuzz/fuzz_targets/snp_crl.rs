#![no_main]
//! AMD VCEK/VLEK CRLs (DER or PEM): the real RSA-PSS check, and past it (signatures accepted)
//! the issuer, distribution-point, time and revoked-serial checks (see `remits_snp::fuzzing::crl`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_snp::fuzzing::crl(data));
