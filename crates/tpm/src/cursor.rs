//! The bounded cursor of `remits-codec` with TPM names on its errors.
//!
//! Every read names the structure and the field it is reading, so a parse error says exactly
//! where the input went wrong ("TPMS_ATTEST.extraData at byte 10: truncated"). TPM structures are
//! big-endian; TCG event logs and the HCL report are little-endian. The bounds are checked in
//! [`remits_codec::Cursor`], whose errors become [`Error::Layout`]; this
//! wrapper adds what only TPM structures have (TPM2B sizes, field checks).

use remits_codec::Cursor as Inner;

use crate::error::Error;

/// A read position inside a borrowed byte slice. Reads never panic and never allocate.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a>(Inner<'a>);

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`, reading the structure named `structure`.
    pub(crate) fn new(buf: &'a [u8], structure: &'static str) -> Self {
        Self(Inner::new(buf, structure))
    }

    /// The current offset from the start of the buffer.
    pub(crate) fn pos(&self) -> usize {
        self.0.pos()
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.0.remaining()
    }

    /// The unread rest of the buffer (does not advance).
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.0.rest()
    }

    /// An error at the current offset for `field`.
    pub(crate) fn invalid(&self, field: &'static str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            structure: self.0.structure(),
            field,
            offset: self.0.pos(),
            reason: reason.into(),
        }
    }

    /// Take exactly `n` bytes.
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Error> {
        Ok(self.0.take(n, field)?)
    }

    /// Take a fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        Ok(self.0.array(field)?)
    }

    /// One byte.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, Error> {
        Ok(self.0.u8(field)?)
    }

    /// Big-endian u16.
    pub(crate) fn u16_be(&mut self, field: &'static str) -> Result<u16, Error> {
        Ok(self.0.u16_be(field)?)
    }

    /// Big-endian u32.
    pub(crate) fn u32_be(&mut self, field: &'static str) -> Result<u32, Error> {
        Ok(self.0.u32_be(field)?)
    }

    /// Big-endian u64.
    pub(crate) fn u64_be(&mut self, field: &'static str) -> Result<u64, Error> {
        Ok(self.0.u64_be(field)?)
    }

    /// Little-endian u16.
    pub(crate) fn u16_le(&mut self, field: &'static str) -> Result<u16, Error> {
        Ok(self.0.u16_le(field)?)
    }

    /// Little-endian u32.
    pub(crate) fn u32_le(&mut self, field: &'static str) -> Result<u32, Error> {
        Ok(self.0.u32_le(field)?)
    }

    /// Little-endian u64.
    pub(crate) fn u64_le(&mut self, field: &'static str) -> Result<u64, Error> {
        Ok(self.0.u64_le(field)?)
    }

    /// A TPM2B: big-endian u16 size, then that many bytes, at most `max`.
    pub(crate) fn tpm2b(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], Error> {
        let at = self.pos();
        let size = usize::from(self.u16_be(field)?);
        if size > max {
            return Err(Error::Invalid {
                structure: self.0.structure(),
                field,
                offset: at,
                reason: format!("size {size} exceeds the maximum {max}"),
            });
        }
        self.take(size, field)
    }

    /// Fail unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        Ok(self.0.finish()?)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_bounds() {
        let b = [0x00, 0x02, 0xAA, 0xBB, 0x01];
        let mut c = Cursor::new(&b, "T");
        assert_eq!(c.tpm2b("f", 4).unwrap(), &[0xAA, 0xBB]);
        assert!(matches!(
            c.finish(),
            Err(Error::Layout(remits_codec::Error::Trailing {
                trailing: 1,
                offset: 4,
                ..
            }))
        ));
        assert_eq!(c.u8("g").unwrap(), 1);
        assert!(matches!(
            c.u16_be("h"),
            Err(Error::Layout(remits_codec::Error::Truncated {
                offset: 5,
                need: 2,
                have: 0,
                ..
            }))
        ));
        let mut c = Cursor::new(&b, "T");
        assert!(matches!(c.tpm2b("f", 1), Err(Error::Invalid { .. })));
        let mut c = Cursor::new(&b, "T");
        assert!(c.take(usize::MAX, "x").is_err());
    }
}
