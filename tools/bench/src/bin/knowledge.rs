//! Knowledge-base search: the tantivy index (`switchboard-search`) beside PostgreSQL full-text
//! search on the same generated corpus and the same queries, in the same run. Figures, not
//! assertions: machines are shared.
//!
//! `cargo run --release -p switchboard-bench --bin knowledge`

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use hdrhistogram::Histogram;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use switchboard_search::{ArticleDoc, Filter, Index, Mode, Query, Status};
use uuid::Uuid;

/// Compares knowledge search on tantivy with PostgreSQL full-text search.
#[derive(Debug, Parser)]
struct Args {
    /// Articles in the generated corpus.
    #[arg(long, default_value_t = 100_000)]
    articles: usize,
    /// Generated queries (each run single-threaded and on 2 threads).
    #[arg(long, default_value_t = 2_000)]
    queries: usize,
    /// A PostgreSQL superuser URL; a throwaway database is created beside it and dropped.
    #[arg(long, default_value = "postgres://postgres@localhost:5432/postgres")]
    database_url: String,
    /// Seed of the corpus and queries.
    #[arg(long, default_value_t = 0x5EED)]
    seed: u64,
}

const TENANT: &str = "bench";
const LOCALES: [&str; 5] = ["en-US", "de-DE", "fr-FR", "es-ES", "pt-BR"];
const CATEGORIES: u64 = 50;
const SECTIONS: u64 = 400;
const VOCABULARY: usize = 4_000;
/// Zipf exponent of word frequencies (natural language is close to 1).
const ZIPF_S: f64 = 1.0;
/// Query words skip the most frequent ranks: people search for content words, and the head of
/// a Zipf vocabulary plays the part of function words that both engines would barely use.
const QUERY_MIN_RANK: usize = 25;
/// Concurrency of the second measurement.
const THREADS: usize = 2;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.articles > 0 && args.queries > 0, "nothing to measure");
    let vocab = Vocab::new(args.seed);
    let corpus = Corpus {
        vocab: &vocab,
        seed: args.seed,
    };
    let queries = queries(&vocab, args.seed, args.queries);
    let words: usize = queries.iter().map(|q| q.words.len()).sum();

    println!("knowledge search: switchboard-search (tantivy) vs PostgreSQL full-text search");
    println!(
        "corpus: {} articles, 1 tenant, {} locales, {CATEGORIES} categories, {} words of vocabulary \
         (Zipf s={ZIPF_S}), titles 4-8 words, bodies 100-200 words, seed {:#x}",
        args.articles,
        LOCALES.len(),
        vocab.words.len(),
        args.seed
    );
    println!(
        "queries: {} of 1-4 words ({:.1} on average, ranks >= {QUERY_MIN_RANK}), filter published + \
         not internal + one locale, limit 10",
        queries.len(),
        words as f64 / queries.len() as f64
    );
    println!(
        "tantivy: Search mode (typo variants, last word also a prefix, total count, snippets); \
         PostgreSQL: OR of the words, ts_rank, no count\n"
    );

    let tantivy = bench_tantivy(&corpus, args.articles, &queries)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_all()
        .build()?;
    let postgres = runtime.block_on(bench_postgres(
        &args.database_url,
        &corpus,
        args.articles,
        &queries,
    ))?;
    print_table(&tantivy, &postgres);
    Ok(())
}

/// Results of one engine.
struct Figures {
    build: Duration,
    memory: String,
    single: Run,
    concurrent: Run,
    hits: usize,
}

/// One pass over all queries.
struct Run {
    hist: Histogram<u64>,
    per_second: f64,
}

impl Run {
    fn p(&self, quantile: f64) -> f64 {
        self.hist.value_at_quantile(quantile) as f64 / 1000.0
    }
}

