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

/// Upgrading keeps every ticket's number and goes on per tenant from its
/// highest; a tenant without tickets starts at 1.
#[tokio::test]
async fn per_tenant_numbers_go_on_from_each_tenants_highest() -> anyhow::Result<()> {
    use switchboard_proto::ticket::v1 as pb;
    use switchboard_runtime::{Caller, Role, TenantId};
    use switchboard_ticket::domain::NewTicket;

    let db = TestDb::create().await?;
    let pool = db.pool(SERVICE).await?;
    let before = sqlx::migrate::Migrator {
        migrations: MIGRATIONS
            .iter()
            .filter(|m| m.version < 20261123000012)
            .cloned()
            .collect::<Vec<_>>()
            .into(),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    };
    db::migrate(&pool, SERVICE, &before).await?;
    // Tickets numbered by the old installation-wide sequence.
    let customer = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO customers (id, tenant_id, created_at) VALUES ($1, 'acme', now())")
        .bind(customer)
        .execute(&pool)
        .await?;
    let mut old = Vec::new();
    for (tenant, number) in [("acme", 3_i64), ("globex", 4), ("acme", 7)] {
        let id = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO tickets (id, tenant_id, number, subject, description, status, priority, \
             channel, requester_id, version, created_at, updated_at) \
             VALUES ($1, $2, $3, 'old', '', 'new', 'normal', 'api', $4, 1, now(), now())",
        )
        .bind(id)
        .bind(tenant)
        .bind(number)
        .bind(customer)
        .execute(&pool)
        .await?;
        old.push((tenant, id, number));
    }
    db::migrate(&pool, SERVICE, &MIGRATIONS).await?;

    let store = PgTicketStore::new(pool.clone());
    let mut next = Vec::new();
    for tenant in ["acme", "globex", "initech", "acme"] {
        let caller = Caller {
            tenant: TenantId::parse(tenant).expect("tenant"),
            user: "agent-1".into(),
            role: Role::Agent,
            via: switchboard_runtime::auth::Via::Person,
        };
        let new = NewTicket::from_request(
            &caller,
            pb::CreateTicketRequest {
                subject: "After the upgrade".into(),
                requester: Some(pb::Requester {
                    email: "ann@example.com".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )?;
        let created = store
            .create(&caller.tenant, &new, None, caller.to_actor())
            .await?;
        next.push((tenant, created.ticket.number));
    }
    assert_eq!(
        next,
        [("acme", 8), ("globex", 5), ("initech", 1), ("acme", 9)]
    );
    for (tenant, id, number) in old {
        let kept = store
            .get(&TenantId::parse(tenant).expect("tenant"), id)
            .await?
            .expect("old ticket");
        assert_eq!(kept.number, number, "{tenant}");
    }
    pool.close().await;
    db.drop_db().await
}

async fn privacy_store() -> anyhow::Result<(TestDb, PgTicketStore)> {
    let db = TestDb::create().await?;
    let pool = db.pool(SERVICE).await?;
    db::migrate(&pool, SERVICE, &MIGRATIONS).await?;
    Ok((db, PgTicketStore::new(pool)))
}

#[tokio::test]
async fn pg_erasure_leaves_nothing_that_names_the_customer() -> anyhow::Result<()> {
    let (db, s) = privacy_store().await?;
    conformance::privacy::erasure_leaves_nothing_that_names_the_customer(&s).await;
    db.drop_db().await
}

#[tokio::test]
async fn pg_erasure_covers_merged_profiles() -> anyhow::Result<()> {
    let (db, s) = privacy_store().await?;
    conformance::privacy::erasure_covers_merged_profiles(&s).await;
    db.drop_db().await
}

#[tokio::test]
async fn pg_retention_deletes_closed_tickets_past_the_policy() -> anyhow::Result<()> {
    let (db, s) = privacy_store().await?;
    conformance::privacy::retention_deletes_closed_tickets_past_the_policy(&s).await;
    db.drop_db().await
}
