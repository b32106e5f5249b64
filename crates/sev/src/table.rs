//! The EFI secret table that a launch-secret packet carries into guest memory.
//!
//! Layout (OVMF's SEV launch-secret area, read by Linux's `efi_secret` driver): a header
//! `{GUID 1e74f542-71dd-4d66-963e-ef4287ff173b, u32 total length}` followed by entries
//! `{GUID, u32 length including this 20-byte header, data}`; GUIDs in EFI (mixed-endian) byte
//! order, integers little-endian. The guest exposes each entry as
//! `/sys/kernel/security/secrets/coco/<guid>`.

use remits_codec::Cursor;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{invalid, Result};

/// GUID of the secret-table header.
pub const SECRET_TABLE_HEADER_GUID: &str = "1e74f542-71dd-4d66-963e-ef4287ff173b";
/// Size of the header and of each entry header.
pub const ENTRY_HEADER_LEN: usize = 20;
/// The launch-secret area is one 4 KiB page in OVMF's SEV layout.
pub const DEFAULT_MAX_TABLE_LEN: usize = 4096;

const HEADER: Uuid = Uuid::from_u128(0x1e74f542_71dd_4d66_963e_ef4287ff173b);

fn guid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| invalid("GUID", format!("{s:?}: {e}")))
}

