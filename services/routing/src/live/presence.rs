//! Presence: set by agents, kept alive by heartbeats, and ended by a missed
//! heartbeat window. Every change also corrects this replica's copy.

use chrono::{DateTime, Utc};
use switchboard_proto::routing::v1::Presence;
use switchboard_runtime::TenantId;

use super::{Live, Result, parse_presence, presence_str};

/// An agent whose heartbeat deadline passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// The tenant.
    pub tenant: String,
    /// The user id.
    pub user: String,
    /// Presence before going offline.
    pub was: Presence,
}

impl Live {
    /// Sets a presence; online and away start a heartbeat window ending at
    /// `deadline`. Returns the previous presence.
    pub async fn set_presence(
        &self,
        t: &TenantId,
        user: &str,
        p: Presence,
        deadline: DateTime<Utc>,
    ) -> Result<Presence> {
        let mut conn = self.conn.clone();
        let since = self.sheets.now();
        let old: String = self
            .set_presence
            .key(self.presence_key(t))
            .key(self.hb_key())
            .key(self.epoch_key(t))
            .arg(user)
            .arg(presence_str(p))
            .arg(Self::member(t, user))
            .arg(deadline.timestamp_millis())
            .invoke_async(&mut conn)
            .await?;
        self.sheets.presence(since, t.as_str(), user, p);
        Ok(parse_presence(Some(&old)))
    }

    /// Extends an online or away agent's window to `deadline` and returns the
    /// presence; an offline agent is left offline.
    pub async fn heartbeat(
        &self,
        t: &TenantId,
        user: &str,
        deadline: DateTime<Utc>,
    ) -> Result<Presence> {
        let mut conn = self.conn.clone();
        let since = self.sheets.now();
        let p: String = self
            .heartbeat
            .key(self.presence_key(t))
            .key(self.hb_key())
            .arg(user)
            .arg(Self::member(t, user))
            .arg(deadline.timestamp_millis())
            .invoke_async(&mut conn)
            .await?;
        let p = parse_presence(Some(&p));
        self.sheets.presence(since, t.as_str(), user, p);
        Ok(p)
    }

    /// Marks up to `limit` agents whose heartbeat deadline passed by `now`
    /// offline; each is reported by exactly one caller.
    pub async fn expire(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Expired>> {
        let mut conn = self.conn.clone();
        let since = self.sheets.now();
        let raw: Vec<String> = self
            .expire
            .key(self.hb_key())
            .arg(now.timestamp_millis())
            .arg(limit)
            .arg(format!("{}:pres:", self.prefix))
            .invoke_async(&mut conn)
            .await?;
        Ok(raw
            .iter()
            .filter_map(|m| {
                let (member, was) = m.rsplit_once('|')?;
                let (tenant, user) = member.split_once('/')?;
                self.sheets.presence(since, tenant, user, Presence::Offline);
                Some(Expired {
                    tenant: tenant.into(),
                    user: user.into(),
                    was: parse_presence(Some(was)),
                })
            })
            .collect())
    }
}
