//! A small bounded cursor over received bytes.
//!
//! Every read names the structure and the field it is reading, so a parse error says exactly
//! where the input went wrong ("TPMS_ATTEST.extraData at byte 10: truncated"). TPM structures
//! are big-endian; SEV-SNP, GPT, OVMF, TCG event logs and the HCL report are little-endian, so
//! both readers are here.

/// Why a read failed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ends before the field does.
    #[error("{structure}.{field} at byte {offset}: truncated (need {need} bytes, {have} left)")]
    Truncated {
        /// The structure being read.
        structure: &'static str,
        /// The field being read.
        field: &'static str,
        /// Offset of the field from the start of the input.
        offset: usize,
        /// Bytes the field needs.
        need: usize,
        /// Bytes left in the input.
        have: usize,
    },
    /// Bytes are left after the structure ([`Cursor::finish`]).
    #[error("{structure} at byte {offset}: {trailing} trailing bytes")]
    Trailing {
        /// The structure read.
        structure: &'static str,
        /// Where the structure ended.
        offset: usize,
        /// Bytes left over.
        trailing: usize,
    },
}

/// A read position inside a borrowed byte slice. Reads never panic and never allocate.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    structure: &'static str,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`, reading the structure named `structure`.
    pub fn new(buf: &'a [u8], structure: &'static str) -> Self {
        Self {
            buf,
            pos: 0,
            structure,
        }
    }

    /// The name of the structure being read.
    pub fn structure(&self) -> &'static str {
        self.structure
    }

    /// The current offset from the start of the buffer.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The unread rest of the buffer (does not advance).
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// The bytes read so far, `[0, pos)` of the buffer (does not advance): for a signature that
    /// covers every byte before it, the signed part exactly as received.
    pub fn consumed(&self) -> &'a [u8] {
        self.buf.get(..self.pos).unwrap_or(self.buf)
    }

    /// Takes exactly `n` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] naming `field` when too few bytes remain.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Error> {
        let s = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
            .ok_or(Error::Truncated {
                structure: self.structure,
                field,
                offset: self.pos,
                need: n,
                have: self.remaining(),
            })?;
        self.pos += n;
        Ok(s)
    }

    /// Skips exactly `n` bytes (reserved or ignored fields).
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] naming `field` when too few bytes remain.
    pub fn skip(&mut self, n: usize, field: &'static str) -> Result<(), Error> {
        self.take(n, field).map(|_| ())
    }

    /// Takes a fixed-size array.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] naming `field` when too few bytes remain.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        let s = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Borrows a fixed-size array in place (no copy): for digests, keys and other byte fields
    /// a zero-copy view keeps as references into the received bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] naming `field` when too few bytes remain.
    pub fn array_ref<const N: usize>(&mut self, field: &'static str) -> Result<&'a [u8; N], Error> {
        let a = self.rest().first_chunk::<N>().ok_or(Error::Truncated {
            structure: self.structure,
            field,
            offset: self.pos,
            need: N,
            have: self.remaining(),
        })?;
        self.pos += N;
        Ok(a)
    }

    /// One byte.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] naming `field` when too few bytes remain.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, Error> {
        let [b] = self.array::<1>(field)?;
        Ok(b)
    }

    /// Little-endian u16.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] naming `field` when too few bytes remain.
    pub fn u16_le(&mut self, field: &'static str) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    /// Little-endian u32.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] naming `field` when too few bytes remain.
    pub fn u32_le(&mut self, field: &'static str) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// Little-endian u64.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] naming `field` when too few bytes remain.
    pub fn u64_le(&mut self, field: &'static str) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// Big-endian u16.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] naming `field` when too few bytes remain.
    pub fn u16_be(&mut self, field: &'static str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// Big-endian u32.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] naming `field` when too few bytes remain.
    pub fn u32_be(&mut self, field: &'static str) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// Big-endian u64.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] naming `field` when too few bytes remain.
    pub fn u64_be(&mut self, field: &'static str) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// Fails unless every byte was consumed.
    ///
    /// # Errors
    ///
    /// [`Error::Trailing`] when bytes are left over.
    pub fn finish(&self) -> Result<(), Error> {
        match self.remaining() {
            0 => Ok(()),
            trailing => Err(Error::Trailing {
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
        let b = [0x02, 0x00, 0xAA, 0xBB, 0x01];
        let mut c = Cursor::new(&b, "T");
        assert_eq!(c.u16_le("len").unwrap(), 2);
        assert_eq!(c.take(2, "body").unwrap(), &[0xAA, 0xBB]);
        assert_eq!(
            c.finish(),
            Err(Error::Trailing {
                structure: "T",
                offset: 4,
                trailing: 1
            })
        );
        assert_eq!(c.u8("g").unwrap(), 1);
        assert_eq!(
            c.u16_be("h"),
            Err(Error::Truncated {
                structure: "T",
                field: "h",
                offset: 5,
                need: 2,
                have: 0
            })
        );
        assert!(c.finish().is_ok());
        let mut c = Cursor::new(&b, "T");
        assert!(c.take(usize::MAX, "x").is_err());
        assert_eq!(c.pos(), 0);
        assert_eq!(c.u32_be("x").unwrap(), 0x0200_AABB);
        assert_eq!(c.rest(), &[0x01]);
        assert_eq!(
            c.u64_le("y").unwrap_err().to_string(),
            "T.y at byte 4: truncated (need 8 bytes, 1 left)"
        );
    }

    #[test]
    fn array_ref_borrows_in_place() {
        let b = [1u8, 2, 3, 4, 5];
        let mut c = Cursor::new(&b, "T");
        assert!(c.consumed().is_empty());
        let a: &[u8; 3] = c.array_ref("head").unwrap();
        assert_eq!(c.consumed(), &[1, 2, 3]);
        assert_eq!(a, &[1, 2, 3]);
        assert!(std::ptr::eq(a.as_ptr(), b.as_ptr()));
        assert_eq!(c.pos(), 3);
        assert_eq!(
            c.array_ref::<3>("tail"),
            Err(Error::Truncated {
                structure: "T",
                field: "tail",
                offset: 3,
                need: 3,
                have: 2
            })
        );
        assert_eq!(c.pos(), 3);
        assert_eq!(c.array_ref::<2>("tail").unwrap(), &[4, 5]);
        assert_eq!(c.consumed(), &b);
        assert!(c.finish().is_ok());
    }
}
