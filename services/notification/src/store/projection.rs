//! What the service remembers of customers, from events.

use sqlx::PgConnection;

/// A customer's address.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Contact {
    /// Email address.
    pub email: String,
    /// Preferred locale.
    pub locale: String,
}

/// Remembers `customer`'s email address.
pub async fn upsert_contact(
    conn: &mut PgConnection,
    tenant: &str,
    customer: &str,
    email: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO contacts (tenant_id, customer, email) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id, customer) DO UPDATE SET email = EXCLUDED.email",
    )
    .bind(tenant)
    .bind(customer)
    .bind(email)
    .execute(conn)
    .await?;
    Ok(())
}

/// `customer`'s address, if known.
pub async fn contact(
    conn: &mut PgConnection,
    tenant: &str,
    customer: &str,
) -> Result<Option<Contact>, sqlx::Error> {
    sqlx::query_as("SELECT email, locale FROM contacts WHERE tenant_id = $1 AND customer = $2")
        .bind(tenant)
        .bind(customer)
        .fetch_optional(conn)
        .await
}
