//! Notification: events per second from the stream to acknowledged webhook
//! deliveries (durable consumer → notification + delivery rows → dispatcher
//! → signed HTTP POST → 2xx → recorded, with `notification.delivered` in the
//! outbox → published by the relay),
//! beside two baselines from the same run on the same servers: a bare
//! durable consumer that only decodes and acks the same events, and bare
//! HTTP POSTs of the same bodies to the same receiver. Figures, not
//! assertions.
//!
//! `cargo run --release -p switchboard-bench --bin notification -- --events 5000`

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use async_nats::{HeaderMap, jetstream};
use bytes::Bytes;
use clap::Parser;
use futures::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper::{
    Method, Request, Response, StatusCode, body::Incoming, server::conn::http1, service::service_fn,
};
use hyper_util::rt::TokioIo;
use prost::Message;
use switchboard_events::{EventBuilder, Payload, stream::ensure_stream, subject_of};
use switchboard_notification::{
    domain::{egress::EgressPolicy, input::WebhookInput, signing},
    store::PgStore,
    webhook::{self, HttpWebhookClient, WebhookClient},
};
use switchboard_proto::{events::v1::TicketCreated, ticket::v1::Ticket};
use switchboard_runtime::{App, TenantId};
use switchboard_testkit::{TestDb, TestStream, test_env};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Measures event → webhook delivery throughput.
#[derive(Debug, Parser)]
struct Args {
    /// Events published before the service starts.
    #[arg(long, env = "NOTIFICATION_BENCH_EVENTS", default_value_t = 5_000)]
    events: usize,
    /// Webhook sends in flight (`notification.dispatch_concurrency`).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.events > 0, "nothing to measure");
    let nats_url = switchboard_testkit::nats_url();
    let db = TestDb::create().await?;
    let stream = TestStream::unique();
    let result = run(&args, &db, &stream, &nats_url).await;
    let _ = stream.delete(&nats_url).await;
    db.drop_db().await?;
    result
}

/// The webhook receiver: a plain hyper HTTP/1.1 server (keep-alive), so
/// the bench's own side of each delivery costs little of the two cores it
/// shares with the service. Every request's body is read whole; a POST to
/// `/hook` whose signature verifies with `secret` counts, and gets a 204
/// (anything else a 400, which the service would retry).
async fn receiver(secret: String) -> anyhow::Result<(SocketAddr, Arc<AtomicUsize>)> {
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let _ = socket.set_nodelay(true);
            let (counter, secret) = (counter.clone(), secret.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (counter, secret) = (counter.clone(), secret.clone());
                    async move {
                        let hook =
                            request.method() == Method::POST && request.uri().path() == "/hook";
                        let header = |name| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned)
                        };
                        let timestamp =
                            header(webhook::TIMESTAMP_HEADER).and_then(|t| t.parse().ok());
                        let signature = header(webhook::SIGNATURE_HEADER);
                        let body = request.into_body().collect().await?.to_bytes();
                        let signed = timestamp
                            .zip(signature)
                            .is_some_and(|(t, s)| signing::verify(&secret, t, &body, &s));
                        let status = if hook && signed {
                            counter.fetch_add(1, Ordering::Relaxed);
                            StatusCode::NO_CONTENT
                        } else {
                            StatusCode::BAD_REQUEST
                        };
                        let mut response = Response::new(Empty::<Bytes>::new());
                        *response.status_mut() = status;
                        Ok::<_, hyper::Error>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    Ok((addr, hits))
}

