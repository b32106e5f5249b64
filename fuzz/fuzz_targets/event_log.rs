#![no_main]
//! TCG event logs: parse, decode, replay, compare (see `remits_tpm::fuzzing::event_log`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_tpm::fuzzing::event_log(data));
