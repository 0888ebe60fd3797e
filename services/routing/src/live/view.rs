//! Reading a tenant's live state into this replica's copy (see `sheet`).

use std::{collections::HashMap, time::Duration};

use switchboard_proto::{common::v1::Channel, routing::v1::Presence};
use switchboard_runtime::TenantId;

use super::{
    Live, Result, parse_presence,
    sheet::{Among, Seen, Sheet, View, slot},
};
use crate::domain::CHANNELS;

impl Live {
    /// Presence and `channel` load of the agents `among` picks, and
    /// `group`'s last round-robin pick, from this replica's copy when it is
    /// younger than `max_age`, else read again from Redis (one round trip
    /// for the tenant, by one caller while the others wait for it).
    pub async fn view(
        &self,
        t: &TenantId,
        channel: Channel,
        group: &str,
        among: Among<'_>,
        max_age: Duration,
    ) -> Result<View> {
        let Some(i) = slot(channel) else {
            let users: Vec<&str> = among
                .picks
                .iter()
                .map(|f| among.agents[f.index].user.as_str())
                .collect();
            let agents = self.snapshot(t, channel, &users).await?;
            return Ok(View {
                agents,
                last: None,
                fresh: true,
                epoch: 0,
            });
        };
        let tenant = t.as_str();
        if let Some(v) = self.sheets.view(tenant, i, group, among, max_age) {
            return Ok(v);
        }
        let reading = self.sheets.reading(tenant);
        let _turn = reading.lock().await;
        // Read by another decision while this one waited: young enough,
        // though not read for this call.
        if let Some(v) = self.sheets.view(tenant, i, group, among, max_age) {
            return Ok(v);
        }
        let sheet = self.read_sheet(t).await?;
        let epoch = sheet.epoch;
        self.sheets.put(tenant, sheet);
        let mut v = self
            .sheets
            .view(tenant, i, group, among, Duration::MAX)
            .unwrap_or_else(|| View {
                agents: vec![(Presence::Offline, 0); among.picks.len()],
                last: None,
                fresh: true,
                epoch,
            });
        v.fresh = true;
        Ok(v)
    }

    /// The tenant's whole live state: presence, every channel's load and
    /// the round-robin positions.
    async fn read_sheet(&self, t: &TenantId) -> Result<Sheet> {
        let mut pipe = redis::pipe();
        // The epoch first: whatever changes while the hashes are read moves
        // it past the copy's, so the copy never vouches for more than it saw.
        pipe.cmd("GET").arg(self.epoch_key(t));
        pipe.cmd("HGETALL").arg(self.presence_key(t));
        for c in CHANNELS {
            pipe.cmd("HGETALL").arg(self.load_key(t, c));
        }
        pipe.cmd("HGETALL").arg(self.rr_key(t));
        let mut conn = self.conn.clone();
        let mut all: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
        let last: HashMap<String, String> =
            redis::from_redis_value(all.pop().unwrap_or(redis::Value::Nil))?;
        let epoch: Option<i64> = redis::from_redis_value(all.remove(0))?;
        let presence: HashMap<String, String> = redis::from_redis_value(all.remove(0))?;
        let loads = all
            .into_iter()
            .map(redis::from_redis_value::<HashMap<String, u32>>)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut agents: HashMap<String, Seen> = presence
            .into_iter()
            .map(|(user, p)| {
                let seen = Seen {
                    presence: parse_presence(Some(&p)),
                    ..Seen::default()
                };
                (user, seen)
            })
            .collect();
        for (i, load) in loads.into_iter().enumerate() {
            for (user, n) in load {
                agents.entry(user).or_default().load[i] = n;
            }
        }
        Ok(Sheet {
            epoch: epoch.unwrap_or(0),
            agents,
            last,
        })
    }
}
