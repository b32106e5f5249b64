//! A test-only forger of AMD-profile chains (ARK → ASK → VCEK), reports and CRLs, with keys
//! that are not AMD's: for the foreign-root and CRL tests.
#![allow(dead_code, unreachable_pub)]

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use der::asn1::{BitString, Ia5StringRef, OctetString};
use der::{Decode, Encode};
use p384::ecdsa::signature::Signer as _;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use sha2::Sha384;
use spki::{EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use remits_snp::{Generation, TrustAnchors};

pub struct Forged {
    pub ark: Vec<u8>,
    pub ask: Vec<u8>,
    pub vcek: Vec<u8>,
    pub ark_key: rsa::RsaPrivateKey,
    pub vcek_key: p384::ecdsa::SigningKey,
    pub chip_id: [u8; 64],
    pub tcb: [u8; 8],
    pub ask_serial: u32,
    pub rng: StdRng,
    pub generation: Generation,
}

/// An ARK → ASVK → VLEK path under a [`Forged`] ARK.
pub struct VlekPath {
    pub asvk: Vec<u8>,
    pub vlek: Vec<u8>,
    pub vlek_key: p384::ecdsa::SigningKey,
    pub asvk_serial: u32,
}

fn pss_alg() -> spki::AlgorithmIdentifierOwned {
    let (ark, _, _) = TrustAnchors::amd_certificates(Generation::Milan).unwrap();
    Certificate::from_der(&ark).unwrap().signature_algorithm
}

fn name(cn: &str) -> Name {
    Name::from_str(&format!("CN={cn},O=remits test forger - NOT AMD")).unwrap()
}

fn time(t: SystemTime) -> Time {
    Time::try_from(t).unwrap()
}

fn ext(oid: &str, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: der::asn1::ObjectIdentifier::new_unwrap(oid),
        critical: false,
        extn_value: OctetString::new(value).unwrap(),
    }
}

fn sign_pss(key: &rsa::RsaPrivateKey, rng: &mut StdRng, msg: &[u8]) -> Vec<u8> {
    let sk = rsa::pss::BlindedSigningKey::<Sha384>::new(key.clone());
    sk.sign_with_rng(rng, msg).to_vec()
}

#[allow(clippy::too_many_arguments)]
fn cert(
    serial: u32,
    issuer: &str,
    subject: &str,
    spki: SubjectPublicKeyInfoOwned,
    extensions: Vec<Extension>,
    key: &rsa::RsaPrivateKey,
    rng: &mut StdRng,
    from: SystemTime,
    to: SystemTime,
) -> Vec<u8> {
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial.to_be_bytes()).unwrap(),
        signature: pss_alg(),
        issuer: name(issuer),
        validity: Validity {
            not_before: time(from),
            not_after: time(to),
        },
        subject: name(subject),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: if extensions.is_empty() {
            None
        } else {
            Some(extensions)
        },
    };
    let tbs_der = tbs.to_der().unwrap();
    let sig = sign_pss(key, rng, &tbs_der);
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: pss_alg(),
        signature: BitString::from_bytes(&sig).unwrap(),
    }
    .to_der()
    .unwrap()
}

fn int_der(v: u32) -> Vec<u8> {
    v.to_der().unwrap()
}

impl Forged {
    /// A Milan-profile chain under a fresh RSA-2048 ARK, valid 2020..2040.
    pub fn milan(seed: u64) -> Self {
        Self::new(seed, Generation::Milan)
    }

    /// A chain in `generation`'s profile (Turin: structVersion 1, fmcSPL, no spl_4, 8-byte
    /// hwID) under a fresh RSA-2048 ARK, valid 2020..2040.
    pub fn new(seed: u64, generation: Generation) -> Self {
        Self::with_vcek_serial(seed, generation, 0)
    }

