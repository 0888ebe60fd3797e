//! CSV export of ticket facts, streamed page by page from PostgreSQL so a
//! large export never sits in memory whole.

use sqlx::PgPool;
use switchboard_kpi::{Range, TicketFact};
use switchboard_proto::analytics::v1 as pb;
use switchboard_runtime::Feed;

use super::internal;
use crate::csv;
use crate::query::Filter;
use crate::state;

/// Rows per CSV chunk.
pub const CSV_ROWS_PER_CHUNK: usize = 500;

/// Facts read per query.
const PAGE: i64 = 2000;

/// Sends the header, then `tenant`'s facts created in `range` and passing
/// `filter` in creation order, [`CSV_ROWS_PER_CHUNK`] per chunk, until
/// done or the receiver goes away (or takes nothing for the stall timeout).
pub async fn export(
    pool: PgPool,
    tenant: String,
    range: Range,
    filter: Filter,
    mut feed: Feed<pb::CsvChunk>,
) {
    let header = pb::CsvChunk {
        data: csv::csv_line(csv::CSV_HEADER).into_bytes(),
    };
    if feed.send(header).await.is_err() {
        return;
    }
    let mut after = None;
    let mut data = String::new();
    let mut rows = 0;
    loop {
        let page = match state::export_page(&pool, &tenant, range, &filter, after, PAGE).await {
            Ok(page) => page,
            Err(e) => {
                feed.fail(internal(&e));
                return;
            }
        };
        let full = page.len() as i64 == PAGE;
        for (stored_at, id, json) in page {
            after = Some((stored_at, id));
            let fact: TicketFact = match serde_json::from_str(&json) {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!(error = %e, ticket = %id, "unreadable fact left out of the export");
                    continue;
                }
            };
            // The stored instant is rounded to microseconds; the fact's is
            // exact.
            if !range.contains(fact.created_at) || !filter.matches(&fact) {
                continue;
            }
            data.push_str(&csv::csv_line(&csv::csv_row(id, &fact)));
            rows += 1;
            if rows == CSV_ROWS_PER_CHUNK {
                let chunk = pb::CsvChunk {
                    data: std::mem::take(&mut data).into_bytes(),
                };
                if feed.send(chunk).await.is_err() {
                    return;
                }
                rows = 0;
            }
        }
        if !full {
            break;
        }
    }
    if rows > 0 {
        let _ = feed
            .send(pb::CsvChunk {
                data: data.into_bytes(),
            })
            .await;
    }
}
