//! Writing folded facts in the ingest's transaction, with everything read
//! from them kept in step: the ticket's samples and filter columns, the
//! index of UTC hours it has samples in, and the aggregate rows (per UTC
//! hour and per tenant day, per dimension key). A changed fact takes its
//! old samples back out of the rows and puts its new ones in, so the rows
//! always equal the sum over the current facts, whatever the order events
//! arrived in.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::PgConnection;
use switchboard_kpi::TicketFact;
use switchboard_sla::Calendar;
use uuid::Uuid;

use crate::cells::{Cells, Measure, Measures};
use crate::codec::{Malformed, decode_samples, encode_samples};
use crate::facts::FactRows;
use crate::packed::{add_cells, encode_cells, pack, unpack};
use crate::period::{Days, Grain, hour_of};
use crate::sample::{Dim, Dims, Part, Samples, key_text};

/// A fact to store.
#[derive(Debug, Clone)]
pub struct Folded {
    /// Its tenant.
    pub tenant: String,
    /// Its ticket.
    pub ticket: Uuid,
    /// The highest ticket version folded in.
    pub version: i64,
    /// The fact.
    pub fact: TicketFact,
}

/// An aggregate row: tenant, grain, dimension, period start. It holds the
/// cells of every key of the dimension in the period, by key text.
type RowKey = (String, i16, i16, DateTime<Utc>);

/// Changes to rows, by key text.
type Deltas = HashMap<RowKey, BTreeMap<String, Cells>>;

/// Stores `folded` (each ticket at most once) and keeps samples, the hour
/// index and the aggregate rows in step; returns how many facts were
/// written. `calendars` gives each tenant's time zone (its days).
pub async fn store(
    tx: &mut PgConnection,
    folded: &[Folded],
    calendars: &HashMap<String, Calendar>,
) -> Result<usize, sqlx::Error> {
    if folded.is_empty() {
        return Ok(0);
    }
    let tenants: Vec<&str> = folded.iter().map(|f| f.tenant.as_str()).collect();
    let ids: Vec<Uuid> = folded.iter().map(|f| f.ticket).collect();
    let old: HashMap<(String, Uuid), Vec<u8>> = sqlx::query_as::<_, (String, Uuid, Vec<u8>)>(
        "SELECT f.tenant_id, f.ticket_id, f.samples FROM ticket_facts f \
         JOIN UNNEST($1::text[], $2::uuid[]) AS q(t, k) ON f.tenant_id = q.t AND f.ticket_id = q.k \
         WHERE f.samples IS NOT NULL",
    )
    .bind(&tenants)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(t, k, s)| ((t, k), s))
    .collect();

    let mut deltas = Deltas::new();
    let mut days = Days::default();
    let (mut gone, mut added): (Vec<HourRow>, Vec<HourRow>) = (Vec::new(), Vec::new());
    let mut rows = FactRows::default();
    for f in folded {
        let new = Samples::of(&f.fact);
        let bytes = encode_samples(&new);
        let before = old.get(&(f.tenant.clone(), f.ticket));
        if before != Some(&bytes) {
            let tz = calendars
                .get(&f.tenant)
                .map_or(chrono_tz::UTC, |c| c.time_zone());
            let before = before.and_then(|b| match decode_samples(b) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::error!(error = %e, ticket = %f.ticket, "stored samples unreadable; aggregates need a rebuild");
                    None
                }
            });
            change(&mut deltas, &mut days, &f.tenant, tz, before.as_ref(), &new);
            let hours = |s: Option<&Samples>| -> BTreeSet<DateTime<Utc>> {
                s.map(|s| s.items.iter().map(|i| hour_of(i.at)).collect())
                    .unwrap_or_default()
            };
            let (was, is) = (hours(before.as_ref()), hours(Some(&new)));
            gone.extend(
                was.difference(&is)
                    .map(|h| (f.tenant.clone(), *h, f.ticket)),
            );
            added.extend(
                is.difference(&was)
                    .map(|h| (f.tenant.clone(), *h, f.ticket)),
            );
        }
        rows.push(f, bytes);
    }
    rows.write(tx).await?;
    hour_index(tx, &gone, &added).await?;
    apply(tx, deltas).await?;
    Ok(folded.len())
}

