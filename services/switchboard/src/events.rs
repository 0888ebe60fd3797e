//! `switchboard events …`: the operator's view of the event stream's dead
//! letters (events a consumer gave up on after `events.max_deliver`
//! attempts).

use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use switchboard_events::deadletter::{DeadLetter, DeadLetters};
use switchboard_runtime::Settings;

/// Event stream operations.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List or replay dead letters.
    #[command(name = "dead-letters", subcommand)]
    DeadLetters(DeadLetterCommand),
}

/// Dead-letter operations.
#[derive(Debug, Subcommand)]
pub enum DeadLetterCommand {
    /// Print one line per dead letter, oldest first: sequence, consumer,
    /// event type, aggregate and version, event id, attempts, last error.
    List {
        /// Only this consumer's (its durable name, e.g. `routing-tickets`).
        #[arg(long)]
        consumer: Option<String>,
    },
    /// Publish dead letters back to their subject (every consumer of it sees
    /// the event again; those that applied it find it done) and remove them.
    Replay {
        /// Sequences from `list`.
        #[arg(required_unless_present = "all")]
        sequences: Vec<u64>,
        /// Every dead letter (of `--consumer`, if given).
        #[arg(long, conflicts_with = "sequences")]
        all: bool,
        /// With `--all`: only this consumer's.
        #[arg(long, requires = "all")]
        consumer: Option<String>,
    },
}

/// Runs `command` against `settings`' NATS server.
pub async fn run(settings: &Settings, command: EventsCommand) -> anyhow::Result<()> {
    // Unlike the services, an operator's command fails at once if NATS is
    // not there.
    let client = async_nats::ConnectOptions::new()
        .name("switchboard-cli")
        .connection_timeout(Duration::from_secs(5))
        .connect(&settings.nats.url)
        .await
        .with_context(|| format!("`nats.url` {}", settings.nats.url))?;
    let dead = DeadLetters::new(async_nats::jetstream::new(client), &settings.events);
    let EventsCommand::DeadLetters(command) = command;
    match command {
        DeadLetterCommand::List { consumer } => {
            for letter in dead.list(consumer.as_deref()).await? {
                println!("{}", line(&letter));
            }
        }
        DeadLetterCommand::Replay {
            sequences,
            all,
            consumer,
        } => {
            let sequences = if all {
                dead.list(consumer.as_deref())
                    .await?
                    .iter()
                    .map(|l| l.sequence)
                    .collect()
            } else {
                sequences
            };
            for sequence in sequences {
                let letter = dead
                    .replay(sequence)
                    .await
                    .with_context(|| format!("replaying dead letter {sequence}"))?;
                println!("replayed {}", line(&letter));
            }
        }
    }
    Ok(())
}

/// One dead letter on one tab-separated line.
fn line(letter: &DeadLetter) -> String {
    let (kind, aggregate, id) = match letter.event() {
        Some(e) => (
            e.r#type,
            format!(
                "{}/{}@{}",
                e.aggregate_type, e.aggregate_id, e.aggregate_version
            ),
            e.id,
        ),
        None => ("undecodable".into(), String::new(), String::new()),
    };
    format!(
        "{}\t{}\t{kind}\t{aggregate}\t{id}\t{}\t{}",
        letter.sequence, letter.consumer, letter.attempts, letter.error
    )
}
