//! PCR selections (TPML_PCR_SELECTION) and PCR values per bank.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::alg::HashAlg;
use crate::cursor::Cursor;
use crate::error::Error;

/// The highest number of PCRs a selection may name (sizeofSelect ≤ 4 bytes).
pub(crate) const MAX_PCRS: u32 = 32;
/// Most banks a selection may hold (one per supported hash).
const MAX_BANKS: u32 = 16;

/// A TPML_PCR_SELECTION: banks in the order the TPM listed them, each with a PCR bitmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrSelection {
    banks: Vec<(HashAlg, u32)>,
}

impl PcrSelection {
    /// Parse a TPML_PCR_SELECTION from a cursor (strict: known banks, no duplicates).
    pub(crate) fn read(c: &mut Cursor<'_>) -> Result<Self, Error> {
        let count = c.u32_be("pcrSelect.count")?;
        if count > MAX_BANKS {
            return Err(c.invalid(
                "pcrSelect.count",
                format!("{count} banks exceeds {MAX_BANKS}"),
            ));
        }
        let mut banks: Vec<(HashAlg, u32)> = Vec::new();
        for _ in 0..count {
            let id = c.u16_be("pcrSelect.hash")?;
            let alg = HashAlg::from_id_for(id, "pcrSelect.hash")?;
            let size_at = c.pos();
            let size = c.u8("pcrSelect.sizeofSelect")?;
            if size == 0 || size > 4 {
                return Err(Error::Invalid {
                    structure: "TPML_PCR_SELECTION",
                    field: "sizeofSelect",
                    offset: size_at,
                    reason: format!("{size} is outside 1..=4"),
                });
            }
            let bytes = c.take(usize::from(size), "pcrSelect.pcrSelect")?;
            let mut bitmap = 0u32;
            for (i, b) in bytes.iter().enumerate() {
                bitmap |= u32::from(*b) << (8 * i);
            }
            if banks.iter().any(|(a, _)| *a == alg) {
                return Err(c.invalid("pcrSelect.hash", format!("bank {alg} listed twice")));
            }
            banks.push((alg, bitmap));
        }
        Ok(Self { banks })
    }

    /// Parse a complete TPML_PCR_SELECTION (no trailing bytes).
    ///
    /// # Errors
    ///
    /// [`Error::Layout`] (truncated, trailing bytes) or [`Error::Invalid`] for a malformed
    /// selection, [`Error::UnsupportedAlgorithm`] for an unknown bank.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut c = Cursor::new(bytes, "TPML_PCR_SELECTION");
        let s = Self::read(&mut c)?;
        c.finish()?;
        Ok(s)
    }

    /// Build a selection from banks and PCR indices (banks kept in the given order).
    ///
    /// # Errors
    ///
    /// [`Error::PcrValues`] for a PCR index above 23 or a bank given twice.
    pub fn new(banks: impl IntoIterator<Item = (HashAlg, Vec<u32>)>) -> Result<Self, Error> {
        let mut out: Vec<(HashAlg, u32)> = Vec::new();
        for (alg, pcrs) in banks {
            if out.iter().any(|(a, _)| *a == alg) {
                return Err(Error::PcrValues(format!("bank {alg} listed twice")));
            }
            let mut bitmap = 0u32;
            for p in pcrs {
                if p >= MAX_PCRS {
                    return Err(Error::PcrValues(format!("PCR index {p} out of range")));
                }
                bitmap |= 1 << p;
            }
            out.push((alg, bitmap));
        }
        Ok(Self { banks: out })
    }

    /// Banks in TPM order with their PCR indices ascending. Empty banks are included.
    pub fn banks(&self) -> impl Iterator<Item = (HashAlg, Vec<u32>)> + '_ {
        self.banks
            .iter()
            .map(|&(alg, bm)| (alg, (0..MAX_PCRS).filter(|i| bm & (1 << i) != 0).collect()))
    }

    /// The selected PCR indices of `alg` (empty if the bank is not selected).
    pub fn pcrs_of(&self, alg: HashAlg) -> Vec<u32> {
        self.banks()
            .find(|(a, _)| *a == alg)
            .map(|(_, p)| p)
            .unwrap_or_default()
    }

    /// Whether two selections name the same PCRs in every bank (empty banks ignored).
    pub fn same_pcrs(&self, other: &PcrSelection) -> bool {
        let norm = |s: &PcrSelection| -> BTreeMap<HashAlg, u32> {
            s.banks
                .iter()
                .filter(|(_, bm)| *bm != 0)
                .map(|&(a, bm)| (a, bm))
                .collect()
        };
        norm(self) == norm(other)
    }
}

