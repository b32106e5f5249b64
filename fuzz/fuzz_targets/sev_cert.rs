#![no_main]
//! SEV pre-launch parsers: AMD-format ARK/ASK, SEV certificates, platform chains, session blobs,
//! launch measurements and EFI secret tables (see `remits_sev::fuzzing::cert`). Seeds: the
//! built-in roots and the chains of `../shared/testdata/sev`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_sev::fuzzing::cert(data));
