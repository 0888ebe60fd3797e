//! Outgoing email: the stored form, its threading headers, and the SMTP
//! sender (lettre).

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use switchboard_mail::threading;
use switchboard_runtime::config::NotificationSettings;

use crate::domain::templates::Rendered;

/// An email as queued: rendered once, so every retry sends the same message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    /// Recipient address.
    pub to: String,
    /// Subject with the `[#T-n]` token.
    pub subject: String,
    /// Text part.
    pub text: String,
    /// HTML part.
    pub html: String,
    /// `<t{n}.m{uuid}@domain>`, stable for this notification.
    pub message_id: String,
    /// The ticket's thread root.
    pub in_reply_to: String,
    /// The thread, oldest first.
    pub references: Vec<String>,
}

/// Threading for one email on ticket `number`: its own id made from
/// `message_uuid`, answering the ticket's thread root (made from the ticket
/// id), so the customer's reply names the ticket and comes back onto it.
pub fn thread(
    rendered: Rendered,
    to: &str,
    ticket_subject: &str,
    number: u64,
    ticket_id: &str,
    message_uuid: &str,
    domain: &str,
) -> OutgoingEmail {
    let root = threading::outgoing_message_id(number, ticket_id, domain);
    let subject = if rendered.subject.trim().is_empty() {
        ticket_subject
    } else {
        &rendered.subject
    };
    OutgoingEmail {
        to: to.to_owned(),
        subject: threading::reply_subject(subject, number),
        text: rendered.text,
        html: rendered.html,
        message_id: threading::outgoing_message_id(number, message_uuid, domain),
        in_reply_to: root.clone(),
        references: vec![root],
    }
}

/// Why a send failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// True when retrying cannot help (a 5xx from the relay, a bad address).
    pub permanent: bool,
    /// What happened.
    pub message: String,
}

/// Sends email.
#[async_trait::async_trait]
pub trait EmailSender: Send + Sync + 'static {
    /// Hands `email` to the relay.
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError>;
}

/// Sends through an SMTP relay with lettre.
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    reply_to: Mailbox,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender")
            .field("from", &self.from)
            .finish()
    }
}

/// The configuration cannot make an SMTP sender.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: `notification.{key}` {reason}")]
pub struct SmtpConfigError {
    /// The setting.
    pub key: &'static str,
    /// Why.
    pub reason: String,
}

impl SmtpSender {
    /// A sender for `settings`.
    pub fn new(settings: &NotificationSettings) -> Result<Self, SmtpConfigError> {
        let bad = |key, e: &dyn std::fmt::Display| SmtpConfigError {
            key,
            reason: e.to_string(),
        };
        let from: Mailbox = settings.from.parse().map_err(|e| bad("from", &e))?;
        let reply_to: Mailbox = settings.reply_to.parse().map_err(|e| bad("reply_to", &e))?;
        let host = settings.smtp_host.as_str();
        let tls = match settings.smtp_tls.as_str() {
            "none" => Tls::None,
            mode => {
                let params =
                    TlsParameters::new(host.to_owned()).map_err(|e| bad("smtp_host", &e))?;
                if mode == "tls" {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(settings.smtp_port)
            .tls(tls)
            .timeout(Some(Duration::from_millis(settings.send_timeout_ms)));
        if !settings.smtp_username.is_empty() {
            builder = builder.credentials(Credentials::new(
                settings.smtp_username.clone(),
                settings.smtp_password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            reply_to,
        })
    }

    fn build(&self, email: &OutgoingEmail) -> Result<Message, SendError> {
        let permanent = |e: &dyn std::fmt::Display| SendError {
            permanent: true,
            message: e.to_string(),
        };
        let to: Mailbox = email.to.parse().map_err(|e| permanent(&e))?;
        Message::builder()
            .from(self.from.clone())
            .reply_to(self.reply_to.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(email.message_id.clone()))
            .in_reply_to(email.in_reply_to.clone())
            .references(email.references.join(" "))
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| permanent(&e))
    }
}

#[async_trait::async_trait]
impl EmailSender for SmtpSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let message = self.build(email)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: format!("SMTP: {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threading_headers_point_at_the_ticket() {
        let r = Rendered {
            subject: "Re: Printer".into(),
            text: "t".into(),
            html: "h".into(),
        };
        let e = thread(
            r,
            "ada@example.com",
            "Printer",
            42,
            "tid",
            "mid",
            "desk.example.com",
        );
        assert_eq!(e.subject, "Re: [#T-42] Printer");
        assert_eq!(e.message_id, "<t42.mmid@desk.example.com>");
        assert_eq!(e.in_reply_to, "<t42.mtid@desk.example.com>");
        assert_eq!(e.references, vec!["<t42.mtid@desk.example.com>".to_owned()]);
        assert_eq!(
            threading::parse_outgoing_message_id(&e.message_id),
            Some((42, "mid".into()))
        );
    }
}