fn bench_tantivy(
    corpus: &Corpus<'_>,
    articles: usize,
    queries: &[Generated],
) -> anyhow::Result<Figures> {
    let before = rss_kib()?;
    let start = Instant::now();
    let index = Index::in_ram()?;
    let indexed = index.rebuild((0..articles).map(|i| corpus.article(i)))?;
    let build = start.elapsed();
    let after = rss_kib()?;
    anyhow::ensure!(indexed == articles, "indexed {indexed} of {articles}");
    println!(
        "tantivy: built in {:.1} s, RSS {:.0} MiB ({:.0} MiB more than before the build)",
        build.as_secs_f64(),
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / 1024.0
    );

    let filters: Vec<Filter> = LOCALES
        .iter()
        .map(|locale| Filter {
            locale: Some((*locale).to_owned()),
            statuses: vec![Status::Published],
            include_internal: false,
            ..Filter::default()
        })
        .collect();
    let search = |q: &Generated| -> anyhow::Result<usize> {
        let page = index.search(&Query {
            tenant: TENANT,
            text: &q.text,
            mode: Mode::Search,
            filter: &filters[q.locale],
            offset: 0,
            limit: 10,
        })?;
        Ok(page.hits.len())
    };
    // One untimed pass warms caches the way a running service would have them.
    let mut hits = 0;
    for q in queries {
        hits += search(q)?;
    }

    let single = timed(1, queries, |q| search(q).map(|_| ()))?;
    let concurrent = timed(THREADS, queries, |q| search(q).map(|_| ()))?;
    Ok(Figures {
        build,
        memory: format!("{:.0} MiB RSS", after as f64 / 1024.0),
        single,
        concurrent,
        hits,
    })
}

/// Runs every query once on `threads` threads (query i on thread i % threads).
fn timed(
    threads: usize,
    queries: &[Generated],
    search: impl Fn(&Generated) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<Run> {
    let start = Instant::now();
    let hists = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let search = &search;
                scope.spawn(move || -> anyhow::Result<Histogram<u64>> {
                    let mut hist = Histogram::<u64>::new(3)?;
                    for q in queries.iter().skip(t).step_by(threads) {
                        let at = Instant::now();
                        search(q)?;
                        hist.record(at.elapsed().as_micros() as u64)?;
                    }
                    Ok(hist)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("search thread panicked"))?
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let elapsed = start.elapsed();
    merge(hists, queries.len(), elapsed)
}

fn merge(hists: Vec<Histogram<u64>>, n: usize, elapsed: Duration) -> anyhow::Result<Run> {
    let mut hist = Histogram::<u64>::new(3)?;
    for h in hists {
        hist.add(h)?;
    }
    Ok(Run {
        hist,
        per_second: n as f64 / elapsed.as_secs_f64(),
    })
}

async fn bench_postgres(
    admin_url: &str,
    corpus: &Corpus<'_>,
    articles: usize,
    queries: &[Generated],
) -> anyhow::Result<Figures> {
    let mut admin = PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("PostgreSQL is not reachable at {admin_url}"))?;
    let name = format!("kb_bench_{}", Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    let options = PgConnectOptions::from_str(admin_url)?.database(&name);
    let result = async {
        let pool = PgPoolOptions::new()
            .max_connections(THREADS as u32)
            .connect_with(options)
            .await?;
        let figures = postgres_figures(&pool, corpus, articles, queries).await;
        pool.close().await;
        figures
    }
    .await;
    // Drop the throwaway database whatever happened above.
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    result
}

async fn postgres_figures(
    pool: &PgPool,
    corpus: &Corpus<'_>,
    articles: usize,
    queries: &[Generated],
) -> anyhow::Result<Figures> {
    sqlx::query(
        "CREATE TABLE kb_articles (
            id uuid PRIMARY KEY,
            tenant text NOT NULL,
            locale text NOT NULL,
            status text NOT NULL,
            internal bool NOT NULL,
            title text NOT NULL,
            summary text NOT NULL,
            body text NOT NULL,
            tsv tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('english', title), 'A') ||
                setweight(to_tsvector('english', summary), 'B') ||
                setweight(to_tsvector('english', body), 'D')
            ) STORED
        )",
    )
    .execute(pool)
    .await?;

    let start = Instant::now();
    const BATCH: usize = 1_000;
    for from in (0..articles).step_by(BATCH) {
        let docs: Vec<ArticleDoc> = (from..(from + BATCH).min(articles))
            .map(|i| corpus.article(i))
            .collect();
        sqlx::query(
            "INSERT INTO kb_articles (id, tenant, locale, status, internal, title, summary, body)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[],
                                  $6::text[], $7::text[], $8::text[])",
        )
        .bind(docs.iter().map(|d| d.id).collect::<Vec<_>>())
        .bind(docs.iter().map(|d| d.tenant.clone()).collect::<Vec<_>>())
        .bind(docs.iter().map(|d| d.locale.clone()).collect::<Vec<_>>())
        .bind(docs.iter().map(|d| d.status.as_str()).collect::<Vec<_>>())
        .bind(docs.iter().map(|d| d.internal).collect::<Vec<_>>())
        .bind(docs.iter().map(|d| d.title.clone()).collect::<Vec<_>>())
        .bind(docs.iter().map(|d| d.summary.clone()).collect::<Vec<_>>())
        .bind(docs.iter().map(|d| d.body.clone()).collect::<Vec<_>>())
        .execute(pool)
        .await?;
    }
    sqlx::query("CREATE INDEX kb_articles_tsv ON kb_articles USING GIN (tsv)")
        .execute(pool)
        .await?;
    sqlx::query("ANALYZE kb_articles").execute(pool).await?;
    let build = start.elapsed();
    let size: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('kb_articles')")
        .fetch_one(pool)
        .await?;
    println!(
        "PostgreSQL: loaded and indexed in {:.1} s, table + indexes {:.0} MiB on disk",
        build.as_secs_f64(),
        size as f64 / (1024.0 * 1024.0)
    );

    let mut hits = 0;
    for q in queries {
        hits += pg_search(pool, q).await?;
    }
    let single = pg_timed(pool, 1, queries).await?;
    let concurrent = pg_timed(pool, THREADS, queries).await?;
    Ok(Figures {
        build,
        memory: format!("{:.0} MiB on disk", size as f64 / (1024.0 * 1024.0)),
        single,
        concurrent,
        hits,
    })
}

