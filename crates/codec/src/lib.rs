//! Decoding helpers shared by remits' parsers of untrusted input:
//!
//! - [`Cursor`]: a bounded reader over borrowed bytes (little- and big-endian integers, fixed
//!   arrays, sized slices, `finish` on trailing data). Reads never panic and never allocate;
//!   every error names the structure, the field and the byte offset.
//! - [`pem`]: PEM (RFC 7468) to DER and back: strict for one block or a bundle of several,
//!   lenient (any line length, CRLF) for the one-block files operators supply, DER or PEM by
//!   content.
#![forbid(unsafe_code)]

mod cursor;
pub mod pem;

pub use cursor::{Cursor, Error};
