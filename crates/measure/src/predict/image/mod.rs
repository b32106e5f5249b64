//! Container image measurement (PCR15): a `docker save` tarball, an OCI image layout tarball,
//! or an OCI image layout directory.
//!
//! The image is flattened (layers applied in order with OCI whiteouts) and the final
//! filesystem is measured as a sorted list of records ([`fslist`]). The image configuration
//! blob (the bytes whose SHA-256 is the image ID) is measured as a second event. Archive member
//! order, file order inside layers, compression and timestamps do not affect the result.
//! Layers are read concurrently, small files are hashed in parallel batches and large files
//! are streamed, so memory stays bounded by the file-metadata list, not by the image size.

pub mod fslist;
pub mod layer;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::config::pcr15_digest;
use super::events::{types, Digest32, Event};
use super::Error;

/// Upper bound on JSON metadata blobs (manifests, index, config).
const MAX_JSON: u64 = 16 << 20;
/// Upper bound on layers.
const MAX_LAYERS: usize = 1024;

/// Options for [`measure_image`].
#[derive(Clone, Debug, Default)]
pub struct ImageOptions {
    /// Draw a progress bar on stderr (the caller decides, e.g. only on a TTY).
    pub progress: bool,
}

/// The measurement of a container image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageMeasurement {
    /// SHA-256 of the image configuration blob (the image ID).
    pub config_sha256: Digest32,
    /// [`fslist::files_digest`] of the flattened filesystem.
    pub files_sha256: Digest32,
    /// Number of entries in the flattened filesystem.
    pub entries: u64,
    /// Bytes of file content hashed (all layers).
    pub content_bytes: u64,
    /// Number of layers.
    pub layers: usize,
}

impl ImageMeasurement {
    /// The two PCR15 image events: `remits.image.config`, `remits.image.files`.
    pub fn events(&self) -> Vec<Event> {
        vec![
            Event::new(
                types::REMITS_EVENT,
                "remits.image.config",
                pcr15_digest("remits.image.config", &self.config_sha256),
            ),
            Event::new(
                types::REMITS_EVENT,
                "remits.image.files",
                pcr15_digest("remits.image.files", &self.files_sha256),
            ),
        ]
    }
}

/// Where a blob lives.
#[derive(Clone, Debug)]
enum Blob {
    /// A file of an OCI layout directory.
    File(PathBuf),
    /// A member of a tarball: data offset and size.
    Member {
        tar: PathBuf,
        offset: u64,
        size: u64,
    },
}

impl Blob {
    fn size(&self) -> Result<u64, Error> {
        match self {
            Blob::File(p) => Ok(std::fs::metadata(p)
                .map_err(|e| Error::io(p.display().to_string(), e))?
                .len()),
            Blob::Member { size, .. } => Ok(*size),
        }
    }
    fn open(&self) -> Result<Box<dyn Read + Send>, Error> {
        match self {
            Blob::File(p) => {
                let f = File::open(p).map_err(|e| Error::io(p.display().to_string(), e))?;
                Ok(Box::new(f))
            }
            Blob::Member { tar, offset, size } => {
                let mut f = File::open(tar).map_err(|e| Error::io(tar.display().to_string(), e))?;
                f.seek(SeekFrom::Start(*offset))
                    .map_err(|e| Error::io("image tarball", e))?;
                Ok(Box::new(f.take(*size)))
            }
        }
    }
    fn read_small(&self, what: &str) -> Result<Vec<u8>, Error> {
        if self.size()? > MAX_JSON {
            return Err(Error::Image(format!(
                "{what}: larger than {MAX_JSON} bytes"
            )));
        }
        let mut out = Vec::new();
        self.open()?
            .take(MAX_JSON)
            .read_to_end(&mut out)
            .map_err(|e| Error::io(what.to_owned(), e))?;
        Ok(out)
    }
}

/// Names of an image source, resolved to blobs.
trait Source {
    fn get(&self, name: &str) -> Result<Option<Blob>, Error>;
}

struct Dir(PathBuf);
impl Source for Dir {
    fn get(&self, name: &str) -> Result<Option<Blob>, Error> {
        let rel = clean_name(name)?;
        let p = self.0.join(&rel);
        // Refuse symlinks that leave the layout directory.
        match std::fs::canonicalize(&p) {
            Ok(c) => {
                let root =
                    std::fs::canonicalize(&self.0).map_err(|e| Error::io("image directory", e))?;
                if !c.starts_with(&root) {
                    return Err(Error::Image(format!("{name}: resolves outside the layout")));
                }
                Ok(Some(Blob::File(c)))
            }
            Err(_) => Ok(None),
        }
    }
}

enum Member {
    Data { offset: u64, size: u64 },
    Symlink(String),
}

struct Tarball {
    path: PathBuf,
    members: BTreeMap<String, Member>,
}

