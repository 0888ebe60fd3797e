//! Behaviour of the index: versions, tenants, filters, modes, snippets, paging, directories.

use std::sync::atomic::{AtomicU32, Ordering};

use switchboard_search::{ArticleDoc, Error, Filter, Hit, Index, Mode, Page, Query, Status};
use uuid::Uuid;

fn doc(id: u128, tenant: &str, title: &str, body: &str) -> ArticleDoc {
    ArticleDoc {
        id: Uuid::from_u128(id),
        tenant: tenant.into(),
        version: 1,
        locale: "en-US".into(),
        title: title.into(),
        summary: String::new(),
        body: body.into(),
        tags: Vec::new(),
        category: None,
        section: None,
        status: Status::Published,
        internal: false,
        promoted: false,
        helpful: 0,
        not_helpful: 0,
    }
}

fn search(index: &Index, tenant: &str, text: &str, filter: &Filter) -> Page {
    run(index, tenant, text, Mode::Search, filter, 0, 50)
}

fn run(
    index: &Index,
    tenant: &str,
    text: &str,
    mode: Mode,
    filter: &Filter,
    offset: usize,
    limit: usize,
) -> Page {
    index
        .search(&Query {
            tenant,
            text,
            mode,
            filter,
            offset,
            limit,
        })
        .expect("search")
}

fn ids(page: &Page) -> Vec<u128> {
    page.hits.iter().map(|h| h.id.as_u128()).collect()
}

fn index_with(docs: Vec<ArticleDoc>) -> Index {
    let index = Index::in_ram().expect("index");
    index.rebuild(docs).expect("rebuild");
    index
}

#[test]
fn index_is_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Index>();
    let a = Index::in_ram().expect("index");
    let b = a.clone();
    a.upsert(doc(1, "t", "Shared", "")).expect("upsert");
    assert_eq!(b.len(), 1, "clones share one index");
}

#[test]
fn upsert_keeps_the_newest_version() {
    let index = Index::in_ram().expect("index");
    assert!(index.is_empty());
    let mut v2 = doc(1, "t", "Version two", "");
    v2.version = 2;
    assert!(index.upsert(v2.clone()).expect("upsert"));
    // Searchable as soon as upsert returns.
    assert_eq!(ids(&search(&index, "t", "two", &Filter::default())), [1]);

    let mut v1 = doc(1, "t", "Version one", "");
    v1.version = 1;
    assert!(!index.upsert(v1).expect("upsert older"));
    assert!(!index.upsert(v2).expect("upsert same"));
    assert_eq!(search(&index, "t", "one", &Filter::default()).total, 0);

    let mut v3 = doc(1, "t", "Version three", "");
    v3.version = 3;
    assert!(index.upsert(v3).expect("upsert newer"));
    assert_eq!(index.len(), 1);
    assert_eq!(search(&index, "t", "two", &Filter::default()).total, 0);
    assert_eq!(ids(&search(&index, "t", "three", &Filter::default())), [1]);
}

#[test]
fn upsert_many_applies_the_version_rule_within_and_across_batches() {
    let index = Index::in_ram().expect("index");
    let mut a5 = doc(1, "t", "Alpha five", "");
    a5.version = 5;
    index.upsert(a5).expect("upsert");

    let mut a4 = doc(1, "t", "Alpha four", "");
    a4.version = 4;
    let mut b1 = doc(2, "t", "Beta one", "");
    b1.version = 1;
    let mut b3 = doc(2, "t", "Beta three", "");
    b3.version = 3;
    let mut b2 = doc(2, "t", "Beta two", "");
    b2.version = 2;
    assert_eq!(index.upsert_many(vec![a4, b1, b3, b2]).expect("batch"), 1);
    assert_eq!(index.len(), 2);
    assert_eq!(ids(&search(&index, "t", "three", &Filter::default())), [2]);
    assert_eq!(ids(&search(&index, "t", "five", &Filter::default())), [1]);
    assert_eq!(index.upsert_many(Vec::new()).expect("empty batch"), 0);
}

