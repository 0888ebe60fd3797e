//! What a sweep over every RPC found, grouped so one run shows the whole picture.

use std::collections::BTreeMap;

/// Lines grouped by what went wrong; groups named `note…` are not failures.
#[derive(Default)]
pub struct Findings(BTreeMap<String, Vec<String>>);

impl Findings {
    /// Records `line` under `group`.
    pub fn add(&mut self, group: impl Into<String>, line: String) {
        self.0.entry(group.into()).or_default().push(line);
    }

    /// Takes in everything `other` found.
    pub fn extend(&mut self, other: Findings) {
        for (group, lines) in other.0 {
            self.0.entry(group).or_default().extend(lines);
        }
    }

    /// Lines outside the `note…` groups.
    pub fn failures(&self) -> usize {
        self.0
            .iter()
            .filter(|(group, _)| !group.starts_with("note"))
            .map(|(_, lines)| lines.len())
            .sum()
    }

    /// Every group and its lines, for the test's output.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for (group, lines) in &self.0 {
            out.push_str(&format!("\n== {group} ({})\n", lines.len()));
            for line in lines {
                out.push_str(&format!("  {line}\n"));
            }
        }
        out
    }
}