impl Tarball {
    fn index(path: &Path) -> Result<Self, Error> {
        let io = |e| Error::io("image tarball", e);
        let f = File::open(path).map_err(io)?;
        let mut archive = tar::Archive::new(BufReader::new(f));
        let mut members = BTreeMap::new();
        for entry in archive.entries_with_seek().map_err(io)? {
            let entry = entry.map_err(io)?;
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8(raw)
                .map_err(|_| Error::Image("member name is not UTF-8".into()))?;
            let name = match clean_name(&name) {
                Ok(n) => n,
                Err(_) => continue,
            };
            let m = match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Member::Data {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                tar::EntryType::Symlink => {
                    let t = entry.link_name_bytes().unwrap_or_default();
                    let t = String::from_utf8(t.into_owned())
                        .map_err(|_| Error::Image("link target is not UTF-8".into()))?;
                    let base = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    Member::Symlink(if base.is_empty() {
                        t
                    } else {
                        format!("{base}/{t}")
                    })
                }
                _ => continue,
            };
            if members.insert(name.clone(), m).is_some() {
                return Err(Error::Image(format!(
                    "tarball: member {name} appears twice"
                )));
            }
            if members.len() > 1_000_000 {
                return Err(Error::Image("tarball: too many members".into()));
            }
        }
        Ok(Tarball {
            path: path.to_owned(),
            members,
        })
    }
}

impl Source for Tarball {
    fn get(&self, name: &str) -> Result<Option<Blob>, Error> {
        let mut name = clean_name(name)?;
        for _ in 0..8 {
            match self.members.get(&name) {
                None => return Ok(None),
                Some(Member::Data { offset, size }) => {
                    return Ok(Some(Blob::Member {
                        tar: self.path.clone(),
                        offset: *offset,
                        size: *size,
                    }))
                }
                Some(Member::Symlink(t)) => name = clean_name(t)?,
            }
        }
        Err(Error::Image(format!("{name}: symlink loop")))
    }
}

/// "a/./b//c" -> "a/b/c"; resolves ".." within the archive and rejects escapes.
fn clean_name(name: &str) -> Result<String, Error> {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts
                    .pop()
                    .ok_or_else(|| Error::Image(format!("{name}: escapes the archive")))?;
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

fn json(bytes: &[u8], what: &str) -> Result<Value, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Image(format!("{what}: JSON: {e}")))
}

fn digest_path(digest: &str) -> Result<String, Error> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| Error::Image(format!("unsupported digest {digest:?} (sha256 only)")))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Image(format!("malformed digest {digest:?}")));
    }
    Ok(format!("blobs/sha256/{hex}"))
}

/// Reads a content-addressed blob and checks its SHA-256 against its descriptor.
fn read_verified(src: &dyn Source, digest: &str, what: &str) -> Result<Vec<u8>, Error> {
    let path = digest_path(digest)?;
    let blob = src
        .get(&path)?
        .ok_or_else(|| Error::Image(format!("{what}: blob {digest} missing")))?;
    let bytes = blob.read_small(what)?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if format!("sha256:{actual}") != digest {
        return Err(Error::Image(format!(
            "{what}: digest mismatch: expected {digest}, actual sha256:{actual}"
        )));
    }
    Ok(bytes)
}

