//! A small bounded cursor over received bytes.
//!
//! Every read names the structure and the field it is reading, so a parse error says exactly
//! where the input went wrong ("TPMS_ATTEST.extraData at byte 10: truncated"). TPM structures are
//! big-endian; TCG event logs and the HCL report are little-endian, so both readers are here.

use crate::error::Error;

/// A read position inside a borrowed byte slice. Reads never panic and never allocate.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    structure: &'static str,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`, reading the structure named `structure`.
    pub(crate) fn new(buf: &'a [u8], structure: &'static str) -> Self {
        Self {
            buf,
            pos: 0,
            structure,
        }
    }

    /// The current offset from the start of the buffer.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The unread rest of the buffer (does not advance).
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// An error at the current offset for `field`.
    pub(crate) fn invalid(&self, field: &'static str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            structure: self.structure,
            field,
            offset: self.pos,
            reason: reason.into(),
        }
    }

    /// Take exactly `n` bytes.
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(Error::Truncated {
                structure: self.structure,
                field,
                offset: self.pos,
                need: n,
                have: self.remaining(),
            })?;
        let s = self.buf.get(self.pos..end).ok_or(Error::Truncated {
            structure: self.structure,
            field,
            offset: self.pos,
            need: n,
            have: self.remaining(),
        })?;
        self.pos = end;
        Ok(s)
    }

    /// Take a fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        let s = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// One byte.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, Error> {
        Ok(self.array::<1>(field)?[0])
    }

    /// Big-endian u16.
    pub(crate) fn u16_be(&mut self, field: &'static str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// Big-endian u32.
    pub(crate) fn u32_be(&mut self, field: &'static str) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// Big-endian u64.
    pub(crate) fn u64_be(&mut self, field: &'static str) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// Little-endian u16.
    pub(crate) fn u16_le(&mut self, field: &'static str) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    /// Little-endian u32.
    pub(crate) fn u32_le(&mut self, field: &'static str) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// Little-endian u64.
    pub(crate) fn u64_le(&mut self, field: &'static str) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A TPM2B: big-endian u16 size, then that many bytes, at most `max`.
    pub(crate) fn tpm2b(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], Error> {
        let at = self.pos;
        let size = usize::from(self.u16_be(field)?);
        if size > max {
            return Err(Error::Invalid {
                structure: self.structure,
                field,
                offset: at,
                reason: format!("size {size} exceeds the maximum {max}"),
            });
        }
        self.take(size, field)
    }

    /// Fail unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        match self.remaining() {
            0 => Ok(()),
            trailing => Err(Error::TrailingBytes {
                structure: self.structure,
                offset: self.pos,
                trailing,
            }),
        }
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
            Err(Error::TrailingBytes {
                trailing: 1,
                offset: 4,
                ..
            })
        ));
        assert_eq!(c.u8("g").unwrap(), 1);
        assert!(matches!(
            c.u16_be("h"),
            Err(Error::Truncated {
                offset: 5,
                need: 2,
                have: 0,
                ..
            })
        ));
        let mut c = Cursor::new(&b, "T");
        assert!(matches!(c.tpm2b("f", 1), Err(Error::Invalid { .. })));
        let mut c = Cursor::new(&b, "T");
        assert!(c.take(usize::MAX, "x").is_err());
    }
}
