//! Firmware streamed from a file ([`ImageFile`]: only the tail held, pages read through small
//! buffers, large images hashed on two threads) gives exactly what the in-memory path gives:
//! every sev-snp-measure vector, Debian's OVMF builds in every mode, an image whose metadata
//! lies before the tail that is read first; and broken or changing files give typed errors.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

use remits_measure::launch::guid::{self, Guid};
use remits_measure::launch::ovmf::PAGE_SIZE;
use remits_measure::launch::{
    launch_digest, normal_page_digests, snp_ovmf_hash, Error, ImageFile, ImageSource, LaunchInputs,
    Measurement, Mode, SevHashes, VmmType,
};
use serde_json::Value;

fn measure_dir() -> Option<PathBuf> {
    remits_testsupport::testdata::dir().map(|d| d.join("measure"))
}

/// Digest of one vector of `sev-snp-measure-vectors.json` with the firmware given by `src`
/// (called with the file's path and its bytes).
fn vector_digest(dir: &Path, v: &Value, streamed: bool) -> Result<Measurement, Error> {
    let ovmf_path = dir.join(v["ovmf"].as_str().unwrap());
    let svsm_path = v["svsm"].as_str().map(|s| dir.join(s));
    let ovmf_bytes = std::fs::read(&ovmf_path).unwrap();
    let svsm_bytes = svsm_path.as_ref().map(|p| std::fs::read(p).unwrap());
    let ovmf_file = ImageFile::open(&ovmf_path, "OVMF")?;
    let svsm_file = match &svsm_path {
        Some(p) => Some(ImageFile::open(p, "SVSM")?),
        None => None,
    };
    let (ovmf, svsm): (ImageSource<'_>, Option<ImageSource<'_>>) = if streamed {
        ((&ovmf_file).into(), svsm_file.as_ref().map(Into::into))
    } else {
        ((&ovmf_bytes).into(), svsm_bytes.as_ref().map(Into::into))
    };
    let mode = v["mode"].as_str().unwrap();
    if mode == "snp:ovmf-hash" {
        return snp_ovmf_hash(ovmf).map(Measurement::Sha384);
    }
    let mut i = LaunchInputs::new(mode.parse::<Mode>().unwrap(), ovmf);
    i.vcpus = v["vcpus"].as_u64().map(|n| n as u32).unwrap_or(1);
    i.vcpu_sig = v["vcpu_sig"]
        .as_str()
        .map(|s| u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap());
    i.guest_features = v["guest_features"]
        .as_str()
        .map(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap())
        .unwrap_or(1);
    i.vmm = v["vmm_type"].as_str().unwrap().parse::<VmmType>().unwrap();
    let file = |k: &str| match v[k].as_str() {
        None => None,
        Some("/dev/null") => Some(Vec::new()),
        Some(n) => Some(std::fs::read(dir.join(n)).unwrap()),
    };
    if let Some(kernel) = file("kernel") {
        let initrd = file("initrd");
        i.kernel_hashes = Some(SevHashes::new(
            &kernel,
            initrd.as_deref(),
            v["append"].as_str(),
        ));
    }
    i.ovmf_hash = v["snp_ovmf_hash"]
        .as_str()
        .map(|h| hex::decode(h).unwrap().try_into().unwrap());
    i.svsm = svsm;
    i.ovmf_vars_size = v["ovmf_vars_size"].as_u64().unwrap_or(0);
    launch_digest(&i)
}

#[test]
fn streamed_vectors_equal_in_memory_and_expected() {
    let Some(dir) = measure_dir() else { return };
    let vectors: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("sev-snp-measure-vectors.json")).unwrap())
            .unwrap();
    assert_eq!(vectors.len(), 27);
    for v in &vectors {
        let name = v["test"].as_str().unwrap();
        let streamed = vector_digest(&dir, v, true);
        let memory = vector_digest(&dir, v, false);
        match (v["expected"].as_str(), streamed, memory) {
            (Some(expected), Ok(s), Ok(m)) => {
                assert_eq!(s.to_string(), expected, "{name}");
                assert_eq!(s, m, "{name}");
            }
            (None, Err(s), Err(m)) => {
                let expected = v["expected_error"].as_str().unwrap();
                assert_eq!(s.to_string(), expected, "{name}");
                assert_eq!(m.to_string(), expected, "{name}");
            }
            (_, s, m) => panic!("{name}: streamed {s:?}, in memory {m:?}"),
        }
    }
}