#[test]
fn rebuild_replaces_everything_and_dedupes() {
    let index = index_with(vec![doc(1, "t", "Old", ""), doc(2, "t", "Old", "")]);
    let mut newer = doc(3, "t", "New newer", "");
    newer.version = 2;
    let count = index
        .rebuild(vec![
            doc(3, "t", "New older", ""),
            newer,
            doc(4, "t", "New", ""),
        ])
        .expect("rebuild");
    assert_eq!(count, 2);
    assert_eq!(index.len(), 2);
    assert_eq!(search(&index, "t", "old", &Filter::default()).total, 0);
    assert_eq!(search(&index, "t", "older", &Filter::default()).total, 0);
    assert_eq!(ids(&search(&index, "t", "newer", &Filter::default())), [3]);
}

#[test]
fn tenants_are_isolated() {
    let index = index_with(vec![
        doc(1, "acme", "Reset your password", ""),
        doc(2, "globex", "Reset your password", ""),
    ]);
    assert_eq!(
        ids(&search(&index, "acme", "password", &Filter::default())),
        [1]
    );
    assert_eq!(ids(&search(&index, "globex", "", &Filter::default())), [2]);
    assert_eq!(
        search(&index, "initech", "password", &Filter::default()).total,
        0
    );

    // Same id in another tenant: neither replaces nor removes the first tenant's article.
    assert!(index.upsert(doc(1, "globex", "Other", "")).expect("upsert"));
    index.remove("globex", Uuid::from_u128(1)).expect("remove");
    assert_eq!(
        ids(&search(&index, "acme", "password", &Filter::default())),
        [1]
    );
    assert_eq!(index.len(), 2);
}

fn filter_corpus() -> Index {
    let mut docs = Vec::new();
    let mut d = doc(1, "t", "Widget guide", "");
    d.locale = "en-US".into();
    d.category = Some("cat-a".into());
    d.section = Some("sec-1".into());
    d.tags = vec!["billing".into(), "Pro".into()];
    docs.push(d);
    let mut d = doc(2, "t", "Widget guide", "");
    d.locale = "de-DE".into();
    d.category = Some("cat-b".into());
    d.section = Some("sec-1".into());
    d.tags = vec!["billing".into()];
    docs.push(d);
    let mut d = doc(3, "t", "Widget guide", "");
    d.status = Status::Draft;
    d.category = Some("cat-a".into());
    d.section = Some("sec-2".into());
    docs.push(d);
    let mut d = doc(4, "t", "Widget guide", "");
    d.internal = true;
    d.category = Some("cat-a".into());
    docs.push(d);
    let mut d = doc(5, "t", "Widget guide", "");
    d.status = Status::Archived;
    docs.push(d);
    index_with(docs)
}

fn sorted(mut v: Vec<u128>) -> Vec<u128> {
    v.sort_unstable();
    v
}

#[test]
fn internal_articles_are_hidden_by_default() {
    let index = filter_corpus();
    let page = search(&index, "t", "widget", &Filter::default());
    assert_eq!(sorted(ids(&page)), [1, 2, 3, 5]);
    let agents = Filter {
        include_internal: true,
        ..Filter::default()
    };
    let page = search(&index, "t", "widget", &agents);
    assert_eq!(sorted(ids(&page)), [1, 2, 3, 4, 5]);
    assert!(page.hits.iter().any(|h| h.internal));
}

#[test]
fn each_filter_restricts() {
    let index = filter_corpus();
    let by = |filter: Filter| sorted(ids(&search(&index, "t", "widget", &filter)));
    assert_eq!(
        by(Filter {
            locale: Some("de-DE".into()),
            ..Filter::default()
        }),
        [2]
    );
    // Locales match exactly, case included.
    assert_eq!(
        by(Filter {
            locale: Some("de-de".into()),
            ..Filter::default()
        }),
        Vec::<u128>::new()
    );
    assert_eq!(
        by(Filter {
            category: Some("cat-a".into()),
            include_internal: true,
            ..Filter::default()
        }),
        [1, 3, 4]
    );
    assert_eq!(
        by(Filter {
            section: Some("sec-1".into()),
            ..Filter::default()
        }),
        [1, 2]
    );
    assert_eq!(
        by(Filter {
            tags: vec!["billing".into()],
            ..Filter::default()
        }),
        [1, 2]
    );
    // Every tag is required, matched exactly.
    assert_eq!(
        by(Filter {
            tags: vec!["billing".into(), "Pro".into()],
            ..Filter::default()
        }),
        [1]
    );
    assert_eq!(
        by(Filter {
            tags: vec!["pro".into()],
            ..Filter::default()
        }),
        Vec::<u128>::new()
    );
    assert_eq!(
        by(Filter {
            statuses: vec![Status::Draft, Status::Archived],
            ..Filter::default()
        }),
        [3, 5]
    );
}