/// Builds the secret table from `(guid, value)` pairs. GUIDs must be distinct and non-nil;
/// the table must fit in `max_len` bytes.
///
/// # Errors
///
/// [`crate::Error::Invalid`] for a malformed, nil or repeated GUID or a table larger than `max_len`.
pub fn build_secret_table(secrets: &[(&str, &[u8])], max_len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut seen = Vec::new();
    let mut body: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    for (g, value) in secrets {
        let id = guid(g)?;
        if id.is_nil() || id == HEADER {
            return Err(invalid("GUID", format!("{g} is reserved")));
        }
        if seen.contains(&id) {
            return Err(invalid("GUID", format!("{g} appears twice")));
        }
        seen.push(id);
        if ENTRY_HEADER_LEN + body.len() + ENTRY_HEADER_LEN + value.len() > max_len {
            return Err(invalid(
                "secret table",
                format!("{g} does not fit in the {max_len}-byte secret area"),
            ));
        }
        // Bounded by max_len (a u32 fits any sane secret area).
        let len = u32::try_from(ENTRY_HEADER_LEN + value.len())
            .map_err(|_| invalid("secret", format!("{g} is too large")))?;
        body.extend_from_slice(&id.to_bytes_le());
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(value);
    }
    let total = ENTRY_HEADER_LEN + body.len();
    let total32 = u32::try_from(total).map_err(|_| invalid("secret table", "too large"))?;
    let mut out = Zeroizing::new(Vec::with_capacity(total));
    out.extend_from_slice(&HEADER.to_bytes_le());
    out.extend_from_slice(&total32.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// One parsed secret-table entry: its GUID (lowercase hyphenated) and value.
pub type SecretEntry = (String, Zeroizing<Vec<u8>>);

/// Parses a secret table (the inverse of [`build_secret_table`]), skipping wiped (nil-GUID)
/// entries as the guest driver does.
///
/// # Errors
///
/// [`crate::Error::Invalid`] when the header, a length or a GUID is malformed.
pub fn parse_secret_table(table: &[u8]) -> Result<Vec<SecretEntry>> {
    let bad = |reason: &str| invalid("secret table", reason.to_string());
    let mut c = Cursor::new(table, "secret table");
    let short = |_| bad("shorter than its header");
    let header: [u8; 16] = c.array("header GUID").map_err(short)?;
    let total = c.u32_le("length").map_err(short)? as usize;
    if Uuid::from_bytes_le(header) != HEADER {
        return Err(bad("header GUID mismatch"));
    }
    let table = table
        .get(..total)
        .ok_or_else(|| bad("declared length exceeds the data"))?;
    // The entries: what follows the header, up to the declared length.
    let mut c = Cursor::new(table.get(ENTRY_HEADER_LEN..).unwrap_or(&[]), "secret table");
    let mut out = Vec::new();
    while c.remaining() > 0 {
        let truncated = |_| bad("truncated entry header");
        let id: [u8; 16] = c.array("entry GUID").map_err(truncated)?;
        let len = c.u32_le("entry length").map_err(truncated)? as usize;
        let data_len = len
            .checked_sub(ENTRY_HEADER_LEN)
            .ok_or_else(|| bad("entry length below its header size"))?;
        let data = c
            .take(data_len, "entry data")
            .map_err(|_| bad("entry exceeds the table"))?;
        let id = Uuid::from_bytes_le(id);
        if !id.is_nil() {
            out.push((id.to_string(), Zeroizing::new(data.to_vec())));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const G1: &str = "736869e5-84f0-4973-92ec-06879ce3da0b";
    const G2: &str = "b81f5a1a-7f77-4b34-8c5e-6c1c4d8d7e2a";

    #[test]
    fn table_round_trips_and_is_laid_out_as_efi_expects() {
        let t = build_secret_table(&[(G1, b"disk key"), (G2, b"")], DEFAULT_MAX_TABLE_LEN).unwrap();
        assert_eq!(t.len(), 20 + (20 + 8) + 20);
        // Header GUID in EFI (mixed-endian) order, then the total length.
        assert_eq!(&t[..4], &[0x42, 0xf5, 0x74, 0x1e]);
        assert_eq!(
            u32::from_le_bytes(t[16..20].try_into().unwrap()),
            t.len() as u32
        );
        assert_eq!(Uuid::parse_str(SECRET_TABLE_HEADER_GUID).unwrap(), HEADER);
        let parsed = parse_secret_table(&t).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            (parsed[0].0.as_str(), &parsed[0].1[..]),
            (G1, &b"disk key"[..])
        );
        assert_eq!((parsed[1].0.as_str(), &parsed[1].1[..]), (G2, &b""[..]));
    }

    #[test]
    fn bad_tables_and_inputs_are_refused() {
        assert!(build_secret_table(&[(G1, b"a"), (G1, b"b")], 4096).is_err());
        assert!(build_secret_table(&[(SECRET_TABLE_HEADER_GUID, b"a")], 4096).is_err());
        assert!(build_secret_table(&[("not-a-guid", b"a")], 4096).is_err());
        assert!(build_secret_table(&[(G1, &[0u8; 5000])], 4096).is_err());
        let t = build_secret_table(&[(G1, b"x")], 4096).unwrap();
        // Truncations and a length below the entry header never panic.
        for n in 0..t.len() {
            let _ = parse_secret_table(&t[..n]);
        }
        let mut bad = t.to_vec();
        bad[36..40].copy_from_slice(&3u32.to_le_bytes());
        assert!(parse_secret_table(&bad).is_err());
        let mut bad = t.to_vec();
        bad[0] ^= 1;
        assert!(parse_secret_table(&bad).is_err());
        // Each malformation is named.
        let why = |t: &[u8]| parse_secret_table(t).unwrap_err().to_string();
        assert!(why(&t[..19]).contains("shorter than its header"));
        assert!(why(&bad).contains("header GUID mismatch"));
        let mut long = t.to_vec();
        long[16..20].copy_from_slice(&100u32.to_le_bytes());
        assert!(why(&long).contains("declared length exceeds the data"));
        let mut short = t.to_vec();
        short[36..40].copy_from_slice(&3u32.to_le_bytes());
        assert!(why(&short).contains("entry length below its header size"));
        let mut over = t.to_vec();
        over[36..40].copy_from_slice(&22u32.to_le_bytes());
        assert!(why(&over).contains("entry exceeds the table"));
        let mut cut = t.to_vec();
        cut.extend_from_slice(&[0; 10]);
        let n = cut.len() as u32;
        cut[16..20].copy_from_slice(&n.to_le_bytes());
        assert!(why(&cut).contains("truncated entry header"));
    }
}
