//! Erasure reaches the knowledge service: `customer.erased` re-keys the
//! erased customer's votes, which stay counted, and leaves everyone
//! else's alone.

use sha2::{Digest, Sha256};
use switchboard_events::{EventBuilder, Payload, consumer::process};
use switchboard_knowledge::privacy::{ForgetErasedVoters, PRIVACY_CONSUMER};
use switchboard_proto::{events::v1::CustomerErased, knowledge::v1 as pb};
use switchboard_runtime::TenantId;

use crate::helpers::{Desk, Tokens, authed, draft, publish};

#[tokio::test]
async fn an_erased_customers_votes_stay_counted_without_them() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;
    let a = publish(&mut c, &t.agent, draft("Invoices", "Download them.", "en")).await?;
    for token in [&t.customer, &t.agent] {
        c.vote_article(authed(
            pb::VoteArticleRequest {
                name: a.name.clone(),
                vote: pb::Vote::Helpful as i32,
            },
            token,
        ))
        .await?;
    }
    let erased = EventBuilder::new(&TenantId::parse("acme").unwrap(), "customer", "0190", 2).build(
        "erased",
        Payload::CustomerErased(CustomerErased {
            customer: "customers/0190".into(),
            identity_sha256: vec![hex::encode(Sha256::digest(b"cust@example.com"))],
            ..Default::default()
        }),
    );
    let pool = desk.pool().await;
    process(&pool, PRIVACY_CONSUMER, &erased, &ForgetErasedVoters).await?;
    let voters: Vec<String> =
        sqlx::query_scalar("SELECT user_id FROM article_votes ORDER BY user_id")
            .fetch_all(&pool)
            .await?;
    assert_eq!(voters.len(), 2, "{voters:?}");
    assert_eq!(voters[0], "agent-ann");
    assert!(voters[1].starts_with("erased:"), "{voters:?}");
    let counted = c
        .get_article(authed(
            pb::GetArticleRequest {
                name: a.name.clone(),
                count_view: false,
            },
            &t.agent,
        ))
        .await?
        .into_inner()
        .feedback
        .expect("feedback");
    assert_eq!(counted.helpful, 2);
    desk.stop(vec![replica]).await
}
