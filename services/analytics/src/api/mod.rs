//! The gRPC handlers: authorize, validate, and let [`crate::report`]
//! answer from the tenant's aggregate rows and samples.

mod dashboard;
mod export;
pub mod scope;

use std::{pin::Pin, sync::Arc, time::Duration};

use sqlx::PgPool;
use switchboard_kpi::fact::Priority;
use switchboard_proto::analytics::v1::{self as pb, analytics_service_server::AnalyticsService};
use switchboard_runtime::{
    Caller, DomainError, ErrorKind, Role, Streams, Violations, caller, db_error_kind, to_status,
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

pub use dashboard::{Changes, Dashboards, HEARTBEAT};
pub use export::CSV_ROWS_PER_CHUNK;

use crate::cells::Measure;
use crate::report::{self, Desk};
use crate::{state, wire};
use scope::{checked_scope, invalid, issue_kinds, scope, series_ask};

type Streamed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The `AnalyticsService` implementation.
#[derive(Debug, Clone)]
pub struct AnalyticsApi {
    changes: Arc<Changes>,
    dashboards: Dashboards,
    pool: PgPool,
    streams: Streams,
}

/// The default shortest time between two computations of a tenant's live
/// dashboard (`streams.dashboard_min_interval_ms`).
const DASHBOARD_MIN_INTERVAL: Duration = Duration::from_secs(1);

impl AnalyticsApi {
    /// Handlers over the analytics schema's `pool`; `changes` wakes
    /// dashboard watchers.
    pub fn new(changes: Arc<Changes>, pool: PgPool) -> Self {
        Self {
            dashboards: Dashboards::new(pool.clone(), changes.clone(), DASHBOARD_MIN_INTERVAL),
            changes,
            pool,
            streams: Streams::default(),
        }
    }

    /// Computes each tenant's live dashboard at most once per `interval`,
    /// however many watch it.
    pub fn with_dashboard_min_interval(mut self, interval: Duration) -> Self {
        self.dashboards = Dashboards::new(self.pool.clone(), self.changes.clone(), interval);
        self
    }

    /// Opens `WatchDashboard` and export streams through `streams`, the
    /// process's stream budget.
    pub fn with_streams(mut self, streams: Streams) -> Self {
        self.streams = streams;
        self
    }

    /// `caller`'s tenant, with its time zone.
    async fn desk<'a>(&'a self, caller: &'a Caller) -> Result<Desk<'a>, Status> {
        let tenant = caller.tenant.as_str();
        let calendar = state::calendar(&self.pool, tenant)
            .await
            .map_err(|e| internal(&e))?;
        Ok(Desk {
            pool: &self.pool,
            tenant,
            zone: calendar.time_zone(),
        })
    }
}

/// A failed analytics query: its database error, classified once
/// (`switchboard_runtime::classify_db`: an outage is UNAVAILABLE, the rest
/// INTERNAL); the cause is logged by `to_status`, never sent.
#[derive(Debug, thiserror::Error)]
#[error("analytics database: {0}")]
pub struct QueryError<'a>(pub &'a sqlx::Error);

impl DomainError for QueryError<'_> {
    fn kind(&self) -> ErrorKind {
        db_error_kind(self.0)
    }
}

/// The status for a failed query.
fn internal(e: &sqlx::Error) -> Status {
    to_status(&QueryError(e))
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
        let desk = self.desk(&caller).await?;
        let answer = report::overview(desk, range, &filter)
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
        let (mut ask, zone) = series_ask(request.get_ref())?;
        let desk = self.desk(&caller).await?;
        ask.tz = zone.unwrap_or(desk.zone);
        let series = report::series(desk, &ask).await.map_err(|e| internal(&e))?;
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
        let desk = self.desk(&caller).await?;
        let rows = report::agents(desk, range, &filter)
            .await
            .map_err(|e| internal(&e))?;
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
        let desk = self.desk(&caller).await?;
        let (total, by) = report::sla(desk, range, &filter)
            .await
            .map_err(|e| internal(&e))?;
        let row = |key: &str, cells: &crate::cells::Cells| pb::SlaRow {
            priority: key.to_owned(),
            first_reply: Some(wire::rate(cells.rate(Measure::SlaFirstReply))),
            resolution: Some(wire::rate(cells.rate(Measure::SlaResolution))),
        };
        let by_priority = [
            Priority::Urgent,
            Priority::High,
            Priority::Normal,
            Priority::Low,
        ]
        .iter()
        .filter_map(|p| by.get(p.as_str()).map(|cells| row(p.as_str(), cells)))
        .filter(|r| {
            r.first_reply.as_ref().is_some_and(|x| x.denominator > 0)
                || r.resolution.as_ref().is_some_and(|x| x.denominator > 0)
        })
        .collect();
        Ok(Response::new(pb::SlaReport {
            total: Some(row("", &total)),
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
        let kinds = issue_kinds(&r.kinds, &mut v);
        let range = v.into_result(range).map_err(invalid)?.expect("checked");
        let limit = if r.limit == 0 { 10 } else { r.limit as usize };
        let desk = self.desk(&caller).await?;
        let issues = report::top_issues(desk, range, &kinds, limit)
            .await
            .map_err(|e| internal(&e))?;
        Ok(Response::new(pb::ListTopIssuesResponse {
            issues: issues
                .into_iter()
                .map(|i| pb::TopIssue {
                    kind: i.kind.as_str().to_owned(),
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
        let (feed, out) = self.streams.open(
            &caller,
            "WatchDashboard",
            "watch the dashboard again; the first message is its current state",
        )?;
        let (tap, snapshots) = self.dashboards.join(&caller.tenant).await?;
        tokio::spawn(dashboard::watch(snapshots, tap, every, feed));
        Ok(Response::new(Box::pin(out)))
    }

    #[tracing::instrument(skip_all)]
    async fn export_ticket_facts(
        &self,
        request: Request<pb::ExportTicketFactsRequest>,
    ) -> Result<Response<Self::ExportTicketFactsStream>, Status> {
        let caller = supervisor(&request)?;
        let r = request.get_ref();
        let (range, filter) = checked_scope(r.range.as_ref(), r.filter.as_ref())?;
        // Finite, but each export holds a database cursor's worth of work:
        // the caller's cap keeps one caller from running many at once.
        let (feed, out) = self.streams.open(
            &caller,
            "ExportTicketFacts",
            "export again; a partial file is incomplete",
        )?;
        let tenant = caller.tenant.as_str().to_owned();
        tokio::spawn(export::export(
            self.pool.clone(),
            tenant,
            range,
            filter,
            feed,
        ));
        Ok(Response::new(Box::pin(out)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_business_calendar(
        &self,
        request: Request<pb::GetBusinessCalendarRequest>,
    ) -> Result<Response<pb::BusinessCalendar>, Status> {
        let caller = supervisor(&request)?;
        let calendar = state::calendar(&self.pool, caller.tenant.as_str())
            .await
            .map_err(|e| internal(&e))?;
        Ok(Response::new(pb::BusinessCalendar {
            business_hours: Some(crate::calendar::to_proto(&calendar)),
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
        self.changes.notify(caller.tenant.as_str());
        Ok(Response::new(pb::BusinessCalendar {
            business_hours: Some(crate::calendar::to_proto(&calendar)),
        }))
    }
}
