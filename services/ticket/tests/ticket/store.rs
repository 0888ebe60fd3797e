use std::sync::Arc;

use switchboard_events::db;
use switchboard_testkit::TestDb;
use switchboard_ticket::{MIGRATIONS, PgTicketStore, SERVICE, TicketStore, store::conformance};

async fn store() -> anyhow::Result<(TestDb, Arc<dyn TicketStore>)> {
    let db = TestDb::create().await?;
    let pool = db.pool(SERVICE).await?;
    db::migrate(&pool, SERVICE, &MIGRATIONS).await?;
    Ok((db, Arc::new(PgTicketStore::new(pool))))
}

#[tokio::test]
async fn pg_create_then_get() -> anyhow::Result<()> {
    let (db, s) = store().await?;
    conformance::create_then_get(s.as_ref()).await;
    db.drop_db().await
}

#[tokio::test]
async fn pg_request_ids_make_create_idempotent() -> anyhow::Result<()> {
    let (db, s) = store().await?;
    conformance::request_ids_make_create_idempotent(s.as_ref()).await;
    db.drop_db().await
}

#[tokio::test]
async fn pg_concurrent_duplicates_create_one_ticket() -> anyhow::Result<()> {
    let (db, s) = store().await?;
    conformance::concurrent_duplicates_create_one_ticket(s).await;
    db.drop_db().await
}

#[tokio::test]
async fn pg_identities_link_tickets_to_one_customer() -> anyhow::Result<()> {
    let (db, s) = store().await?;
    conformance::identities_link_tickets_to_one_customer(s).await;
    db.drop_db().await
}

#[tokio::test]
async fn migrations_are_idempotent() -> anyhow::Result<()> {
    let db = TestDb::create().await?;
    let pool = db.pool(SERVICE).await?;
    db::migrate(&pool, SERVICE, &MIGRATIONS).await?;
    db::migrate(&pool, SERVICE, &MIGRATIONS).await?;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM ticket._sqlx_migrations")
        .fetch_one(&pool)
        .await?;
    let expected = 1 + MIGRATIONS.iter().count() as i64;
    assert_eq!(
        applied, expected,
        "the outbox migration and each ticket migration, once each"
    );
    pool.close().await;
    db.drop_db().await
}

#[tokio::test]
async fn pg_concurrent_changes_apply_once_each() -> anyhow::Result<()> {
    let (db, s) = store().await?;
    conformance::concurrent_changes_apply_once_each(s).await;
    db.drop_db().await
}

#[tokio::test]
async fn pg_idempotency_keys_belong_to_their_caller() -> anyhow::Result<()> {
    let (db, s) = store().await?;
    conformance::idempotency_keys_belong_to_their_caller(s.as_ref()).await;
    db.drop_db().await
}

#[tokio::test]
async fn pg_keyed_messages_replay_for_their_principal_only() -> anyhow::Result<()> {
    let (db, s) = store().await?;
    conformance::keyed_messages_replay_for_their_principal_only(s.as_ref()).await;
    db.drop_db().await
}

#[tokio::test]
async fn pg_ticket_numbers_count_per_tenant() -> anyhow::Result<()> {
    let (db, s) = store().await?;
    conformance::ticket_numbers_count_per_tenant(s).await;
    db.drop_db().await
}