/// Adds `new` and takes back `old` (a ticket's samples before and after),
/// period by period, so that unchanged contributions cancel before they
/// reach any row.
fn change(
    deltas: &mut Deltas,
    days: &mut Days,
    tenant: &str,
    tz: Tz,
    old: Option<&Samples>,
    new: &Samples,
) {
    let mut parts: BTreeMap<(Grain, DateTime<Utc>), Part> = BTreeMap::new();
    match old {
        Some(old) if old.dims == new.dims => {
            periods(&mut parts, days, tz, old, -1);
            periods(&mut parts, days, tz, new, 1);
            fan_out(deltas, tenant, &new.dims, parts);
        }
        _ => {
            if let Some(old) = old {
                periods(&mut parts, days, tz, old, -1);
                fan_out(deltas, tenant, &old.dims, std::mem::take(&mut parts));
            }
            periods(&mut parts, days, tz, new, 1);
            fan_out(deltas, tenant, &new.dims, parts);
        }
    }
}

/// `samples`, times `sign`, per hour and per day.
fn periods(
    parts: &mut BTreeMap<(Grain, DateTime<Utc>), Part>,
    days: &mut Days,
    tz: Tz,
    samples: &Samples,
    sign: i64,
) {
    for item in &samples.items {
        for period in [
            (Grain::Hour, hour_of(item.at)),
            (Grain::Day, days.of(tz, item.at)),
        ] {
            parts.entry(period).or_default().add(&item.what, sign);
        }
    }
}

/// Adds each period's part to the rows of every key the ticket is under.
fn fan_out(
    deltas: &mut Deltas,
    tenant: &str,
    dims: &Dims,
    parts: BTreeMap<(Grain, DateTime<Utc>), Part>,
) {
    let mut keys = Vec::new();
    for ((grain, start), part) in parts {
        let row = |dim: Dim| (tenant.to_owned(), grain.code(), dim.code(), start);
        if !part.cells.is_zero() {
            for dim in Dim::ALL {
                dims.ticket_keys(dim, &mut keys);
                if keys.is_empty() {
                    continue;
                }
                let row = deltas.entry(row(dim)).or_default();
                for k in &keys {
                    row.entry(key_text(*k)).or_default().merge(&part.cells, 1);
                }
            }
        }
        for (agent, n) in part.replies.iter().filter(|(_, n)| **n != 0) {
            deltas
                .entry(row(Dim::Replier))
                .or_default()
                .entry(key_text(Some(agent)))
                .or_default()
                .add(Measure::PublicReplies, 0, *n);
        }
    }
}

type HourRow = (String, DateTime<Utc>, Uuid);

