//! `remits-measure` on a closed stdout (`remits-measure snp ... | head -c0`): quiet exit with
//! status 141, no panic.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::{Command, Stdio};

#[test]
fn closed_stdout_exits_quietly() {
    let Some(dir) = remits_testsupport::testdata::dir().map(|d| d.join("measure")) else {
        return;
    };
    let ovmf = dir.join("ovmf_AmdSev_suffix.bin");
    let (read_end, closed_pipe) = rustix::pipe::pipe().unwrap();
    drop(read_end);
    let child = Command::new(env!("CARGO_BIN_EXE_remits-measure"))
        .args([
            "snp",
            "--mode",
            "snp",
            "--vcpus",
            "1",
            "--vcpu-type",
            "EPYC-v4",
            "--ovmf",
        ])
        .arg(&ovmf)
        // The read end is closed before the child starts, so its first write fails with EPIPE
        // whatever the scheduling (dropping a piped stdout after spawn raced with the child).
        .stdout(Stdio::from(closed_pipe))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(141), "{out:?}");
}
