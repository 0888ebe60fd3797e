//! What the service remembers of customers, from events.

use std::collections::HashMap;

use sqlx::PgConnection;

/// A customer's address.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Contact {
    /// Email address.
    pub email: String,
    /// Preferred locale.
    pub locale: String,
}

/// A contact's key: (tenant, `customers/{id}`).
pub type ContactKey = (String, String);

/// Remembers each customer's email address, in one statement; `learned`
/// holds each key once (the last address an event showed).
pub async fn upsert_contacts(
    conn: &mut PgConnection,
    learned: &HashMap<ContactKey, String>,
) -> Result<(), sqlx::Error> {
    if learned.is_empty() {
        return Ok(());
    }
    let mut tenants = Vec::with_capacity(learned.len());
    let mut customers = Vec::with_capacity(learned.len());
    let mut emails = Vec::with_capacity(learned.len());
    for ((tenant, customer), email) in learned {
        tenants.push(tenant.as_str());
        customers.push(customer.as_str());
        emails.push(email.as_str());
    }
    sqlx::query(
        "INSERT INTO contacts (tenant_id, customer, email) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) \
         ON CONFLICT (tenant_id, customer) DO UPDATE SET email = EXCLUDED.email",
    )
    .bind(tenants)
    .bind(customers)
    .bind(emails)
    .execute(conn)
    .await?;
    Ok(())
}

/// The known addresses among `keys`, in one query.
pub async fn contacts(
    conn: &mut PgConnection,
    keys: &[ContactKey],
) -> Result<HashMap<ContactKey, Contact>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (tenants, customers): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(t, c)| (t.as_str(), c.as_str())).unzip();
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT c.tenant_id, c.customer, c.email, c.locale FROM contacts c \
         JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, customer) USING (tenant_id, customer)",
    )
    .bind(tenants)
    .bind(customers)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(t, c, email, locale)| ((t, c), Contact { email, locale }))
        .collect())
}

/// A person's key: (tenant, user id).
pub type PersonKey = (String, String);

/// Remembers who is staff and who a customer, in one statement: a new
/// person is stored as `learned` says; a known one only ever loses staff
/// standing (a customer seen once stays one).
pub async fn upsert_people(
    conn: &mut PgConnection,
    learned: &HashMap<PersonKey, bool>,
) -> Result<(), sqlx::Error> {
    if learned.is_empty() {
        return Ok(());
    }
    let mut tenants = Vec::with_capacity(learned.len());
    let mut users = Vec::with_capacity(learned.len());
    let mut staff = Vec::with_capacity(learned.len());
    for ((tenant, user), is_staff) in learned {
        tenants.push(tenant.as_str());
        users.push(user.as_str());
        staff.push(*is_staff);
    }
    sqlx::query(
        "INSERT INTO people (tenant_id, user_id, staff) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[]) \
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET staff = false \
         WHERE people.staff AND NOT EXCLUDED.staff",
    )
    .bind(tenants)
    .bind(users)
    .bind(staff)
    .execute(conn)
    .await?;
    Ok(())
}

/// The standing of those among `keys` the service knows, in one query.
pub async fn people(
    conn: &mut PgConnection,
    keys: &[PersonKey],
) -> Result<HashMap<PersonKey, bool>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let (tenants, users): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(t, u)| (t.as_str(), u.as_str())).unzip();
    let rows: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT p.tenant_id, p.user_id, p.staff FROM people p \
         JOIN unnest($1::text[], $2::text[]) AS k(tenant_id, user_id) USING (tenant_id, user_id)",
    )
    .bind(tenants)
    .bind(users)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(t, u, s)| ((t, u), s)).collect())
}
