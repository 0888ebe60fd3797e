//! The `ticket_facts` rows a batch writes: the fact, the columns reports
//! filter on, and the encoded samples.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::write::Folded;

/// `values` as a PostgreSQL array literal (`{"a","b\"c"}`): one text per
/// row binds an array per row, which a batch of arrays of arrays cannot.
fn array_literal(values: &[String]) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", quoted.join(","))
}

/// `ticket_facts` rows: the fact, the columns reports filter on, and the
/// encoded samples.
#[derive(Default)]
pub(crate) struct FactRows {
    tenants: Vec<String>,
    ids: Vec<Uuid>,
    versions: Vec<i64>,
    created: Vec<DateTime<Utc>>,
    facts: Vec<String>,
    as_of: Vec<DateTime<Utc>>,
    unsolved: Vec<bool>,
    status: Vec<&'static str>,
    merged: Vec<bool>,
    first_reply: Vec<Option<DateTime<Utc>>>,
    channel: Vec<&'static str>,
    priority: Vec<&'static str>,
    group: Vec<Option<String>>,
    assignee: Vec<Option<String>>,
    /// Array literals.
    tags: Vec<String>,
    samples: Vec<Vec<u8>>,
}

impl FactRows {
    pub(crate) fn push(&mut self, f: &Folded, samples: Vec<u8>) {
        let fact = &f.fact;
        self.tenants.push(f.tenant.clone());
        self.ids.push(f.ticket);
        self.versions.push(f.version);
        self.created.push(fact.created_at);
        self.facts
            .push(serde_json::to_string(fact).unwrap_or_default());
        self.as_of.push(fact.as_of);
        self.unsolved.push(fact.is_unsolved());
        self.status.push(fact.status.as_str());
        self.merged.push(fact.merged.is_some());
        self.first_reply.push(fact.first_reply_at);
        self.channel.push(fact.channel.as_str());
        self.priority.push(fact.priority.as_str());
        self.group.push(fact.group.clone());
        self.assignee.push(fact.assignee.clone());
        self.tags.push(array_literal(&fact.tags));
        self.samples.push(samples);
    }

    pub(crate) async fn write(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO ticket_facts (tenant_id, ticket_id, version, created_at, fact, as_of, \
               unsolved, status, merged, first_reply_at, channel, priority, group_id, assignee, tags, samples) \
             SELECT t, k, v, c, f::jsonb, a, u, s, m, r, ch, p, g, asg, \
               tg::text[], sm \
             FROM UNNEST($1::text[], $2::uuid[], $3::bigint[], $4::timestamptz[], $5::text[], \
               $6::timestamptz[], $7::bool[], $8::text[], $9::bool[], $10::timestamptz[], $11::text[], \
               $12::text[], $13::text[], $14::text[], $15::text[], $16::bytea[]) \
               AS x(t, k, v, c, f, a, u, s, m, r, ch, p, g, asg, tg, sm) \
             ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET version = EXCLUDED.version, \
               created_at = EXCLUDED.created_at, fact = EXCLUDED.fact, as_of = EXCLUDED.as_of, \
               unsolved = EXCLUDED.unsolved, status = EXCLUDED.status, merged = EXCLUDED.merged, \
               first_reply_at = EXCLUDED.first_reply_at, channel = EXCLUDED.channel, \
               priority = EXCLUDED.priority, group_id = EXCLUDED.group_id, \
               assignee = EXCLUDED.assignee, tags = EXCLUDED.tags, samples = EXCLUDED.samples",
        )
        .bind(&self.tenants)
        .bind(&self.ids)
        .bind(&self.versions)
        .bind(&self.created)
        .bind(&self.facts)
        .bind(&self.as_of)
        .bind(&self.unsolved)
        .bind(&self.status)
        .bind(&self.merged)
        .bind(&self.first_reply)
        .bind(&self.channel)
        .bind(&self.priority)
        .bind(&self.group)
        .bind(&self.assignee)
        .bind(&self.tags)
        .bind(&self.samples)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals_quote_every_value() {
        let tags = ["a", "say \"hi\", {x}", "back\\slash", ""].map(String::from);
        assert_eq!(
            array_literal(&tags),
            r#"{"a","say \"hi\", {x}","back\\slash",""}"#
        );
        assert_eq!(array_literal(&[]), "{}");
    }
}
