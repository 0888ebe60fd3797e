//! `serve` and `migrate`: compose the chosen services into one process.

use anyhow::Context;
use async_nats::jetstream;
use switchboard_events::stream::{connect, ensure_stream_eventually};
use switchboard_runtime::{App, Settings, metrics_http, shutdown_signal, telemetry};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::services::Service;

/// Runs `services` until SIGTERM/SIGINT, then drains and exits.
pub async fn serve(settings: Settings, services: Vec<Service>) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(&settings.log, "switchboard")?;
    if settings.auth.uses_development_secret() {
        tracing::warn!(
            "auth.jwt_secret is the built-in development key; set SWITCHBOARD__AUTH__JWT_SECRET before exposing this server"
        );
    }
    if let Some(addr) = settings.metrics.listen {
        metrics_http::install(addr)?;
    }
    let listen = settings.grpc.listen;
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            shutdown_signal().await;
            shutdown.cancel();
        }
    });

    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on `grpc.listen` {listen}"))?;

    let mut app = App::new(settings.clone(), shutdown.clone());
    let js = if services.iter().any(|s| s.uses_events()) {
        let client = connect(&settings.nats.url)
            .await
            .with_context(|| format!("`nats.url` {}", settings.nats.url))?;
        let js = jetstream::new(client.clone());
        let events = settings.events.clone();
        let stream_js = js.clone();
        app.spawn_background(move |stop| ensure_stream_eventually(stream_js, events, stop));
        Some((client, js))
    } else {
        None
    };

    // API tokens and the audit trail work in every process; the one serving
    // tickets also serves their admin API.
    let access = switchboard_access::attach_to(&app).await?;
    if services.contains(&Service::Ticket) {
        switchboard_access::serve_api(&mut app, access);
    }

    // Each mount registers its own checks; NATS degrades `<service>/events`
    // (writes wait in the outbox), never the service itself.
    for service in &services {
        let (_, js) = js.clone().expect("every service uses NATS");
        match service {
            Service::Ticket => {
                switchboard_ticket::mount(&mut app, js).await?;
            }
            Service::Routing => {
                switchboard_routing::mount(&mut app, js).await?;
            }
            Service::Notification => switchboard_notification::mount(&mut app, js).await?,
            Service::Knowledge => switchboard_knowledge::mount(&mut app, js).await?,
            Service::Analytics => switchboard_analytics::mount(&mut app, js).await?,
        }
    }

    let names: Vec<String> = services.iter().map(ToString::to_string).collect();
    tracing::info!(addr = %listener.local_addr()?, services = %names.join(","), "serving");
    app.run(listener).await?;
    Ok(())
}

/// Applies the migrations of `services` and exits.
pub async fn migrate(settings: Settings, services: Vec<Service>) -> anyhow::Result<()> {
    // Every service verifies API tokens and writes the audit trail.
    switchboard_access::migrate(&settings).await?;
    println!("access: migrations applied");
    for service in services {
        match service {
            Service::Ticket => {
                switchboard_ticket::migrate(&settings).await?;
                println!("ticket: migrations applied");
            }
            Service::Routing => {
                switchboard_routing::migrate(&settings).await?;
                println!("routing: migrations applied");
            }
            Service::Knowledge => {
                switchboard_knowledge::migrate(&settings).await?;
                println!("knowledge: migrations applied");
            }
            Service::Notification => {
                switchboard_notification::migrate(&settings).await?;
                println!("notification: migrations applied");
            }
            Service::Analytics => {
                switchboard_analytics::migrate(&settings).await?;
                println!("analytics: migrations applied");
            }
        }
    }
    Ok(())
}
