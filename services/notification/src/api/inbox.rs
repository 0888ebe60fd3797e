//! The in-app inbox: list, unread count, mark read, and the live stream.

use std::{sync::Arc, time::Duration};

use switchboard_proto::notification::v1 as pb;
use switchboard_runtime::{
    TenantId, caller,
    fanout::{Listener, events},
};
use tokio::sync::{broadcast, watch};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{ApiError, NotificationApi, Res, convert, inboxes, invalid};
use crate::{
    domain::input::{page_size, parse_name},
    store::{LiveRow, PgStore},
};

/// Most names one `MarkRead` takes.
const MAX_MARK: usize = 100;
/// Rows a stream reads per query while catching up.
const STREAM_BATCH: i64 = 100;
/// Rows a tenant's live reader reads per query.
const TAIL_BATCH: i64 = 500;

fn parse_cursor(raw: &str, field: &str) -> Result<Option<i64>, ApiError> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>()
        .ok()
        .filter(|c| *c >= 0)
        .map(Some)
        .ok_or_else(|| invalid(field, "is not a cursor this service issued"))
}

impl NotificationApi {
    pub(super) async fn list_notifications_impl(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Res<pb::ListNotificationsResponse> {
        let caller = caller(&request)?.clone();
        let r = request.into_inner();
        let limit = page_size(r.page_size, 20, 100).map_err(ApiError::from)?;
        let before = parse_cursor(&r.page_token, "page_token")?;
        let who = inboxes(&caller);
        let tenant = caller.tenant.as_str();
        let rows = self
            .store
            .list_inbox(tenant, &who, before, r.unread_only, limit + 1)
            .await
            .map_err(|e| ApiError::from_store(e, "notification"))?;
        let more = rows.len() as i64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => last.seq.to_string(),
            _ => String::new(),
        };
        let unread_count = self
            .store
            .unread_count(tenant, &who)
            .await
            .map_err(|e| ApiError::from_store(e, "notification"))?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: rows.into_iter().map(convert::notification).collect(),
            next_page_token,
            unread_count,
        }))
    }

    pub(super) async fn get_unread_count_impl(
        &self,
        request: Request<pb::GetUnreadCountRequest>,
    ) -> Res<pb::GetUnreadCountResponse> {
        let caller = caller(&request)?;
        let unread_count = self
            .store
            .unread_count(caller.tenant.as_str(), &inboxes(caller))
            .await
            .map_err(|e| ApiError::from_store(e, "notification"))?;
        Ok(Response::new(pb::GetUnreadCountResponse { unread_count }))
    }

    pub(super) async fn mark_read_impl(
        &self,
        request: Request<pb::MarkReadRequest>,
    ) -> Res<pb::MarkReadResponse> {
        let caller = caller(&request)?.clone();
        let r = request.into_inner();
        if r.all && !r.names.is_empty() {
            return Err(invalid("names", "must be empty when `all` is set").into());
        }
        if !r.all && r.names.is_empty() {
            return Err(invalid("names", "name at least one notification, or set `all`").into());
        }
        if r.names.len() > MAX_MARK {
            return Err(invalid("names", "at most 100").into());
        }
        let ids = r
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| parse_name(n, "notifications", &format!("names[{i}]")))
            .collect::<Result<Vec<Uuid>, _>>()
            .map_err(ApiError::from)?;
        let who = inboxes(&caller);
        let tenant = caller.tenant.as_str();
        self.store
            .mark_read(tenant, &who, if r.all { None } else { Some(&ids) })
            .await
            .map_err(|e| ApiError::from_store(e, "notification"))?;
        let unread_count = self
            .store
            .unread_count(tenant, &who)
            .await
            .map_err(|e| ApiError::from_store(e, "notification"))?;
        Ok(Response::new(pb::MarkReadResponse { unread_count }))
    }

    pub(super) async fn subscribe_impl(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Res<<Self as pb::notification_service_server::NotificationService>::SubscribeStream> {
        let caller = caller(&request)?.clone();
        let r = request.into_inner();
        let (mut feed, out) = self.streams.open(
            &caller,
            "Subscribe",
            "subscribe again with `after_cursor` set to the last cursor you received",
        )?;
        let after = parse_cursor(&r.after_cursor, "after_cursor")?;
        let who = inboxes(&caller);
        if who.is_empty() {
            // No inbox (customers): nothing will ever come, so nothing is read.
            tokio::spawn(async move { feed.stopped().await });
            return Ok(Response::new(Box::pin(out)));
        }
        // Listen to the tenant's live rows before catching up, so nothing
        // committed in between is missed; what the catch-up sent is skipped.
        let mut live = self.inbox_listener(&caller.tenant).await?;
        let mut cursor = match after {
            Some(c) => c,
            None => self
                .store
                .latest_cursor()
                .await
                .map_err(|e| ApiError::from_store(e, "notification"))?,
        };
        let store = self.store.clone();
        let tenant = caller.tenant.as_str().to_owned();
        tokio::spawn(async move {
            // Catching up is read at the reader's pace; one who takes
            // nothing for the stall timeout is cut off and resumes from a
            // cursor.
            loop {
                let rows = match store.inbox_after(&tenant, &who, cursor, STREAM_BATCH).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = %e, "inbox stream read failed");
                        feed.fail(Status::unavailable(
                            "inbox unavailable; resume from your cursor",
                        ));
                        return;
                    }
                };
                let full = rows.len() as i64 == STREAM_BATCH;
                for row in rows {
                    cursor = row.seq;
                    if feed.send(convert::notification(row)).await.is_err() {
                        return;
                    }
                }
                if !full {
                    break;
                }
            }
            loop {
                let live_row = tokio::select! {
                    biased;
                    () = feed.stopped() => return,
                    live_row = live.recv() => live_row,
                };
                let live_row = match live_row {
                    Ok(live_row) => live_row,
                    Err(missed) => {
                        feed.missed(missed);
                        return;
                    }
                };
                if live_row.row.seq <= cursor || !who.contains(&live_row.recipient) {
                    continue;
                }
                cursor = live_row.row.seq;
                if feed
                    .send(convert::notification(live_row.row.clone()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(out)))
    }

    /// `tenant`'s live in-app rows from now on, read once for all its
    /// subscribers.
    async fn inbox_listener(&self, tenant: &TenantId) -> Result<Listener<LiveRow>, Status> {
        self.inbox_hub
            .listen(tenant.clone(), || async {
                // Woken from before the start cursor is read, so nothing
                // committed after it goes unread.
                let wake = self.signals.inbox(tenant.as_str());
                let start = self
                    .store
                    .latest_cursor()
                    .await
                    .map_err(|e| Status::from(ApiError::from_store(e, "notification")))?;
                let (tx, shared) = events(self.streams.limits().fanout_buffer);
                let tail = tail(
                    self.store.clone(),
                    tenant.as_str().to_owned(),
                    start,
                    wake,
                    self.poll,
                    tx,
                );
                Ok((shared, tail))
            })
            .await
    }
}

/// Reads `tenant`'s in-app rows after `cursor` whenever woken (or every
/// `poll`) and hands them to its subscribers, until they are gone (the hub
/// then drops this) or a read fails (they then resume from their cursors).
async fn tail(
    store: PgStore,
    tenant: String,
    mut cursor: i64,
    mut wake: watch::Receiver<()>,
    poll: Duration,
    tx: broadcast::Sender<Arc<LiveRow>>,
) {
    loop {
        let rows = match store.tenant_inbox_after(&tenant, cursor, TAIL_BATCH).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "inbox tail read failed");
                return;
            }
        };
        let full = rows.len() as i64 == TAIL_BATCH;
        for row in rows {
            cursor = row.row.seq;
            // No subscriber at this instant is no error: the last may be
            // leaving, and then the hub stops this task.
            let _ = tx.send(Arc::new(row));
        }
        if full {
            continue;
        }
        tokio::select! {
            changed = wake.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(poll).await;
                }
            }
            () = tokio::time::sleep(poll) => {}
        }
    }
}
