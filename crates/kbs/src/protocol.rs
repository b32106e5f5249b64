//! KBS protocol v0 constants, message types (re-exported from `kbs-types`) and the
//! resource-path rules trustee applies.

pub(crate) use kbs_types::{Attestation, Challenge, Request};
use serde::{Deserialize, Serialize};

/// The only protocol version the server accepts and the client sends.
pub const PROTOCOL_VERSION: &str = "0.4.0";
/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "kbs-session-id";
/// Prefix of every KBS endpoint.
pub const API_PREFIX: &str = "/kbs/v0";
/// Prefix of the `type` member of error bodies.
pub const ERROR_TYPE_PREFIX: &str = "https://github.com/confidential-containers/kbs/errors/";
/// Longest accepted resource-path segment, in bytes (trustee has no limit; remits caps it).
pub const MAX_SEGMENT_LEN: usize = 128;

/// The body of every error response: `{"type": "<prefix><Variant>", "detail": "..."}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorInformation {
    /// `https://github.com/confidential-containers/kbs/errors/<Variant>`.
    #[serde(rename = "type")]
    pub error_type: String,
    /// Human-readable reason.
    pub detail: String,
}

/// Response body of `POST /kbs/v0/attest`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AttestationToken {
    /// The EAR JWT.
    pub token: String,
}

/// A validated `<repo>/<type>/<tag>` resource path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourcePath {
    repo: String,
    ty: String,
    tag: String,
}

/// Why a resource path was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid resource path: {0}")]
pub struct PathError(pub String);

/// trustee's segment rule `^[a-zA-Z0-9_\-]+[a-zA-Z0-9_\-\.]*$`, plus a length cap.
pub(crate) fn valid_segment(s: &str) -> bool {
    let ok_char = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    let b = s.as_bytes();
    match b.first() {
        Some(&c) if ok_char(c) => {}
        _ => return false,
    }
    b.len() <= MAX_SEGMENT_LEN && b.iter().all(|&c| ok_char(c) || c == b'.')
}

impl ResourcePath {
    /// Parses `repo/type/tag`: exactly three segments, each matching trustee's
    /// `^[a-zA-Z0-9_\-]+[a-zA-Z0-9_\-\.]*$` (so never `.` or `..`) and at most
    /// 128 bytes.
    ///
    /// # Errors
    ///
    /// [`PathError`] when there are not exactly three segments or one is invalid.
    pub fn parse(path: &str) -> Result<Self, PathError> {
        let mut it = path.split('/');
        let (Some(repo), Some(ty), Some(tag), None) = (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(PathError("expected exactly <repo>/<type>/<tag>".into()));
        };
        for (name, seg) in [("repo", repo), ("type", ty), ("tag", tag)] {
            if !valid_segment(seg) {
                return Err(PathError(format!(
                    "{name} segment must match ^[a-zA-Z0-9_-]+[a-zA-Z0-9_.-]*$ (max {MAX_SEGMENT_LEN} bytes)"
                )));
            }
        }
        Ok(Self {
            repo: repo.into(),
            ty: ty.into(),
            tag: tag.into(),
        })
    }

    /// The segments in order.
    pub fn segments(&self) -> [&str; 3] {
        [&self.repo, &self.ty, &self.tag]
    }
}

impl std::fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.repo, self.ty, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kbs_types::Tee;

    #[test]
    fn path_rules() {
        assert_eq!(
            ResourcePath::parse("default/key/1").unwrap().to_string(),
            "default/key/1"
        );
        assert!(ResourcePath::parse("a-b_c/k.e.y/t1.").is_ok());
        for bad in [
            "", "a/b", "a/b/c/d", "a//c", ".a/b/c", "a/../c", "a/b/c d", "a/b/%2e", "a/b/c/",
            "ä/b/c",
        ] {
            assert!(ResourcePath::parse(bad).is_err(), "{bad}");
        }
        assert!(ResourcePath::parse(&format!("a/b/{}", "x".repeat(129))).is_err());
    }

    #[test]
    fn messages_have_trustee_shape() {
        let req: Request =
            serde_json::from_str(r#"{"version":"0.4.0","tee":"sample","extra-params":{}}"#)
                .unwrap();
        assert_eq!(req.tee, Tee::Sample);
        let ch = Challenge {
            nonce: "AA==".into(),
            extra_params: serde_json::Value::String(String::new()),
        };
        assert_eq!(
            serde_json::to_string(&ch).unwrap(),
            r#"{"nonce":"AA==","extra-params":""}"#
        );
    }
}
