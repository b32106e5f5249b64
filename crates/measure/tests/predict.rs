//! End-to-end PCR prediction: determinism, sensitivity, signing, tamper detection.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod predict_util;

use std::path::{Path, PathBuf};

use predict_util::*;
use remits_measure::predict::image::ImageOptions;
use remits_measure::predict::manifest::{self, Inputs, Manifest};
use remits_measure::predict::signing::{PublicKey, SigningKey};
use remits_measure::predict::{events, predict_disk, Error};

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    }
    fn measure(&self, disk: &Path, image: &Path, yaml: &str, key: Option<&SigningKey>) -> Manifest {
        let cfg = self.write(&format!("cfg-{}.yaml", rand_name(yaml)), yaml.as_bytes());
        manifest::measure(
            &Inputs {
                disk,
                image,
                config: &cfg,
                image_options: ImageOptions::default(),
            },
            key,
        )
        .unwrap()
    }
}

fn rand_name(s: &str) -> String {
    hex::encode(&events::sha256(s.as_bytes())[..6])
}

fn std_inputs(c: &Case) -> (PathBuf, PathBuf) {
    let disk = c.write(
        "disk.raw",
        &gpt_disk(
            &shim_grub_esp(b"kernel image", "console=ttyS0 ro"),
            [0xAB; 16],
        ),
    );
    let image = c.write("image.tar", &docker_save(&layers(b"app v1"), false));
    (disk, image)
}

#[test]
fn same_inputs_give_the_same_bytes_whatever_the_member_order() {
    let c = Case::new();
    let (disk, image) = std_inputs(&c);
    let a = c.measure(&disk, &image, ENCLAVE_YAML, None);
    let b = c.measure(&disk, &image, ENCLAVE_YAML, None);
    assert_eq!(a.to_json().unwrap(), b.to_json().unwrap());
    // Archive members and layer members in reverse order, different mtimes.
    let rev = c.write("image-rev.tar", &docker_save(&layers(b"app v1"), true));
    let r = c.measure(&disk, &rev, ENCLAVE_YAML, None);
    assert_eq!(a.to_json().unwrap(), r.to_json().unwrap());
    // The same image as an OCI layout directory with gzip layers.
    let oci = c.dir.path().join("oci");
    oci_layout(&oci, &layers(b"app v1"));
    let o = c.measure(&disk, &oci, ENCLAVE_YAML, None);
    assert_eq!(a.to_json().unwrap(), o.to_json().unwrap());
    // Reordered YAML keys give the same manifest.
    let yaml2 = "broker: {settings: {retries: 3}, url: 'https://kbs.example:8080'}\nuser: app\nworkdir: /\nenv: {PORT: '8443', MODE: prod}\nentrypoint: [/app, --serve]\n";
    let y = c.measure(&disk, &image, yaml2, None);
    assert_eq!(a.to_json().unwrap(), y.to_json().unwrap());
    // The manifest reparses and is self-consistent.
    assert_eq!(Manifest::from_json(&a.to_json().unwrap()).unwrap(), a);
    assert_eq!(a.boot_chain, "shim+grub");
    for i in [4, 5, 9, 11, 15, 16] {
        assert!(a.pcrs.contains_key(&i), "PCR{i}");
    }
}

#[test]
fn app_changes_move_pcr15_and_enclave_id_only() {
    let c = Case::new();
    let (disk, image) = std_inputs(&c);
    let base = c.measure(&disk, &image, ENCLAVE_YAML, None);
    let one_byte = c.write("image-b.tar", &docker_save(&layers(b"app v2"), false));
    let variants = [
        c.measure(&disk, &one_byte, ENCLAVE_YAML, None),
        c.measure(
            &disk,
            &image,
            &ENCLAVE_YAML.replace("MODE: prod", "MODE: dev"),
            None,
        ),
        c.measure(
            &disk,
            &image,
            &ENCLAVE_YAML.replace("user: app", "user: root"),
            None,
        ),
        c.measure(
            &disk,
            &image,
            &ENCLAVE_YAML.replace("--serve", "--debug"),
            None,
        ),
        c.measure(
            &disk,
            &image,
            &ENCLAVE_YAML.replace("kbs.example", "kbs2.example"),
            None,
        ),
        c.measure(
            &disk,
            &image,
            &format!("{ENCLAVE_YAML}extra_key: 1\n"),
            None,
        ),
    ];
    for (i, v) in variants.iter().enumerate() {
        assert_ne!(v.pcrs[&15], base.pcrs[&15], "variant {i}");
        assert_ne!(v.enclave_id, base.enclave_id, "variant {i}");
        for p in [4, 5, 9, 11, 16] {
            assert_eq!(v.pcrs[&p], base.pcrs[&p], "variant {i} PCR{p}");
        }
    }
    // A whited-out file is really gone: an image built without it measures the same.
    let mut l = layers(b"app v1");
    l[0].retain(|f| f.0 != "tmp/junk");
    l[1].retain(|f| f.0 != "tmp/.wh.junk");
    let without = c.write("image-w.tar", &docker_save(&l, false));
    assert_eq!(
        c.measure(&disk, &without, ENCLAVE_YAML, None).pcrs[&15],
        base.pcrs[&15]
    );
}

