//! Writing articles: lifecycle, visibility, versions, translations, votes,
//! bad input, and the events every change emits.

use prost_types::FieldMask;
use switchboard_proto::{
    events::v1::envelope::Payload,
    knowledge::v1::{self as pb},
};
use tonic::Code;

use crate::helpers::{Desk, Tokens, authed, draft, publish, violated_fields};

#[tokio::test]
async fn drafts_are_staff_only_until_published_and_bodies_render_safely() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;

    let created = c
        .create_article(authed(
            draft(
                "Reset your password",
                "Click **Forgot password**.\n\n<script>alert(1)</script>",
                "en-US",
            ),
            &t.agent,
        ))
        .await?
        .into_inner();
    assert_eq!(created.status, pb::ArticleStatus::Draft as i32);
    assert_eq!(created.version, 1);
    assert_eq!(created.author, "agent-ann");
    assert!(
        created
            .body_html
            .contains("<strong>Forgot password</strong>")
    );
    assert!(
        !created.body_html.contains("<script"),
        "{}",
        created.body_html
    );

    let get = |token: &str, count_view: bool| {
        authed(
            pb::GetArticleRequest {
                name: created.name.clone(),
                count_view,
            },
            token,
        )
    };
    let hidden = c.get_article(get(&t.customer, true)).await.unwrap_err();
    assert_eq!(
        hidden.code(),
        Code::NotFound,
        "a draft does not exist for customers"
    );
    assert_eq!(
        c.get_article(get(&t.agent, false))
            .await?
            .into_inner()
            .title,
        "Reset your password"
    );

    let published = c
        .publish_article(authed(
            pb::ChangeArticleStatusRequest {
                name: created.name.clone(),
                expected_version: 1,
            },
            &t.agent,
        ))
        .await?
        .into_inner();
    assert_eq!(published.status, pb::ArticleStatus::Published as i32);
    assert_eq!(published.version, 2);
    assert!(published.publish_time.is_some());
    let read = c.get_article(get(&t.customer, true)).await?.into_inner();
    assert_eq!(read.feedback.unwrap().views, 1);

    let again = c
        .publish_article(authed(
            pb::ChangeArticleStatusRequest {
                name: created.name.clone(),
                expected_version: 0,
            },
            &t.agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    let archived = c
        .archive_article(authed(
            pb::ChangeArticleStatusRequest {
                name: created.name.clone(),
                expected_version: 2,
            },
            &t.agent,
        ))
        .await?
        .into_inner();
    assert_eq!(archived.status, pb::ArticleStatus::Archived as i32);
    assert_eq!(
        c.get_article(get(&t.customer, false))
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // Created, published, viewed, archived: in order, one aggregate.
    let events = desk.events(4).await?;
    let types: Vec<_> = events.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(
        types,
        [
            "article.created",
            "article.published",
            "article.viewed",
            "article.archived"
        ]
    );
    assert!(events.iter().all(|e| e.aggregate_type == "article"));
    let Some(Payload::ArticlePublished(p)) = &events[1].payload else {
        panic!("published payload");
    };
    let header = p.article.as_ref().unwrap();
    assert_eq!(header.name, created.name);
    assert!(header.body_markdown.is_empty(), "events carry no body");

    desk.stop(vec![replica]).await
}

#[tokio::test]
async fn customers_cannot_write_and_bad_input_changes_nothing() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;

    let denied = c
        .create_article(authed(draft("Mine", "x", "en"), &t.customer))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let bad = c
        .create_article(authed(
            pb::CreateArticleRequest {
                title: "  ".into(),
                // Past the field's 256 KiB, within the request's 4 MiB.
                body_markdown: "a".repeat(1024 * 1024),
                locale: "en_US".into(),
                tags: vec!["".into()],
                category: "nope".into(),
                ..Default::default()
            },
            &t.agent,
        ))
        .await
        .unwrap_err();
    let mut fields = violated_fields(&bad);
    fields.sort();
    assert_eq!(
        fields,
        ["body_markdown", "category", "locale", "tags[0]", "title"]
    );
    assert!(bad.message().contains("en_US"), "{}", bad.message());

    // Past `grpc.max_message_bytes` the request is refused before decoding.
    let huge = c
        .create_article(authed(draft("Huge", &"a".repeat(10 << 20), "en"), &t.agent))
        .await
        .unwrap_err();
    assert_eq!(huge.code(), Code::ResourceExhausted, "{huge:?}");

    let listed = c
        .list_articles(authed(pb::ListArticlesRequest::default(), &t.agent))
        .await?
        .into_inner();
    assert!(listed.articles.is_empty(), "nothing was written");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM article_versions")
        .fetch_one(&desk.pool().await)
        .await?;
    assert_eq!(rows, 0);

    let not_a_name = c
        .get_article(authed(
            pb::GetArticleRequest {
                name: "tickets/1".into(),
                count_view: false,
            },
            &t.agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&not_a_name), ["name"]);

    desk.stop(vec![replica]).await
}

#[tokio::test]
async fn edits_are_versioned_and_an_old_version_can_be_restored() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;
    let a = publish(
        &mut c,
        &t.agent,
        draft("Refunds", "Refunds take 5 days.", "en"),
    )
    .await?;

    let edit = |title: &str, body: &str, expected: i64| {
        authed(
            pb::UpdateArticleRequest {
                article: Some(pb::Article {
                    name: a.name.clone(),
                    title: title.into(),
                    body_markdown: body.into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["title".into(), "body_markdown".into()],
                }),
                expected_version: expected,
            },
            &t.agent,
        )
    };
    let v3 = c
        .update_article(edit("Refunds and returns", "Refunds take 3 days.", 2))
        .await?
        .into_inner();
    assert_eq!(v3.version, 3);
    assert_eq!(
        v3.status,
        pb::ArticleStatus::Published as i32,
        "editing keeps the status"
    );
    let stale = c.update_article(edit("Lost", "x", 2)).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    let unknown = c
        .update_article(authed(
            pb::UpdateArticleRequest {
                article: Some(pb::Article {
                    name: a.name.clone(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["status".into()],
                }),
                expected_version: 0,
            },
            &t.agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unknown), ["update_mask"]);

    let versions = c
        .list_article_versions(authed(
            pb::ListArticleVersionsRequest {
                name: a.name.clone(),
                page_size: 2,
                ..Default::default()
            },
            &t.agent,
        ))
        .await?
        .into_inner();
    let numbers: Vec<_> = versions.versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [3, 2]);
    assert_eq!(
        versions.versions[0].changed_fields,
        ["title", "body_markdown"]
    );
    assert_eq!(versions.versions[1].changed_fields, ["status"]);
    let rest = c
        .list_article_versions(authed(
            pb::ListArticleVersionsRequest {
                name: a.name.clone(),
                page_size: 2,
                page_token: versions.next_page_token,
            },
            &t.agent,
        ))
        .await?
        .into_inner();
    assert_eq!(rest.versions.len(), 1);
    assert_eq!(rest.versions[0].version, 1);
    assert!(rest.next_page_token.is_empty());

    let restored = c
        .restore_article_version(authed(
            pb::RestoreArticleVersionRequest {
                name: a.name.clone(),
                version: 1,
                expected_version: 3,
            },
            &t.agent,
        ))
        .await?
        .into_inner();
    assert_eq!(restored.version, 4);
    assert_eq!(restored.title, "Refunds");
    assert_eq!(restored.body_markdown, "Refunds take 5 days.");
    assert_eq!(restored.status, pb::ArticleStatus::Published as i32);
    let newest = c
        .list_article_versions(authed(
            pb::ListArticleVersionsRequest {
                name: a.name.clone(),
                page_size: 1,
                ..Default::default()
            },
            &t.agent,
        ))
        .await?
        .into_inner();
    assert_eq!(newest.versions[0].restored_from, 1);
    assert_eq!(
        newest.versions[0].changed_fields,
        ["title", "body_markdown"]
    );

    let missing = c
        .restore_article_version(authed(
            pb::RestoreArticleVersionRequest {
                name: a.name.clone(),
                version: 0,
                expected_version: 0,
            },
            &t.agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&missing), ["version"]);

    desk.stop(vec![replica]).await
}