impl fmt::Display for PcrSelection {
    /// tpm2-tools notation: `sha1:15,16+sha256:0,1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (alg, pcrs) in self.banks() {
            if !first {
                f.write_str("+")?;
            }
            first = false;
            let list: Vec<String> = pcrs.iter().map(|p| p.to_string()).collect();
            write!(f, "{alg}:{}", list.join(","))?;
        }
        if first {
            f.write_str("(none)")?;
        }
        Ok(())
    }
}

impl Serialize for PcrSelection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<&str, Vec<u32>> = self.banks().map(|(a, p)| (a.name(), p)).collect();
        m.serialize(s)
    }
}

/// PCR values per bank: `{"sha256": {"0": "hex", ...}, ...}` in JSON (lowercase hex).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcrValues {
    banks: BTreeMap<HashAlg, BTreeMap<u32, Vec<u8>>>,
}

impl PcrValues {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set one PCR value; its length must be the bank's digest size.
    ///
    /// # Errors
    ///
    /// [`Error::PcrValues`] when `value` is not the bank's digest size or `pcr` is above 23.
    pub fn insert(&mut self, alg: HashAlg, pcr: u32, value: Vec<u8>) -> Result<(), Error> {
        if pcr >= MAX_PCRS {
            return Err(Error::PcrValues(format!(
                "{alg} PCR{pcr}: index out of range"
            )));
        }
        if value.len() != alg.size() {
            return Err(Error::PcrValues(format!(
                "{alg} PCR{pcr}: {} bytes, a {alg} PCR has {}",
                value.len(),
                alg.size()
            )));
        }
        self.banks.entry(alg).or_default().insert(pcr, value);
        Ok(())
    }

    /// One PCR value.
    pub fn get(&self, alg: HashAlg, pcr: u32) -> Option<&[u8]> {
        self.banks.get(&alg)?.get(&pcr).map(Vec::as_slice)
    }

    /// The values of one bank.
    pub fn bank(&self, alg: HashAlg) -> Option<&BTreeMap<u32, Vec<u8>>> {
        self.banks.get(&alg)
    }

    /// All banks.
    pub fn banks(&self) -> &BTreeMap<HashAlg, BTreeMap<u32, Vec<u8>>> {
        &self.banks
    }

    /// Whether no values are present.
    pub fn is_empty(&self) -> bool {
        self.banks.values().all(BTreeMap::is_empty)
    }

    /// Values of `alg` indexed 0..n from a list (trustee's `pcrs` array).
    ///
    /// # Errors
    ///
    /// [`Error::PcrValues`] when a value is not the bank's digest size or there are more than 24.
    pub fn from_list(alg: HashAlg, values: &[Vec<u8>]) -> Result<Self, Error> {
        let mut v = Self::new();
        for (i, val) in values.iter().enumerate() {
            let i = u32::try_from(i).map_err(|_| Error::PcrValues("too many PCRs".into()))?;
            v.insert(alg, i, val.clone())?;
        }
        Ok(v)
    }

