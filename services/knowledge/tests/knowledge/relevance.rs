//! The hand-written help-center corpus through the whole path: Markdown
//! stored in PostgreSQL, indexed, and asked for by customers in their own words.

use std::collections::HashMap;

use switchboard_proto::knowledge::v1::{self as pb};

use crate::helpers::{Desk, Tokens, authed, publish, search_names};

#[path = "../../../../libs/search/tests/fixtures/help_center.rs"]
mod help_center;

#[tokio::test]
async fn customer_questions_find_their_article_first() -> anyhow::Result<()> {
    let desk = Desk::new().await?;
    let replica = desk.replica().await?;
    let t = Tokens::new(&desk);
    let mut c = replica.client().await;
    let mut names = HashMap::new();
    for a in help_center::ARTICLES {
        let published = publish(
            &mut c,
            &t.agent,
            pb::CreateArticleRequest {
                title: a.title.into(),
                summary: a.summary.into(),
                // Stored as Markdown; the index must see the words, not the markup.
                body_markdown: format!("## {}\n\n{}", a.title, a.body),
                locale: "en".into(),
                tags: a.tags.iter().map(|t| t.to_string()).collect(),
                ..Default::default()
            },
        )
        .await?;
        names.insert(a.slug, published.name);
    }

    let mut misses = Vec::new();
    for q in help_center::QUESTIONS {
        let hits = c
            .suggest_articles(authed(
                pb::SuggestArticlesRequest {
                    subject: q.text.into(),
                    limit: 1,
                    ..Default::default()
                },
                &t.customer,
            ))
            .await?
            .into_inner()
            .hits;
        let top = hits
            .first()
            .and_then(|h| h.article.as_ref())
            .map(|a| a.name.as_str());
        if top != Some(names[q.expected].as_str()) {
            misses.push(format!(
                "suggest `{}` → {top:?}, want {}",
                q.text, q.expected
            ));
        }
        if q.short {
            let found = search_names(&mut c, &t.customer, q.text, "").await?;
            if found.first() != Some(&names[q.expected]) {
                misses.push(format!(
                    "search `{}` → {:?}, want {}",
                    q.text,
                    found.first(),
                    q.expected
                ));
            }
        }
    }
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );

    desk.stop(vec![replica]).await
}
