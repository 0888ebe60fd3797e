//! The ticket lifecycle: new → open → pending / on-hold → solved → closed.
//!
//! Every status change goes through [`check_move`] or [`after_message`], so
//! handlers cannot bypass the rules.

use super::Status;

/// A move the lifecycle forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a ticket cannot move from {} to {}", from.as_str(), to.as_str())]
pub struct IllegalMove {
    /// Where the ticket is.
    pub from: Status,
    /// Where it was asked to go.
    pub to: Status,
}

/// Whether an explicit status change (by staff) from `from` to `to` is legal.
///
/// Staying put is legal and changes nothing. `new` is only ever the first
/// status; `closed` is final; `closed` is reached only from `solved`, so a
/// ticket is never closed without having been answered.
pub fn check_move(from: Status, to: Status) -> Result<(), IllegalMove> {
    use Status::*;
    let legal = from == to
        || match (from, to) {
            (_, New) | (Closed, _) => false,
            (New | Open | Pending | OnHold, Open | Pending | OnHold | Solved) => true,
            (Solved, Open | Closed) => true,
            _ => false,
        };
    if legal {
        Ok(())
    } else {
        Err(IllegalMove { from, to })
    }
}

/// Who wrote a message, as far as the lifecycle cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// The requester (or another customer).
    Customer,
    /// An agent, supervisor or admin.
    Staff,
}

/// What a new message does to the ticket's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageEffect {
    /// The ticket moves to (or stays in) this status.
    Status(Status),
    /// The ticket is closed: the message starts a follow-up ticket instead.
    FollowUp,
}

/// The status after a message, given the status staff asked for (if any).
///
/// A customer's reply puts a waiting or solved ticket back in front of an
/// agent (`open`); an agent's first public reply opens a `new` ticket;
/// internal notes move nothing unless staff ask.
pub fn after_message(
    current: Status,
    writer: Writer,
    public: bool,
    requested: Option<Status>,
) -> Result<MessageEffect, IllegalMove> {
    if current == Status::Closed {
        return Ok(MessageEffect::FollowUp);
    }
    let implied = match (writer, public, current) {
        (Writer::Customer, _, Status::Pending | Status::Solved | Status::OnHold) => Status::Open,
        (Writer::Staff, true, Status::New) => Status::Open,
        _ => current,
    };
    let next = requested.unwrap_or(implied);
    check_move(current, next)?;
    Ok(MessageEffect::Status(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    const ALL: [Status; 6] = [New, Open, Pending, OnHold, Solved, Closed];

    #[test]
    fn every_explicit_move_is_decided() {
        let legal = [
            (New, Open),
            (New, Pending),
            (New, OnHold),
            (New, Solved),
            (Open, Pending),
            (Open, OnHold),
            (Open, Solved),
            (Pending, Open),
            (Pending, OnHold),
            (Pending, Solved),
            (OnHold, Open),
            (OnHold, Pending),
            (OnHold, Solved),
            (Solved, Open),
            (Solved, Closed),
        ];
        for from in ALL {
            for to in ALL {
                let expected = from == to || legal.contains(&(from, to));
                assert_eq!(
                    check_move(from, to).is_ok(),
                    expected,
                    "{from:?} -> {to:?} should be {}",
                    if expected { "legal" } else { "illegal" }
                );
            }
        }
    }

    #[test]
    fn illegal_moves_name_both_states() {
        let err = check_move(Closed, Open).unwrap_err();
        assert_eq!(err.to_string(), "a ticket cannot move from closed to open");
        assert_eq!(
            check_move(Open, Closed).unwrap_err().to_string(),
            "a ticket cannot move from open to closed"
        );
        assert!(check_move(Pending, New).is_err());
    }

    #[test]
    fn customer_replies_reopen_waiting_and_solved_tickets() {
        for status in [Pending, Solved, OnHold] {
            assert_eq!(
                after_message(status, Writer::Customer, true, None),
                Ok(MessageEffect::Status(Open))
            );
        }
        assert_eq!(
            after_message(New, Writer::Customer, true, None),
            Ok(MessageEffect::Status(New))
        );
        assert_eq!(
            after_message(Open, Writer::Customer, true, None),
            Ok(MessageEffect::Status(Open))
        );
    }

    #[test]
    fn staff_replies_open_new_tickets_and_may_set_a_status() {
        assert_eq!(
            after_message(New, Writer::Staff, true, None),
            Ok(MessageEffect::Status(Open))
        );
        assert_eq!(
            after_message(New, Writer::Staff, false, None),
            Ok(MessageEffect::Status(New)),
            "an internal note does not open a ticket"
        );
        assert_eq!(
            after_message(Open, Writer::Staff, true, Some(Pending)),
            Ok(MessageEffect::Status(Pending))
        );
        assert_eq!(
            after_message(Open, Writer::Staff, true, Some(Closed)),
            Err(IllegalMove {
                from: Open,
                to: Closed
            })
        );
    }

    #[test]
    fn any_message_on_a_closed_ticket_starts_a_follow_up() {
        for writer in [Writer::Customer, Writer::Staff] {
            assert_eq!(
                after_message(Closed, writer, true, None),
                Ok(MessageEffect::FollowUp)
            );
        }
    }
}
