//! Search through the API: visibility by role, typos, locale, replicas that
//! agree, and replicas that follow each other's changes.

use std::time::Duration;

use switchboard_proto::knowledge::v1::{self as pb};
use switchboard_testkit::wait_for;

use crate::helpers::{Desk, Tokens, authed, draft, publish, search_names};

#[tokio::test]
async fn published_articles_are_found_at_once_and_drafts_only_by_staff() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;

    let reset = publish(
        &mut c,
        &t.agent,
        pb::CreateArticleRequest {
            summary: "Get back into your account".into(),
            tags: vec!["login".into()],
            ..draft(
                "Reset your password",
                "Open the sign-in page and choose **Forgot password**. We email you a link.",
                "en",
            )
        },
    )
    .await?;
    // No waiting: the writing replica indexes before it answers.
    assert_eq!(
        search_names(&mut c, &t.customer, "password", "").await?,
        [reset.name.as_str()]
    );

    let draft_only = c
        .create_article(authed(
            draft("Password rules", "Passwords need twelve characters.", "en"),
            &t.agent,
        ))
        .await?
        .into_inner();
    assert_eq!(
        search_names(&mut c, &t.customer, "password", "").await?,
        [reset.name.as_str()],
        "customers never find drafts"
    );
    let staff = search_names(&mut c, &t.agent, "password", "").await?;
    assert_eq!(staff.len(), 2);
    assert!(staff.contains(&draft_only.name));

    // Typos and type-ahead.
    assert_eq!(
        search_names(&mut c, &t.customer, "pasword", "").await?,
        [reset.name.as_str()]
    );
    assert_eq!(
        search_names(&mut c, &t.customer, "forgot passw", "").await?,
        [reset.name.as_str()]
    );

    // Internal articles are for agents only, even when published.
    let internal = publish(
        &mut c,
        &t.agent,
        pb::CreateArticleRequest {
            internal: true,
            ..draft(
                "Password override runbook",
                "Agents reset a password in the console.",
                "en",
            )
        },
    )
    .await?;
    assert!(
        !search_names(&mut c, &t.customer, "runbook", "")
            .await?
            .contains(&internal.name)
    );
    assert_eq!(
        search_names(&mut c, &t.agent, "runbook", "").await?,
        [internal.name.as_str()]
    );

    // Snippets mark the matched words and escape the body.
    let hits = c
        .search_articles(authed(
            pb::SearchArticlesRequest {
                query: "link".into(),
                ..Default::default()
            },
            &t.customer,
        ))
        .await?
        .into_inner();
    assert_eq!(hits.total, 1);
    assert!(
        hits.hits[0].snippet.contains("<mark>link</mark>"),
        "{}",
        hits.hits[0].snippet
    );

    // Archived articles leave customers' results.
    c.archive_article(authed(
        pb::ChangeArticleStatusRequest {
            name: reset.name.clone(),
            expected_version: 0,
        },
        &t.agent,
    ))
    .await?;
    assert!(
        search_names(&mut c, &t.customer, "password", "")
            .await?
            .is_empty()
    );

    desk.stop(vec![replica]).await
}

#[tokio::test]
async fn locale_filter_and_bounds() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;
    let en = publish(
        &mut c,
        &t.agent,
        draft("Delivery times", "Parcels arrive in two days.", "en"),
    )
    .await?;
    let pt = publish(
        &mut c,
        &t.agent,
        draft("Prazos de entrega", "Delivery em dois dias.", "pt-BR"),
    )
    .await?;
    assert_eq!(
        search_names(&mut c, &t.customer, "delivery", "pt-BR").await?,
        [pt.name.as_str()]
    );
    assert_eq!(
        search_names(&mut c, &t.customer, "delivery", "en").await?,
        [en.name.as_str()]
    );
    assert_eq!(
        search_names(&mut c, &t.customer, "delivery", "")
            .await?
            .len(),
        2
    );

    let bad = c
        .search_articles(authed(
            pb::SearchArticlesRequest {
                query: "x".repeat(513),
                locale: "pt_br".into(),
                page_size: 500,
                ..Default::default()
            },
            &t.customer,
        ))
        .await
        .unwrap_err();
    let mut fields = crate::helpers::violated_fields(&bad);
    fields.sort();
    assert_eq!(fields, ["locale"], "filters are checked first");
    let bad = c
        .search_articles(authed(
            pb::SearchArticlesRequest {
                query: "x".repeat(513),
                page_size: 500,
                page_token: "999999".into(),
                ..Default::default()
            },
            &t.customer,
        ))
        .await
        .unwrap_err();
    let mut fields = crate::helpers::violated_fields(&bad);
    fields.sort();
    assert_eq!(fields, ["page_size", "page_token", "query"]);

    desk.stop(vec![replica]).await
}

