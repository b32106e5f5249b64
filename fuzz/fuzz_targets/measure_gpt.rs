#![no_main]
//! A whole disk image: GPT, FAT ESP, boot chain, PE images and grub.cfg (see `remits_measure::fuzzing::gpt`).
//! Seeds: `../shared/testdata/measure` and the inputs of `crates/measure/tests/fuzzing.rs`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_measure::fuzzing::gpt(data));