#[test]
fn boot_changes_move_their_pcrs() {
    let c = Case::new();
    let (disk, image) = std_inputs(&c);
    let base = c.measure(&disk, &image, ENCLAVE_YAML, None);
    let k2 = c.write(
        "disk-k.raw",
        &gpt_disk(
            &shim_grub_esp(b"kernel imagf", "console=ttyS0 ro"),
            [0xAB; 16],
        ),
    );
    let m = c.measure(&k2, &image, ENCLAVE_YAML, None);
    assert_ne!(m.pcrs[&9], base.pcrs[&9]);
    assert_eq!(m.pcrs[&4], base.pcrs[&4]);
    assert_eq!(m.pcrs[&5], base.pcrs[&5]);
    assert_ne!(m.enclave_id, base.enclave_id);
    let g2 = c.write(
        "disk-g.raw",
        &gpt_disk(
            &shim_grub_esp(b"kernel image", "console=ttyS0 ro"),
            [0xAC; 16],
        ),
    );
    let m = c.measure(&g2, &image, ENCLAVE_YAML, None);
    assert_ne!(m.pcrs[&5], base.pcrs[&5]);
    assert_eq!(m.pcrs[&9], base.pcrs[&9]);
    // UKI chain: PCR11 gets the sections, PCR4 the UKI and its .linux.
    let u = c.write(
        "disk-u.raw",
        &gpt_disk(&uki_esp("console=ttyS0"), [0xAB; 16]),
    );
    let m = c.measure(&u, &image, ENCLAVE_YAML, None);
    assert_eq!(m.boot_chain, "uki");
    assert_eq!(m.events[&4].len(), 4);
    assert_eq!(m.events[&11].len(), 8); // .linux .osrel .cmdline .initrd
    assert_eq!(m.events[&9].len(), 2);
}

#[test]
fn fixed_vhd_equals_raw_and_other_formats_are_refused() {
    let c = Case::new();
    let raw = gpt_disk(&shim_grub_esp(b"k", "ro"), [1; 16]);
    let mut footer = vec![0u8; 512];
    footer[0..8].copy_from_slice(b"conectix");
    footer[48..56].copy_from_slice(&(raw.len() as u64).to_be_bytes());
    footer[60..64].copy_from_slice(&2u32.to_be_bytes());
    let sum: u32 = footer.iter().map(|b| u32::from(*b)).sum();
    footer[64..68].copy_from_slice(&(!sum).to_be_bytes());
    let mut vhd = raw.clone();
    vhd.extend(&footer);
    let a = predict_disk(&c.write("d.raw", &raw)).unwrap();
    let b = predict_disk(&c.write("d.vhd", &vhd)).unwrap();
    assert_eq!(a.pcr5, b.pcr5);
    assert_eq!(a.pcr4, b.pcr4);
    let mut q = b"QFI\xfb".to_vec();
    q.resize(1 << 16, 0);
    let e = predict_disk(&c.write("d.qcow2", &q)).unwrap_err();
    assert!(
        matches!(e, Error::UnsupportedDiskFormat { .. })
            && e.to_string().contains("qemu-img convert"),
        "{e}"
    );
    // A corrupted GPT entry array is refused (CRC).
    let mut bad = raw.clone();
    bad[1024 + 60] ^= 1;
    let e = predict_disk(&c.write("bad.raw", &bad)).unwrap_err();
    assert!(e.to_string().contains("PartitionEntryArrayCRC32"), "{e}");
}