async fn pg_search(pool: &PgPool, q: &Generated) -> anyhow::Result<usize> {
    // Generated words are [a-z] only; the filter keeps the tsquery well-formed regardless.
    let tsquery = q
        .words
        .iter()
        .map(|w| {
            w.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT id, title FROM kb_articles, to_tsquery('english', $1) q
         WHERE tenant = $2 AND locale = $3 AND status = 'published' AND NOT internal
           AND tsv @@ q
         ORDER BY ts_rank(tsv, q) DESC
         LIMIT 10",
    )
    .bind(tsquery)
    .bind(TENANT)
    .bind(LOCALES[q.locale])
    .fetch_all(pool)
    .await?;
    Ok(rows.len())
}

async fn pg_timed(pool: &PgPool, connections: usize, queries: &[Generated]) -> anyhow::Result<Run> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..connections {
        let pool = pool.clone();
        let mine: Vec<Generated> = queries
            .iter()
            .skip(t)
            .step_by(connections)
            .cloned()
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3)?;
            for q in &mine {
                let at = Instant::now();
                pg_search(&pool, q).await?;
                hist.record(at.elapsed().as_micros() as u64)?;
            }
            anyhow::Ok(hist)
        }));
    }
    let mut hists = Vec::new();
    for task in tasks {
        hists.push(task.await??);
    }
    merge(hists, queries.len(), start.elapsed())
}

fn print_table(t: &Figures, pg: &Figures) {
    println!(
        "\nmatching hits returned (limit 10 per query): tantivy {}, PostgreSQL {}",
        t.hits, pg.hits
    );
    println!(
        "\n{:<30} | {:>14} | {:>16} | {:>9}",
        "figure", "tantivy", "PostgreSQL FTS", "ratio"
    );
    println!("{:-<30}-+-{:->14}-+-{:->16}-+-{:->9}", "", "", "", "");
    let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    row(
        "build (load + index)",
        &secs(t.build),
        &secs(pg.build),
        pg.build.as_secs_f64() / t.build.as_secs_f64(),
    );
    println!(
        "{:<30} | {:>14} | {:>16} | {:>9}",
        "size", t.memory, pg.memory, ""
    );
    for (label, a, b) in [
        ("1 thread", &t.single, &pg.single),
        ("2 threads / connections", &t.concurrent, &pg.concurrent),
    ] {
        let ms = |v: f64| format!("{v:.2} ms");
        row(
            &format!("p50, {label}"),
            &ms(a.p(0.5)),
            &ms(b.p(0.5)),
            b.p(0.5) / a.p(0.5),
        );
        row(
            &format!("p99, {label}"),
            &ms(a.p(0.99)),
            &ms(b.p(0.99)),
            b.p(0.99) / a.p(0.99),
        );
        row(
            &format!("queries/s, {label}"),
            &format!("{:.0}", a.per_second),
            &format!("{:.0}", b.per_second),
            a.per_second / b.per_second,
        );
    }
    println!(
        "\nratio: how many times better tantivy is (PostgreSQL / tantivy for times, tantivy / \
         PostgreSQL for rates)"
    );
    println!("target: search p99 < 10 ms; >= 5x faster than PG FTS");
}