/// The config blob and the layer blobs of an image, in order.
fn locate(src: &dyn Source) -> Result<(Vec<u8>, Vec<Blob>), Error> {
    if let Some(m) = src.get("manifest.json")? {
        // docker save
        let v = json(&m.read_small("manifest.json")?, "manifest.json")?;
        let arr = v
            .as_array()
            .ok_or_else(|| Error::Image("manifest.json: expected an array".into()))?;
        let [img] = arr.as_slice() else {
            return Err(Error::Image(format!(
                "manifest.json: holds {} images, expected exactly one (save one image)",
                arr.len()
            )));
        };
        let cfg_name = img
            .get("Config")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Image("manifest.json: Config missing".into()))?;
        let cfg = src
            .get(cfg_name)?
            .ok_or_else(|| Error::Image(format!("config {cfg_name} missing")))?
            .read_small("image config")?;
        let layers = img
            .get("Layers")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Image("manifest.json: Layers missing".into()))?;
        let blobs = layers
            .iter()
            .map(|l| {
                let n = l
                    .as_str()
                    .ok_or_else(|| Error::Image("manifest.json: layer is not a string".into()))?;
                src.get(n)?
                    .ok_or_else(|| Error::Image(format!("layer {n} missing")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((cfg, blobs));
    }
    let index = src.get("index.json")?.ok_or_else(|| {
        Error::Image("neither manifest.json (docker save) nor index.json (OCI layout) found".into())
    })?;
    let mut v = json(&index.read_small("index.json")?, "index.json")?;
    // Follow nested indexes to exactly one image manifest.
    for _ in 0..4 {
        let manifests = v
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Image("index: manifests missing".into()))?;
        let candidates: Vec<&Value> = if manifests.len() == 1 {
            manifests.iter().collect()
        } else {
            manifests
                .iter()
                .filter(|m| {
                    m.pointer("/platform/os").and_then(Value::as_str) == Some("linux")
                        && m.pointer("/platform/architecture").and_then(Value::as_str)
                            == Some("amd64")
                })
                .collect()
        };
        let [desc] = candidates.as_slice() else {
            return Err(Error::Image(format!(
                "index: {} manifests and {} for linux/amd64; expected exactly one",
                manifests.len(),
                candidates.len()
            )));
        };
        let digest = desc
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Image("descriptor without digest".into()))?;
        let bytes = read_verified(src, digest, "manifest")?;
        let m = json(&bytes, "manifest")?;
        if m.get("manifests").is_some() {
            v = m;
            continue;
        }
        let cfg_digest = m
            .pointer("/config/digest")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Image("manifest: config.digest missing".into()))?;
        let cfg = read_verified(src, cfg_digest, "image config")?;
        let layers = m
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Image("manifest: layers missing".into()))?;
        let blobs = layers
            .iter()
            .map(|l| {
                let d = l
                    .get("digest")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::Image("layer without digest".into()))?;
                // PCR15 is defined over the plain layers (docs/measurements.md): an ocicrypt
                // layer cannot be measured, and must not be measured as its ciphertext.
                if let Some(mt) = l
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .filter(|mt| mt.ends_with("+encrypted"))
                {
                    return Err(Error::Image(format!(
                        "layer {d} is encrypted ({mt}): measure the plain image (before \
                         encryption, or after `skopeo copy --decryption-key ...`); see docs/images.md"
                    )));
                }
                let p = digest_path(d)?;
                src.get(&p)?
                    .ok_or_else(|| Error::Image(format!("layer {d} missing")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((cfg, blobs));
    }
    Err(Error::Image("index: nested too deeply".into()))
}

struct Progress<R> {
    inner: R,
    bar: indicatif::ProgressBar,
}
impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Opens a layer blob, detects its compression (by magic bytes) and reads it.
fn read_blob_layer(
    i: usize,
    blob: &Blob,
    bar: &indicatif::ProgressBar,
) -> Result<layer::Layer, Error> {
    let name = format!("#{i}");
    let raw = Progress {
        inner: blob.open()?,
        bar: bar.clone(),
    };
    let mut r = BufReader::with_capacity(1 << 20, raw);
    let magic = {
        use std::io::BufRead;
        let b = r
            .fill_buf()
            .map_err(|e| Error::io(format!("layer {name}"), e))?;
        b.get(..4).map(|m| m.to_vec()).unwrap_or_else(|| b.to_vec())
    };
    if magic.starts_with(&[0x1f, 0x8b]) {
        layer::read_layer(&name, flate2::read::MultiGzDecoder::new(r))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(Error::Image(format!("layer {name}: zstd-compressed layers are not supported; re-save the image uncompressed (docker save)")))
    } else {
        layer::read_layer(&name, r)
    }
}

/// Measures a container image at `path` (a tarball or an OCI layout directory).
///
/// # Errors
///
/// [`Error::Io`] when the image cannot be read, [`Error::Image`] when it is neither a tarball nor
/// an OCI layout or a layer is malformed.
pub fn measure_image(path: &Path, opts: &ImageOptions) -> Result<ImageMeasurement, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    let src: Box<dyn Source> = if meta.is_dir() {
        Box::new(Dir(path.to_owned()))
    } else {
        Box::new(Tarball::index(path)?)
    };
    let (config, blobs) = locate(src.as_ref())?;
    if blobs.len() > MAX_LAYERS {
        return Err(Error::Image(format!(
            "{} layers, limit {MAX_LAYERS}",
            blobs.len()
        )));
    }
    // The config must at least be a JSON object (it is measured as raw bytes).
    if !json(&config, "image config")?.is_object() {
        return Err(Error::Image("image config: expected a JSON object".into()));
    }
    let total: u64 = blobs
        .iter()
        .map(Blob::size)
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .sum();
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} hashing image {bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta}",
        ) {
            b.set_style(style);
        }
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    // Read layers concurrently (reader threads outside the rayon pool; hashing inside it).
    let workers = rayon::current_num_threads().clamp(1, blobs.len().max(1));
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<Result<layer::Layer, Error>>>> =
        Mutex::new((0..blobs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(blob) = blobs.get(i) else { break };
                let r = read_blob_layer(i, blob, &bar);
                let failed = r.is_err();
                if let Some(slot) = results.lock().unwrap_or_else(|p| p.into_inner()).get_mut(i) {
                    *slot = Some(r);
                }
                if failed {
                    // Stop handing out work.
                    *next.lock().unwrap_or_else(|p| p.into_inner()) = usize::MAX / 2;
                    break;
                }
            });
        }
    });
    bar.finish_and_clear();
    let mut fs = BTreeMap::new();
    let mut content_bytes = 0u64;
    let layers = blobs.len();
    for (i, r) in results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .enumerate()
    {
        let l = r.ok_or_else(|| {
            Error::Image(format!("layer #{i}: not read (an earlier layer failed)"))
        })??;
        content_bytes = content_bytes.saturating_add(l.content_bytes);
        fslist::apply(&mut fs, l)?;
    }
    Ok(ImageMeasurement {
        config_sha256: Sha256::digest(&config).into(),
        files_sha256: fslist::files_digest(&fs),
        entries: fs.len() as u64,
        content_bytes,
        layers,
    })
}