#[test]
fn signing_key_changes_pcr16_only_and_verify_checks_everything() {
    let c = Case::new();
    let (disk, image) = std_inputs(&c);
    let (sk1, pk1) = ed25519_pem(1);
    let (sk2, pk2) = p384_pem(2);
    let k1 = SigningKey::from_pem(&sk1).unwrap();
    let k2 = SigningKey::from_pem(&sk2).unwrap();
    let m1 = c.measure(&disk, &image, ENCLAVE_YAML, Some(&k1));
    let m2 = c.measure(&disk, &image, ENCLAVE_YAML, Some(&k2));
    assert_ne!(m1.pcrs[&16], m2.pcrs[&16]);
    assert_eq!(m1.enclave_id, m2.enclave_id);
    for p in [4, 5, 9, 11, 15] {
        assert_eq!(m1.pcrs[&p], m2.pcrs[&p]);
    }
    // Deterministic signatures: the signed manifest is reproducible.
    assert_eq!(
        m1.to_json().unwrap(),
        c.measure(&disk, &image, ENCLAVE_YAML, Some(&k1))
            .to_json()
            .unwrap()
    );
    let j1 = m1.to_json().unwrap();
    let j2 = m2.to_json().unwrap();
    let p1 = PublicKey::from_pem(&pk1).unwrap();
    let p2 = PublicKey::from_pem(&pk2).unwrap();
    manifest::verify_signed(&j1, &p1).unwrap();
    manifest::verify_signed(&j2, &p2).unwrap();
    assert!(manifest::verify_signed(&j1, &p2).is_err());
    // Tampering: a PCR value, an event digest (with the PCR recomputed), the enclave id.
    let s = String::from_utf8(j1.clone()).unwrap();
    let pcr15 = hex::encode(m1.pcrs[&15].0);
    let t1 = s.replacen(&pcr15, &"0".repeat(64), 1);
    assert!(manifest::verify_signed(t1.as_bytes(), &p1).is_err());
    let mut m = m1.clone();
    m.events.get_mut(&15).unwrap()[1].digest[0] ^= 1;
    let replayed = events::replay(15, &m.events[&15]);
    m.pcrs.insert(15, manifest::Hex32(replayed));
    let pcrs = m.pcrs.iter().map(|(k, v)| (*k, v.0)).collect();
    m.enclave_id =
        manifest::Hex32(remits_measure::predict::enclave_id::enclave_id_v1(&pcrs).unwrap());
    let e: Error = manifest::verify_signed(&m.to_json().unwrap(), &p1)
        .unwrap_err()
        .into();
    assert!(
        matches!(e, Error::Manifest(remits_manifest::Error::Signature(_))),
        "{e}"
    );
    assert!(e.is_rejection());
    // Unsigned manifests are refused by verify.
    let u = c.measure(&disk, &image, ENCLAVE_YAML, None);
    assert!(manifest::verify_signed(&u.to_json().unwrap(), &p1).is_err());
    // extend_plan = PCR15 events then PCR16; replaying it gives the manifest's PCR15/16.
    let plan = m1.extend_plan();
    assert_eq!(plan.last().unwrap().0, 16);
    let mut p15 = [0u8; 32];
    let mut p16 = [0u8; 32];
    for (i, d) in &plan {
        let t = if *i == 15 { &mut p15 } else { &mut p16 };
        *t = events::extend(t, d);
    }
    assert_eq!(p15, m1.pcrs[&15].0);
    assert_eq!(p16, m1.pcrs[&16].0);
}

#[test]
fn malformed_images_are_rejected() {
    let c = Case::new();
    let (disk, _) = std_inputs(&c);
    let cfg = c.write("c.yaml", ENCLAVE_YAML.as_bytes());
    let cases: Vec<Vec<u8>> = vec![
        b"not a tar".to_vec(),
        layer_tar(&[("x", Some(b"1".to_vec()), 0o644)], false), // no manifest.json/index.json
        docker_save(&[vec![("../escape", Some(b"1".to_vec()), 0o644)]], false),
    ];
    for (i, t) in cases.iter().enumerate() {
        let p = c.write(&format!("bad{i}.tar"), t);
        let r = manifest::measure(
            &Inputs {
                disk: &disk,
                image: &p,
                config: &cfg,
                image_options: ImageOptions::default(),
            },
            None,
        );
        assert!(r.is_err(), "case {i}");
    }
}

#[test]
fn file_order_on_the_esp_does_not_matter() {
    let c = Case::new();
    let image = c.write("image.tar", &docker_save(&layers(b"app v1"), false));
    let a = c.write(
        "a.raw",
        &gpt_disk(
            &shim_grub_esp_ordered(b"kernel image", "ro", false),
            [5; 16],
        ),
    );
    let b = c.write(
        "b.raw",
        &gpt_disk(&shim_grub_esp_ordered(b"kernel image", "ro", true), [5; 16]),
    );
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let ma = c.measure(&a, &image, ENCLAVE_YAML, None);
    let mb = c.measure(&b, &image, ENCLAVE_YAML, None);
    assert_eq!(ma.to_json().unwrap(), mb.to_json().unwrap());
}

