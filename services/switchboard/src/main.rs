//! `switchboard`: runs any set of Switchboard's services in one process.

mod events;
mod serve;
mod services;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use switchboard_runtime::{Authenticator, Caller, Role, Settings, TenantId};

use crate::services::{Service, parse_list};

/// Switchboard: a customer service desk as gRPC microservices.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, long_about = None)]
struct Cli {
    /// TOML file layered over the built-in defaults (the environment's
    /// `SWITCHBOARD__SECTION__KEY` variables still win).
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC APIs (with health, reflection and gRPC-Web) until SIGTERM.
    Serve {
        /// `all`, or a comma list of: ticket, routing, notification, knowledge, analytics.
        #[arg(long, env = "SWITCHBOARD_SERVICES", default_value = "all", value_parser = parse_list)]
        services: std::vec::Vec<Service>,
    },
    /// Apply database migrations, then exit.
    Migrate {
        /// `all`, or a comma list of services whose schemas to migrate.
        #[arg(long, env = "SWITCHBOARD_SERVICES", default_value = "all", value_parser = parse_list)]
        services: std::vec::Vec<Service>,
    },
    /// Inspect the event stream: `events dead-letters list|replay`.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Print a bearer token signed with `auth.jwt_secret`, for local use.
    Token {
        /// Tenant id (a-z, 0-9, `-`, `_`).
        #[arg(long)]
        tenant: String,
        /// User id; for a customer, their email address.
        #[arg(long)]
        user: String,
        /// customer, agent, supervisor or admin.
        #[arg(long)]
        role: Role,
        /// Lifetime in seconds (defaults to `auth.token_ttl_seconds`).
        #[arg(long)]
        ttl: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("switchboard: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Token {
            tenant,
            user,
            role,
            ttl,
        } => token(&settings, &tenant, user, role, ttl),
        Command::Serve { services } => {
            runtime().and_then(|rt| rt.block_on(serve::serve(settings, services)))
        }
        Command::Migrate { services } => {
            runtime().and_then(|rt| rt.block_on(serve::migrate(settings, services)))
        }
        Command::Events(command) => {
            runtime().and_then(|rt| rt.block_on(events::run(&settings, command)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn token(
    settings: &Settings,
    tenant: &str,
    user: String,
    role: Role,
    ttl: Option<u64>,
) -> anyhow::Result<()> {
    let tenant = TenantId::parse(tenant).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
    anyhow::ensure!(
        !user.is_empty() && user.len() <= switchboard_runtime::auth::MAX_USER_LEN,
        "--user must be 1-256 bytes"
    );
    let ttl = Duration::from_secs(ttl.unwrap_or(settings.auth.token_ttl_seconds));
    anyhow::ensure!(
        ttl <= settings.auth.max_token_lifetime(),
        "--ttl must be at most auth.max_token_lifetime_seconds ({} s): a longer token would be refused",
        settings.auth.max_token_lifetime_seconds
    );
    let token = Authenticator::hs256(&settings.auth.jwt_secret)
        .issue(&Caller::person(tenant, user, role), ttl);
    println!("{token}");
    Ok(())
}
