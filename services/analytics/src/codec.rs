//! Compact bytes for what is stored per ticket (its [`Samples`]), and the
//! varints [`crate::packed`] writes aggregate rows with: reading a few
//! thousand of them costs microseconds rather than JSON parsing.

use chrono::{DateTime, Utc};
use switchboard_kpi::Elapsed;
use switchboard_kpi::fact::{Channel, Priority};

use crate::sample::{Dims, Item, Samples, Solve, What};

/// Bytes that do not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stored aggregate bytes are malformed")]
pub struct Malformed;

/// Bytes being written.
pub(crate) struct Out(pub(crate) Vec<u8>);

impl Out {
    pub(crate) fn u(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    pub(crate) fn i(&mut self, v: i64) {
        self.u(((v << 1) ^ (v >> 63)) as u64);
    }
    pub(crate) fn s(&mut self, s: &str) {
        self.u(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    pub(crate) fn opt(&mut self, s: Option<&str>) {
        match s {
            None => self.u(0),
            Some(s) => {
                self.u(1);
                self.s(s);
            }
        }
    }
    pub(crate) fn elapsed(&mut self, e: Elapsed) {
        self.i(e.calendar);
        self.i(e.business);
    }
}

/// Bytes being read.
pub(crate) struct In<'a>(pub(crate) &'a [u8]);

impl In<'_> {
    pub(crate) fn u(&mut self) -> Result<u64, Malformed> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first().ok_or(Malformed)?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Malformed)
    }
    pub(crate) fn i(&mut self) -> Result<i64, Malformed> {
        let v = self.u()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }
    pub(crate) fn small(&mut self) -> Result<u32, Malformed> {
        u32::try_from(self.u()?).map_err(|_| Malformed)
    }
    pub(crate) fn s(&mut self) -> Result<String, Malformed> {
        let n = usize::try_from(self.u()?).map_err(|_| Malformed)?;
        if n > self.0.len() {
            return Err(Malformed);
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8(s.to_vec()).map_err(|_| Malformed)
    }
    pub(crate) fn opt(&mut self) -> Result<Option<String>, Malformed> {
        Ok(if self.u()? == 0 {
            None
        } else {
            Some(self.s()?)
        })
    }
    pub(crate) fn elapsed(&mut self) -> Result<Elapsed, Malformed> {
        Ok(Elapsed {
            calendar: self.i()?,
            business: self.i()?,
        })
    }
    pub(crate) fn done(&self) -> bool {
        self.0.is_empty()
    }
}

const CHANNELS: [Channel; 7] = [
    Channel::Email,
    Channel::Chat,
    Channel::Phone,
    Channel::Social,
    Channel::Sms,
    Channel::WebForm,
    Channel::Api,
];
const PRIORITIES: [Priority; 4] = [
    Priority::Low,
    Priority::Normal,
    Priority::High,
    Priority::Urgent,
];

fn index_of<T: PartialEq>(all: &[T], v: &T) -> u64 {
    all.iter().position(|x| x == v).unwrap_or(0) as u64
}

/// `samples` as bytes.
pub fn encode_samples(samples: &Samples) -> Vec<u8> {
    let mut o = Out(Vec::with_capacity(64 + 16 * samples.items.len()));
    let d = &samples.dims;
    o.u(index_of(&CHANNELS, &d.channel));
    o.u(index_of(&PRIORITIES, &d.priority));
    o.opt(d.group.as_deref());
    o.opt(d.assignee.as_deref());
    o.u(d.tags.len() as u64);
    d.tags.iter().for_each(|t| o.s(t));
    o.u(samples.items.len() as u64);
    for item in &samples.items {
        o.i(item.at.timestamp());
        o.u(u64::from(item.at.timestamp_subsec_nanos()));
        match &item.what {
            What::Created => o.u(0),
            What::Backlog(step) => {
                o.u(1);
                o.i(i64::from(*step));
            }
            What::FirstReply(e) => {
                o.u(2);
                o.elapsed(*e);
            }
            What::FirstResolution(e) => {
                o.u(3);
                o.elapsed(*e);
            }
            What::Solved(s) => {
                o.u(4);
                o.u(u64::from(s.replies));
                o.u(u64::from(s.assignee_hops));
                o.u(u64::from(s.group_hops));
                o.u(u64::from(s.one_touch) | u64::from(s.reopened) << 1);
                o.u(u64::from(s.full_resolution.is_some()));
                if let Some(e) = s.full_resolution {
                    o.elapsed(e);
                }
                o.elapsed(s.requester_wait);
                o.elapsed(s.agent_wait);
            }
            What::Rated(score) => {
                o.u(5);
                o.u(u64::from(*score));
            }
            What::SlaFirstReply(met) => o.u(6 + u64::from(*met)),
            What::SlaResolution(met) => o.u(8 + u64::from(*met)),
            What::Reply(agent) => {
                o.u(10);
                o.s(agent);
            }
        }
    }
    o.0
}