#[tokio::test]
async fn replicas_follow_each_other_and_a_fresh_one_answers_alike() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let first = desk.replica().await?;
    let second = desk.replica().await?;
    let t = Tokens::new(&desk);
    let (mut a, mut b) = (first.client().await, second.client().await);

    let corpus = [
        (
            "Reset your password",
            "Use Forgot password on the sign-in page.",
        ),
        (
            "Change your password",
            "Settings, Security, Change password.",
        ),
        ("Password requirements", "Twelve characters, one digit."),
        (
            "Two-factor authentication",
            "Protect your account with a code.",
        ),
        ("Refund policy", "Refunds within thirty days of purchase."),
        (
            "Track your package",
            "Follow your shipment with the tracking number.",
        ),
    ];
    for (title, body) in corpus {
        publish(&mut a, &t.agent, draft(title, body, "en")).await?;
    }
    // The second replica learns of them from the article events.
    wait_for(
        Duration::from_secs(10),
        "second replica indexes the first's articles",
        || {
            let mut b = b.clone();
            let token = t.customer.clone();
            async move {
                search_names(&mut b, &token, "package", "")
                    .await
                    .is_ok_and(|hits| hits.len() == 1)
            }
        },
    )
    .await?;

    // A third replica, built only from the database, ranks like the first.
    let third = desk.replica().await?;
    let mut c = third.client().await;
    for query in [
        "password",
        "reset password",
        "refund",
        "account code",
        "tracking",
    ] {
        let want = search_names(&mut a, &t.customer, query, "").await?;
        assert!(!want.is_empty(), "{query} finds something");
        assert_eq!(
            search_names(&mut b, &t.customer, query, "").await?,
            want,
            "{query} on the follower"
        );
        assert_eq!(
            search_names(&mut c, &t.customer, query, "").await?,
            want,
            "{query} on the rebuilt"
        );
    }

    desk.stop(vec![first, second, third]).await
}

#[tokio::test]
async fn category_section_and_tag_filters() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;
    let category = |title: &str, parent: &str| {
        authed(
            pb::CreateCategoryRequest {
                category: Some(pb::Category {
                    title: title.into(),
                    parent: parent.into(),
                    ..Default::default()
                }),
            },
            &t.admin,
        )
    };
    let billing = c
        .create_category(category("Billing", ""))
        .await?
        .into_inner();
    let invoices = c
        .create_category(category("Invoices", &billing.name))
        .await?
        .into_inner();
    let shipping = c
        .create_category(category("Shipping", ""))
        .await?
        .into_inner();
    let in_section = publish(
        &mut c,
        &t.agent,
        pb::CreateArticleRequest {
            category: invoices.name.clone(),
            tags: vec!["pdf".into()],
            ..draft(
                "Download an invoice",
                "Invoices are PDF files in Billing.",
                "en",
            )
        },
    )
    .await?;
    let in_category = publish(
        &mut c,
        &t.agent,
        pb::CreateArticleRequest {
            category: billing.name.clone(),
            ..draft("Payment methods", "Cards and invoices.", "en")
        },
    )
    .await?;
    publish(
        &mut c,
        &t.agent,
        pb::CreateArticleRequest {
            category: shipping.name.clone(),
            ..draft("Customs invoices", "Invoices for customs.", "en")
        },
    )
    .await?;

    let search = |category: &str, tags: &[&str]| {
        authed(
            pb::SearchArticlesRequest {
                query: "invoices".into(),
                category: category.into(),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            },
            &t.customer,
        )
    };
    let names = |r: pb::SearchArticlesResponse| {
        let mut n: Vec<_> = r
            .hits
            .into_iter()
            .map(|h| h.article.unwrap().name)
            .collect();
        n.sort();
        n
    };
    let mut both = vec![in_section.name.clone(), in_category.name.clone()];
    both.sort();
    // A category includes its sections; a section only itself.
    assert_eq!(
        names(
            c.search_articles(search(&billing.name, &[]))
                .await?
                .into_inner()
        ),
        both
    );
    assert_eq!(
        names(
            c.search_articles(search(&invoices.name, &[]))
                .await?
                .into_inner()
        ),
        [in_section.name.as_str()]
    );
    assert_eq!(
        names(c.search_articles(search("", &["pdf"])).await?.into_inner()),
        [in_section.name.as_str()]
    );
    assert_eq!(
        c.search_articles(search("", &[])).await?.into_inner().total,
        3
    );
    let unknown = c
        .search_articles(search(
            "categories/0199d0a0-0000-7000-8000-000000000009",
            &[],
        ))
        .await
        .unwrap_err();
    assert_eq!(crate::helpers::violated_fields(&unknown), ["category"]);

    // Listing honours the same category rule.
    let listed = c
        .list_articles(authed(
            pb::ListArticlesRequest {
                category: billing.name.clone(),
                ..Default::default()
            },
            &t.customer,
        ))
        .await?
        .into_inner();
    assert_eq!(listed.articles.len(), 2);

    desk.stop(vec![replica]).await
}