#[test]
fn many_files_in_parallel_are_order_independent_and_one_byte_counts() {
    // 3 layers x 1500 files of 4-12 KiB: several 8 MiB batches hashed in parallel per layer,
    // layers read concurrently, plus the 3 MiB streamed file of the standard image.
    let c = Case::new();
    let (disk, _) = std_inputs(&c);
    let build = |flip: Option<usize>, reverse: bool| {
        let mut l = layers(b"app v1");
        for k in 0..3 {
            l.push(many_files_layer(1500, if k == 1 { flip } else { None }));
        }
        // Distinct paths per layer: rename the directory.
        for (k, layer) in l.iter_mut().skip(2).enumerate() {
            for f in layer.iter_mut() {
                f.0 = Box::leak(
                    f.0.replacen("data", &format!("data{k}"), 1)
                        .into_boxed_str(),
                );
            }
        }
        docker_save(&l, reverse)
    };
    let fwd = c.write("many-fwd.tar", &build(None, false));
    let rev = c.write("many-rev.tar", &build(None, true));
    let base = c.measure(&disk, &fwd, ENCLAVE_YAML, None);
    for _ in 0..3 {
        assert_eq!(
            c.measure(&disk, &fwd, ENCLAVE_YAML, None)
                .to_json()
                .unwrap(),
            base.to_json().unwrap()
        );
    }
    assert_eq!(
        c.measure(&disk, &rev, ENCLAVE_YAML, None)
            .to_json()
            .unwrap(),
        base.to_json().unwrap()
    );
    // One byte of one small file deep inside the middle layer.
    let flipped = c.write("many-flip.tar", &build(Some(777), false));
    let f = c.measure(&disk, &flipped, ENCLAVE_YAML, None);
    assert_ne!(f.pcrs[&15], base.pcrs[&15]);
    assert_ne!(f.enclave_id, base.enclave_id);
    // One byte of the large streamed file.
    let mut l = layers(b"app v1");
    if let Some(big) = l[0].iter_mut().find(|f| f.0 == "big.bin") {
        big.1.as_mut().unwrap()[2 << 20] ^= 0x80;
    }
    let big = c.write("big-flip.tar", &docker_save(&l, false));
    let plain = c.measure(
        &disk,
        &c.write("plain.tar", &docker_save(&layers(b"app v1"), false)),
        ENCLAVE_YAML,
        None,
    );
    let b = c.measure(&disk, &big, ENCLAVE_YAML, None);
    assert_ne!(b.pcrs[&15], plain.pcrs[&15]);
    assert_ne!(b.enclave_id, plain.enclave_id);
    for p in [4, 5, 9, 11, 16] {
        assert_eq!(b.pcrs[&p], plain.pcrs[&p]);
        assert_eq!(f.pcrs[&p], base.pcrs[&p]);
    }
}

#[test]
fn another_key_of_the_same_algorithm_changes_pcr16_only() {
    let c = Case::new();
    let (disk, image) = std_inputs(&c);
    let unsigned = c.measure(&disk, &image, ENCLAVE_YAML, None);
    let mut seen16 = vec![unsigned.pcrs[&16]];
    for (sk, _) in [ed25519_pem(1), ed25519_pem(2), p384_pem(3), p384_pem(4)] {
        let k = SigningKey::from_pem(&sk).unwrap();
        let m = c.measure(&disk, &image, ENCLAVE_YAML, Some(&k));
        assert_eq!(m.enclave_id, unsigned.enclave_id);
        for p in [4, 5, 9, 11, 15] {
            assert_eq!(m.pcrs[&p], unsigned.pcrs[&p], "PCR{p}");
            assert_eq!(m.events[&p], unsigned.events[&p], "events of PCR{p}");
        }
        assert!(!seen16.contains(&m.pcrs[&16]), "PCR16 repeats");
        seen16.push(m.pcrs[&16]);
    }
}

#[test]
fn encrypted_layers_are_refused_not_measured_as_ciphertext() {
    // PCR15 is defined over the plain layers: an ocicrypt-encrypted layer (`+encrypted` media
    // type) is refused with a pointer to docs/images.md, never hashed as ciphertext.
    let c = Case::new();
    let oci = c.dir.path().join("oci");
    oci_layout(&oci, &layers(b"app v1"));
    let plain =
        remits_measure::predict::image::measure_image(&oci, &ImageOptions::default()).unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(oci.join("index.json")).unwrap()).unwrap();
    let md = index["manifests"][0]["digest"].as_str().unwrap();
    let blobs = oci.join("blobs/sha256");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blobs.join(&md[7..])).unwrap()).unwrap();
    m["layers"][1]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted".into();
    let mb = serde_json::to_vec(&m).unwrap();
    let h = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&mb));
    std::fs::write(blobs.join(&h), &mb).unwrap();
    let idx = serde_json::json!({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":format!("sha256:{h}"),"size":mb.len()}]});
    std::fs::write(oci.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    let err = remits_measure::predict::image::measure_image(&oci, &ImageOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("encrypted") && err.contains("images.md"),
        "{err}"
    );
    assert_eq!(plain.layers, 2);
}
