//! Replaying an event log into PCR values, and comparing a replay with quoted PCRs.
//!
//! Rules (TCG PC Client PFP; they reproduce go-tpm-tools' expected PCRs):
//! * PCRs 0–16 and 23 start at all-zero, PCRs 17–22 at all-ones (only a DRTM resets them);
//! * a StartupLocality EV_NO_ACTION event on PCR0 sets PCR0's start value to `00…00<locality>`
//!   (it must come before any PCR0 extend, at most once);
//! * every other event is extended, `PCR = H(PCR ‖ digest[bank])`, except EV_NO_ACTION, which
//!   never is (this covers the Spec ID and SP800-155 events);
//! * an event without a digest for a replayed bank is an error.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{data::EventData, event_type_name, EventLog, EV_NO_ACTION};
use crate::alg::HashAlg;
use crate::error::{hx, Error};
use crate::pcr::PcrValues;

/// The result of replaying a log.
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    pcrs: PcrValues,
    #[serde(skip)]
    events: BTreeMap<u32, Vec<(usize, u32)>>,
    startup_locality: Option<u8>,
}

/// How [`Replay::compare`] treats PCRs present on one side only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareMode {
    /// Every PCR the log extends (in a bank the quote has) must be quoted and equal. Quoted PCRs
    /// the log never touches are not judged (the log says nothing about them).
    LogCovered,
    /// Every quoted PCR must be explained by the log: equal to the replay, or, if the log never
    /// extends it, equal to its reset value. A quoted bank the log lacks is an error.
    AllQuoted,
}

/// The value a PCR holds before any extend.
pub(crate) fn reset_value(alg: HashAlg, pcr: u32, startup_locality: Option<u8>) -> Vec<u8> {
    let mut v = vec![if (17..=22).contains(&pcr) { 0xFF } else { 0x00 }; alg.size()];
    if pcr == 0 {
        if let (Some(l), Some(last)) = (startup_locality, v.last_mut()) {
            *last = l;
        }
    }
    v
}

/// Replay `log` into PCR values for every bank it carries that this crate can hash.
///
/// # Errors
///
/// [`Error::EventLog`] when an event's digest cannot be computed for its bank.
pub fn replay(log: &EventLog<'_>) -> Result<Replay, Error> {
    let banks = log.banks();
    if banks.is_empty() {
        return Err(Error::EventLog {
            event: 0,
            offset: 0,
            reason: "no bank this verifier can replay".into(),
        });
    }
    let mut locality: Option<u8> = None;
    let mut state: BTreeMap<(HashAlg, u32), Vec<u8>> = BTreeMap::new();
    let mut events: BTreeMap<u32, Vec<(usize, u32)>> = BTreeMap::new();
    for e in log.events() {
        if e.event_type == EV_NO_ACTION {
            if let (0, EventData::StartupLocality { locality: l }) = (e.pcr, e.decode()) {
                if locality.is_some() || events.contains_key(&0) {
                    return Err(Error::EventLog {
                        event: e.index,
                        offset: e.offset,
                        reason: "StartupLocality repeated or after a PCR0 extend".into(),
                    });
                }
                locality = Some(l);
            }
            continue;
        }
        for &bank in &banks {
            let d = e.digest(bank).ok_or_else(|| Error::EventLog {
                event: e.index,
                offset: e.offset,
                reason: format!("no {bank} digest"),
            })?;
            let cur = state
                .entry((bank, e.pcr))
                .or_insert_with(|| reset_value(bank, e.pcr, locality));
            *cur = bank.hash_parts([cur.as_slice(), d]);
        }
        events
            .entry(e.pcr)
            .or_default()
            .push((e.index, e.event_type));
    }
    let mut pcrs = PcrValues::new();
    for ((bank, pcr), v) in state {
        pcrs.insert(bank, pcr, v)?;
    }
    Ok(Replay {
        pcrs,
        events,
        startup_locality: locality,
    })
}

impl Replay {
    /// Replayed values per bank (only PCRs the log extends).
    pub fn pcrs(&self) -> &PcrValues {
        &self.pcrs
    }

    /// The StartupLocality, if the log had one.
    pub fn startup_locality(&self) -> Option<u8> {
        self.startup_locality
    }

    /// Log indices of the events that extended `pcr`.
    pub fn events_of(&self, pcr: u32) -> Vec<usize> {
        self.events
            .get(&pcr)
            .map(|v| v.iter().map(|(i, _)| *i).collect())
            .unwrap_or_default()
    }

    /// Compare with quoted (verified) PCR values; the error names the bank, PCR and last event.
    ///
    /// # Errors
    ///
    /// [`Error::ReplayMismatch`] naming bank, PCR and last event when a value differs,
    /// [`Error::ReplayCoverage`] when a quoted PCR is not covered as `mode` requires.
    pub fn compare(&self, quoted: &PcrValues, mode: CompareMode) -> Result<(), Error> {
        let common: Vec<HashAlg> = self
            .pcrs
            .banks()
            .keys()
            .filter(|b| quoted.bank(**b).is_some_and(|m| !m.is_empty()))
            .copied()
            .collect();
        if common.is_empty() {
            return Err(Error::ReplayCoverage {
                bank: quoted
                    .banks()
                    .keys()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(","),
                pcr: 0,
                reason: "the log and the quote share no bank".into(),
            });
        }
        match mode {
            CompareMode::LogCovered => {
                for bank in common {
                    for (pcr, v) in self.pcrs.bank(bank).into_iter().flatten() {
                        match quoted.get(bank, *pcr) {
                            None => {
                                return Err(Error::ReplayCoverage {
                                    bank: bank.name().into(),
                                    pcr: *pcr,
                                    reason: "the log extends it but the quote does not cover it"
                                        .into(),
                                })
                            }
                            Some(q) => self.check(bank, *pcr, v, q)?,
                        }
                    }
                }
            }
            CompareMode::AllQuoted => {
                for (bank, values) in quoted.banks() {
                    if values.is_empty() {
                        continue;
                    }
                    if self.pcrs.bank(*bank).is_none()
                        && !self.pcrs.is_empty()
                        && !common.contains(bank)
                    {
                        return Err(Error::ReplayCoverage {
                            bank: bank.name().into(),
                            pcr: values.keys().next().copied().unwrap_or(0),
                            reason: "the log has no digests for this bank".into(),
                        });
                    }
                    for (pcr, q) in values {
                        match self.pcrs.get(*bank, *pcr) {
                            Some(v) => self.check(*bank, *pcr, v, q)?,
                            None => {
                                if *q != reset_value(*bank, *pcr, self.startup_locality) {
                                    return Err(Error::ReplayCoverage {
                                        bank: bank.name().into(),
                                        pcr: *pcr,
                                        reason: format!(
                                            "the log has no events for it, but the quote has {}",
                                            hx(q)
                                        ),
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn check(&self, bank: HashAlg, pcr: u32, replayed: &[u8], quoted: &[u8]) -> Result<(), Error> {
        if replayed == quoted {
            return Ok(());
        }
        let evs = self.events.get(&pcr).map(Vec::as_slice).unwrap_or(&[]);
        let (last_event, last_type) = evs
            .last()
            .map(|(i, t)| (*i, format!(", {}", event_type_name(*t))))
            .unwrap_or((0, String::new()));
        Err(Error::ReplayMismatch {
            bank: bank.name().into(),
            pcr,
            replayed: hx(replayed),
            quoted: hx(quoted),
            events: evs.len(),
            last_event,
            last_type,
        })
    }
}
