//! PCR prediction (`remits_measure::predict`): container-image hashing throughput (one large
//! file, streamed; many small files, hashed in parallel batches across several layers), the
//! Authenticode digest of Debian's signed shim and GRUB, the GPT event of a disk built by
//! `sgdisk`, the enclave-configuration events, the ENCLAVE ID and manifest signing.
//!
//! Run: `cargo bench -p remits-benches --bench measure_image`; `RAYON_NUM_THREADS=1` pins the
//! hashing to one core (compare the multi-file case with and without it to see the scaling).
//! The images are written to a temporary directory and removed at the end.
#![allow(missing_docs)]
// criterion_group! generates undocumented functions
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use remits_measure::predict::config::EnclaveConfig;
use remits_measure::predict::disk::Disk;
use remits_measure::predict::enclave_id::enclave_id_v1;
use remits_measure::predict::gpt::Gpt;
use remits_measure::predict::image::{measure_image, ImageOptions};
use remits_measure::predict::pe;
use remits_measure::predict::signing::SigningKey;

/// One regular file of a layer: path, size, content seed.
struct FileSpec {
    path: String,
    size: u64,
    seed: u8,
}

fn pad512(n: u64) -> u64 {
    n.div_ceil(512) * 512
}

/// A ustar header for a regular file or directory.
fn header(name: &str, size: u64, dir: bool) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.as_bytes();
    assert!(n.len() < 100, "{name}: name too long for this writer");
    h[..n.len()].copy_from_slice(n);
    let octal = |h: &mut [u8; 512], off: usize, len: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = len - 1);
        h[off..off + len].copy_from_slice(s.as_bytes());
    };
    octal(&mut h, 100, 8, if dir { 0o755 } else { 0o644 });
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    octal(&mut h, 124, 12, size);
    octal(&mut h, 136, 12, 1_700_000_000);
    h[156] = if dir { b'5' } else { b'0' };
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

fn layer_size(files: &[FileSpec]) -> u64 {
    512 + files.iter().map(|f| 512 + pad512(f.size)).sum::<u64>() + 1024
}

/// Streams a layer tar (a directory, then the files) into `w`.
fn write_layer(w: &mut impl Write, files: &[FileSpec]) -> std::io::Result<()> {
    w.write_all(&header("data/", 0, true))?;
    let mut chunk = vec![0u8; 1 << 20];
    for f in files {
        w.write_all(&header(&f.path, f.size, false))?;
        let mut left = f.size;
        let mut off = 0u64;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = f.seed ^ ((off as usize + i) as u8).wrapping_mul(13) ^ ((off >> 20) as u8);
            }
            w.write_all(&chunk[..n])?;
            left -= n as u64;
            off += n as u64;
        }
        w.write_all(&vec![0u8; (pad512(f.size) - f.size) as usize])?;
    }
    w.write_all(&[0u8; 1024])
}