/// Debian's OVMF builds (3.5 MiB: hashed on two threads when the machine has two CPUs) give
/// the same digest streamed and in memory in every mode, and the page digests equal the
/// `sha2` crate's, page by page.
#[test]
fn debian_ovmf_streamed_equals_in_memory() {
    let mut seen = 0;
    for path in [
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
        "/usr/share/OVMF/OVMF.amdsev.fd",
    ] {
        let path = Path::new(path);
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        seen += 1;
        let file = ImageFile::open(path, "OVMF").unwrap();
        assert_eq!(file.len(), bytes.len() as u64);
        let expected: Vec<[u8; 48]> = bytes
            .chunks(PAGE_SIZE)
            .map(|p| <sha2::Sha384 as sha2::Digest>::digest(p).into())
            .collect();
        assert_eq!(normal_page_digests(&bytes), expected);
        assert_eq!(
            snp_ovmf_hash(&file).unwrap(),
            snp_ovmf_hash(&bytes).unwrap()
        );
        for mode in [Mode::Snp, Mode::SevEs, Mode::Sev] {
            for vcpus in [1, 4] {
                let mut f = LaunchInputs::new(mode, &file);
                f.vcpus = vcpus;
                f.vcpu_sig = Some(0x00a0_0f11);
                let mut m = f.clone();
                m.ovmf = (&bytes).into();
                let (fd, md) = (launch_digest(&f), launch_digest(&m));
                assert_eq!(
                    format!("{fd:?}"),
                    format!("{md:?}"),
                    "{} {mode:?} {vcpus}",
                    path.display()
                );
            }
        }
    }
    eprintln!("{seen} Debian OVMF builds compared");
}

/// Footer table holding `entries` (data, GUID), placed so the footer sits 32 bytes before the
/// end of `img`.
fn put_table(img: &mut [u8], entries: &[(&[u8], Guid)]) {
    let mut table = Vec::new();
    for (d, g) in entries {
        table.extend_from_slice(d);
        table.extend_from_slice(&((d.len() + 18) as u16).to_le_bytes());
        table.extend_from_slice(g.as_bytes());
    }
    let footer = img.len() - 32 - 18;
    let start = footer - table.len();
    img[start..footer].copy_from_slice(&table);
    img[footer..footer + 2].copy_from_slice(&((table.len() + 18) as u16).to_le_bytes());
    img[footer + 2..footer + 18].copy_from_slice(guid::OVMF_TABLE_FOOTER.as_bytes());
}

/// A 1 MiB image whose SEV metadata sits 900 KiB before the end, far before the 68 KiB tail
/// [`ImageFile::open`] reads first; random-looking page contents.
fn image_with_early_metadata() -> Vec<u8> {
    let len = 1 << 20;
    let mut img: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let from_end: u32 = 900 << 10;
    let s = len - from_end as usize;
    let items: [(u32, u32, u32); 3] = [
        (0x80_0000, 0x9000, 1),
        (0x80_d000, 0x1000, 2),
        (0x80_e000, 0x1000, 3),
    ];
    img[s..s + 4].copy_from_slice(b"ASEV");
    img[s + 4..s + 8].copy_from_slice(&(16 + 12 * items.len() as u32).to_le_bytes());
    img[s + 8..s + 12].copy_from_slice(&1u32.to_le_bytes());
    img[s + 12..s + 16].copy_from_slice(&(items.len() as u32).to_le_bytes());
    for (i, (g, z, t)) in items.iter().enumerate() {
        let o = s + 16 + 12 * i;
        img[o..o + 4].copy_from_slice(&g.to_le_bytes());
        img[o + 4..o + 8].copy_from_slice(&z.to_le_bytes());
        img[o + 8..o + 12].copy_from_slice(&t.to_le_bytes());
    }
    put_table(
        &mut img,
        &[
            (&from_end.to_le_bytes(), guid::OVMF_SEV_METADATA),
            (&0xffff_f000u32.to_le_bytes(), guid::SEV_ES_RESET_BLOCK),
        ],
    );
    img
}

fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn metadata_before_the_tail_is_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let img = image_with_early_metadata();
    let path = write_temp(tmp.path(), "early.fd", &img);
    let file = ImageFile::open(&path, "OVMF").unwrap();
    let mut f = LaunchInputs::new(Mode::Snp, &file);
    f.vcpus = 2;
    f.vcpu_sig = Some(0x00a0_0f11);
    let streamed = launch_digest(&f).unwrap();
    let mut m = f.clone();
    m.ovmf = (&img).into();
    assert_eq!(streamed, launch_digest(&m).unwrap());
    // The metadata was found: its three sections are measured (secrets and CPUID pages).
    let fw = remits_measure::launch::Firmware::parse(&img).unwrap();
    assert_eq!(fw.sections().len(), 3);
    // Breaking its signature is seen through the file as well.
    let mut broken = img.clone();
    let s = broken.len() - (900 << 10);
    broken[s] = b'B';
    let path = write_temp(tmp.path(), "broken.fd", &broken);
    let file = ImageFile::open(&path, "OVMF").unwrap();
    assert!(matches!(
        snp_ovmf_hash(&file),
        Err(Error::MetadataSignature)
    ));
}

#[test]
fn bad_sizes_are_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let size_error = |bytes: &[u8], name: &str| {
        let path = write_temp(tmp.path(), name, bytes);
        let file = ImageFile::open(&path, "OVMF").unwrap();
        match snp_ovmf_hash(&file) {
            Err(Error::ImageSize { image, size, .. }) => {
                assert_eq!((image, size), ("OVMF", bytes.len() as u64), "{name}")
            }
            other => panic!("{name}: {other:?}"),
        }
    };
    size_error(&[], "empty.fd");
    size_error(&[0u8; 2048], "half-page.fd");
    size_error(&vec![0u8; 3 * PAGE_SIZE + 1], "odd.fd");
    // Larger than 256 MiB: refused before anything is read (a sparse file).
    let path = tmp.path().join("huge.fd");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len((256 << 20) + PAGE_SIZE as u64).unwrap();
    assert!(matches!(
        ImageFile::open(&path, "SVSM"),
        Err(Error::ImageSize { image: "SVSM", .. })
    ));
    assert!(matches!(
        ImageFile::open(&tmp.path().join("missing.fd"), "OVMF"),
        Err(Error::Io { what: "OVMF", .. })
    ));
}

/// The pages before the tail are read when hashed: a file cut short after it was opened is an
/// I/O error naming it, not a digest over fewer pages (on both the one- and two-thread paths).
#[test]
fn file_shrunk_after_open_is_an_io_error() {
    let tmp = tempfile::tempdir().unwrap();
    for len in [256 << 10, 1 << 20] {
        let mut img = vec![0x5au8; len];
        img[..PAGE_SIZE].fill(1);
        put_table(&mut img, &[]);
        let path = write_temp(tmp.path(), "shrinks.fd", &img);
        let file = ImageFile::open(&path, "OVMF").unwrap();
        assert!(snp_ovmf_hash(&file).is_ok());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len((len / 2) as u64)
            .unwrap();
        match snp_ovmf_hash(&file) {
            Err(Error::Io { what, path: p, .. }) => assert_eq!((what, p), ("OVMF", path.clone())),
            other => panic!("{len}: {other:?}"),
        }
    }
}

/// A FIFO (like `--ovmf <(...)`) cannot be read at offsets: it is read whole, same digest.
#[test]
fn fifo_is_read_whole() {
    let Some(dir) = measure_dir() else { return };
    let bytes = std::fs::read(dir.join("svsm_ovmf.fd")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("ovmf.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return;
    }
    let writer = {
        let (fifo, bytes) = (fifo.clone(), bytes.clone());
        std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            w.write_all(&bytes).unwrap();
        })
    };
    let file = ImageFile::open(&fifo, "OVMF").unwrap();
    writer.join().unwrap();
    assert_eq!(file.len(), bytes.len() as u64);
    assert_eq!(
        snp_ovmf_hash(&file).unwrap(),
        snp_ovmf_hash(&bytes).unwrap()
    );
}
