//! The `kds` feature against a KDS stand-in on loopback (never the network): VCEK and chain
//! fetched for a real report and verified, the on-disk cache and offline mode, HTTP 429
//! honoured, errors typed.
// A test may panic: unwrap, expect and indexing are the test failing (the workspace lints
// deny them in library and binary code only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[cfg(not(feature = "kds"))]
#[test]
fn kds_feature_is_off() {
    eprintln!("SKIPPED: the KDS tests need `--features kds`");
}

#[cfg(feature = "kds")]
mod common;

#[cfg(feature = "kds")]
mod with_kds {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::common::*;
    use remits_snp::kds::{Kds, KdsConfig};
    use remits_snp::{Error, Generation, Signer, TrustAnchors, Verifier, VerifyOptions};

    type Handler = dyn Fn(&str, usize) -> (u16, Vec<(&'static str, String)>, Vec<u8>) + Send + Sync;

    /// A minimal HTTP/1.1 server on 127.0.0.1; stopped and joined on drop.
    struct Server {
        addr: SocketAddr,
        hits: Arc<AtomicUsize>,
        paths: Arc<Mutex<Vec<String>>>,
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Server {
        fn start(handler: Box<Handler>) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let hits = Arc::new(AtomicUsize::new(0));
            let paths = Arc::new(Mutex::new(Vec::new()));
            let stop = Arc::new(AtomicBool::new(false));
            let (h, p, s) = (hits.clone(), paths.clone(), stop.clone());
            let thread = std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if s.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut conn) = conn else { continue };
                    let mut buf = Vec::new();
                    let mut byte = [0u8; 1];
                    while !buf.ends_with(b"\r\n\r\n") && buf.len() < 16384 {
                        match conn.read(&mut byte) {
                            Ok(1) => buf.push(byte[0]),
                            _ => break,
                        }
                    }
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let path = text.split(' ').nth(1).unwrap_or("").to_owned();
                    let n = h.fetch_add(1, Ordering::SeqCst);
                    p.lock().unwrap().push(path.clone());
                    let (status, headers, body) = handler(&path, n);
                    let mut resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                        body.len()
                    );
                    for (k, v) in headers {
                        resp.push_str(&format!("{k}: {v}\r\n"));
                    }
                    resp.push_str("\r\n");
                    let _ = conn.write_all(resp.as_bytes());
                    let _ = conn.write_all(&body);
                }
            });
            Server {
                addr,
                hits,
                paths,
                stop,
                thread: Some(thread),
            }
        }

        fn url(&self) -> String {
            format!("http://{}", self.addr)
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn cfg(server: &Server, cache: Option<&std::path::Path>) -> KdsConfig {
        KdsConfig {
            base_url: server.url(),
            cache_dir: cache.map(|p| p.to_path_buf()),
            max_retry_after: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            ..KdsConfig::default()
        }
    }

    fn tempdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("remits-kds-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn fetch_verify_cache_and_offline() {
        let Some(dir) = snp_dir() else { return };
        let report = read(&dir, "milan-v2-sev-report.bin");
        let vcek = read(&dir, "milan-v2-sev-vcek.der");
        let chain_pem = read(&dir, "milan-ask-ark.pem");
        let hwid = hex::encode(remits_snp::Report::parse(&report).unwrap().chip_id());
        let want_vcek = format!("/vcek/v1/Milan/{hwid}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115");
        let (v2, c2, w2) = (vcek.clone(), chain_pem.clone(), want_vcek.clone());
        let server = Server::start(Box::new(move |path, _| {
            if path == w2 {
                (200, vec![], v2.clone())
            } else if path == "/vcek/v1/Milan/cert_chain" {
                (200, vec![], c2.clone())
            } else {
                (404, vec![], Vec::new())
            }
        }));
        let cache = tempdir("cache");
        let kds = Kds::new(cfg(&server, Some(&cache))).unwrap();
        let rt = rt();
        // A v2 report has no CPUID: Milan and Genoa cannot be told apart without the caller.
        let err = rt.block_on(kds.endorsement(&report, None)).unwrap_err();
        assert!(matches!(err, Error::GenerationUnknown), "{err}");
        assert_eq!(server.hits(), 0);
        let end = rt
            .block_on(kds.endorsement(&report, Some(Generation::Milan)))
            .unwrap();
        assert_eq!(end.leaf, vcek);
        assert_eq!(end.chain.len(), 2);
        assert_eq!(server.paths.lock().unwrap().first(), Some(&want_vcek));
        let v = Verifier::new(TrustAnchors::amd());
        let mut opts = VerifyOptions::at(at(NOW));
        opts.generation = Some(Generation::Milan);
        let _ = v.verify(&report, &end, &opts).unwrap();
        assert_eq!(server.hits(), 2);

        // Cached: no further request.
        let again = rt
            .block_on(kds.endorsement(&report, Some(Generation::Milan)))
            .unwrap();
        assert_eq!(again, end);
        assert_eq!(server.hits(), 2);
        assert!(cache
            .join(format!("vcek/{hwid}/bl03_tee00_snp08_ucode115_vcek.der"))
            .is_file());
        assert!(cache.join("Milan/cert_chain.pem").is_file());

        // Offline over the same directory: same answer, no request; missing files are typed.
        let offline = Kds::new(KdsConfig {
            base_url: server.url(),
            ..KdsConfig::offline(&cache)
        })
        .unwrap();
        let end2 = rt
            .block_on(offline.endorsement(&report, Some(Generation::Milan)))
            .unwrap();
        let _ = v.verify(&report, &end2, &opts).unwrap();
        let err = rt
            .block_on(offline.cert_chain(Generation::Genoa, Signer::Vcek))
            .unwrap_err();
        assert!(matches!(err, Error::KdsNotCached { .. }), "{err}");
        let err = rt
            .block_on(offline.crl(Generation::Milan, Signer::Vcek))
            .unwrap_err();
        assert!(matches!(err, Error::KdsNotCached { .. }), "{err}");
        assert_eq!(server.hits(), 2);

        // Offline fallback name vcek/<hwid>/vcek.der (trustee's layout).
        let flat = tempdir("flat");
        std::fs::create_dir_all(flat.join(format!("vcek/{hwid}"))).unwrap();
        std::fs::write(flat.join(format!("vcek/{hwid}/vcek.der")), &vcek).unwrap();
        let offline = Kds::new(KdsConfig::offline(&flat)).unwrap();
        let leaf = rt
            .block_on(offline.vcek_for_report(&report, Some(Generation::Milan)))
            .unwrap();
        assert_eq!(leaf, vcek);

        // Not found on the server: typed HTTP error.
        let err = rt
            .block_on(kds.cert_chain(Generation::Turin, Signer::Vcek))
            .unwrap_err();
        assert!(matches!(err, Error::KdsHttp { status: 404, .. }), "{err}");
        // VLEK-signed reports: not fetchable.
        let vlek_report = read(&dir, "milan-v3-vlek-report.bin");
        let err = rt
            .block_on(kds.vcek_for_report(&vlek_report, None))
            .unwrap_err();
        assert!(matches!(err, Error::KdsNotFetchable(_)), "{err}");
        let _ = std::fs::remove_dir_all(&cache);
        let _ = std::fs::remove_dir_all(&flat);
    }

    #[test]
    fn http_429_is_honoured() {
        let Some(dir) = snp_dir() else { return };
        let report = read(&dir, "genoa-v3-report.bin");
        let vcek = read(&dir, "genoa-v3-vcek.der");
        // Two 429s with Retry-After: 0, then the certificate.
        let v = vcek.clone();
        let server = Server::start(Box::new(move |_, n| {
            if n < 2 {
                (429, vec![("Retry-After", "0".to_string())], Vec::new())
            } else {
                (200, vec![], v.clone())
            }
        }));
        let kds = Kds::new(cfg(&server, None)).unwrap();
        let rt = rt();
        // v3: the generation comes from CPUID (Genoa).
        let leaf = rt.block_on(kds.vcek_for_report(&report, None)).unwrap();
        assert_eq!(leaf, vcek);
        assert_eq!(server.hits(), 3);
        assert!(server.paths.lock().unwrap()[0].starts_with("/vcek/v1/Genoa/"));

        // Retry-After longer than allowed: fail at once, and send nothing until it has passed.
        let server = Server::start(Box::new(|_, _| {
            (429, vec![("Retry-After", "3600".to_string())], Vec::new())
        }));
        let kds = Kds::new(cfg(&server, None)).unwrap();
        let err = rt.block_on(kds.vcek_for_report(&report, None)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::KdsRateLimited {
                    retry_after_secs: 3600,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(server.hits(), 1);
        let err = rt
            .block_on(kds.cert_chain(Generation::Genoa, Signer::Vcek))
            .unwrap_err();
        assert!(matches!(err, Error::KdsRateLimited { .. }), "{err}");
        assert_eq!(server.hits(), 1, "a rate-limited client must not ask again");

        // Retries exhausted (always 429 with a short wait): rate-limited after 1 + max_retries.
        let server = Server::start(Box::new(|_, _| {
            (429, vec![("Retry-After", "0".to_string())], Vec::new())
        }));
        let kds = Kds::new(KdsConfig {
            max_retries: 2,
            ..cfg(&server, None)
        })
        .unwrap();
        let err = rt.block_on(kds.vcek_for_report(&report, None)).unwrap_err();
        assert!(matches!(err, Error::KdsRateLimited { .. }), "{err}");
        assert_eq!(server.hits(), 3);
    }

    #[test]
    fn crl_falls_back_to_the_cache_and_bad_answers_are_refused() {
        let Some(dir) = snp_dir() else { return };
        let cache = tempdir("crl");
        let t = at(NOW);
        let day = Duration::from_secs(86_400);
        let crl = super::common::forge::Forged::milan(3).crl(&[], t - day, t + day);
        let served = crl.clone();
        let server = Server::start(Box::new(move |path, n| match (path, n) {
            ("/vcek/v1/Milan/crl", 0) => (200, vec![], served.clone()),
            ("/vcek/v1/Milan/crl", _) => {
                (429, vec![("Retry-After", "3600".to_string())], Vec::new())
            }
            ("/vlek/v1/Milan/crl", _) => (200, vec![], b"not-a-crl".to_vec()),
            (_, _) => (200, vec![], vec![0x30, 0x03, 0x02, 0x01, 0x00]),
        }));
        let kds = Kds::new(cfg(&server, Some(&cache))).unwrap();
        let rt = rt();
        assert_eq!(
            rt.block_on(kds.crl(Generation::Milan, Signer::Vcek))
                .unwrap(),
            crl
        );
        // Rate-limited now: the cached copy is served (it is verified by Verifier::add_crl).
        assert_eq!(
            rt.block_on(kds.crl(Generation::Milan, Signer::Vcek))
                .unwrap(),
            crl
        );
        // An answer that is not a DER CRL is refused and not cached (a new client: this one is
        // blocked by the 429).
        let other = Kds::new(cfg(&server, Some(&cache))).unwrap();
        let err = rt
            .block_on(other.crl(Generation::Milan, Signer::Vlek))
            .unwrap_err();
        assert!(matches!(err, Error::CrlInvalid(_)), "{err}");
        assert!(!cache.join("Milan/vlek_crl.der").exists());
        // A body that is not a certificate is refused, and not cached.
        let fresh = Kds::new(cfg(&server, Some(&cache))).unwrap();
        let report = read(&dir, "genoa-v3-report.bin");
        let err = rt
            .block_on(fresh.vcek_for_report(&report, None))
            .unwrap_err();
        assert!(matches!(err, Error::CertParse { .. }), "{err}");
        assert!(!cache.join("vcek").exists());
        let err = rt
            .block_on(fresh.cert_chain(Generation::Genoa, Signer::Vlek))
            .unwrap_err();
        assert!(matches!(err, Error::Input { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&cache);
    }
}