/// The samples stored as `bytes`.
pub fn decode_samples(bytes: &[u8]) -> Result<Samples, Malformed> {
    let mut r = In(bytes);
    let channel = *CHANNELS.get(r.u()? as usize).ok_or(Malformed)?;
    let priority = *PRIORITIES.get(r.u()? as usize).ok_or(Malformed)?;
    let group = r.opt()?;
    let assignee = r.opt()?;
    let tags = (0..r.small()?).map(|_| r.s()).collect::<Result<_, _>>()?;
    let n = r.small()?;
    let mut items = Vec::with_capacity(n.min(1024) as usize);
    for _ in 0..n {
        let secs = r.i()?;
        let nanos = r.small()?;
        let at = DateTime::<Utc>::from_timestamp(secs, nanos).ok_or(Malformed)?;
        let what = match r.u()? {
            0 => What::Created,
            1 => What::Backlog(i8::try_from(r.i()?).map_err(|_| Malformed)?),
            2 => What::FirstReply(r.elapsed()?),
            3 => What::FirstResolution(r.elapsed()?),
            4 => {
                let (replies, assignee_hops, group_hops) = (r.small()?, r.small()?, r.small()?);
                let flags = r.u()?;
                let full_resolution = if r.u()? == 1 {
                    Some(r.elapsed()?)
                } else {
                    None
                };
                What::Solved(Box::new(Solve {
                    replies,
                    assignee_hops,
                    group_hops,
                    one_touch: flags & 1 == 1,
                    reopened: flags & 2 == 2,
                    full_resolution,
                    requester_wait: r.elapsed()?,
                    agent_wait: r.elapsed()?,
                }))
            }
            5 => What::Rated(u8::try_from(r.u()?).map_err(|_| Malformed)?),
            k @ (6 | 7) => What::SlaFirstReply(k == 7),
            k @ (8 | 9) => What::SlaResolution(k == 9),
            10 => What::Reply(r.s()?),
            _ => return Err(Malformed),
        };
        items.push(Item { at, what });
    }
    if !r.done() {
        return Err(Malformed);
    }
    Ok(Samples {
        dims: Dims {
            channel,
            priority,
            group,
            assignee,
            tags,
        },
        items,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn samples() -> Samples {
        let at = DateTime::from_timestamp(1_790_000_000, 123).unwrap();
        Samples {
            dims: Dims {
                channel: Channel::WebForm,
                priority: Priority::Urgent,
                group: Some("billing".into()),
                assignee: None,
                tags: vec!["".into(), "vip".into()],
            },
            items: vec![
                Item {
                    at,
                    what: What::Created,
                },
                Item {
                    at,
                    what: What::Backlog(-1),
                },
                Item {
                    at,
                    what: What::FirstReply(Elapsed {
                        calendar: 90,
                        business: 30,
                    }),
                },
                Item {
                    at,
                    what: What::Solved(Box::new(Solve {
                        replies: 2,
                        reopened: true,
                        full_resolution: Some(Elapsed {
                            calendar: 7,
                            business: 0,
                        }),
                        ..Solve::default()
                    })),
                },
                Item {
                    at,
                    what: What::SlaResolution(false),
                },
                Item {
                    at,
                    what: What::Reply("ann".into()),
                },
            ],
        }
    }

    #[test]
    fn samples_round_trip() {
        let samples = samples();
        let bytes = encode_samples(&samples);
        assert_eq!(decode_samples(&bytes), Ok(samples.clone()));
        assert_eq!(decode_samples(&bytes[..bytes.len() - 1]), Err(Malformed));
    }
}
