//! Relevance on a realistic help-center corpus, and ranking stability across write histories.

#[path = "fixtures/help_center.rs"]
mod help_center;

use help_center::{ARTICLES, QUESTIONS};
use switchboard_search::{ArticleDoc, Filter, Index, Mode, Query, Status};
use uuid::Uuid;

const TENANT: &str = "acme";

fn id_of(slug: &str) -> Uuid {
    let position = ARTICLES
        .iter()
        .position(|a| a.slug == slug)
        .unwrap_or_else(|| panic!("unknown slug {slug}"));
    Uuid::from_u128(0x1000 + position as u128)
}

fn slug_of(id: Uuid) -> &'static str {
    ARTICLES
        .iter()
        .find(|a| id_of(a.slug) == id)
        .map(|a| a.slug)
        .unwrap_or("<not in corpus>")
}

fn corpus(version: i64) -> Vec<ArticleDoc> {
    ARTICLES
        .iter()
        .map(|a| ArticleDoc {
            id: id_of(a.slug),
            tenant: TENANT.into(),
            version,
            locale: "en-US".into(),
            title: a.title.into(),
            summary: a.summary.into(),
            body: a.body.into(),
            tags: a.tags.iter().map(|t| t.to_string()).collect(),
            category: None,
            section: None,
            status: Status::Published,
            internal: false,
            promoted: false,
            helpful: 0,
            not_helpful: 0,
        })
        .collect()
}

fn top(index: &Index, text: &str, mode: Mode, n: usize) -> Vec<(Uuid, f32)> {
    let filter = Filter {
        statuses: vec![Status::Published],
        ..Filter::default()
    };
    index
        .search(&Query {
            tenant: TENANT,
            text,
            mode,
            filter: &filter,
            offset: 0,
            limit: n,
        })
        .expect("search")
        .hits
        .into_iter()
        .map(|h| (h.id, h.score))
        .collect()
}

fn rebuilt() -> Index {
    let index = Index::in_ram().expect("index");
    assert_eq!(index.rebuild(corpus(1)).expect("rebuild"), ARTICLES.len());
    index
}

/// Top-1 failures as readable lines, so one run shows every miss.
fn misses(index: &Index, mode: Mode, only_short: bool) -> Vec<String> {
    QUESTIONS
        .iter()
        .filter(|q| !only_short || q.short)
        .filter_map(|q| {
            let got = top(index, q.text, mode, 3);
            let first = got.first().map(|(id, _)| slug_of(*id));
            (first != Some(q.expected)).then(|| {
                let ranked: Vec<_> = got
                    .iter()
                    .map(|(id, s)| format!("{} ({s:.2})", slug_of(*id)))
                    .collect();
                format!("{:?}: expected {}, got {ranked:?}", q.text, q.expected)
            })
        })
        .collect()
}

#[test]
fn every_question_finds_its_article_first_in_suggest_mode() {
    let index = rebuilt();
    let misses = misses(&index, Mode::Suggest, false);
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

#[test]
fn short_questions_find_their_article_first_in_search_mode() {
    let index = rebuilt();
    let misses = misses(&index, Mode::Search, true);
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

/// Long texts pasted into the search box (stop words dropped there too) work as well.
#[test]
fn long_questions_also_find_their_article_first_in_search_mode() {
    let index = rebuilt();
    let misses = misses(&index, Mode::Search, false);
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

#[test]
fn typos_find_the_right_article() {
    let index = rebuilt();
    for (text, expected) in [
        ("pasword", "reset-password"),
        ("pasword reset", "reset-password"),
        ("refnud", "refund-policy"),
        ("subscripton cancel", "cancel-subscription"),
        ("authenticaton", "two-factor"),
    ] {
        let got = top(&index, text, Mode::Search, 1);
        assert_eq!(
            got.first().map(|(id, _)| slug_of(*id)),
            Some(expected),
            "{text}"
        );
    }
}

#[test]
fn type_ahead_completes_the_last_word() {
    let index = rebuilt();
    for (text, expected) in [
        ("passw", "reset-password"),
        ("reset passw", "reset-password"),
        ("invoi", "download-invoices"),
        ("single sig", "sso-saml"),
    ] {
        let got = top(&index, text, Mode::Search, 1);
        assert_eq!(
            got.first().map(|(id, _)| slug_of(*id)),
            Some(expected),
            "{text}"
        );
    }
}

/// The same final set of articles reached through upserts (with stale versions, updates and
/// removals along the way) must rank exactly like a fresh rebuild, although tantivy's own
/// statistics would still count the replaced and removed documents.
#[test]
fn incremental_updates_rank_exactly_like_a_rebuild() {
    let fresh = rebuilt();

    let incremental = Index::in_ram().expect("index");
    // Early drafts of every article, with different text, added one by one.
    for mut doc in corpus(0) {
        doc.body = format!(
            "{} Draft notes about refunds, passwords and invoices.",
            doc.body
        );
        assert!(incremental.upsert(doc).expect("upsert"));
    }
    // Articles that will not survive.
    for i in 0..10u128 {
        let doc = ArticleDoc {
            id: Uuid::from_u128(0x9000 + i),
            title: format!("Temporary password article {i}"),
            ..corpus(1).remove(0)
        };
        incremental.upsert(doc).expect("upsert");
    }
    // The final versions, in reverse order, some in a batch.
    let mut finals = corpus(1);
    finals.reverse();
    let batch = finals.split_off(finals.len() / 2);
    for doc in finals {
        assert!(incremental.upsert(doc).expect("upsert"));
    }
    let batch_len = batch.len();
    assert_eq!(
        incremental.upsert_many(batch).expect("upsert_many"),
        batch_len
    );
    // A stale version arriving late changes nothing.
    assert!(!incremental.upsert(corpus(0).remove(0)).expect("upsert"));
    for i in 0..10u128 {
        incremental
            .remove(TENANT, Uuid::from_u128(0x9000 + i))
            .expect("remove");
    }
    assert_eq!(incremental.len(), fresh.len());

    for question in QUESTIONS {
        for mode in [Mode::Search, Mode::Suggest] {
            let a = top(&fresh, question.text, mode, 10);
            let b = top(&incremental, question.text, mode, 10);
            let ids = |v: &[(Uuid, f32)]| v.iter().map(|(id, _)| *id).collect::<Vec<_>>();
            let top3 = |v: &[(Uuid, f32)]| ids(v).into_iter().take(3).collect::<Vec<_>>();
            assert_eq!(top3(&a), top3(&b), "{mode:?} {:?}", question.text);
            assert_eq!(a, b, "{mode:?} {:?}", question.text);
        }
    }
}
