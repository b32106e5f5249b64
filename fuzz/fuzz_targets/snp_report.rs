#![no_main]
//! SEV-SNP report parsing, field decoding and (signatures accepted) the extension, TCB, chip-ID
//! and claim checks; bytes past 1184 are the leaf certificate (see `remits_snp::fuzzing::report`).
//! Seeds: the real reports of `../shared/testdata/snp`, alone and followed by their VCEK.
libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_snp::fuzzing::report(data));
