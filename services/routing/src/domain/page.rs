//! Page tokens of `ListAgents`: opaque to clients, checked on the way back in.

/// Marks tokens this service issued (and their format's version).
const PREFIX: &str = "a1.";
/// Longest user id an agent can have, so the longest token there can be.
const MAX_USER_BYTES: usize = 256;

/// The token of the page that starts after the agent `user`.
pub fn agents_page_token(user: &str) -> String {
    format!("{PREFIX}{}", hex::encode(user))
}

/// The agent a page starts after (`""` for the first page), or `None` when
/// `token` is not one [`agents_page_token`] made.
pub fn agents_page_after(token: &str) -> Option<String> {
    if token.is_empty() {
        return Some(String::new());
    }
    let hexed = token.strip_prefix(PREFIX)?;
    if hexed.len() > 2 * MAX_USER_BYTES {
        return None;
    }
    String::from_utf8(hex::decode(hexed).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_strangers_are_refused() {
        for user in ["agent-7", "ada@example.com", "ünï"] {
            assert_eq!(agents_page_after(&agents_page_token(user)).unwrap(), user);
        }
        assert_eq!(agents_page_after("").unwrap(), "");
        for bad in [
            "agent-7",
            "a1.zz",
            "a1.ff",
            "%%%",
            &format!("a1.{}", "61".repeat(300)),
        ] {
            assert_eq!(agents_page_after(bad), None, "{bad}");
        }
    }
}