    /// Like [`Forged::new`], with the VCEK issued under `vcek_serial` (AMD's are all 0).
    pub fn with_vcek_serial(seed: u64, generation: Generation, vcek_serial: u32) -> Self {
        let p = generation.product();
        let turin = generation == Generation::Turin;
        let ark_cn = format!("ARK-{p}");
        let ask_cn = format!("SEV-{p}");
        let mut rng = StdRng::seed_from_u64(seed);
        let ark_key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let ask_key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let vcek_key = p384::ecdsa::SigningKey::random(&mut rng);
        let from = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800); // 2020-01-01
        let to = SystemTime::UNIX_EPOCH + Duration::from_secs(2_208_988_800); // 2040-01-01
        let rsa_spki = |k: &rsa::RsaPrivateKey| {
            SubjectPublicKeyInfoOwned::from_der(
                k.to_public_key().to_public_key_der().unwrap().as_bytes(),
            )
            .unwrap()
        };
        let ark = cert(
            0x10000,
            &ark_cn,
            &ark_cn,
            rsa_spki(&ark_key),
            vec![],
            &ark_key,
            &mut rng,
            from,
            to,
        );
        let ask_serial = 0x10001;
        let ask = cert(
            ask_serial,
            &ark_cn,
            &ask_cn,
            rsa_spki(&ask_key),
            vec![],
            &ark_key,
            &mut rng,
            from,
            to,
        );
        let mut chip_id = [0u8; 64];
        let hw_len = if turin { 8 } else { 64 };
        for (i, b) in chip_id.iter_mut().take(hw_len).enumerate() {
            *b = (i as u8).wrapping_mul(7).wrapping_add(seed as u8) | 1;
        }
        // TCB_VERSION bytes: Turin FMC, BL, TEE, SNP, -, -, -, UCODE; else BL, TEE, -.., SNP, UCODE.
        let tcb = if turin {
            [2u8, 3, 0, 5, 0, 0, 0, 71]
        } else {
            [3u8, 0, 0, 0, 0, 0, 8, 115]
        };
        let vcek_spki = SubjectPublicKeyInfoOwned::from_der(
            vcek_key
                .verifying_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        let product = match generation {
            Generation::Milan => "Milan-B0",
            other => other.product(),
        };
        let arc = "1.3.6.1.4.1.3704.1";
        let mut exts = vec![
            ext(&format!("{arc}.1"), int_der(u32::from(turin))),
            ext(
                &format!("{arc}.2"),
                Ia5StringRef::new(product).unwrap().to_der().unwrap(),
            ),
        ];
        let spls: Vec<(u32, u8)> = if turin {
            vec![
                (1, tcb[1]),
                (2, tcb[2]),
                (3, tcb[3]),
                (5, 0),
                (6, 0),
                (7, 0),
                (8, tcb[7]),
                (9, tcb[0]),
            ]
        } else {
            vec![
                (1, tcb[0]),
                (2, tcb[1]),
                (3, tcb[6]),
                (4, 0),
                (5, 0),
                (6, 0),
                (7, 0),
                (8, tcb[7]),
            ]
        };
        for (i, v) in spls {
            exts.push(ext(&format!("{arc}.3.{i}"), int_der(u32::from(v))));
        }
        exts.push(ext(&format!("{arc}.4"), chip_id[..hw_len].to_vec()));
        let vcek = cert(
            vcek_serial,
            &ask_cn,
            "SEV-VCEK",
            vcek_spki,
            exts,
            &ask_key,
            &mut rng,
            from,
            to,
        );
        Forged {
            ark,
            ask,
            vcek,
            ark_key,
            vcek_key,
            chip_id,
            tcb,
            ask_serial,
            rng,
            generation,
        }
    }

    /// An ASVK (serial `asvk_serial`) under the forged ARK and a VLEK (serial `vlek_serial`) under
    /// it, in AMD's VLEK profile (productName without stepping, cspID, no hwID).
    pub fn vlek_path(&mut self, asvk_serial: u32, vlek_serial: u32) -> VlekPath {
        let p = self.generation.product();
        let turin = self.generation == Generation::Turin;
        let from = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800);
        let to = SystemTime::UNIX_EPOCH + Duration::from_secs(2_208_988_800);
        let asvk_key = rsa::RsaPrivateKey::new(&mut self.rng, 2048).unwrap();
        let vlek_key = p384::ecdsa::SigningKey::random(&mut self.rng);
        let asvk_cn = format!("SEV-VLEK-{p}");
        let asvk = cert(
            asvk_serial,
            &format!("ARK-{p}"),
            &asvk_cn,
            SubjectPublicKeyInfoOwned::from_der(
                asvk_key
                    .to_public_key()
                    .to_public_key_der()
                    .unwrap()
                    .as_bytes(),
            )
            .unwrap(),
            vec![],
            &self.ark_key,
            &mut self.rng,
            from,
            to,
        );
        let tcb = self.tcb;
        let arc = "1.3.6.1.4.1.3704.1";
        let mut exts = vec![
            ext(&format!("{arc}.1"), int_der(u32::from(turin))),
            ext(
                &format!("{arc}.2"),
                Ia5StringRef::new(p).unwrap().to_der().unwrap(),
            ),
        ];
        let spls: Vec<(u32, u8)> = if turin {
            vec![
                (1, tcb[1]),
                (2, tcb[2]),
                (3, tcb[3]),
                (5, 0),
                (6, 0),
                (7, 0),
                (8, tcb[7]),
                (9, tcb[0]),
            ]
        } else {
            vec![
                (1, tcb[0]),
                (2, tcb[1]),
                (3, tcb[6]),
                (4, 0),
                (5, 0),
                (6, 0),
                (7, 0),
                (8, tcb[7]),
            ]
        };
        for (i, v) in spls {
            exts.push(ext(&format!("{arc}.3.{i}"), int_der(u32::from(v))));
        }
        exts.push(ext(
            &format!("{arc}.5"),
            Ia5StringRef::new("CN=forged-csp.example")
                .unwrap()
                .to_der()
                .unwrap(),
        ));
        let vlek_spki = SubjectPublicKeyInfoOwned::from_der(
            vlek_key
                .verifying_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        let vlek = cert(
            vlek_serial,
            &asvk_cn,
            "SEV-VLEK",
            vlek_spki,
            exts,
            &asvk_key,
            &mut self.rng,
            from,
            to,
        );
        VlekPath {
            asvk,
            vlek,
            vlek_key,
            asvk_serial,
        }
    }

