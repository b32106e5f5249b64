//! TCG PC Client firmware event logs: crypto-agile (TCG_PCR_EVENT2 after a Spec ID event) and
//! legacy SHA-1 (TCG 1.2 TCG_PCR_EVENT only). Parsing borrows the input, is bounded by its size
//! and never panics; [`replay`] turns a log into PCR values per bank.

mod data;
mod replay;

pub(crate) use data::event_type_name;
pub use data::{EventData, GptPartition};
pub use replay::{replay, CompareMode, Replay};

use serde::Serialize;

use crate::alg::HashAlg;
use crate::cursor::Cursor;
use crate::error::Error;

/// EV_NO_ACTION: informational, never extended.
pub const EV_NO_ACTION: u32 = 0x0000_0003;
/// Signature of the crypto-agile Spec ID event.
const SPEC_ID_03: &[u8] = b"Spec ID Event03\0";
/// Most digests one event may carry.
const MAX_DIGESTS: u32 = 16;
/// Largest PCR index accepted in a log (TPM PCRs 0-23; CCEL/RTMR indices fit too).
const MAX_PCR_INDEX: u32 = 31;

/// The log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// TCG PC Client crypto-agile (Spec ID Event03).
    CryptoAgile,
    /// TCG 1.2 SHA-1 log.
    LegacySha1,
}

/// One algorithm of the Spec ID event's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SpecAlgorithm {
    /// TPM_ALG_ID.
    pub alg_id: u16,
    /// Digest size declared for it.
    pub digest_size: u16,
}

/// One event record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    /// Position in the log (0 = the first record, including the Spec ID event).
    pub index: usize,
    /// Byte offset of the record.
    pub offset: usize,
    /// PCR index.
    pub pcr: u32,
    /// Event type (EV_*).
    pub event_type: u32,
    /// Digests per known bank (unknown algorithms of the Spec ID table are skipped).
    pub digests: Vec<(HashAlg, &'a [u8])>,
    /// Event data.
    pub data: &'a [u8],
}

impl<'a> Event<'a> {
    /// The digest for one bank.
    pub fn digest(&self, alg: HashAlg) -> Option<&'a [u8]> {
        self.digests
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, d)| *d)
    }
    /// The event data decoded for common event types.
    pub fn decode(&self) -> EventData {
        data::decode(self.event_type, self.pcr, self.data)
    }
    /// The type's name ("EV_SEPARATOR").
    pub fn type_name(&self) -> String {
        event_type_name(self.event_type)
    }
}

/// A parsed event log.
#[derive(Debug, Clone)]
pub struct EventLog<'a> {
    format: LogFormat,
    algorithms: Vec<SpecAlgorithm>,
    events: Vec<Event<'a>>,
}

impl<'a> EventLog<'a> {
    /// Parse a log as read from `/sys/kernel/security/tpm0/binary_bios_measurements` (or a
    /// CCEL table: trailing all-0x00 or all-0xFF padding ends the log).
    ///
    /// # Errors
    ///
    /// [`Error::EventLog`] naming the event and field that do not parse, [`Error::Layout`] for a
    /// log cut short.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut c = Cursor::new(bytes, "event log");
        let first = read_legacy(&mut c, 0)?;
        let (format, algorithms) = if first.event_type == EV_NO_ACTION
            && first.pcr == 0
            && first.data.starts_with(SPEC_ID_03)
        {
            if first.digests.iter().any(|(_, d)| d.iter().any(|b| *b != 0)) {
                return Err(ev_err(&first, "Spec ID event digest is not zero"));
            }
            (LogFormat::CryptoAgile, parse_spec_id(&first)?)
        } else {
            (
                LogFormat::LegacySha1,
                vec![SpecAlgorithm {
                    alg_id: HashAlg::Sha1.id(),
                    digest_size: 20,
                }],
            )
        };
        let mut events = vec![first];
        loop {
            if c.remaining() == 0 || is_padding(c.rest()) {
                break;
            }
            let index = events.len();
            let ev = match format {
                LogFormat::CryptoAgile => read_agile(&mut c, index, &algorithms)?,
                LogFormat::LegacySha1 => read_legacy(&mut c, index)?,
            };
            events.push(ev);
        }
        Ok(Self {
            format,
            algorithms,
            events,
        })
    }

    /// The format.
    pub fn format(&self) -> LogFormat {
        self.format
    }
    /// The Spec ID algorithm table (legacy logs: SHA-1 only).
    pub fn algorithms(&self) -> &[SpecAlgorithm] {
        &self.algorithms
    }
    /// Banks this crate can replay.
    pub fn banks(&self) -> Vec<HashAlg> {
        self.algorithms
            .iter()
            .filter_map(|a| HashAlg::from_id(a.alg_id))
            .collect()
    }
    /// All records, including the Spec ID event of a crypto-agile log.
    pub fn events(&self) -> &[Event<'a>] {
        &self.events
    }

    /// A serialisable listing of the events with decoded data.
    pub fn describe(&self) -> Vec<EventSummary> {
        self.events
            .iter()
            .map(|e| EventSummary {
                index: e.index,
                pcr: e.pcr,
                event_type: e.type_name(),
                digests: e
                    .digests
                    .iter()
                    .map(|(a, d)| (a.name().to_string(), hex::encode(d)))
                    .collect(),
                data: e.decode(),
            })
            .collect()
    }
}

