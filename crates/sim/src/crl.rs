//! CRLs in AMD's format, signed by the simulator's ARK: for revocation tests.
//!
//! AMD publishes two CRLs per product (`/vcek/v1/<Product>/crl` revoking ASKs and
//! `/vlek/v1/<Product>/crl` revoking ASVKs). Both are X.509 v2 CRLs whose issuer is the ARK's
//! subject, signed by the ARK with RSASSA-PSS (SHA-384, MGF1-SHA-384, salt 48), listing revoked
//! certificates by serial number. [`SimArk::crl`] issues the same structure under the
//! simulator's ARK.

use std::time::SystemTime;

use der::asn1::{BitString, Ia5String, OctetString};
use der::Encode;
use rsa::pss::SigningKey as PssSigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use sha2::Sha384;
use spki::{DynSignatureAlgorithmIdentifier, ObjectIdentifier};
use x509_cert::certificate::Version;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::IssuingDistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

use crate::certs;
use crate::SimError;

const OID_ISSUING_DISTRIBUTION_POINT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.28");

/// What one CRL lists.
#[derive(Clone, Debug)]
pub struct CrlSpec {
    /// Serial numbers of the revoked certificates (e.g. the ASK's, 0x10001 on the Milan sim).
    pub revoked: Vec<u32>,
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate (AMD sets one; `None` to test a maximum CRL age).
    pub next_update: Option<SystemTime>,
    /// An issuingDistributionPoint URI, e.g. the KDS path the CRL is served at; `None`: no
    /// extension.
    pub distribution_point: Option<String>,
}

/// The simulator's ARK private key, kept only by a caller of
/// [`crate::SimChain::generate_with_ark`] (never written to disk): it signs CRLs.
pub struct SimArk {
    signer: PssSigningKey<Sha384>,
    name: Name,
    ask_serial: u32,
}

impl std::fmt::Debug for SimArk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimArk")
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn crl_err(e: impl std::fmt::Display) -> SimError {
    SimError::Certificate {
        cert: "CRL",
        reason: e.to_string(),
    }
}

impl SimArk {
    pub(crate) fn new(signer: PssSigningKey<Sha384>, name: Name, ask_serial: u32) -> Self {
        SimArk {
            signer,
            name,
            ask_serial,
        }
    }

    /// The serial number of the ASK this ARK issued.
    pub fn ask_serial(&self) -> u32 {
        self.ask_serial
    }

    /// A CRL (DER) in AMD's format: X.509 v2, issuer = the ARK's subject, RSASSA-PSS SHA-384
    /// salt 48, revoked certificates by serial (revocation date = thisUpdate).
    ///
    /// # Errors
    ///
    /// [`SimError::Certificate`] when the CRL cannot be built, signed or encoded.
    pub fn crl(
        &self,
        spec: &CrlSpec,
        rng: &mut (impl rand::CryptoRng + rand::RngCore),
    ) -> Result<Vec<u8>, SimError> {
        let this = certs::time("CRL", spec.this_update)?;
        let next = spec
            .next_update
            .map(|t| certs::time("CRL", t))
            .transpose()?;
        let revoked = spec
            .revoked
            .iter()
            .map(|s| RevokedCert {
                serial_number: SerialNumber::from(*s),
                revocation_date: this,
                crl_entry_extensions: None,
            })
            .collect::<Vec<_>>();
        let crl_extensions = match &spec.distribution_point {
            None => None,
            Some(uri) => {
                let idp = IssuingDistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![
                        GeneralName::UniformResourceIdentifier(
                            Ia5String::new(uri).map_err(crl_err)?,
                        ),
                    ])),
                    only_contains_user_certs: false,
                    only_contains_ca_certs: false,
                    only_some_reasons: None,
                    indirect_crl: false,
                    only_contains_attribute_certs: false,
                };
                Some(vec![Extension {
                    extn_id: OID_ISSUING_DISTRIBUTION_POINT,
                    critical: true,
                    extn_value: OctetString::new(idp.to_der().map_err(crl_err)?)
                        .map_err(crl_err)?,
                }])
            }
        };
        let alg = self
            .signer
            .signature_algorithm_identifier()
            .map_err(crl_err)?;
        let tbs = TbsCertList {
            version: Version::V2,
            signature: alg.clone(),
            issuer: self.name.clone(),
            this_update: this,
            next_update: next,
            revoked_certificates: if revoked.is_empty() {
                None
            } else {
                Some(revoked)
            },
            crl_extensions,
        };
        let tbs_der = tbs.to_der().map_err(crl_err)?;
        let sig = self
            .signer
            .try_sign_with_rng(rng, &tbs_der)
            .map_err(crl_err)?;
        CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: alg,
            signature: BitString::from_bytes(&sig.to_bytes()).map_err(crl_err)?,
        }
        .to_der()
        .map_err(crl_err)
    }
}