#[tokio::test]
async fn translations_share_a_set_with_one_article_per_locale() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;
    let en = publish(&mut c, &t.agent, draft("Shipping times", "Two days.", "en")).await?;
    let de = c
        .create_article(authed(
            pb::CreateArticleRequest {
                translation_of: en.name.clone(),
                ..draft("Lieferzeiten", "Zwei Tage.", "de")
            },
            &t.agent,
        ))
        .await?
        .into_inner();
    assert_eq!(de.translation_set, en.translation_set);
    assert_eq!(de.translations.len(), 1);
    assert_eq!(de.translations[0].article, en.name);

    let duplicate = c
        .create_article(authed(
            pb::CreateArticleRequest {
                translation_of: en.name.clone(),
                ..draft("Lieferung", "Zwei.", "de")
            },
            &t.agent,
        ))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    // The German draft is not listed to customers reading the English one.
    let as_customer = c
        .get_article(authed(
            pb::GetArticleRequest {
                name: en.name.clone(),
                count_view: false,
            },
            &t.customer,
        ))
        .await?
        .into_inner();
    assert!(as_customer.translations.is_empty());
    let as_agent = c
        .get_article(authed(
            pb::GetArticleRequest {
                name: en.name.clone(),
                count_view: false,
            },
            &t.agent,
        ))
        .await?
        .into_inner();
    assert_eq!(as_agent.translations[0].locale, "de");

    desk.stop(vec![replica]).await
}