    /// The selection these values cover (banks in hash-id order).
    pub fn selection(&self) -> PcrSelection {
        PcrSelection {
            banks: self
                .banks
                .iter()
                .filter(|(_, m)| !m.is_empty())
                .map(|(a, m)| (*a, m.keys().fold(0u32, |bm, p| bm | (1 << p))))
                .collect(),
        }
    }

    /// Only the banks and PCRs in `sel`.
    pub fn restricted_to(&self, sel: &PcrSelection) -> PcrValues {
        let mut out = PcrValues::new();
        for (alg, pcrs) in sel.banks() {
            for p in pcrs {
                if let Some(v) = self.get(alg, p) {
                    out.banks.entry(alg).or_default().insert(p, v.to_vec());
                }
            }
        }
        out
    }

    /// The values in the order of `sel` (bank by bank, ascending PCR), or `None` if one is missing.
    pub fn ordered_by<'s>(&'s self, sel: &PcrSelection) -> Option<Vec<&'s [u8]>> {
        let mut out = Vec::new();
        for (alg, pcrs) in sel.banks() {
            for p in pcrs {
                out.push(self.get(alg, p)?);
            }
        }
        Some(out)
    }

    /// Parse the JSON form `{"sha256":{"0":"hex",...},...}` (strict: known banks, indices, lengths).
    ///
    /// # Errors
    ///
    /// [`Error::PcrValues`] naming the bank, index or value that is unknown, malformed or of the
    /// wrong length.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::PcrValues(format!("JSON: {e}")))
    }

    /// Split tpm2-tools' `values` output (`tpm2_quote -o`, default format): the digests
    /// concatenated in the order of `sel`, nothing else. The length must match exactly.
    ///
    /// # Errors
    ///
    /// [`Error::PcrValues`] when the length is not exactly the digests `sel` names.
    pub fn from_tpm2_values(bytes: &[u8], sel: &PcrSelection) -> Result<Self, Error> {
        let mut c = Cursor::new(bytes, "PCR values file");
        let mut v = PcrValues::new();
        for (alg, pcrs) in sel.banks() {
            for p in pcrs {
                let d = c.take(alg.size(), "digest")?;
                v.insert(alg, p, d.to_vec())?;
            }
        }
        c.finish()?;
        Ok(v)
    }

    /// Parse tpm2-tools' `serialized` output (`tpm2_quote -F serialized`, as keylime sends it):
    /// TPML_PCR_SELECTION (host-endian on x86: little-endian counts), u32 count, TPML_DIGEST[].
    ///
    /// # Errors
    ///
    /// [`Error::PcrValues`] when the structure is malformed, truncated or followed by other bytes.
    pub fn from_tpm2_serialized(bytes: &[u8]) -> Result<(PcrSelection, Self), Error> {
        serialized::parse(bytes)
    }

    /// Parse the YAML text `tpm2_pcrread` prints (`sha256:` then `  16: 0x…` lines), strictly:
    /// known banks, decimal indices, hex values of the bank's size, nothing else.
    ///
    /// # Errors
    ///
    /// [`Error::PcrValues`] naming the line that does not parse.
    pub fn from_tpm2_pcrread(text: &str) -> Result<Self, Error> {
        const MAX_LINES: usize = 1024;
        let mut v = PcrValues::new();
        let mut bank: Option<HashAlg> = None;
        for (n, line) in text.lines().enumerate() {
            if n >= MAX_LINES {
                return Err(Error::PcrValues(format!("more than {MAX_LINES} lines")));
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = |why: &str| Error::PcrValues(format!("tpm2_pcrread line {}: {why}", n + 1));
            let (key, value) = line.split_once(':').ok_or_else(|| bad("no ':'"))?;
            let (key, value) = (key.trim(), value.trim());
            if value.is_empty() {
                bank = Some(HashAlg::from_name(key).ok_or_else(|| bad("unknown bank"))?);
                continue;
            }
            let alg = bank.ok_or_else(|| bad("PCR value before a bank name"))?;
            let pcr: u32 = key
                .parse()
                .ok()
                .filter(|p: &u32| key == p.to_string())
                .ok_or_else(|| bad("bad PCR index"))?;
            let hexv = value
                .strip_prefix("0x")
                .or_else(|| value.strip_prefix("0X"))
                .unwrap_or(value);
            let val = hex::decode(hexv).map_err(|_| bad("bad hex value"))?;
            if v.get(alg, pcr).is_some() {
                return Err(bad("PCR listed twice"));
            }
            v.insert(alg, pcr, val)?;
        }
        if v.is_empty() {
            return Err(Error::PcrValues("tpm2_pcrread text: no PCR values".into()));
        }
        Ok(v)
    }
}

