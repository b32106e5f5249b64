#![no_main]
//! remits-broker's TOML configuration, parsed and validated (see `remits_kbs::fuzzing::broker_config`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| remits_kbs::fuzzing::broker_config(data));