#[test]
fn drafts_are_excluded_when_only_published_is_allowed() {
    let index = filter_corpus();
    let published = Filter {
        statuses: vec![Status::Published],
        ..Filter::default()
    };
    let page = search(&index, "t", "widget", &published);
    assert_eq!(sorted(ids(&page)), [1, 2]);
    assert!(page.hits.iter().all(|h| h.status == Status::Published));
}

#[test]
fn hits_carry_the_article_fields() {
    let index = filter_corpus();
    let page = search(
        &index,
        "t",
        "widget",
        &Filter {
            locale: Some("en-US".into()),
            section: Some("sec-1".into()),
            ..Filter::default()
        },
    );
    let hit: &Hit = &page.hits[0];
    assert_eq!(hit.id, Uuid::from_u128(1));
    assert_eq!(hit.title, "Widget guide");
    assert_eq!(hit.locale, "en-US");
    assert_eq!(hit.tags, ["billing", "Pro"]);
    assert_eq!(hit.category.as_deref(), Some("cat-a"));
    assert_eq!(hit.section.as_deref(), Some("sec-1"));
    assert_eq!(hit.status, Status::Published);
    assert!(!hit.internal && !hit.promoted);
    assert!(hit.score > 0.0);
}

#[test]
fn typos_match_but_exact_words_win() {
    let index = index_with(vec![
        doc(
            1,
            "t",
            "We receive your order",
            "Orders we receive are packed.",
        ),
        doc(2, "t", "Shipping card", "Add a card."),
        doc(3, "t", "Shopping cart", "Your cart."),
    ]);
    assert_eq!(
        ids(&search(&index, "t", "recieve", &Filter::default())),
        [1]
    );
    // "cart" is one edit from "card": both match, the exact word first.
    assert_eq!(
        ids(&search(&index, "t", "cart ", &Filter::default())),
        [3, 2]
    );
    assert_eq!(
        ids(&search(&index, "t", "card ", &Filter::default())),
        [2, 3]
    );
    // Three letters: no typo tolerance.
    assert_eq!(search(&index, "t", "crd ", &Filter::default()).total, 0);
}

#[test]
fn the_last_word_is_a_prefix_in_search_mode_only() {
    let index = index_with(vec![
        doc(1, "t", "Password reset", "Choose a new password."),
        doc(2, "t", "Passports", "Travel documents."),
    ]);
    assert_eq!(ids(&search(&index, "t", "passw", &Filter::default())), [1]);
    // A finished word (trailing space) is not completed.
    assert_eq!(search(&index, "t", "passw ", &Filter::default()).total, 0);
    let suggest = run(
        &index,
        "t",
        "passw",
        Mode::Suggest,
        &Filter::default(),
        0,
        10,
    );
    assert_eq!(suggest.total, 0);
    // Only the last word is a prefix.
    assert_eq!(
        search(&index, "t", "passw reset", &Filter::default()).total,
        1
    );
}