fn row(label: &str, a: &str, b: &str, ratio: f64) {
    println!("{label:<30} | {a:>14} | {b:>16} | {:>8.1}x", ratio);
}

fn rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS missing from /proc/self/status")
}

/// SplitMix64: tiny, fast and good enough to make a corpus reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// Help-desk words take the frequent ranks; invented but pronounceable words fill the long
/// tail, so typo and prefix expansion meet realistic neighbourhoods.
const REAL_WORDS: &[&str] = &[
    "account",
    "password",
    "email",
    "settings",
    "billing",
    "invoice",
    "payment",
    "order",
    "shipping",
    "delivery",
    "refund",
    "subscription",
    "plan",
    "team",
    "user",
    "admin",
    "login",
    "security",
    "profile",
    "notification",
    "ticket",
    "customer",
    "agent",
    "message",
    "reply",
    "report",
    "export",
    "import",
    "data",
    "file",
    "upload",
    "download",
    "integration",
    "api",
    "key",
    "token",
    "webhook",
    "mobile",
    "app",
    "sync",
    "browser",
    "error",
    "issue",
    "problem",
    "update",
    "change",
    "cancel",
    "delete",
    "create",
    "manage",
    "configure",
    "enable",
    "disable",
    "access",
    "permission",
    "role",
    "workspace",
    "organization",
    "contact",
    "address",
    "phone",
    "card",
    "credit",
    "charge",
    "receipt",
    "tax",
    "price",
    "discount",
    "coupon",
    "trial",
    "upgrade",
    "downgrade",
    "renewal",
    "invoice",
    "package",
    "tracking",
    "carrier",
    "return",
    "exchange",
    "damaged",
    "missing",
    "wrong",
    "item",
    "product",
    "size",
    "color",
    "stock",
    "warehouse",
    "store",
    "checkout",
    "cart",
    "language",
    "timezone",
    "calendar",
    "schedule",
    "meeting",
    "video",
    "call",
    "chat",
    "widget",
    "website",
    "domain",
    "dns",
    "certificate",
    "privacy",
    "gdpr",
    "consent",
    "cookie",
    "tracking",
    "analytics",
    "dashboard",
    "chart",
    "filter",
    "search",
    "article",
    "category",
    "section",
    "template",
    "macro",
    "automation",
    "trigger",
    "rule",
    "workflow",
    "approval",
    "request",
    "form",
    "field",
    "label",
    "tag",
    "status",
    "priority",
    "queue",
    "assignment",
    "escalation",
    "sla",
    "response",
    "resolution",
    "survey",
    "rating",
    "feedback",
    "backup",
    "restore",
    "archive",
    "history",
    "audit",
    "log",
    "session",
    "device",
    "authenticator",
    "verification",
    "code",
    "link",
    "reset",
    "locked",
    "unlock",
    "recover",
    "migrate",
    "limit",
    "quota",
    "storage",
    "attachment",
    "image",
    "pdf",
    "spreadsheet",
    "csv",
    "json",
    "printer",
    "scanner",
    "network",
    "wifi",
    "router",
    "server",
    "database",
    "backend",
    "frontend",
    "release",
    "version",
    "feature",
    "beta",
    "bug",
    "crash",
    "slow",
    "performance",
    "outage",
    "maintenance",
    "incident",
    "alert",
    "monitor",
    "password",
    "signature",
    "contract",
    "agreement",
    "license",
    "seat",
    "owner",
    "manager",
    "employee",
];

/// The vocabulary in rank order with its cumulative Zipf distribution.
struct Vocab {
    words: Vec<String>,
    cdf: Vec<f64>,
}