mod serialized {
    //! tpm2-tools `tpm2_pcrs` serialization: the C structs written in host byte order.
    //! TPML_PCR_SELECTION { u32 count; TPMS_PCR_SELECTION[16] { u16 hash; u8 sizeofSelect; u8 pcrSelect[4]; } }
    //! (each entry padded to 8 bytes), u32 count of digest lists, then TPML_DIGEST[count]
    //! { u32 count; TPM2B_DIGEST[8] { u16 size; u8 buffer[64]; } }.
    use super::*;

    pub(super) fn parse(bytes: &[u8]) -> Result<(PcrSelection, PcrValues), Error> {
        let mut c = Cursor::new(bytes, "tpm2_pcrs");
        let count = c.u32_le("pcrSelections.count")?;
        if count > 16 {
            return Err(c.invalid("pcrSelections.count", format!("{count} > 16")));
        }
        let mut banks = Vec::new();
        for i in 0..16 {
            let id = c.u16_le("pcrSelections.hash")?;
            let size = c.u8("pcrSelections.sizeofSelect")?;
            let sel = c.array::<4>("pcrSelections.pcrSelect")?;
            let _pad = c.u8("pcrSelections.padding")?;
            if i < count {
                let alg = HashAlg::from_id_for(id, "pcrSelections.hash")?;
                if size > 4 {
                    return Err(c.invalid("pcrSelections.sizeofSelect", format!("{size} > 4")));
                }
                let mut bm = 0u32;
                for (j, b) in sel.iter().take(usize::from(size)).enumerate() {
                    bm |= u32::from(*b) << (8 * j);
                }
                banks.push((
                    alg,
                    (0..MAX_PCRS)
                        .filter(|p| bm & (1 << p) != 0)
                        .collect::<Vec<u32>>(),
                ));
            }
        }
        let sel = PcrSelection::new(banks)?;
        let lists = c.u32_le("pcrs.count")?;
        if lists > 16 {
            return Err(c.invalid("pcrs.count", format!("{lists} > 16")));
        }
        let mut digests = Vec::new();
        for _ in 0..lists {
            let n = c.u32_le("TPML_DIGEST.count")?;
            if n > 8 {
                return Err(c.invalid("TPML_DIGEST.count", format!("{n} > 8")));
            }
            for j in 0..8 {
                let size = c.u16_le("TPM2B_DIGEST.size")?;
                let buf = c.take(64, "TPM2B_DIGEST.buffer")?;
                if j < n {
                    let d = buf
                        .get(..usize::from(size))
                        .ok_or_else(|| c.invalid("TPM2B_DIGEST.size", format!("{size} > 64")))?;
                    digests.push(d.to_vec());
                }
            }
        }
        c.finish()?;
        let mut it = digests.into_iter();
        let mut v = PcrValues::new();
        for (alg, pcrs) in sel.banks() {
            for p in pcrs {
                let d = it
                    .next()
                    .ok_or_else(|| Error::PcrValues(format!("no digest for {alg} PCR{p}")))?;
                v.insert(alg, p, d)?;
            }
        }
        if it.next().is_some() {
            return Err(Error::PcrValues("more digests than selected PCRs".into()));
        }
        Ok((sel, v))
    }
}

