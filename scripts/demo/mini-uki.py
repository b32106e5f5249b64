#!/usr/bin/env python3
"""Write a tiny, non-bootable unified kernel image (UKI) for the demo's disk.

scripts/demo-e2e.sh measures a disk with `remits-measure image`. It prefers Debian's real signed
shim and GRUB (packages shim-signed and grub-efi-amd64-signed); on mirrors without them it puts
this stand-in on the ESP instead: a PE32+ EFI application with the sections systemd-stub UKIs
carry (.osrel, .cmdline, .initrd, .linux), which is all `remits-measure` needs to recognise the
UKI boot chain and predict PCR4/9/11. It boots nothing.

usage: mini-uki.py OUT CMDLINE
"""
import struct
import sys

FILE_ALIGN = 0x200
SECTION_ALIGN = 0x1000


def align(n, a):
    return (n + a - 1) & ~(a - 1)


def pe(sections):
    """A minimal PE32+ image (x86-64, EFI application) holding the given (name, bytes) sections."""
    opt_size = 240  # PE32+ optional header with 16 data directories
    headers_end = 0x40 + 4 + 20 + opt_size + 40 * len(sections)
    size_of_headers = align(headers_end, FILE_ALIGN)
    out = bytearray(size_of_headers)
    out[0:2] = b"MZ"
    struct.pack_into("<I", out, 0x3C, 0x40)
    out[0x40:0x44] = b"PE\0\0"
    coff = 0x44
    # Machine, NumberOfSections, SizeOfOptionalHeader, Characteristics.
    struct.pack_into("<HH", out, coff, 0x8664, len(sections))
    struct.pack_into("<HH", out, coff + 16, opt_size, 0x2022)
    opt = coff + 20
    struct.pack_into("<H", out, opt, 0x20B)  # PE32+
    struct.pack_into("<II", out, opt + 32, SECTION_ALIGN, FILE_ALIGN)
    struct.pack_into("<H", out, opt + 68, 10)  # subsystem: EFI application
    struct.pack_into("<I", out, opt + 108, 16)  # NumberOfRvaAndSizes
    va, raw, bodies = SECTION_ALIGN, size_of_headers, []
    for i, (name, data) in enumerate(sections):
        sh = opt + opt_size + 40 * i
        rsize = align(len(data), FILE_ALIGN)
        out[sh : sh + 8] = name.encode()[:8].ljust(8, b"\0")
        struct.pack_into("<IIII", out, sh + 8, len(data), va, rsize, raw)
        struct.pack_into("<I", out, sh + 36, 0x40000040)  # initialised data, readable
        bodies.append(data.ljust(rsize, b"\0"))
        raw += rsize
        va += max(align(len(data), SECTION_ALIGN), SECTION_ALIGN)
    struct.pack_into("<II", out, opt + 56, va, size_of_headers)  # SizeOfImage, SizeOfHeaders
    return bytes(out) + b"".join(bodies)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    out, cmdline = sys.argv[1], sys.argv[2]
    kernel = pe([(".text", b"remits demo kernel stand-in")])
    uki = pe(
        [
            (".text", b"remits demo stub stand-in"),
            (".osrel", b"ID=remits-demo\n"),
            (".cmdline", cmdline.encode()),
            (".initrd", b"remits demo initrd\n"),
            (".linux", kernel),
        ]
    )
    with open(out, "wb") as f:
        f.write(uki)


if __name__ == "__main__":
    main()
