//! The gRPC handlers: authorize, validate, take the tenant's facts from the
//! cache, and let `switchboard-kpi` and [`crate::query`] compute.

use std::{pin::Pin, sync::Arc, time::Duration};

use chrono::{TimeDelta, TimeZone, Utc};
use sqlx::PgPool;
use switchboard_kpi::overview::{self as kpi, Bucket, GroupBy, Metric};
use switchboard_kpi::{Basis, Range, TicketFact};
use switchboard_proto::analytics::v1::{self as pb, analytics_service_server::AnalyticsService};
use switchboard_runtime::{Caller, Role, Violations, caller, to_status};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::cache::{FactCache, TenantFacts};
use crate::convert::{channel, priority, timestamp, to_timestamp};
use crate::query::{self, Filter, MAX_FILTER_VALUES};
use crate::wire;

type Streamed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Longest time a dashboard watcher goes without a snapshot.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// Rows per CSV chunk.
pub const CSV_ROWS_PER_CHUNK: usize = 500;

/// The `AnalyticsService` implementation.
#[derive(Debug, Clone)]
pub struct AnalyticsApi {
    cache: Arc<FactCache>,
    pool: PgPool,
}

impl AnalyticsApi {
    /// Handlers over `cache`; `pool` stores the calendar.
    pub fn new(cache: Arc<FactCache>, pool: PgPool) -> Self {
        Self { cache, pool }
    }

    async fn facts(
        &self,
        caller: &Caller,
    ) -> Result<tokio::sync::OwnedRwLockReadGuard<TenantFacts>, Status> {
        self.cache
            .snapshot(caller.tenant.as_str())
            .await
            .map_err(|e| internal(&e))
    }
}

fn internal(e: &dyn std::fmt::Display) -> Status {
    tracing::error!(error = %e, "analytics query failed");
    Status::internal("internal error")
}

/// Reports are for supervisors and admins.
fn supervisor<T>(request: &Request<T>) -> Result<Caller, Status> {
    let caller = caller(request)?;
    if caller.role < Role::Supervisor {
        return Err(Status::permission_denied(
            "desk reports are for supervisors and admins",
        ));
    }
    Ok(caller.clone())
}

fn invalid(v: Violations) -> Status {
    to_status(&v)
}

/// Validated range and filter of a report request.
/// The range and filter of a call that asks for nothing else, or
/// INVALID_ARGUMENT naming every bad field.
fn checked_scope(
    range: Option<&switchboard_proto::common::v1::TimeRange>,
    filter: Option<&pb::Filter>,
) -> Result<(Range, Filter), Status> {
    let mut v = Violations::default();
    let (range, filter) = scope(range, filter, &mut v);
    let range = v.into_result(range).map_err(invalid)?;
    Ok((range.expect("a range when there are no violations"), filter))
}

fn scope(
    range: Option<&switchboard_proto::common::v1::TimeRange>,
    filter: Option<&pb::Filter>,
    v: &mut Violations,
) -> (Option<Range>, Filter) {
    let range = query::range(
        range.and_then(|r| timestamp(r.start_time.as_ref())),
        range.and_then(|r| timestamp(r.end_time.as_ref())),
        "range",
        v,
    );
    (range, filter_of(filter, v))
}

fn filter_of(raw: Option<&pb::Filter>, v: &mut Violations) -> Filter {
    let Some(raw) = raw else {
        return Filter::default();
    };
    let lists = [
        ("filter.channels", raw.channels.len()),
        ("filter.priorities", raw.priorities.len()),
        ("filter.groups", raw.groups.len()),
        ("filter.assignees", raw.assignees.len()),
        ("filter.tags", raw.tags.len()),
    ];
    for (field, n) in lists {
        if n > MAX_FILTER_VALUES {
            v.add(field, format!("at most {MAX_FILTER_VALUES} values"));
        }
    }
    for (field, values) in [
        ("filter.groups", &raw.groups),
        ("filter.assignees", &raw.assignees),
        ("filter.tags", &raw.tags),
    ] {
        if values.iter().any(|s| s.len() > 256) {
            v.add(field, "values are at most 256 bytes");
        }
    }
    let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
    Filter {
        channels: raw.channels.iter().map(|&c| channel(c)).collect(),
        priorities: raw.priorities.iter().map(|&p| priority(p)).collect(),
        groups: raw.groups.iter().map(opt).collect(),
        assignees: raw.assignees.iter().map(opt).collect(),
        tags: raw.tags.iter().cloned().collect(),
    }
}

