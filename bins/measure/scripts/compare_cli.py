#!/usr/bin/env python3
"""Command-line parity of `remits-measure snp` with the Python sev-snp-measure.

Runs every case below with both tools (same arguments, same scratch working directory) and
counts a case *identical* when both give the same exit status, the same stdout, the same
`--dump-vmsa` files and, for a runtime error, the same `Error: ...` line. Usage errors (exit 2)
are worded by each parser (argparse, clap): their text is not compared; `--version` must start
with sev-snp-measure's line. A case where the Python tool crashes (a traceback, exit 1)
counts as *python crash* when remits-measure exits 1 with one `Error: ...` line instead. One
divergence is deliberate (KNOWN): a non-`sev` guest with 0 vCPUs, which sev-snp-measure measures
(no VMSA page: a digest no launch can produce) and remits-measure refuses with exit 1.

    python3 bins/measure/scripts/compare_cli.py [REMITS_MEASURE] [SEV_SNP_MEASURE]

Defaults: target/debug/remits-measure and $REMITS_VENV/bin/sev-snp-measure (REMITS_VENV
defaults to ~/.cache/remits-venv); test data from $REMITS_TESTDATA/measure (default
../shared/testdata/measure). Exit status 1 when any case differs (listed on stdout).
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[3]
OURS = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/debug/remits-measure")
VENV = pathlib.Path(os.environ.get("REMITS_VENV", pathlib.Path.home() / ".cache/remits-venv"))
THEIRS = sys.argv[2] if len(sys.argv) > 2 else str(VENV / "bin/sev-snp-measure")
TD = pathlib.Path(os.environ.get("REMITS_TESTDATA", ROOT.parent / "shared/testdata")) / "measure"
OVMF_4M = "/usr/share/OVMF/OVMF_CODE_4M.fd"


def cases(w: pathlib.Path):
    amd = str(TD / "ovmf_AmdSev_suffix.bin")
    x64 = str(TD / "ovmf_OvmfX64_suffix.bin")
    svsm, svsm_ovmf = str(TD / "svsm.bin"), str(TD / "svsm_ovmf.fd")
    k, i, vars_ = str(w / "kernel"), str(w / "initrd"), str(w / "vars.fd")
    empty, missing, notdir = str(w / "empty"), str(w / "missing"), str(w / "empty/x")
    snp = ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4"]
    out = []
    # Measurements on every firmware, in every mode and VMM.
    for ovmf in [amd, x64, OVMF_4M]:
        out += [
            snp + ["--ovmf", ovmf],
            ["--mode", "sev", "--ovmf", ovmf],
            ["--mode", "seves", "--vcpus", "2", "--vcpu-type", "EPYC-Rome", "--ovmf", ovmf],
            ["--mode", "snp:ovmf-hash", "--ovmf", ovmf],
            ["--mode", "snp", "--vcpus", "3", "--vcpu-sig", "0xa10f10", "--vmm-type", "ec2",
             "--ovmf", ovmf],
            ["--mode", "snp", "--vcpus", "2", "--vmm-type", "gce", "--ovmf", ovmf],
            snp + ["--ovmf", ovmf, "--kernel", k, "--initrd", i, "--append", "console=ttyS0"],
            ["--mode", "sev", "--ovmf", ovmf, "--kernel", k],
            snp + ["--ovmf", ovmf, "--output-format", "base64", "-v"],
            snp + ["--ovmf", ovmf, "--guest-features", "0x21"],
        ]
    # vCPU signature forms and types.
    for t in ["EPYC", "EPYC-v1", "EPYC-v2", "EPYC-IBPB", "EPYC-v3", "EPYC-v4", "EPYC-Rome",
              "EPYC-Rome-v1", "EPYC-Rome-v2", "EPYC-Rome-v3", "EPYC-Milan", "EPYC-Milan-v1",
              "EPYC-Milan-v2", "EPYC-Genoa", "EPYC-Genoa-v1", "EPYC-Turin", "EPYC-Turin-v1"]:
        out.append(["--mode", "snp", "--vcpus", "2", "--vcpu-type", t, "--ovmf", amd])
    for sig in ["0x800f12", "8392466", "0o40007422", "0b100000000000111100010010", "1_0"]:
        out.append(["--mode", "snp", "--vcpus", "1", "--vcpu-sig", sig, "--ovmf", amd])
    out += [
        ["--mode", "snp", "--vcpus", "1", "--vcpu-family", "25", "--vcpu-model", "1",
         "--vcpu-stepping", "1", "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-family", "26", "--vcpu-model", "0",
         "--vcpu-stepping", "0", "--vcpu-type", "EPYC", "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-sig", "0", "--vcpu-type", "EPYC-v4",
         "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "64", "--vcpu-type", "EPYC-v4", "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "0", "--vcpu-type", "EPYC-v4", "--ovmf", amd],
        ["--mode", "seves", "--vcpus", "1", "--vmm-type", "ec2", "--ovmf", amd],
        ["--mode", "sev", "--vcpus", "4", "--ovmf", amd],
        ["--mode", "sev", "--vmm-type", "gce", "--ovmf", amd],
        # Guest features and output forms.
        snp + ["--ovmf", amd, "--guest-features", "33"],
        snp + ["--ovmf", amd, "--guest-features", "0X1"],
        snp + ["--ovmf", amd, "--guest-features=0x0"],
        snp + ["--ovmf", amd, "--verbose"],
        ["--mode", "sev", "--ovmf", amd, "-v", "--output-format", "base64"],
        ["--mode", "seves", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", amd, "-v"],
        ["--mode", "snp:ovmf-hash", "--ovmf", amd, "--output-format", "base64"],
        ["--mode", "snp:ovmf-hash", "--ovmf", amd, "-v"],
        # Prefix abbreviations and = forms (argparse accepts both).
        ["--mod", "snp", "--vcpus=1", "--vcpu-t", "EPYC-v4", "--ovm", amd],
        ["--mode=sev", f"--ovmf={amd}", "--out", "base64"],
        snp + ["--ovmf", amd, "--ovmf", x64],
        # Kernel hashes.
        ["--mode", "sev", "--ovmf", amd, "--kernel", k, "--initrd", i],
        ["--mode", "sev", "--ovmf", amd, "--kernel", k, "--append", "a b c"],
        ["--mode", "sev", "--ovmf", amd, "--kernel", k, "--append="],
        ["--mode", "sev", "--ovmf", amd, "--kernel", k, "--initrd", ""],
        ["--mode", "sev", "--ovmf", amd, "--kernel", k, "--append", "-x"],
        ["--mode", "sev", "--ovmf", amd, "--kernel", k, "--append", "caf\u00e9 \u00fcml"],
        ["--mode", "sev", "--ovmf", amd, "--kernel", "", "--initrd", ""],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", x64, "--kernel", k],
        # Precomputed OVMF hash.
        snp + ["--ovmf", amd, "--snp-ovmf-hash", "00" * 48],
        snp + ["--ovmf", amd, "--snp-ovmf-hash", "AB" * 48],
        snp + ["--ovmf", amd, "--snp-ovmf-hash", "00" * 47],
        snp + ["--ovmf", amd, "--snp-ovmf-hash", "zz" * 48],
        snp + ["--ovmf", amd, "--snp-ovmf-hash", ""],
        ["--mode", "seves", "--vcpus", "1", "--vcpu-type", "EPYC", "--ovmf", amd,
         "--snp-ovmf-hash", "00" * 48],
        # SVSM.
        ["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--svsm", svsm,
         "--ovmf", svsm_ovmf, "--vars-size", "540672"],
        ["--mode", "snp:svsm", "--vcpus", "2", "--vcpu-type", "EPYC-Milan", "--svsm", svsm,
         "--ovmf", svsm_ovmf, "--vars-file", vars_],
        ["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--svsm", svsm,
         "--ovmf", svsm_ovmf, "--vars-size", "540672", "--vmm-type", "ec2"],
        ["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", svsm_ovmf,
         "--vars-size", "540672"],
        ["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--svsm", svsm,
         "--ovmf", svsm_ovmf],
        ["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--svsm", svsm,
         "--ovmf", svsm_ovmf, "--vars-size", "540672", "--vars-file", vars_],
        ["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--svsm", missing,
         "--ovmf", svsm_ovmf, "--vars-size", "540672"],
        ["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--svsm", svsm,
         "--ovmf", svsm_ovmf, "--vars-file", missing],
        ["--mode", "snp:svsm", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--svsm", svsm,
         "--ovmf", svsm_ovmf, "--vars-size", "0"],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--svsm", svsm,
         "--ovmf", amd, "--vars-size", "540672"],
        # VMSA dumps.
        snp + ["--ovmf", amd, "--dump-vmsa"],
        ["--mode", "seves", "--vcpus", "2", "--vcpu-type", "EPYC", "--ovmf", amd, "--dump-vmsa"],
        ["--mode", "snp", "--vcpus", "2", "--vcpu-sig", "1", "--vmm-type", "ec2", "--ovmf", amd,
         "--dump-vmsa"],
        ["--mode", "sev", "--ovmf", amd, "--dump-vmsa"],
        ["--mode", "snp:ovmf-hash", "--ovmf", amd, "--dump-vmsa"],
        # Usage errors.
        [],
        ["--ovmf", amd],
        ["--mode", "snp"],
        ["--mode", "tdx", "--ovmf", amd],
        ["--mode", "snp", "--vcpu-type", "EPYC-v4", "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "1", "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "x", "--vcpu-type", "EPYC-v4", "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v9", "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-sig", "0xzz", "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-sig", "010", "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-family", "x", "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--vmm-type", "kvm",
         "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--vmm-type", "qemu",
         "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--output-format", "raw",
         "--ovmf", amd],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--guest-features", "x",
         "--ovmf", amd],
        ["--mode", "sev", "--ovmf", amd, "--initrd", i],
        ["--mode", "sev", "--ovmf", amd, "--append", "x"],
        ["--mode", "sev", "--ovmf", amd, "--bogus"],
        ["--mode", "sev", "--ovmf", amd, "extra"],
        ["--mode", "sev", "--ovmf"],
        ["--mode", "sev", "--ovmf", amd, "--vcpu"],
        ["--mode", "sev", "--ovmf", amd, "--vcpus", "-1"],
        # I/O and runtime errors.
        ["--mode", "sev", "--ovmf", missing],
        ["--mode", "snp:ovmf-hash", "--ovmf", missing],
        ["--mode", "sev", "--ovmf", empty],
        ["--mode", "sev", "--ovmf", str(w)],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", empty],
        ["--mode", "snp:ovmf-hash", "--ovmf", empty],
        ["--mode", "sev", "--ovmf", "/dev/null"],
        ["--mode", "sev", "--ovmf", amd, "--kernel", missing],
        ["--mode", "sev", "--ovmf", amd, "--kernel", k, "--initrd", missing],
        ["--mode", "sev", "--ovmf", amd, "--kernel", notdir],
        ["--mode", "sev", "--ovmf", OVMF_4M, "--kernel", k],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", x64, "--kernel", k],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", str(w / "short")],
        ["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--ovmf", k],
        # Help and version.
        ["--version"],
        ["--help"],
    ]
    return out


KNOWN = [["--mode", "snp", "--vcpus", "0"]]


def message(stderr: str, code: int) -> str:
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    if code == 2:
        for l in lines:
            for p in ("sev-snp-measure: error: ", "error: "):
                if l.startswith(p):
                    return l[len(p):]
        return stderr
    if code == 1 and lines and lines[-1].startswith("Error: "):
        return lines[-1]
    return stderr


def run(cmd, args, cwd: pathlib.Path):
    for f in cwd.glob("vmsa*.bin"):
        f.unlink()
    p = subprocess.run(cmd + args, cwd=cwd, capture_output=True, timeout=300)
    dumps = {f.name: f.read_bytes() for f in sorted(cwd.glob("vmsa*.bin"))}
    return p.returncode, p.stdout, p.stderr.decode(errors="replace"), dumps


def main():
    w = pathlib.Path(tempfile.mkdtemp(prefix="remits-measure-cli-"))
    try:
        (w / "kernel").write_bytes(bytes((i * 7 + i // 4096) & 0xFF for i in range(1_000_000)))
        (w / "initrd").write_bytes(b"\x5a" * 300_000)
        (w / "vars.fd").write_bytes(b"\0" * 540672)
        (w / "empty").write_bytes(b"")
        (w / "short").write_bytes(b"\0" * 100)
        cwd = w / "cwd"
        cwd.mkdir()
        # Help texts differ by parser; --help is compared on its exit status and stdout's use.
        identical, crash, known, differ = 0, 0, 0, []
        all_cases = cases(w)
        for args in all_cases:
            t = run([THEIRS], args, cwd)
            o = run([OURS, "snp"], args, cwd)
            if args == ["--help"]:
                same = t[0] == o[0] == 0 and b"--mode" in t[1] and b"--mode" in o[1]
            elif args == ["--version"]:
                same = t[0] == o[0] == 0 and o[1].startswith(t[1].strip())
            elif t[0] == o[0] == 2:
                same = not t[1] and not o[1]
            else:
                same = (t[0], t[1], t[3]) == (o[0], o[1], o[3]) and message(t[2], t[0]) == message(
                    o[2], o[0]
                )
            if same:
                identical += 1
            elif t[0] == 1 and "Traceback" in t[2] and o[0] == 1 and not o[1] \
                    and message(o[2], 1).startswith("Error: "):
                crash += 1
            elif any(args[: len(k)] == k for k in KNOWN) and o[0] == 1:
                known += 1
            else:
                differ.append((args, t, o))
        for args, t, o in differ:
            print("DIFF", " ".join(args).replace(str(w), "$W"))
            print("  sev-snp-measure:", t[0], t[1][:100], message(t[2], t[0])[-300:].replace(str(w), "$W"))
            print("  remits-measure: ", o[0], o[1][:100], message(o[2], o[0])[-300:].replace(str(w), "$W"))
        print(f"{len(all_cases)} cases: {identical} identical, {crash} where sev-snp-measure "
              f"crashes (remits-measure: exit 1, one Error line), {known} known divergence, "
              f"{len(differ)} differ")
        return 1 if differ else 0
    finally:
        shutil.rmtree(w, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
