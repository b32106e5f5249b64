//! Empty: it makes the `[build-dependencies]` of Cargo.toml count (see there).
fn main() {}