/// One event for JSON output.
#[derive(Debug, Clone, Serialize)]
pub struct EventSummary {
    /// Record index.
    pub index: usize,
    /// PCR.
    pub pcr: u32,
    /// Type name.
    pub event_type: String,
    /// Digests per bank (hex).
    pub digests: std::collections::BTreeMap<String, String>,
    /// Decoded data.
    pub data: EventData,
}

fn ev_err(e: &Event<'_>, reason: impl Into<String>) -> Error {
    Error::EventLog {
        event: e.index,
        offset: e.offset,
        reason: reason.into(),
    }
}

fn is_padding(rest: &[u8]) -> bool {
    rest.len() >= 8 && (rest.iter().all(|b| *b == 0) || rest.iter().all(|b| *b == 0xFF))
}

fn wrap(index: usize, offset: usize) -> impl Fn(Error) -> Error {
    move |e| Error::EventLog {
        event: index,
        offset,
        reason: e.to_string(),
    }
}

fn check_pcr(c: &Cursor<'_>, pcr: u32) -> Result<(), Error> {
    if pcr > MAX_PCR_INDEX {
        return Err(c.invalid("pcrIndex", format!("{pcr} > {MAX_PCR_INDEX}")));
    }
    Ok(())
}

/// TCG_PCR_EVENT: pcrIndex u32, eventType u32, SHA-1 digest, eventSize u32, event.
fn read_legacy<'a>(c: &mut Cursor<'a>, index: usize) -> Result<Event<'a>, Error> {
    let offset = c.pos();
    let w = wrap(index, offset);
    let pcr = c.u32_le("pcrIndex").map_err(&w)?;
    check_pcr(c, pcr).map_err(&w)?;
    let event_type = c.u32_le("eventType").map_err(&w)?;
    let digest = c.take(20, "digest").map_err(&w)?;
    let size = c.u32_le("eventSize").map_err(&w)?;
    let data = c
        .take(usize::try_from(size).unwrap_or(usize::MAX), "event")
        .map_err(&w)?;
    Ok(Event {
        index,
        offset,
        pcr,
        event_type,
        digests: vec![(HashAlg::Sha1, digest)],
        data,
    })
}