async fn run(args: &Args, db: &TestDb, stream: &TestStream, nats_url: &str) -> anyhow::Result<()> {
    let mut env = test_env(&db.url, nats_url, stream);
    env.push((
        "SWITCHBOARD__NOTIFICATION__DISPATCH_CONCURRENCY".into(),
        args.concurrency.to_string(),
    ));
    env.push((
        "SWITCHBOARD__NOTIFICATION__DISPATCH_POLL_MS".into(),
        "20".into(),
    ));
    // The receiver listens on loopback, which webhooks may reach only when allowed.
    env.push((
        "SWITCHBOARD__NOTIFICATION__WEBHOOK_ALLOWED_CIDRS".into(),
        "127.0.0.0/8".into(),
    ));
    env.push(("SWITCHBOARD__DATABASE__MAX_CONNECTIONS".into(), "24".into()));
    env.push(("SWITCHBOARD__LOG__LEVEL".into(), "warn".into()));
    let settings = switchboard_runtime::Settings::load_with_vars(None, env)?;
    let nats = switchboard_events::stream::connect(nats_url).await?;
    let js = jetstream::new(nats.clone());
    ensure_stream(&js, &settings.events).await?;
    switchboard_notification::migrate(&settings).await?;
    let secret = "whsec_bench_0123456789abcdef".to_owned();
    let (addr, hits) = receiver(secret.clone()).await?;
    let url = format!("http://{addr}/hook");

    // One subscription for every event of the tenant.
    let pool = db.pool("notification").await?;
    let store = PgStore::new(pool.clone());
    store
        .create_webhook(
            "bench",
            &WebhookInput {
                url: url.clone(),
                event_types: Vec::new(),
                secret: secret.clone(),
                active: true,
                description: String::new(),
            },
        )
        .await?;

    // The events, on the stream before anything consumes them.
    let tenant = TenantId::parse("bench").map_err(anyhow::Error::msg)?;
    let events: Vec<_> = (0..args.events)
        .map(|i| {
            let id = Uuid::now_v7();
            EventBuilder::new(&tenant, "ticket", id.to_string(), 1).build(
                "created",
                Payload::TicketCreated(TicketCreated {
                    ticket: Some(Ticket {
                        name: format!("tickets/{id}"),
                        number: i as i64 + 1,
                        subject: format!("Bench ticket {i}"),
                        description: "The printer is on fire again.".into(),
                        requester: format!("customers/{}", Uuid::now_v7()),
                        version: 1,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            )
        })
        .collect();
    let t = Instant::now();
    // Acks awaited a chunk at a time: the JetStream context allows 5,000
    // unacknowledged publishes, and one more would wait forever.
    for chunk in events.chunks(1_000) {
        let mut acks = Vec::with_capacity(chunk.len());
        for e in chunk {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", e.id.as_str());
            let subject = format!("{}.{}", stream.prefix, subject_of(e));
            acks.push(
                js.publish_with_headers(subject, headers, e.encode_to_vec().into())
                    .await?,
            );
        }
        for ack in acks {
            ack.await?;
        }
    }
    println!(
        "notification: {} ticket.created events published in {:.2} s; 1 webhook subscription (all events), {} sends in flight",
        events.len(),
        t.elapsed().as_secs_f64(),
        args.concurrency
    );

    // Baseline 1: a bare durable consumer (decode + ack) over the same events.
    let bare = js
        .get_stream(&stream.stream)
        .await?
        .get_or_create_consumer(
            "bench-bare",
            jetstream::consumer::pull::Config {
                durable_name: Some("bench-bare".into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .await?;
    let t = Instant::now();
    let mut messages = bare.messages().await?;
    for _ in 0..events.len() {
        let m = messages
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("stream ended"))?
            .map_err(|e| anyhow::anyhow!(e))?;
        let _ = switchboard_events::Envelope::decode(m.payload.clone())?;
        m.ack().await.map_err(|e| anyhow::anyhow!(e))?;
    }
    drop(messages);
    let bare_rate = events.len() as f64 / t.elapsed().as_secs_f64();

    // Baseline 2: the same bodies POSTed, signed, straight to the receiver.
    let loopback = EgressPolicy::new(&["127.0.0.0/8".into()]).map_err(anyhow::Error::msg)?;
    let client = HttpWebhookClient::new(Duration::from_secs(10), std::sync::Arc::new(loopback));
    let bodies: Vec<Vec<u8>> = events
        .iter()
        .map(|e| webhook::body_text(e).into_bytes())
        .collect();
    let t = Instant::now();
    futures::stream::iter(bodies.iter().enumerate())
        .for_each_concurrent(args.concurrency, |(i, body)| {
            let (client, url, secret) = (&client, &url, &secret);
            async move {
                let _ = client
                    .post(url, secret, &i.to_string(), "ticket.created", body)
                    .await;
            }
        })
        .await;
    let http_rate = events.len() as f64 / t.elapsed().as_secs_f64();
    let baseline_hits = hits.swap(0, Ordering::SeqCst);
    anyhow::ensure!(
        baseline_hits == events.len(),
        "the HTTP baseline lost requests"
    );

    // The service: consume, fan out, dispatch, record, announce. Progress
    // is watched without touching the service's database: counting its
    // tables every 20 ms (2-3 ms of scans once they are full) took about a
    // tenth of one of the two cores the database shares with the service.
    // The consumer's ack floor says when every event has been applied
    // (acks follow commits); the `notification.delivered` events the relay
    // publishes say when every delivery has been acknowledged and recorded.
    let mut announced = nats
        .subscribe(format!("{}.*.notification.delivered", stream.prefix))
        .await?;
    nats.flush().await?;
    let events_stream = js.get_stream(&stream.stream).await?;
    let shutdown = CancellationToken::new();
    let t = Instant::now();
    let mut app = App::new(settings.clone(), shutdown.clone());
    switchboard_notification::mount(&mut app, js.clone()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server = tokio::spawn(async move { app.run(listener).await });
    let mut consumed_at = None;
    let mut delivered = HashSet::new();
    let mut announcements = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let deadline = tokio::time::sleep(Duration::from_secs(600));
    tokio::pin!(deadline);
    while delivered.len() < events.len() {
        tokio::select! {
            m = announced.next() => {
                let m = m.ok_or_else(|| anyhow::anyhow!("the announcements ended"))?;
                if let Some(Payload::NotificationDelivered(d)) =
                    switchboard_events::Envelope::decode(m.payload)?.payload
                {
                    announcements += 1;
                    delivered.insert(d.delivery);
                }
            }
            _ = tick.tick(), if consumed_at.is_none() => {
                let info = events_stream
                    .consumer_info(switchboard_notification::CONSUMER)
                    .await;
                if info.is_ok_and(|i| i.ack_floor.stream_sequence >= events.len() as u64) {
                    consumed_at = Some(t.elapsed());
                }
            }
            _ = &mut deadline => anyhow::bail!("deliveries did not finish in 10 minutes"),
        }
    }
    let took = t.elapsed();
    let consumed = consumed_at.unwrap_or(took);
    let rate = events.len() as f64 / took.as_secs_f64();
    let consume_rate = events.len() as f64 / consumed.as_secs_f64();
    println!(
        "events → acknowledged webhook deliveries: {} in {:.2} s = {:.0} events/s (consumed into notifications + deliveries at {:.0} events/s)",
        events.len(),
        took.as_secs_f64(),
        rate,
        consume_rate
    );
    let recorded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'delivered'")
            .fetch_one(&pool)
            .await?;
    anyhow::ensure!(
        recorded as usize == events.len() && announcements == events.len(),
        "{recorded} deliveries recorded and {announcements} announced, for {} events",
        events.len()
    );
    // How the work was grouped (each consumer transaction stamps its rows
    // with one `processed_at`, each outcome transaction with one
    // `delivered_at`): what to look at first when the rate drops.
    let (batches, largest): (i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(max(n), 0) FROM \
           (SELECT count(*) AS n FROM processed_events GROUP BY processed_at) b",
    )
    .fetch_one(&pool)
    .await?;
    let outcome_txs: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT delivered_at) FROM deliveries")
            .fetch_one(&pool)
            .await?;
    println!(
        "  {batches} consumer transactions (largest {largest} events), {outcome_txs} outcome transactions"
    );
    println!("  baseline: bare durable consumer, decode + ack only: {bare_rate:.0} events/s");
    println!(
        "  baseline: bare signed POSTs, {} in flight, same receiver: {http_rate:.0} requests/s",
        args.concurrency
    );
    println!(
        "ratio: service / bare consumer {:.2}, service / bare POSTs {:.2}; receiver saw {} service requests",
        rate / bare_rate,
        rate / http_rate,
        hits.load(Ordering::SeqCst)
    );
    shutdown.cancel();
    server.await??;
    pool.close().await;
    Ok(())
}