/// The facts passing `filter` that can count in `range`.
fn select<'a>(facts: &'a [TicketFact], filter: &Filter, range: Range) -> Vec<&'a TicketFact> {
    facts
        .iter()
        .filter(|f| query::relevant(f, range) && filter.matches(f))
        .collect()
}

/// The overview of `facts` over `range`.
pub fn overview(facts: &[&TicketFact], range: Range) -> pb::Overview {
    let o = kpi::overview(facts.iter().copied(), range);
    let (replies, hops, group_hops) = query::per_solve(facts, range);
    wire::overview(
        &o,
        replies,
        hops,
        group_hops,
        query::solved_volume(facts, range, GroupBy::Channel),
        query::solved_volume(facts, range, GroupBy::Group),
    )
}

fn metric(raw: i32, basis: Basis, v: &mut Violations) -> Option<Metric> {
    use pb::Metric as M;
    Some(match M::try_from(raw).unwrap_or(M::Unspecified) {
        M::Unspecified => {
            v.add("metric", "required");
            return None;
        }
        M::Created => Metric::Created,
        M::Solved => Metric::Solved,
        M::Backlog => Metric::Backlog,
        M::FirstReplyTime => Metric::FirstReplyTime(basis),
        M::FirstResolutionTime => Metric::FirstResolutionTime(basis),
        M::FullResolutionTime => Metric::FullResolutionTime(basis),
        M::RequesterWaitTime => Metric::RequesterWaitTime(basis),
        M::AgentWaitTime => Metric::AgentWaitTime(basis),
        M::Csat => Metric::Csat,
        M::AverageScore => Metric::AverageScore,
        M::OneTouch => Metric::OneTouch,
        M::Reopened => Metric::Reopened,
        M::SlaFirstReply => Metric::SlaFirstReply,
        M::SlaResolution => Metric::SlaResolution,
    })
}

fn group_by(raw: i32) -> Option<GroupBy> {
    use pb::GroupBy as G;
    match G::try_from(raw).unwrap_or(G::Unspecified) {
        G::Unspecified => None,
        G::Channel => Some(GroupBy::Channel),
        G::Priority => Some(GroupBy::Priority),
        G::Group => Some(GroupBy::Group),
        G::Assignee => Some(GroupBy::Assignee),
        G::Tag => Some(GroupBy::Tag),
    }
}

#[tonic::async_trait]
impl AnalyticsService for AnalyticsApi {
    type WatchDashboardStream = Streamed<pb::Dashboard>;
    type ExportTicketFactsStream = Streamed<pb::CsvChunk>;

    #[tracing::instrument(skip_all)]
    async fn get_overview(
        &self,
        request: Request<pb::GetOverviewRequest>,
    ) -> Result<Response<pb::Overview>, Status> {
        let caller = supervisor(&request)?;
        let r = request.get_ref();
        let (range, filter) = checked_scope(r.range.as_ref(), r.filter.as_ref())?;
        let facts = self.facts(&caller).await?;
        let answer = tokio::task::spawn_blocking(move || {
            overview(&select(&facts.facts, &filter, range), range)
        })
        .await
        .map_err(|e| internal(&e))?;
        Ok(Response::new(answer))
    }