impl Vocab {
    fn new(seed: u64) -> Self {
        const ONSETS: &[&str] = &[
            "b", "bl", "br", "c", "ch", "cl", "cr", "d", "dr", "f", "fl", "fr", "g", "gl", "gr",
            "h", "j", "k", "l", "m", "n", "p", "pl", "pr", "r", "s", "sh", "sl", "sp", "st", "t",
            "th", "tr", "v", "w", "z",
        ];
        const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "ou", "io", "ee"];
        const CODAS: &[&str] = &["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng"];
        let mut rng = Rng::new(seed ^ 0x0000_0000_00C0_AB00);
        let mut seen = std::collections::HashSet::new();
        let mut words: Vec<String> = Vec::with_capacity(VOCABULARY);
        for w in REAL_WORDS {
            if seen.insert((*w).to_owned()) {
                words.push((*w).to_owned());
            }
        }
        while words.len() < VOCABULARY {
            let syllables = rng.between(2, 3);
            let mut word = String::new();
            for _ in 0..syllables {
                word.push_str(ONSETS[rng.below(ONSETS.len() as u64) as usize]);
                word.push_str(VOWELS[rng.below(VOWELS.len() as u64) as usize]);
                word.push_str(CODAS[rng.below(CODAS.len() as u64) as usize]);
            }
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut cdf = Vec::with_capacity(words.len());
        let mut sum = 0.0;
        for rank in 0..words.len() {
            sum += 1.0 / ((rank + 1) as f64).powf(ZIPF_S);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Self { words, cdf }
    }

    /// A word drawn by frequency, from `min_rank` on.
    fn sample(&self, rng: &mut Rng, min_rank: usize) -> &str {
        let floor = if min_rank == 0 {
            0.0
        } else {
            self.cdf[min_rank - 1]
        };
        let u = floor + rng.unit() * (1.0 - floor);
        let rank = self
            .cdf
            .partition_point(|c| *c < u)
            .min(self.words.len() - 1);
        &self.words[rank]
    }

    fn sentence(&self, rng: &mut Rng, words: u64) -> String {
        let mut out = String::new();
        for i in 0..words {
            let word = self.sample(rng, 0);
            if i == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    out.extend(first.to_uppercase());
                    out.push_str(chars.as_str());
                }
            } else {
                out.push(' ');
                out.push_str(word);
            }
        }
        out
    }
}

/// Article `i` is a pure function of the seed and `i`, so both engines get identical articles
/// without the corpus being held in memory (the RSS figure is the index's).
struct Corpus<'a> {
    vocab: &'a Vocab,
    seed: u64,
}

impl Corpus<'_> {
    fn article(&self, i: usize) -> ArticleDoc {
        let mut rng = Rng::new(self.seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407));
        let v = self.vocab;
        let title_words = rng.between(4, 8);
        let title = v.sentence(&mut rng, title_words);
        let summary_words = rng.between(10, 20);
        let summary = format!("{}.", v.sentence(&mut rng, summary_words));
        let mut body = String::new();
        let mut left = rng.between(100, 200);
        while left > 0 {
            let n = rng.between(6, 18).min(left);
            body.push_str(&v.sentence(&mut rng, n));
            body.push_str(". ");
            left -= n;
        }
        let tags = (0..rng.between(1, 3))
            .map(|_| v.sample(&mut rng, 0).to_owned())
            .collect();
        let status = match rng.below(100) {
            0..=79 => Status::Published,
            80..=94 => Status::Draft,
            _ => Status::Archived,
        };
        let votes = rng.below(200) as u32;
        let helpful = (votes as f64 * rng.unit()) as u32;
        ArticleDoc {
            id: Uuid::from_u64_pair(self.seed, i as u64),
            tenant: TENANT.to_owned(),
            version: 1,
            locale: LOCALES[rng.below(LOCALES.len() as u64) as usize].to_owned(),
            title,
            summary,
            body: body.trim_end().to_owned(),
            tags,
            category: Some(format!("cat-{:02}", rng.below(CATEGORIES))),
            section: Some(format!("sec-{:03}", rng.below(SECTIONS))),
            status,
            internal: rng.chance(0.1),
            promoted: rng.chance(0.03),
            helpful,
            not_helpful: votes - helpful,
        }
    }
}

/// One generated query.
#[derive(Clone)]
struct Generated {
    words: Vec<String>,
    text: String,
    locale: usize,
}

fn queries(vocab: &Vocab, seed: u64, n: usize) -> Vec<Generated> {
    let mut rng = Rng::new(seed ^ 0x0051_EA2C_4000);
    (0..n)
        .map(|_| {
            // Mostly short queries, as people type them.
            let len = match rng.below(10) {
                0..=2 => 1,
                3..=6 => 2,
                7..=8 => 3,
                _ => 4,
            };
            let words: Vec<String> = (0..len)
                .map(|_| vocab.sample(&mut rng, QUERY_MIN_RANK).to_owned())
                .collect();
            Generated {
                text: words.join(" "),
                words,
                locale: rng.below(LOCALES.len() as u64) as usize,
            }
        })
        .collect()
}