#[test]
fn snippets_highlight_and_escape() {
    let mut article = doc(
        1,
        "t",
        "Scripts",
        "Never paste <script>alert('x')</script> into the editor & never share your password.",
    );
    article.summary = "How the editor treats HTML.".into();
    let mut summary_only = doc(2, "t", "Editor", "Nothing relevant here.");
    summary_only.summary = "Formatting <b>rules</b> for the editor.".into();
    let index = index_with(vec![article, summary_only]);

    let page = search(&index, "t", "password", &Filter::default());
    let html = &page.hits[0].snippet_html;
    assert!(html.contains("<mark>password</mark>"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&amp;"), "{html}");

    // No match in the body: the summary is used.
    let page = search(&index, "t", "formatting", &Filter::default());
    let html = &page.hits[0].snippet_html;
    assert!(html.contains("<mark>Formatting</mark>"), "{html}");
    assert!(html.contains("&lt;b&gt;rules&lt;/b&gt;"), "{html}");
}

#[test]
fn long_bodies_give_a_short_snippet_around_the_match() {
    let filler = "Lorem ipsum dolor sit amet consectetur. ".repeat(20);
    let body = format!("{filler}Contact billing for an invoice copy. {filler}");
    let index = index_with(vec![doc(1, "t", "Invoices", &body)]);
    let page = search(&index, "t", "invoice", &Filter::default());
    let html = &page.hits[0].snippet_html;
    assert!(html.contains("<mark>invoice</mark>"), "{html}");
    let visible = html.replace("<mark>", "").replace("</mark>", "");
    assert!(visible.chars().count() <= 170, "{html}");
    assert!(html.starts_with('…') && html.ends_with('…'), "{html}");
}

#[test]
fn paging_clamps_and_reports_the_total() {
    let docs = (1..=60u128)
        .map(|i| doc(i, "t", &format!("Widget {i}"), "widget"))
        .collect();
    let index = index_with(docs);
    let filter = Filter::default();
    let first = run(&index, "t", "widget", Mode::Search, &filter, 0, 10);
    let second = run(&index, "t", "widget", Mode::Search, &filter, 10, 10);
    assert_eq!(first.total, 60);
    assert_eq!(second.total, 60);
    assert_eq!(first.hits.len(), 10);
    assert!(ids(&first).iter().all(|id| !ids(&second).contains(id)));
    let both = run(&index, "t", "widget", Mode::Search, &filter, 0, 20);
    assert_eq!([ids(&first), ids(&second)].concat(), ids(&both));

    assert_eq!(
        run(&index, "t", "widget", Mode::Search, &filter, 0, 0)
            .hits
            .len(),
        1
    );
    assert_eq!(
        run(&index, "t", "widget", Mode::Search, &filter, 0, 500)
            .hits
            .len(),
        50
    );
    let far = run(&index, "t", "widget", Mode::Search, &filter, 1_000_000, 10);
    assert!(far.hits.is_empty());
    assert_eq!(far.total, 60);
    let tail = run(&index, "t", "widget", Mode::Search, &filter, 55, 10);
    assert_eq!(tail.hits.len(), 5);
}

#[test]
fn empty_search_browses_promoted_first_in_a_stable_order() {
    let mut docs: Vec<ArticleDoc> = (1..=6u128)
        .map(|i| doc(i, "t", &format!("Article {i}"), ""))
        .collect();
    docs[4].promoted = true;
    docs[2].helpful = 50;
    let index = index_with(docs);
    let page = search(&index, "t", "", &Filter::default());
    assert_eq!(page.total, 6);
    assert_eq!(ids(&page), [5, 3, 1, 2, 4, 6]);
    assert!(page.hits[0].promoted);
    assert_eq!(
        ids(&search(&index, "t", "   ", &Filter::default())),
        ids(&page)
    );
}

#[test]
fn suggest_mode_ignores_stop_words() {
    let index = index_with(vec![
        doc(1, "t", "The what and the how", "It is what it is."),
        doc(2, "t", "Refunds", "Money back."),
    ]);
    let page = run(
        &index,
        "t",
        "What is it? How can I get a refund for this?",
        Mode::Suggest,
        &Filter::default(),
        0,
        10,
    );
    assert_eq!(ids(&page), [2]);
    let nothing = run(
        &index,
        "t",
        "what is it",
        Mode::Suggest,
        &Filter::default(),
        0,
        10,
    );
    assert_eq!(nothing.total, 0);
}

#[test]
fn user_text_is_never_query_syntax() {
    let index = index_with(vec![doc(1, "t", "Title", "AND OR NOT plus minus")]);
    for text in [
        "title:\"foo\" AND (bar OR -baz) ~2 ^3 [a TO b] {x} *",
        "\"unterminated",
        "*:*",
        "\\",
        "+-&&||!(){}[]^\"~*?:\\/",
        "🦀 ünïcödé 文字",
    ] {
        index
            .search(&Query {
                tenant: "t",
                text,
                mode: Mode::Search,
                filter: &Filter::default(),
                offset: 0,
                limit: 10,
            })
            .expect(text);
    }
    // "*:*" is not match-all.
    assert_eq!(search(&index, "t", "*:* ", &Filter::default()).total, 1);
    assert_eq!(
        search(&index, "t", "title:nothing ", &Filter::default()).total,
        1
    );
    assert_eq!(
        search(&index, "t", "xylophone ", &Filter::default()).total,
        0
    );
}

#[test]
fn quality_boost_never_beats_a_clearly_better_match() {
    let plain = doc(
        1,
        "t",
        "Reset your password",
        "Use the reset link to set a password.",
    );
    let mut popular = doc(
        2,
        "t",
        "Account settings",
        "Manage your profile. Password rules.",
    );
    popular.promoted = true;
    popular.helpful = 10_000;
    let index = index_with(vec![plain, popular]);
    assert_eq!(
        ids(&search(&index, "t", "reset password", &Filter::default())),
        [1, 2]
    );

    // With equal text, the boost decides.
    let same = |id, promoted, helpful| {
        let mut d = doc(id, "t", "Refund policy", "Refunds take five days.");
        d.promoted = promoted;
        d.helpful = helpful;
        d
    };
    let index = index_with(vec![
        same(1, false, 0),
        same(2, false, 40),
        same(3, true, 0),
    ]);
    assert_eq!(
        ids(&search(&index, "t", "refund", &Filter::default())),
        [3, 2, 1]
    );
}

#[test]
fn equal_scores_are_ordered_by_id() {
    let docs: Vec<ArticleDoc> = [9u128, 3, 7, 1]
        .into_iter()
        .map(|i| doc(i, "t", "Same title", "Same body"))
        .collect();
    let index = Index::in_ram().expect("index");
    for d in docs {
        index.upsert(d).expect("upsert");
    }
    assert_eq!(
        ids(&search(&index, "t", "same", &Filter::default())),
        [1, 3, 7, 9]
    );
}

#[test]
fn remove_deletes_the_article() {
    let index = index_with(vec![doc(1, "t", "Alpha", ""), doc(2, "t", "Alpha", "")]);
    index.remove("t", Uuid::from_u128(1)).expect("remove");
    assert_eq!(index.len(), 1);
    assert_eq!(ids(&search(&index, "t", "alpha", &Filter::default())), [2]);
    index
        .remove("t", Uuid::from_u128(1))
        .expect("remove absent");
    index
        .remove("t", Uuid::from_u128(42))
        .expect("remove unknown");
    assert_eq!(index.len(), 1);
    // A removed article can come back with any version.
    assert!(index.upsert(doc(1, "t", "Alpha", "")).expect("upsert"));
    assert_eq!(index.len(), 2);
}

static DIR_COUNTER: AtomicU32 = AtomicU32::new(0);

fn scratch_dir() -> std::path::PathBuf {
    let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "switchboard-search-test-{}-{n}",
        std::process::id()
    ))
}