    /// A v3 report signed by the VLEK of `path` (KEY_INFO.SIGNING_KEY = 1, CHIP_ID zero).
    pub fn vlek_report(&self, path: &VlekPath, report_data: &[u8]) -> Vec<u8> {
        let mut r = self.report_with(report_data, |r| {
            r[0x48..0x4C].copy_from_slice(&4u32.to_le_bytes());
            r[0x1A0..0x1E0].fill(0);
        });
        let sig: p384::ecdsa::Signature = path.vlek_key.sign(&r[..0x2A0]);
        let bytes = sig.to_bytes();
        for i in 0..48 {
            r[0x2A0 + i] = bytes[47 - i];
            r[0x2E8 + i] = bytes[95 - i];
        }
        r
    }

    /// A v3 report of this generation signed by the forged VCEK.
    pub fn report(&self, report_data: &[u8]) -> Vec<u8> {
        self.report_with(report_data, |_| {})
    }

    /// A report built like [`Forged::report`], then edited by `edit` before it is signed.
    pub fn report_with(&self, report_data: &[u8], edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let mut r = vec![0u8; 0x4A0];
        r[0..4].copy_from_slice(&3u32.to_le_bytes());
        r[8..16].copy_from_slice(&0x30000u64.to_le_bytes());
        r[0x34..0x38].copy_from_slice(&1u32.to_le_bytes());
        for off in [0x38, 0x180, 0x1E0, 0x1F0] {
            r[off..off + 8].copy_from_slice(&self.tcb);
        }
        r[0x50..0x50 + report_data.len()].copy_from_slice(report_data);
        r[0x160..0x180].fill(0xFF);
        let cpuid: [u8; 3] = match self.generation {
            Generation::Milan => [0x19, 0x01, 0x01],
            Generation::Genoa => [0x19, 0x11, 0x01],
            Generation::Turin => [0x1A, 0x02, 0x00],
        };
        r[0x188..0x18B].copy_from_slice(&cpuid);
        r[0x1A0..0x1E0].copy_from_slice(&self.chip_id);
        r[0x1E8..0x1EB].copy_from_slice(&[4, 52, 1]);
        edit(&mut r);
        self.sign(&mut r);
        r
    }

    /// (Re-)sign the first 0x2A0 bytes of `r` with the forged VCEK.
    pub fn sign(&self, r: &mut [u8]) {
        let sig: p384::ecdsa::Signature = self.vcek_key.sign(&r[..0x2A0]);
        let bytes = sig.to_bytes();
        for i in 0..48 {
            r[0x2A0 + i] = bytes[47 - i];
            r[0x2E8 + i] = bytes[95 - i];
        }
    }

    /// A CRL signed by the forged ARK listing `revoked` serials.
    pub fn crl(&mut self, revoked: &[u32], this: SystemTime, next: SystemTime) -> Vec<u8> {
        self.crl_full(revoked, this, Some(next), None)
    }

    /// A CRL signed by the forged ARK, with an optional nextUpdate and an optional
    /// issuingDistributionPoint URI (AMD's KDS path, e.g. `.../vlek/v1/Milan/crl`).
    pub fn crl_full(
        &mut self,
        revoked: &[u32],
        this: SystemTime,
        next: Option<SystemTime>,
        idp_uri: Option<&str>,
    ) -> Vec<u8> {
        use x509_cert::ext::pkix::crl::IssuingDistributionPoint;
        use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
        let crl_extensions = idp_uri.map(|uri| {
            let idp = IssuingDistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![
                    GeneralName::UniformResourceIdentifier(der::asn1::Ia5String::new(uri).unwrap()),
                ])),
                only_contains_user_certs: false,
                only_contains_ca_certs: false,
                only_some_reasons: None,
                indirect_crl: false,
                only_contains_attribute_certs: false,
            };
            vec![Extension {
                extn_id: der::asn1::ObjectIdentifier::new_unwrap("2.5.29.28"),
                critical: true,
                extn_value: OctetString::new(idp.to_der().unwrap()).unwrap(),
            }]
        });
        let tbs = TbsCertList {
            version: Version::V2,
            signature: pss_alg(),
            issuer: name(&format!("ARK-{}", self.generation.product())),
            this_update: time(this),
            next_update: next.map(time),
            revoked_certificates: if revoked.is_empty() {
                None
            } else {
                Some(
                    revoked
                        .iter()
                        .map(|s| RevokedCert {
                            serial_number: SerialNumber::new(&s.to_be_bytes()).unwrap(),
                            revocation_date: time(this),
                            crl_entry_extensions: None,
                        })
                        .collect(),
                )
            },
            crl_extensions,
        };
        let sig = sign_pss(&self.ark_key, &mut self.rng, &tbs.to_der().unwrap());
        CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: pss_alg(),
            signature: BitString::from_bytes(&sig).unwrap(),
        }
        .to_der()
        .unwrap()
    }
}