/// Writes a `docker save` tarball with the given layers.
fn docker_save(path: &Path, layers: &[Vec<FileSpec>]) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(4 << 20, File::create(path)?);
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let name = format!("layer{i}/layer.tar");
        let size = layer_size(l);
        w.write_all(&header(&name, size, false))?;
        write_layer(&mut w, l)?;
        w.write_all(&vec![0u8; (pad512(size) - size) as usize])?;
        names.push(serde_json::Value::from(name));
    }
    let config = br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/app"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": "config.json", "RepoTags": ["bench:latest"], "Layers": names}
    ]))?;
    for (name, data) in [
        ("config.json", &config[..]),
        ("manifest.json", &manifest[..]),
    ] {
        w.write_all(&header(name, data.len() as u64, false))?;
        w.write_all(data)?;
        w.write_all(&vec![
            0u8;
            (pad512(data.len() as u64) - data.len() as u64)
                as usize
        ])?;
    }
    w.write_all(&[0u8; 1024])?;
    w.flush()
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn image_hashing(c: &mut Criterion) {
    let dir =
        Scratch(std::env::temp_dir().join(format!("remits-bench-image-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("scratch dir");
    let opts = ImageOptions::default();

    // One 256 MiB file: the streaming path (compare with `sha256sum`, docs/measure.md).
    let big = dir.0.join("big.tar");
    let size = 256u64 << 20;
    docker_save(
        &big,
        &[vec![FileSpec {
            path: "data/big.bin".into(),
            size,
            seed: 1,
        }]],
    )
    .expect("write image");
    // 24 000 files of 4-12 KiB in 4 layers: the parallel small-file path.
    let many = dir.0.join("many.tar");
    let layers: Vec<Vec<FileSpec>> = (0..4)
        .map(|l| {
            (0..6000)
                .map(|i| FileSpec {
                    path: format!("data/l{l}/f{i:05}"),
                    size: 4096 + (i as u64 * 37 % 8192),
                    seed: (l * 7 + i) as u8,
                })
                .collect()
        })
        .collect();
    let many_bytes: u64 = layers.iter().flatten().map(|f| f.size).sum();
    docker_save(&many, &layers).expect("write image");

    let mut g = c.benchmark_group("image");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(size));
    g.bench_function("one_256MiB_file", |b| {
        b.iter(|| measure_image(&big, &opts).expect("measure"))
    });
    g.throughput(Throughput::Bytes(many_bytes));
    g.bench_function("24000_small_files_4_layers", |b| {
        b.iter(|| measure_image(&many, &opts).expect("measure"))
    });
    g.finish();
}

fn boot_and_manifest(c: &mut Criterion) {
    let mut g = c.benchmark_group("predict");
    // Authenticode over Debian's signed shim and GRUB (when installed).
    for (name, path) in [
        ("authenticode_shimx64", "/usr/lib/shim/shimx64.efi.signed"),
        (
            "authenticode_grubx64",
            "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
        ),
    ] {
        if let Ok(data) = std::fs::read(path) {
            g.throughput(Throughput::Bytes(data.len() as u64));
            g.bench_function(name, |b| b.iter(|| pe::parse(name, &data).expect("PE")));
        }
    }
    // The GPT event of a disk partitioned by sgdisk (when installed).
    let dir =
        Scratch(std::env::temp_dir().join(format!("remits-bench-gpt-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("scratch dir");
    let disk = dir.0.join("disk.raw");
    File::create(&disk)
        .and_then(|f| f.set_len(64 << 20))
        .expect("disk");
    let partitioned = Command::new("sgdisk")
        .args([
            "-o",
            "-n",
            "1:2048:+32M",
            "-t",
            "1:ef00",
            "-n",
            "2:0:0",
            "-t",
            "2:8300",
        ])
        .arg(&disk)
        .output()
        .is_ok_and(|o| o.status.success());
    g.throughput(Throughput::Elements(1));
    if partitioned {
        g.bench_function("gpt_read_and_event", |b| {
            b.iter(|| {
                let d = Disk::open(&disk).expect("disk");
                Gpt::read(&d).expect("gpt").event()
            })
        });
    }
    let yaml = b"entrypoint: [/app, --serve]\nenv:\n  MODE: prod\n  PORT: 8443\nworkdir: /\nuser: app\nbroker:\n  url: https://kbs.example:8080\n  settings: {retries: 3}\n";
    g.bench_function("enclave_config_events", |b| {
        b.iter(|| {
            EnclaveConfig::from_yaml(yaml)
                .expect("yaml")
                .events()
                .expect("events")
        })
    });
    let pcrs: BTreeMap<u32, [u8; 32]> =
        [4, 5, 9, 15].iter().map(|i| (*i, [*i as u8; 32])).collect();
    g.bench_function("enclave_id_v1", |b| {
        b.iter(|| enclave_id_v1(&pcrs).expect("id"))
    });
    let key = SigningKey::from_pem(&ed25519_pem([7; 32])).expect("key");
    let payload = vec![0x5a_u8; 16 << 10];
    g.bench_function("sign_ed25519_16KiB", |b| b.iter(|| key.sign(&payload)));
    g.finish();
}

/// A PKCS#8 PEM Ed25519 private key for `seed` (fixed DER prefix, RFC 8410).
fn ed25519_pem(seed: [u8; 32]) -> String {
    let mut der = hex::decode("302e020100300506032b657004220420").expect("hex");
    der.extend_from_slice(&seed);
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for c in der.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= c.len() {
                b64.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
}

criterion_group!(benches, image_hashing, boot_and_manifest);
criterion_main!(benches);