#[test]
fn in_dir_starts_fresh_and_refuses_foreign_directories() {
    let dir = scratch_dir();
    {
        let index = Index::in_dir(&dir).expect("create");
        index.upsert(doc(1, "t", "Persisted", "")).expect("upsert");
        assert_eq!(index.len(), 1);
    }
    // A stale index left by a previous run is wiped.
    let index = Index::in_dir(&dir).expect("reopen");
    assert!(index.is_empty());
    index.upsert(doc(2, "t", "Fresh", "")).expect("upsert");
    assert_eq!(ids(&search(&index, "t", "fresh", &Filter::default())), [2]);
    drop(index);
    std::fs::remove_dir_all(&dir).expect("cleanup");

    let foreign = scratch_dir();
    std::fs::create_dir_all(&foreign).expect("mkdir");
    std::fs::write(foreign.join("notes.txt"), "keep me").expect("write");
    assert!(matches!(
        Index::in_dir(&foreign),
        Err(Error::NotAnIndexDir(_))
    ));
    assert!(foreign.join("notes.txt").exists());
    std::fs::remove_dir_all(&foreign).expect("cleanup");
}

#[test]
fn searches_run_while_another_thread_writes() {
    let index = Index::in_ram().expect("index");
    index
        .rebuild((1..=50u128).map(|i| doc(i, "t", "Stable article", "")))
        .expect("rebuild");
    std::thread::scope(|scope| {
        let writer = index.clone();
        scope.spawn(move || {
            for i in 100..140u128 {
                writer
                    .upsert(doc(i, "t", "Moving article", ""))
                    .expect("upsert");
            }
        });
        for _ in 0..3 {
            let reader = index.clone();
            scope.spawn(move || {
                for _ in 0..40 {
                    let page = search(&reader, "t", "stable", &Filter::default());
                    assert_eq!(page.total, 50);
                }
            });
        }
    });
    assert_eq!(index.len(), 90);
    assert_eq!(search(&index, "t", "moving", &Filter::default()).total, 40);
}