/// TCG_PCR_EVENT2: pcrIndex u32, eventType u32, TPML_DIGEST_VALUES (LE count + {alg, digest}), eventSize u32, event.
fn read_agile<'a>(
    c: &mut Cursor<'a>,
    index: usize,
    algs: &[SpecAlgorithm],
) -> Result<Event<'a>, Error> {
    let offset = c.pos();
    let w = wrap(index, offset);
    let pcr = c.u32_le("pcrIndex").map_err(&w)?;
    check_pcr(c, pcr).map_err(&w)?;
    let event_type = c.u32_le("eventType").map_err(&w)?;
    let count = c.u32_le("digests.count").map_err(&w)?;
    if count > MAX_DIGESTS || count as usize > algs.len() {
        return Err(Error::EventLog {
            event: index,
            offset,
            reason: format!(
                "{count} digests, the Spec ID event declares {} algorithms",
                algs.len()
            ),
        });
    }
    let mut seen: Vec<u16> = Vec::new();
    let mut digests = Vec::new();
    for _ in 0..count {
        let id = c.u16_le("digests.hashAlg").map_err(&w)?;
        let spec = algs
            .iter()
            .find(|a| a.alg_id == id)
            .ok_or_else(|| Error::EventLog {
                event: index,
                offset,
                reason: format!("digest algorithm 0x{id:04x} is not in the Spec ID event"),
            })?;
        if seen.contains(&id) {
            return Err(Error::EventLog {
                event: index,
                offset,
                reason: format!("digest algorithm 0x{id:04x} twice"),
            });
        }
        seen.push(id);
        let d = c
            .take(usize::from(spec.digest_size), "digests.digest")
            .map_err(&w)?;
        if let Some(h) = HashAlg::from_id(id) {
            digests.push((h, d));
        }
    }
    let size = c.u32_le("eventSize").map_err(&w)?;
    let data = c
        .take(usize::try_from(size).unwrap_or(usize::MAX), "event")
        .map_err(&w)?;
    Ok(Event {
        index,
        offset,
        pcr,
        event_type,
        digests,
        data,
    })
}

/// TCG_EfiSpecIdEvent: signature[16], platformClass u32, specVersionMinor u8, specVersionMajor
/// u8, specErrata u8, uintnSize u8, numberOfAlgorithms u32, {algId u16, digestSize u16}[n],
/// vendorInfoSize u8, vendorInfo.
fn parse_spec_id(e: &Event<'_>) -> Result<Vec<SpecAlgorithm>, Error> {
    let w = wrap(e.index, e.offset);
    let mut c = Cursor::new(e.data, "TCG_EfiSpecIdEvent");
    c.take(16, "signature").map_err(&w)?;
    c.u32_le("platformClass").map_err(&w)?;
    let minor = c.u8("specVersionMinor").map_err(&w)?;
    let major = c.u8("specVersionMajor").map_err(&w)?;
    c.u8("specErrata").map_err(&w)?;
    let uintn = c.u8("uintnSize").map_err(&w)?;
    if major != 2 || !(uintn == 1 || uintn == 2) {
        return Err(ev_err(
            e,
            format!("Spec ID version {major}.{minor}, uintnSize {uintn}: not a TCG 2.0 log"),
        ));
    }
    let n = c.u32_le("numberOfAlgorithms").map_err(&w)?;
    if n == 0 || n > MAX_DIGESTS {
        return Err(ev_err(
            e,
            format!("numberOfAlgorithms {n} outside 1..={MAX_DIGESTS}"),
        ));
    }
    let mut algs: Vec<SpecAlgorithm> = Vec::new();
    for _ in 0..n {
        let alg_id = c.u16_le("digestSizes.algorithmId").map_err(&w)?;
        let digest_size = c.u16_le("digestSizes.digestSize").map_err(&w)?;
        if let Some(h) = HashAlg::from_id(alg_id) {
            if usize::from(digest_size) != h.size() {
                return Err(ev_err(
                    e,
                    format!("{h} declared with {digest_size}-byte digests"),
                ));
            }
        }
        if digest_size == 0 || digest_size > 64 {
            return Err(ev_err(
                e,
                format!("algorithm 0x{alg_id:04x} declared with {digest_size}-byte digests"),
            ));
        }
        if algs.iter().any(|a| a.alg_id == alg_id) {
            return Err(ev_err(e, format!("algorithm 0x{alg_id:04x} listed twice")));
        }
        algs.push(SpecAlgorithm {
            alg_id,
            digest_size,
        });
    }
    let vlen = c.u8("vendorInfoSize").map_err(&w)?;
    c.take(usize::from(vlen), "vendorInfo").map_err(&w)?;
    c.finish().map_err(&w)?;
    Ok(algs)
}