#[tokio::test]
async fn one_vote_per_reader_and_categories_nest_once() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;
    let a = publish(
        &mut c,
        &t.agent,
        draft("Invoices", "Download invoices.", "en"),
    )
    .await?;
    let vote = |v: pb::Vote, token: &str| {
        authed(
            pb::VoteArticleRequest {
                name: a.name.clone(),
                vote: v as i32,
            },
            token,
        )
    };
    c.vote_article(vote(pb::Vote::Helpful, &t.customer)).await?;
    let twice = c
        .vote_article(vote(pb::Vote::Helpful, &t.customer))
        .await?
        .into_inner();
    assert_eq!((twice.helpful, twice.not_helpful), (1, 0));
    let changed = c
        .vote_article(vote(pb::Vote::NotHelpful, &t.customer))
        .await?
        .into_inner();
    assert_eq!((changed.helpful, changed.not_helpful), (0, 1));
    let other = c
        .vote_article(vote(pb::Vote::Helpful, &t.agent))
        .await?
        .into_inner();
    assert_eq!((other.helpful, other.not_helpful), (1, 1));
    let none = c
        .vote_article(vote(pb::Vote::Unspecified, &t.customer))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&none), ["vote"]);
    let mine = c
        .get_article(authed(
            pb::GetArticleRequest {
                name: a.name.clone(),
                count_view: false,
            },
            &t.customer,
        ))
        .await?
        .into_inner()
        .feedback
        .unwrap();
    assert_eq!(mine.my_vote, pb::Vote::NotHelpful as i32);

    // created, published, then three votes that changed something.
    let events = desk.events(5).await?;
    let Some(Payload::ArticleVoted(changed)) = &events[3].payload else {
        panic!("{:?}", events[3].r#type);
    };
    assert_eq!(changed.previous, pb::Vote::Helpful as i32);
    assert_eq!(changed.vote, pb::Vote::NotHelpful as i32);

    let category = |title: &str, parent: &str, token: &str| {
        authed(
            pb::CreateCategoryRequest {
                category: Some(pb::Category {
                    title: title.into(),
                    parent: parent.into(),
                    ..Default::default()
                }),
            },
            token,
        )
    };
    let denied = c
        .create_category(category("Billing", "", &t.agent))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let billing = c
        .create_category(category("Billing", "", &t.admin))
        .await?
        .into_inner();
    let invoices = c
        .create_category(category("Invoices", &billing.name, &t.admin))
        .await?
        .into_inner();
    let deeper = c
        .create_category(category("Too deep", &invoices.name, &t.admin))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&deeper), ["category.parent"]);
    let listed = c
        .list_categories(authed(pb::ListCategoriesRequest {}, &t.customer))
        .await?
        .into_inner();
    let names: Vec<_> = listed.categories.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(names, ["Billing", "Invoices"]);

    desk.stop(vec![replica]).await
}

#[tokio::test]
async fn listings_page_newest_change_first() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;
    let mut made = Vec::new();
    for title in ["One", "Two", "Three"] {
        let a = c
            .create_article(authed(draft(title, "body", "en"), &t.agent))
            .await?
            .into_inner();
        made.push(a.name);
    }
    let page = |token: &str| {
        authed(
            pb::ListArticlesRequest {
                page_size: 2,
                page_token: token.into(),
                ..Default::default()
            },
            &t.agent,
        )
    };
    let first = c.list_articles(page("")).await?.into_inner();
    let second = c
        .list_articles(page(&first.next_page_token))
        .await?
        .into_inner();
    let seen: Vec<_> = first
        .articles
        .iter()
        .chain(&second.articles)
        .map(|a| a.name.clone())
        .collect();
    made.reverse();
    assert_eq!(seen, made);
    assert!(second.next_page_token.is_empty());
    assert!(first.articles.iter().all(|a| a.body_markdown.is_empty()));
    // Drafts are not listed to customers at all.
    let customer = c
        .list_articles(authed(pb::ListArticlesRequest::default(), &t.customer))
        .await?
        .into_inner();
    assert!(customer.articles.is_empty());
    let bad = c.list_articles(page("garbage")).await.unwrap_err();
    assert_eq!(violated_fields(&bad), ["page_token"]);

    desk.stop(vec![replica]).await
}