    #[tracing::instrument(skip_all)]
    async fn query_time_series(
        &self,
        request: Request<pb::QueryTimeSeriesRequest>,
    ) -> Result<Response<pb::QueryTimeSeriesResponse>, Status> {
        let caller = supervisor(&request)?;
        let r = request.get_ref();
        let mut v = Violations::default();
        let (range, filter) = scope(r.range.as_ref(), r.filter.as_ref(), &mut v);
        let basis = if r.basis == pb::Basis::Business as i32 {
            Basis::Business
        } else {
            Basis::Calendar
        };
        let metric = metric(r.metric, basis, &mut v);
        let bucket = match pb::Bucket::try_from(r.bucket).unwrap_or(pb::Bucket::Unspecified) {
            pb::Bucket::Hour => Some((Bucket::Hour, TimeDelta::hours(1))),
            pb::Bucket::Day => Some((Bucket::Day, TimeDelta::days(1))),
            pb::Bucket::Week => Some((Bucket::Week, TimeDelta::weeks(1))),
            pb::Bucket::Unspecified => {
                v.add("bucket", "required");
                None
            }
        };
        let zone: Option<chrono_tz::Tz> = if r.time_zone.is_empty() {
            None
        } else {
            match r.time_zone.parse() {
                Ok(tz) => Some(tz),
                Err(_) => {
                    v.add("time_zone", "not an IANA time zone such as Europe/Berlin");
                    None
                }
            }
        };
        if let (Some(range), Some((_, width))) = (range, bucket)
            && (range.to - range.from).num_seconds() / width.num_seconds() > query::MAX_BUCKETS
        {
            v.add("range", format!("at most {} buckets", query::MAX_BUCKETS));
        }
        let (range, metric, (bucket, _)) = v.into_result(()).map_err(invalid).map(|()| {
            (
                range.expect("checked"),
                metric.expect("checked"),
                bucket.expect("checked"),
            )
        })?;
        let group = group_by(r.group_by);
        let facts = self.facts(&caller).await?;
        let series = tokio::task::spawn_blocking(move || {
            let tz = zone.unwrap_or_else(|| facts.calendar.time_zone());
            let selected = select(&facts.facts, &filter, range);
            kpi::series(selected.iter().copied(), metric, bucket, tz, range, group)
        })
        .await
        .map_err(|e| internal(&e))?;
        Ok(Response::new(pb::QueryTimeSeriesResponse {
            series: series.iter().map(wire::series).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_agent_stats(
        &self,
        request: Request<pb::ListAgentStatsRequest>,
    ) -> Result<Response<pb::ListAgentStatsResponse>, Status> {
        let caller = supervisor(&request)?;
        let r = request.get_ref();
        let (range, filter) = checked_scope(r.range.as_ref(), r.filter.as_ref())?;
        let facts = self.facts(&caller).await?;
        let rows = kpi::agents(select(&facts.facts, &filter, range), range);
        Ok(Response::new(pb::ListAgentStatsResponse {
            agents: rows.iter().map(wire::agent).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_sla_report(
        &self,
        request: Request<pb::GetSlaReportRequest>,
    ) -> Result<Response<pb::SlaReport>, Status> {
        let caller = supervisor(&request)?;
        let r = request.get_ref();
        let (range, filter) = checked_scope(r.range.as_ref(), r.filter.as_ref())?;
        let facts = self.facts(&caller).await?;
        let selected = select(&facts.facts, &filter, range);
        let row = |key: &str, facts: &[&TicketFact]| pb::SlaRow {
            priority: key.to_owned(),
            first_reply: Some(wire::rate_of(kpi::measure(
                facts.iter().copied(),
                Metric::SlaFirstReply,
                range,
            ))),
            resolution: Some(wire::rate_of(kpi::measure(
                facts.iter().copied(),
                Metric::SlaResolution,
                range,
            ))),
        };
        let mut by_priority = Vec::new();
        for p in [
            switchboard_kpi::fact::Priority::Urgent,
            switchboard_kpi::fact::Priority::High,
            switchboard_kpi::fact::Priority::Normal,
            switchboard_kpi::fact::Priority::Low,
        ] {
            let slice: Vec<&TicketFact> = selected
                .iter()
                .copied()
                .filter(|f| f.priority == p)
                .collect();
            let r = row(p.as_str(), &slice);
            if r.first_reply.as_ref().is_some_and(|x| x.denominator > 0)
                || r.resolution.as_ref().is_some_and(|x| x.denominator > 0)
            {
                by_priority.push(r);
            }
        }
        Ok(Response::new(pb::SlaReport {
            total: Some(row("", &selected)),
            by_priority,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_top_issues(
        &self,
        request: Request<pb::ListTopIssuesRequest>,
    ) -> Result<Response<pb::ListTopIssuesResponse>, Status> {
        let caller = supervisor(&request)?;
        let r = request.get_ref();
        let mut v = Violations::default();
        let (range, _) = scope(r.range.as_ref(), None, &mut v);
        if !(0..=100).contains(&r.limit) {
            v.add("limit", "0 to 100");
        }
        let range = v.into_result(range).map_err(invalid)?.expect("checked");
        let limit = if r.limit == 0 { 10 } else { r.limit as usize };
        let facts = self.facts(&caller).await?;
        let all: Vec<&TicketFact> = facts.facts.iter().collect();
        let issues = query::top_issues(&all, range, limit);
        Ok(Response::new(pb::ListTopIssuesResponse {
            issues: issues
                .into_iter()
                .map(|i| pb::TopIssue {
                    kind: i.kind.to_owned(),
                    key: i.key,
                    count: i.count as i64,
                    baseline_count: i.baseline as i64,
                    growth: i.growth,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn watch_dashboard(
        &self,
        request: Request<pb::WatchDashboardRequest>,
    ) -> Result<Response<Self::WatchDashboardStream>, Status> {
        let caller = caller(&request)?.clone();
        if !caller.role.is_staff() {
            return Err(Status::permission_denied("the dashboard is for staff"));
        }
        let every = match request.get_ref().min_interval_ms {
            0 => 1000,
            ms @ 100..=60_000 => ms,
            _ => {
                let mut v = Violations::default();
                v.add("min_interval_ms", "0 or 100 to 60000");
                return Err(invalid(v));
            }
        };
        let every = Duration::from_millis(every as u64);
        let cache = self.cache.clone();
        let mut changed = cache.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut last: Option<(pb::Dashboard, std::time::Instant)> = None;
            loop {
                let snapshot = match dashboard(&cache, &caller).await {
                    Ok(d) => d,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                };
                // The clock alone moving is no news.
                // The clock alone moving is no news, but waits grow: a
                // snapshot goes out at least every HEARTBEAT.
                let fresh = last.as_ref().is_none_or(|(l, sent)| {
                    timeless(l) != timeless(&snapshot) || sent.elapsed() >= HEARTBEAT
                });
                if fresh {
                    if tx.send(Ok(snapshot.clone())).await.is_err() {
                        return;
                    }
                    last = Some((snapshot, std::time::Instant::now()));
                }
                tokio::time::sleep(every).await;
                // Events applied here wake us at once; other replicas' are
                // picked up by the periodic refresh.
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = changed.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    #[tracing::instrument(skip_all)]
    async fn export_ticket_facts(
        &self,
        request: Request<pb::ExportTicketFactsRequest>,
    ) -> Result<Response<Self::ExportTicketFactsStream>, Status> {
        let caller = supervisor(&request)?;
        let r = request.get_ref();
        let (range, filter) = checked_scope(r.range.as_ref(), r.filter.as_ref())?;
        let facts = self.facts(&caller).await?;
        let mut rows: Vec<(chrono::DateTime<Utc>, uuid::Uuid, usize)> = facts
            .facts
            .iter()
            .enumerate()
            .filter(|(_, f)| range.contains(f.created_at) && filter.matches(f))
            .map(|(i, f)| (f.created_at, facts.ids[i], i))
            .collect();
        rows.sort_unstable();
        let mut chunks = vec![pb::CsvChunk {
            data: query::csv_line(query::CSV_HEADER).into_bytes(),
        }];
        for part in rows.chunks(CSV_ROWS_PER_CHUNK) {
            let mut data = String::new();
            for (_, id, i) in part {
                data.push_str(&query::csv_line(&query::csv_row(*id, &facts.facts[*i])));
            }
            chunks.push(pb::CsvChunk {
                data: data.into_bytes(),
            });
        }
        drop(facts);
        Ok(Response::new(Box::pin(tokio_stream::iter(
            chunks.into_iter().map(Ok),
        ))))
    }

    #[tracing::instrument(skip_all)]
    async fn get_business_calendar(
        &self,
        request: Request<pb::GetBusinessCalendarRequest>,
    ) -> Result<Response<pb::BusinessCalendar>, Status> {
        let caller = supervisor(&request)?;
        let facts = self.facts(&caller).await?;
        Ok(Response::new(pb::BusinessCalendar {
            business_hours: Some(crate::calendar::to_proto(&facts.calendar)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_business_calendar(
        &self,
        request: Request<pb::UpdateBusinessCalendarRequest>,
    ) -> Result<Response<pb::BusinessCalendar>, Status> {
        let caller = caller(&request)?.clone();
        if caller.role != Role::Admin {
            return Err(Status::permission_denied(
                "only admins change the business calendar",
            ));
        }
        let raw = request.into_inner().business_hours;
        let calendar =
            crate::calendar::from_proto(raw.as_ref(), "business_hours").map_err(invalid)?;
        crate::remeasure(&self.pool, caller.tenant.as_str(), raw.as_ref(), &calendar)
            .await
            .map_err(|e| internal(&e))?;
        self.cache.forget(caller.tenant.as_str()).await;
        self.cache.notify_changed();
        Ok(Response::new(pb::BusinessCalendar {
            business_hours: Some(crate::calendar::to_proto(&calendar)),
        }))
    }
}

/// `d` without the instants that move with the clock.
fn timeless(d: &pb::Dashboard) -> pb::Dashboard {
    let mut d = d.clone();
    d.as_of = None;
    d.longest_first_reply_wait_seconds = 0.0;
    if let Some(today) = d.today.as_mut() {
        today.range = None;
    }
    d
}

/// The dashboard of `caller`'s tenant now.
async fn dashboard(cache: &FactCache, caller: &Caller) -> Result<pb::Dashboard, Status> {
    let facts = cache
        .snapshot(caller.tenant.as_str())
        .await
        .map_err(|e| internal(&e))?;
    tokio::task::spawn_blocking(move || {
        let now = Utc::now();
        let tz = facts.calendar.time_zone();
        let local = now.with_timezone(&tz).date_naive();
        let midnight = tz
            .from_local_datetime(&local.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map_or(now, |t| t.with_timezone(&Utc));
        let all: Vec<&TicketFact> = facts.facts.iter().collect();
        let q = query::queue(&all, now);
        let today = Range::new(midnight, now + TimeDelta::seconds(1));
        let all: Vec<&TicketFact> = all
            .into_iter()
            .filter(|f| query::relevant(f, today))
            .collect();
        pb::Dashboard {
            as_of: Some(to_timestamp(now)),
            queue_size: q.size as i64,
            unassigned: q.unassigned as i64,
            waiting_on_desk: q.waiting_on_desk as i64,
            longest_first_reply_wait_seconds: q.longest_first_reply_wait,
            agents_active: q.agents_active as i64,
            today: Some(overview(
                &all,
                Range::new(midnight, now + TimeDelta::seconds(1)),
            )),
        }
    })
    .await
    .map_err(|e| internal(&e))
}
