//! Proving nobody has room before a ticket waits, cheaply.
//!
//! A decision that finds nobody with room in this replica's copy must not
//! queue the ticket on the copy's word alone. Reading every qualified
//! agent's state again costs Redis work in proportion to the group, on
//! every such decision, and full groups are exactly when decisions pile
//! up. So each tenant has an epoch, a counter the scripts move whenever
//! room may appear: a hold is released (load falls) or a presence changes
//! (someone comes online or back from away). Load rises and agents going
//! offline never move it; they only take room away.
//!
//! The copy's epoch is read before the copy itself, and answers reach the
//! copy only when asked after it was put (see `Sheets::update`), so
//! everything the copy shows was true at some moment after its epoch was
//! read. If the epoch has not moved since, no load has fallen and nobody
//! has come online since that moment: an agent the copy shows offline,
//! away or at capacity is so now. (Capacities come from the directory at
//! decision time, so a raised capacity is seen without the epoch.) Reading
//! the epoch from Redis for the decision therefore proves what reading each
//! agent would, and when it has moved, [`Live::room`] reads them, returning
//! only those with room.

use switchboard_proto::{common::v1::Channel, routing::v1::Presence};
use switchboard_runtime::TenantId;

use super::{Live, LiveError, Result};

impl Live {
    /// The tenant's epoch: it moves whenever capacity may have freed up.
    pub async fn epoch(&self, t: &TenantId) -> Result<i64> {
        let mut conn = self.conn.clone();
        let epoch: Option<i64> = redis::cmd("GET")
            .arg(self.epoch_key(t))
            .query_async(&mut conn)
            .await?;
        Ok(epoch.unwrap_or(0))
    }

    /// Which of `users` (with their capacities `limits` for `channel`) are
    /// online (or away, with `away`) and under capacity, read atomically:
    /// their index in `users`, presence and load.
    pub async fn room(
        &self,
        t: &TenantId,
        channel: Channel,
        users: &[&str],
        limits: &[u32],
        away: bool,
    ) -> Result<Vec<(usize, Presence, u32)>> {
        if users.len() != limits.len() {
            return Err(LiveError("one capacity per user".into()));
        }
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.clone();
        let mut call = self.room.prepare_invoke();
        call.key(self.presence_key(t))
            .key(self.load_key(t, channel))
            .arg(if away { "1" } else { "0" })
            .arg(users)
            .arg(limits);
        let flat: Vec<i64> = call.invoke_async(&mut conn).await?;
        Ok(flat
            .chunks_exact(3)
            .filter_map(|r| {
                let i = usize::try_from(r[0]).ok().filter(|i| *i < users.len())?;
                let presence = if r[1] == 2 {
                    Presence::Away
                } else {
                    Presence::Online
                };
                Some((i, presence, u32::try_from(r[2]).unwrap_or(u32::MAX)))
            })
            .collect())
    }
}
