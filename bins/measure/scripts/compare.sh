#!/usr/bin/env bash
# Reproduces the numbers in docs/measure.md:
#  1. `remits-measure snp` vs sev-snp-measure (hyperfine, same inputs, same output checked);
#  2. `remits-measure image` on a docker-save image holding one 1 GiB file vs `sha256sum` of the
#     same tarball, both pinned to one core; then on a multi-file image with 1 and 2 cores.
# Needs: hyperfine, sgdisk, mkfs.vfat, mtools, Debian's ovmf/shim-signed/grub-efi-amd64-signed,
# sev-snp-measure (in $REMITS_VENV, default ~/.cache/remits-venv). Everything is written under a
# temporary directory (in /tmp) and deleted on exit. SKIP_SNP=1 skips part 1; RUNS sets its runs
# (default 40, after 5 warm-up runs); SNP_ONLY=1 stops after part 1; BIN=<path> measures that
# binary instead of building target/release/remits-measure. Part 1 also prints `perf stat` CPU
# times when perf is installed, and the load average before each case (wall times are only
# comparable on an idle machine: rerun if it is above 0.5).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
VENV="${REMITS_VENV:-$HOME/.cache/remits-venv}"
SSM="$VENV/bin/sev-snp-measure"
TD="${REMITS_TESTDATA:-$ROOT/../shared/testdata}/measure"
BIN="${BIN:-}"
OVMF=/usr/share/OVMF/OVMF_CODE_4M.fd
RUNS="${RUNS:-40}"

if [ -z "$BIN" ]; then
  (cd "$ROOT" && cargo build --release -q -p remits-measure-cli)
  BIN="$ROOT/target/release/remits-measure"
fi
W="$(mktemp -d /tmp/remits-measure-compare.XXXXXX)"
trap 'rm -rf "$W"' EXIT

head -c 12000000 /dev/urandom >"$W/kernel"
head -c 40000000 /dev/urandom >"$W/initrd"
if [ -z "${SKIP_SNP:-}" ]; then
echo "== 1. remits-measure snp vs sev-snp-measure =="
cases=(
  "--mode snp --vcpus 4 --vcpu-type EPYC-v4 --ovmf $OVMF"
  "--mode snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf $TD/ovmf_AmdSev_suffix.bin --kernel $W/kernel --initrd $W/initrd --append console=ttyS0"
  "--mode snp:svsm --vcpus 1 --vcpu-type EPYC-v4 --svsm $TD/svsm.bin --ovmf $TD/svsm_ovmf.fd --vars-size 540672"
  "--mode snp:ovmf-hash --ovmf $OVMF"
)
for c in "${cases[@]}"; do
  # shellcheck disable=SC2086
  [ "$("$SSM" $c)" = "$("$BIN" snp $c)" ] || { echo "outputs differ for: $c" >&2; exit 1; }
  # shellcheck disable=SC2086
  echo "-- $(uptime | sed 's/.*load/load/')"
  hyperfine -N -w 5 -r "$RUNS" --export-markdown "$W/snp.md" "$SSM $c" "$BIN snp $c" | grep -E "Time|faster"
  cat "$W/snp.md"
  # CPU time (user + system of all threads) is the steadier number when other jobs share the
  # cores; perf stat's task-clock measures it more finely than hyperfine's rusage.
  if command -v perf >/dev/null; then
    for cmd in "$SSM $c" "$BIN snp $c"; do
      # shellcheck disable=SC2086
      perf stat -r "$RUNS" -x, -e task-clock $cmd 2>&1 >/dev/null |
        awk -F, -v c="${cmd%% *}" '/task-clock/ { printf "CPU %.2f ms (+- %s)  %s\n", $1, $4, c }'
    done
  fi
done
fi

[ -n "${SNP_ONLY:-}" ] && exit 0

echo "== 2. image hashing throughput (1 GiB file, one core) =="
mkdir -p "$W/esp" "$W/img/layer0" "$W/layer"
truncate -s 160M "$W/disk.raw"
sgdisk -o -n 1:2048:+120M -t 1:ef00 -n 2:0:0 -t 2:8300 "$W/disk.raw" >/dev/null
mkfs.vfat -C "$W/esp.img" 122880 >/dev/null
mmd -i "$W/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$W/esp.img" /usr/lib/shim/shimx64.efi.signed ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$W/esp.img" /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed ::/EFI/BOOT/grubx64.efi
printf 'set timeout=0\nmenuentry L {\n linux /vmlinuz ro\n initrd /initrd.img\n}\n' >"$W/grub.cfg"
mcopy -i "$W/esp.img" "$W/grub.cfg" ::/EFI/BOOT/grub.cfg
mcopy -i "$W/esp.img" "$W/kernel" ::/vmlinuz
mcopy -i "$W/esp.img" "$W/initrd" ::/initrd.img
dd if="$W/esp.img" of="$W/disk.raw" bs=512 seek=2048 conv=notrunc status=none
printf 'entrypoint: [/app]\nenv: {A: b}\nuser: app\nbroker: {url: "https://kbs:8080"}\n' >"$W/enclave.yaml"
head -c 1073741824 /dev/urandom >"$W/layer/big.bin"
tar -C "$W/layer" -cf "$W/img/layer0/layer.tar" big.bin
rm -f "$W/layer/big.bin"
echo '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}' >"$W/img/config.json"
echo '[{"Config":"config.json","RepoTags":["big:1"],"Layers":["layer0/layer.tar"]}]' >"$W/img/manifest.json"
tar -C "$W/img" -cf "$W/image.tar" manifest.json config.json layer0/layer.tar
rm -rf "$W/img"
IMG="image --disk $W/disk.raw --image $W/image.tar --config $W/enclave.yaml -o $W/m.json --no-progress"
hyperfine -N -w 1 -r 5 --export-markdown "$W/img.md" \
  "taskset -c 0 sha256sum $W/image.tar" \
  "taskset -c 0 env RAYON_NUM_THREADS=1 $BIN $IMG" | grep -E "Time|faster"
cat "$W/img.md"
rm -f "$W/image.tar"

echo "== 3. multi-file image: 4 layers x 2000 files of 64 KiB, 1 core vs all cores =="
python3 - "$W" <<'EOF'
import io, json, os, sys, tarfile
w = sys.argv[1]
names = []
with tarfile.open(f"{w}/many.tar", "w") as out:
    for l in range(4):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            for i in range(2000):
                d = os.urandom(65536)
                ti = tarfile.TarInfo(f"l{l}/f{i}")
                ti.size = len(d)
                t.addfile(ti, io.BytesIO(d))
        b = buf.getvalue()
        ti = tarfile.TarInfo(f"layer{l}/layer.tar"); ti.size = len(b)
        out.addfile(ti, io.BytesIO(b)); names.append(ti.name)
    for n, d in [("config.json", b'{"architecture":"amd64","os":"linux","config":{}}'),
                 ("manifest.json", json.dumps([{"Config": "config.json", "Layers": names}]).encode())]:
        ti = tarfile.TarInfo(n); ti.size = len(d); out.addfile(ti, io.BytesIO(d))
EOF
MANY="image --disk $W/disk.raw --image $W/many.tar --config $W/enclave.yaml -o $W/m.json --no-progress"
hyperfine -N -w 1 -r 5 --export-markdown "$W/many.md" \
  "taskset -c 0 sha256sum $W/many.tar" \
  "taskset -c 0 env RAYON_NUM_THREADS=1 $BIN $MANY" \
  "$BIN $MANY" | grep -E "Time|faster"
cat "$W/many.md"
