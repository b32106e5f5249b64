//! Test helpers: build small disk images (GPT + FAT ESP), PE files, container images and keys
//! in memory, without external tools.
#![allow(dead_code, unreachable_pub)]

use std::io::{Cursor, Write};
use std::path::Path;

/// A minimal PE32+ image with the given sections (file alignment 0x200).
pub fn pe(sections: &[(&str, &[u8])]) -> Vec<u8> {
    let nsec = sections.len();
    let headers_end = 0x40 + 4 + 20 + 240 + 40 * nsec;
    let align = |x: usize| (x + 0x1ff) & !0x1ff;
    let size_of_headers = align(headers_end);
    let mut out = vec![0u8; size_of_headers];
    out[0..2].copy_from_slice(b"MZ");
    out[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    out[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    out[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes());
    out[coff + 2..coff + 4].copy_from_slice(&(nsec as u16).to_le_bytes());
    out[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes());
    out[coff + 18..coff + 20].copy_from_slice(&0x2022u16.to_le_bytes());
    let opt = coff + 20;
    out[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes());
    out[opt + 32..opt + 36].copy_from_slice(&0x1000u32.to_le_bytes()); // SectionAlignment
    out[opt + 36..opt + 40].copy_from_slice(&0x200u32.to_le_bytes()); // FileAlignment
    out[opt + 68..opt + 70].copy_from_slice(&10u16.to_le_bytes()); // Subsystem EFI application
    out[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes()); // NumberOfRvaAndSizes
    let mut va = 0x1000u32;
    let mut raw = size_of_headers;
    let mut bodies = Vec::new();
    for (i, (name, data)) in sections.iter().enumerate() {
        let sh = opt + 240 + 40 * i;
        let mut n = [0u8; 8];
        n[..name.len().min(8)].copy_from_slice(&name.as_bytes()[..name.len().min(8)]);
        out[sh..sh + 8].copy_from_slice(&n);
        out[sh + 8..sh + 12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        out[sh + 12..sh + 16].copy_from_slice(&va.to_le_bytes());
        let rsize = align(data.len());
        out[sh + 16..sh + 20].copy_from_slice(&(rsize as u32).to_le_bytes());
        out[sh + 20..sh + 24].copy_from_slice(&(raw as u32).to_le_bytes());
        out[sh + 36..sh + 40].copy_from_slice(&0x4000_0040u32.to_le_bytes());
        let mut body = data.to_vec();
        body.resize(rsize, 0);
        bodies.push(body);
        raw += rsize;
        va += ((data.len() as u32 + 0xfff) & !0xfff).max(0x1000);
    }
    out[opt + 56..opt + 60].copy_from_slice(&va.to_le_bytes()); // SizeOfImage
    out[opt + 60..opt + 64].copy_from_slice(&(size_of_headers as u32).to_le_bytes());
    for b in bodies {
        out.extend(b);
    }
    out
}

/// A FAT16 file system image of `size` bytes holding `files`.
pub fn fat(size: usize, files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut img = Cursor::new(vec![0u8; size]);
    fatfs::format_volume(
        &mut img,
        fatfs::FormatVolumeOptions::new()
            .volume_id(0x1234_5678)
            .volume_label(*b"ESP        "),
    )
    .unwrap();
    {
        let fs = fatfs::FileSystem::new(&mut img, fatfs::FsOptions::new()).unwrap();
        let root = fs.root_dir();
        for (path, data) in files {
            let parts: Vec<&str> = path.split('/').collect();
            let mut dir = root.clone();
            for d in &parts[..parts.len() - 1] {
                dir = match dir.open_dir(d) {
                    Ok(x) => x,
                    Err(_) => dir.create_dir(d).unwrap(),
                };
            }
            let mut f = dir.create_file(parts[parts.len() - 1]).unwrap();
            f.truncate().unwrap();
            f.write_all(data).unwrap();
        }
    }
    img.into_inner()
}

fn crc(b: &[u8]) -> u32 {
    crc32fast::hash(b)
}

/// A GPT disk (512-byte sectors) with one ESP at LBA 2048 containing `esp` (a FAT image),
/// plus one Linux data partition.
pub fn gpt_disk(esp: &[u8], disk_guid: [u8; 16]) -> Vec<u8> {
    let total_sectors: u64 = 2048 + (esp.len() as u64 / 512) + 2048 + 64;
    let mut d = vec![0u8; (total_sectors * 512) as usize];
    // protective MBR
    d[0x1BE + 4] = 0xEE;
    d[0x1BE + 8..0x1BE + 12].copy_from_slice(&1u32.to_le_bytes());
    d[0x1BE + 12..0x1BE + 16].copy_from_slice(&((total_sectors - 1) as u32).to_le_bytes());
    d[510] = 0x55;
    d[511] = 0xAA;
    let esp_first = 2048u64;
    let esp_last = esp_first + esp.len() as u64 / 512 - 1;
    let mut entries = vec![0u8; 128 * 128];
    let esp_type: [u8; 16] = [
        0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9,
        0x3b,
    ];
    let linux_type: [u8; 16] = [
        0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d,
        0xe4,
    ];
    let put = |e: &mut [u8], ty: &[u8; 16], uniq: u8, first: u64, last: u64, name: &str| {
        e[0..16].copy_from_slice(ty);
        e[16..32].copy_from_slice(&[uniq; 16]);
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&last.to_le_bytes());
        for (i, u) in name.encode_utf16().enumerate() {
            e[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
        }
    };
    put(
        &mut entries[0..128],
        &esp_type,
        0x11,
        esp_first,
        esp_last,
        "EFI System",
    );
    put(
        &mut entries[128..256],
        &linux_type,
        0x22,
        esp_last + 1,
        esp_last + 2048,
        "root",
    );
    let last_usable = total_sectors - 34;
    let mk_header = |my: u64, alt: u64, entry_lba: u64| {
        let mut h = vec![0u8; 92];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&my.to_le_bytes());
        h[32..40].copy_from_slice(&alt.to_le_bytes());
        h[40..48].copy_from_slice(&34u64.to_le_bytes());
        h[48..56].copy_from_slice(&last_usable.to_le_bytes());
        h[56..72].copy_from_slice(&disk_guid);
        h[72..80].copy_from_slice(&entry_lba.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&crc(&entries).to_le_bytes());
        let c = crc(&h);
        h[16..20].copy_from_slice(&c.to_le_bytes());
        h
    };
    let primary = mk_header(1, total_sectors - 1, 2);
    d[512..512 + 92].copy_from_slice(&primary);
    d[1024..1024 + entries.len()].copy_from_slice(&entries);
    let backup = mk_header(total_sectors - 1, 1, total_sectors - 33);
    let be = ((total_sectors - 33) * 512) as usize;
    d[be..be + entries.len()].copy_from_slice(&entries);
    let bh = ((total_sectors - 1) * 512) as usize;
    d[bh..bh + 92].copy_from_slice(&backup);
    let eo = (esp_first * 512) as usize;
    d[eo..eo + esp.len()].copy_from_slice(esp);
    d
}

/// A shim+GRUB ESP: synthetic shim (.vendor_cert) and GRUB (mods) images, grub.cfg, kernel, initrd.
pub fn shim_grub_esp(kernel: &[u8], cmdline: &str) -> Vec<u8> {
    shim_grub_esp_ordered(kernel, cmdline, false)
}

/// [`shim_grub_esp`] with the files written in reverse order when `reverse` (so their directory
/// entries and clusters sit elsewhere on the partition).
pub fn shim_grub_esp_ordered(kernel: &[u8], cmdline: &str, reverse: bool) -> Vec<u8> {
    let shim = pe(&[
        (".text", b"shim code"),
        (".vendor_cert", b"cert"),
        (".sbat", b"sbat,1\n"),
    ]);
    let grub = pe(&[(".text", b"grub code"), ("mods", b"modules")]);
    let cfg = format!("set timeout=0\nmenuentry 'Linux' {{\n  linux /vmlinuz {cmdline}\n  initrd /initrd.img\n}}\n").replace('\'', "");
    let mut files = vec![
        ("EFI/BOOT/BOOTX64.EFI", shim),
        ("EFI/BOOT/grubx64.efi", grub),
        ("EFI/BOOT/grub.cfg", cfg.into_bytes()),
        ("vmlinuz", kernel.to_vec()),
        ("initrd.img", b"initrd contents".to_vec()),
    ];
    if reverse {
        files.reverse();
        // Unrelated files first, so every measured file moves.
        files.insert(0, ("EFI/other/readme.txt", vec![b'x'; 70_000]));
    }
    fat(4 << 20, &files)
}

/// One layer of many small files (batch-hashed in parallel) plus one larger-than-1-MiB file
/// (streamed); `flip` changes one byte of file number `flip`.
pub fn many_files_layer(n: usize, flip: Option<usize>) -> Vec<LayerFile> {
    let mut out: Vec<LayerFile> = vec![("data", None, 0o755)];
    for i in 0..n {
        let mut d: Vec<u8> = (0..4096 + (i * 131) % 8192)
            .map(|j| (i * 7 + j) as u8)
            .collect();
        if flip == Some(i) {
            let mid = d.len() / 2;
            d[mid] ^= 1;
        }
        let name: &'static str = Box::leak(format!("data/f{i:05}").into_boxed_str());
        out.push((name, Some(d), 0o644));
    }
    out
}

/// A UKI ESP.
pub fn uki_esp(cmdline: &str) -> Vec<u8> {
    let linux = pe(&[(".text", b"kernel")]);
    let uki = pe(&[
        (".text", b"stub"),
        (".osrel", b"ID=test\n"),
        (".cmdline", cmdline.as_bytes()),
        (".initrd", b"initrd"),
        (".linux", &linux),
    ]);
    fat(4 << 20, &[("EFI/BOOT/BOOTX64.EFI", uki)])
}

/// One file of a layer: path, content (None = directory), mode.
pub type LayerFile = (&'static str, Option<Vec<u8>>, u32);

/// An uncompressed layer tar; `reverse` writes the members in reverse order.
pub fn layer_tar(files: &[LayerFile], reverse: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut list: Vec<&LayerFile> = files.iter().collect();
    if reverse {
        list.reverse();
    }
    for (path, data, mode) in list {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(if reverse { 1 } else { 1_700_000_000 });
        match data {
            Some(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                let n = path.as_bytes();
                h.as_gnu_mut().unwrap().name[..n.len()].copy_from_slice(n);
                h.set_cksum();
                b.append(&h, d.as_slice()).unwrap();
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_cksum();
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

const CONFIG: &[u8] = br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/app"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;

fn sha_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// A `docker save` tarball of the given layers; `reverse` reverses member order everywhere.
pub fn docker_save(layers: &[Vec<LayerFile>], reverse: bool) -> Vec<u8> {
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let t = layer_tar(l, reverse);
        let n = format!("layer{i}/layer.tar");
        names.push(n.clone());
        members.push((n, t));
    }
    members.push((format!("{}.json", sha_hex(CONFIG)), CONFIG.to_vec()));
    let manifest = serde_json::json!([{"Config": format!("{}.json", sha_hex(CONFIG)), "RepoTags": ["test:latest"], "Layers": names}]);
    members.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    if reverse {
        members.reverse();
    }
    let mut b = tar::Builder::new(Vec::new());
    for (n, d) in members {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(d.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, n, d.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// Writes an OCI image layout directory of the same image (gzip-compressed layers).
pub fn oci_layout(dir: &Path, layers: &[Vec<LayerFile>]) {
    use flate2::write::GzEncoder;
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let h = sha_hex(b);
        std::fs::write(blobs.join(&h), b).unwrap();
        (format!("sha256:{h}"), b.len())
    };
    let mut descs = Vec::new();
    for l in layers {
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&layer_tar(l, false)).unwrap();
        let (d, n) = put(&gz.finish().unwrap());
        descs.push(serde_json::json!({"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":d,"size":n}));
    }
    let (cd, cn) = put(CONFIG);
    let m = serde_json::json!({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":cd,"size":cn},"layers":descs});
    let (md, mn) = put(&serde_json::to_vec(&m).unwrap());
    let idx = serde_json::json!({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":md,"size":mn}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// The standard test image: two layers, the second overwriting and whiting out files.
pub fn layers(app: &[u8]) -> Vec<Vec<LayerFile>> {
    vec![
        vec![
            ("bin", None, 0o755),
            ("bin/sh", Some(b"#!shell".to_vec()), 0o755),
            (
                "etc/passwd",
                Some(b"root:x:0:0::/root:/bin/sh\n".to_vec()),
                0o644,
            ),
            ("tmp/junk", Some(b"junk".to_vec()), 0o644),
            ("big.bin", Some(vec![7u8; 3 << 20]), 0o644),
        ],
        vec![
            ("app", Some(app.to_vec()), 0o755),
            ("tmp/.wh.junk", Some(Vec::new()), 0o644),
            (
                "etc/passwd",
                Some(b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/app\n".to_vec()),
                0o644,
            ),
        ],
    ]
}

/// The standard enclave configuration.
pub const ENCLAVE_YAML: &str = "entrypoint: [/app, --serve]\nenv:\n  MODE: prod\n  PORT: 8443\nworkdir: /\nuser: app\nbroker:\n  url: https://kbs.example:8080\n  settings:\n    retries: 3\n";

/// Ed25519 PKCS#8 PEM private key from a seed.
pub fn ed25519_pem(seed: u8) -> (String, String) {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let k = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let sk = k.to_pkcs8_pem(Default::default()).unwrap().to_string();
    let pk = k
        .verifying_key()
        .to_public_key_pem(Default::default())
        .unwrap();
    (sk, pk)
}

/// P-384 PKCS#8 PEM private key from a scalar byte.
pub fn p384_pem(seed: u8) -> (String, String) {
    use p384::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let k = p384::ecdsa::SigningKey::from_bytes(&[seed; 48].into()).unwrap();
    let sk = k.to_pkcs8_pem(Default::default()).unwrap().to_string();
    let pk = k
        .verifying_key()
        .to_public_key_pem(Default::default())
        .unwrap();
    (sk, pk)
}
