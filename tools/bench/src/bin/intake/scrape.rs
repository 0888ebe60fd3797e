//! Where the server spent the time: its own Prometheus histograms, read once
//! after the run, so a slow figure can be split into handler time and the
//! waits between handlers.

use std::collections::BTreeMap;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A free loopback address for the server's `/metrics` listener.
pub fn free_addr() -> anyhow::Result<std::net::SocketAddr> {
    Ok(([127, 0, 0, 1], switchboard_testkit::free_port()?).into())
}

/// The `/metrics` text at `addr`.
pub async fn fetch(addr: std::net::SocketAddr) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("metrics listener {addr}"))?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await?;
    Ok(body)
}

/// One histogram series: cumulative counts by upper bound.
#[derive(Debug, Default)]
pub struct Series {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

impl Series {
    /// The smallest bucket bound holding quantile `q` (an upper estimate).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let want = self.count * q;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= want)
            .map(|(le, _)| *le)
    }

    /// How many observations.
    pub fn count(&self) -> f64 {
        self.count
    }

    /// Their mean.
    pub fn mean(&self) -> f64 {
        if self.count > 0.0 {
            self.sum / self.count
        } else {
            0.0
        }
    }
}

/// Histograms named `name`, keyed by their label set.
pub fn histograms(text: &str, name: &str) -> BTreeMap<String, Series> {
    let mut out: BTreeMap<String, Series> = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with(name)) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let rest = &series[name.len()..];
        let (kind, labels) = match rest.split_once('{') {
            Some((kind, labels)) => (kind, labels.trim_end_matches('}')),
            None => (rest, ""),
        };
        let mut le = None;
        let key: Vec<&str> = labels
            .split(',')
            .filter(|l| match l.strip_prefix("le=\"") {
                Some(v) => {
                    le = v.trim_end_matches('"').parse::<f64>().ok();
                    false
                }
                None => !l.is_empty(),
            })
            .collect();
        let entry = out.entry(key.join(",")).or_default();
        match kind {
            "_bucket" => {
                if let Some(le) = le {
                    entry.buckets.push((le, value));
                }
            }
            "_sum" => entry.sum = value,
            "_count" => entry.count = value,
            _ => {}
        }
    }
    for series in out.values_mut() {
        series.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// Prints every series of `name` with count, mean and bucket-bound p50/p99.
pub fn print(text: &str, name: &str) {
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("≤{:.1}", v * 1000.0));
    for (labels, s) in histograms(text, name) {
        if s.count() == 0.0 {
            continue;
        }
        println!(
            "{:<64} | {:>7.0} {:>8.2} {:>8} {:>8}",
            format!("{name}{{{labels}}}"),
            s.count(),
            s.mean() * 1000.0,
            ms(s.quantile(0.5)),
            ms(s.quantile(0.99)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::histograms;

    #[test]
    fn reads_buckets_sum_and_count_by_labels() {
        let text = "\
# TYPE h histogram
h_bucket{method=\"a\",le=\"0.001\"} 5
h_bucket{method=\"a\",le=\"0.01\"} 9
h_bucket{method=\"a\",le=\"+Inf\"} 10
h_sum{method=\"a\"} 0.05
h_count{method=\"a\"} 10
h_bucket{method=\"b\",le=\"0.01\"} 1
h_count{method=\"b\"} 1
";
        let all = histograms(text, "h");
        let a = &all["method=\"a\""];
        assert_eq!(a.count(), 10.0);
        assert!((a.mean() - 0.005).abs() < 1e-12);
        assert_eq!(a.quantile(0.5), Some(0.001));
        assert_eq!(a.quantile(0.9), Some(0.01));
        assert_eq!(a.quantile(0.99), Some(f64::INFINITY));
        assert_eq!(all["method=\"b\""].quantile(0.5), Some(0.01));
    }
}