impl Serialize for PcrValues {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Emit PCR indices in numeric order ("2" before "10").
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.banks.len()))?;
        for (alg, bank) in &self.banks {
            map.serialize_entry(alg.name(), &OrderedBank(bank))?;
        }
        map.end()
    }
}

struct OrderedBank<'a>(&'a BTreeMap<u32, Vec<u8>>);

impl Serialize for OrderedBank<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (p, v) in self.0 {
            map.serialize_entry(&p.to_string(), &hex::encode(v))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PcrValues {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let raw: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::deserialize(d)?;
        let mut v = PcrValues::new();
        for (bank, pcrs) in raw {
            let alg = HashAlg::from_name(&bank)
                .ok_or_else(|| D::Error::custom(format!("unknown bank {bank:?}")))?;
            for (idx, hexv) in pcrs {
                let p: u32 = idx
                    .parse()
                    .ok()
                    .filter(|p: &u32| idx == p.to_string())
                    .ok_or_else(|| D::Error::custom(format!("{bank}: bad PCR index {idx:?}")))?;
                let val = hex::decode(hexv.trim())
                    .map_err(|e| D::Error::custom(format!("{bank} PCR{p}: bad hex: {e}")))?;
                v.insert(alg, p, val).map_err(D::Error::custom)?;
            }
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_roundtrip_and_display() {
        // sha256 {0,4,5,9,15,16}
        let s = PcrSelection::parse(&[0, 0, 0, 1, 0x00, 0x0B, 3, 0x31, 0x82, 0x01]).unwrap();
        assert_eq!(s.to_string(), "sha256:0,4,5,9,15,16");
        assert!(
            PcrSelection::parse(&[0, 0, 0, 2, 0, 0x0B, 3, 1, 0, 0, 0, 0x0B, 3, 1, 0, 0]).is_err()
        );
        assert!(PcrSelection::parse(&[0, 0, 0, 1, 0, 0x12, 3, 1, 0, 0]).is_err());
        assert!(PcrSelection::parse(&[0, 0, 0, 1, 0, 0x0B, 3, 1, 0, 0, 9]).is_err());
    }

    #[test]
    fn pcrread_text() {
        let t = "  sha1:\n    0 : 0x0000000000000000000000000000000000000000\n  sha256:\n    16: 0x9851312028952521510E8EAAB5BE94E7DC24B5FC292B2E9781173CF11FFA9878\n";
        let v = PcrValues::from_tpm2_pcrread(t).unwrap();
        assert_eq!(v.get(HashAlg::Sha1, 0).unwrap(), &[0u8; 20]);
        assert_eq!(v.get(HashAlg::Sha256, 16).unwrap()[0], 0x98);
        assert!(PcrValues::from_tpm2_pcrread("  0 : 0x00").is_err());
        assert!(PcrValues::from_tpm2_pcrread("sha256:\n  0 : 0x00").is_err());
        assert!(PcrValues::from_tpm2_pcrread("md5:\n").is_err());
        assert!(PcrValues::from_tpm2_pcrread("").is_err());
    }

    #[test]
    fn json_numeric_order() {
        let mut v = PcrValues::new();
        v.insert(HashAlg::Sha1, 10, vec![0; 20]).unwrap();
        v.insert(HashAlg::Sha1, 2, vec![1; 20]).unwrap();
        let j = serde_json::to_string(&v).unwrap();
        assert!(j.find("\"2\"").unwrap() < j.find("\"10\"").unwrap());
        assert_eq!(PcrValues::from_json(j.as_bytes()).unwrap(), v);
        assert!(PcrValues::from_json(br#"{"sha256":{"0":"00"}}"#).is_err());
        assert!(PcrValues::from_json(br#"{"md5":{}}"#).is_err());
        assert!(PcrValues::from_json(
            br#"{"sha1":{"01":"0000000000000000000000000000000000000000"}}"#
        )
        .is_err());
    }
}