/// Keeps `fact_hours` listing the UTC hours each ticket has samples in.
async fn hour_index(
    tx: &mut PgConnection,
    gone: &[HourRow],
    added: &[HourRow],
) -> Result<(), sqlx::Error> {
    for (rows, sql) in [
        (
            gone,
            "DELETE FROM fact_hours WHERE (tenant_id, hour, ticket_id) IN \
             (SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::uuid[]))",
        ),
        (
            added,
            "INSERT INTO fact_hours (tenant_id, hour, ticket_id) \
             SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::uuid[]) ON CONFLICT DO NOTHING",
        ),
    ] {
        if rows.is_empty() {
            continue;
        }
        let tenants: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        let hours: Vec<DateTime<Utc>> = rows.iter().map(|r| r.1).collect();
        let tickets: Vec<Uuid> = rows.iter().map(|r| r.2).collect();
        sqlx::query(sql)
            .bind(&tenants)
            .bind(&hours)
            .bind(&tickets)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Adds `deltas` to the stored rows; keys that come to nothing are
/// dropped, rows that come to nothing deleted.
async fn apply(tx: &mut PgConnection, deltas: Deltas) -> Result<(), sqlx::Error> {
    let deltas: Vec<(RowKey, BTreeMap<String, Cells>)> = deltas
        .into_iter()
        .map(|(row, mut keys)| {
            keys.retain(|_, c| !c.is_zero());
            (row, keys)
        })
        .filter(|(_, keys)| !keys.is_empty())
        .collect();
    if deltas.is_empty() {
        return Ok(());
    }
    let cols = columns(deltas.iter().map(|(k, _)| k));
    let stored: HashMap<RowKey, (Vec<u8>, Vec<u8>)> = sqlx::query_as::<
        _,
        (String, i16, i16, DateTime<Utc>, Vec<u8>, Vec<u8>),
    >(
        "SELECT a.tenant_id, a.grain, a.dim, a.start, a.nums, a.hist FROM aggregates a \
         JOIN UNNEST($1::text[], $2::smallint[], $3::smallint[], $4::timestamptz[]) AS q(t, g, d, s) \
           ON a.tenant_id = q.t AND a.grain = q.g AND a.dim = q.d AND a.start = q.s",
    )
    .bind(&cols.0)
    .bind(&cols.1)
    .bind(&cols.2)
    .bind(&cols.3)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(t, g, d, s, nums, hist)| ((t, g, d, s), (nums, hist)))
    .collect();
    let (mut drop, mut keep) = (Vec::new(), Vec::new());
    for (row, mut keys) in deltas {
        if let Some((nums, hist)) = stored.get(&row)
            && let Err(e) = add_row(&mut keys, nums, hist)
        {
            tracing::error!(error = %e, "stored aggregate row unreadable; overwritten");
        }
        keys.retain(|_, c| !c.is_zero());
        if keys.is_empty() {
            drop.push(row);
            continue;
        }
        let (nums, hists): (Vec<Vec<u8>>, Vec<Vec<u8>>) = keys.values().map(encode_cells).unzip();
        let names = || keys.keys().map(String::as_str);
        let nums = pack(names().zip(nums.iter().map(Vec::as_slice)));
        let hist = pack(names().zip(hists.iter().map(Vec::as_slice)));
        keep.push((row, nums, hist));
    }
    if !drop.is_empty() {
        let cols = columns(drop.iter());
        sqlx::query(
            "DELETE FROM aggregates WHERE (tenant_id, grain, dim, start) IN \
             (SELECT * FROM UNNEST($1::text[], $2::smallint[], $3::smallint[], $4::timestamptz[]))",
        )
        .bind(&cols.0)
        .bind(&cols.1)
        .bind(&cols.2)
        .bind(&cols.3)
        .execute(&mut *tx)
        .await?;
    }
    if !keep.is_empty() {
        let cols = columns(keep.iter().map(|(k, _, _)| k));
        let nums: Vec<&[u8]> = keep.iter().map(|(_, n, _)| n.as_slice()).collect();
        let hists: Vec<&[u8]> = keep.iter().map(|(_, _, h)| h.as_slice()).collect();
        sqlx::query(
            "INSERT INTO aggregates (tenant_id, grain, dim, start, nums, hist) \
             SELECT * FROM UNNEST($1::text[], $2::smallint[], $3::smallint[], $4::timestamptz[], \
               $5::bytea[], $6::bytea[]) \
             ON CONFLICT (tenant_id, grain, dim, start) \
             DO UPDATE SET nums = EXCLUDED.nums, hist = EXCLUDED.hist",
        )
        .bind(&cols.0)
        .bind(&cols.1)
        .bind(&cols.2)
        .bind(&cols.3)
        .bind(&nums)
        .bind(&hists)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Adds a stored row's cells to `keys`.
fn add_row(keys: &mut BTreeMap<String, Cells>, nums: &[u8], hist: &[u8]) -> Result<(), Malformed> {
    for (key, part) in unpack(nums)? {
        add_cells(keys.entry(key).or_default(), part, &[], 1, Measures::ALL)?;
    }
    for (key, part) in unpack(hist)? {
        add_cells(keys.entry(key).or_default(), &[], part, 1, Measures::ALL)?;
    }
    Ok(())
}

type Columns<'a> = (Vec<&'a str>, Vec<i16>, Vec<i16>, Vec<DateTime<Utc>>);

fn columns<'a>(rows: impl Iterator<Item = &'a RowKey>) -> Columns<'a> {
    let mut c: Columns<'a> = Default::default();
    for (tenant, grain, dim, start) in rows {
        c.0.push(tenant);
        c.1.push(*grain);
        c.2.push(*dim);
        c.3.push(*start);
    }
    c
}
