//! API token secrets: how they look, how they are made and hashed. No I/O.
//!
//! A token is `sbt_<id>_<secret>`: the id (32 hex digits) finds the record
//! without a scan, the secret (64 hex digits, 256 random bits) proves
//! possession. Only SHA-256 of the secret is stored: with 256 random bits a
//! slow password hash adds nothing but latency on every call.

use sha2::{Digest, Sha256};
use switchboard_runtime::auth::API_TOKEN_PREFIX;
use uuid::Uuid;

/// Characters of a token shown in listings to recognise it.
const PREFIX_SHOWN: usize = 12;

/// A freshly made secret, with what is stored of it.
#[derive(Debug)]
pub struct Minted {
    /// The bearer token, shown once.
    pub token: String,
    /// SHA-256 of the secret part.
    pub hash: Vec<u8>,
    /// The token's first characters.
    pub shown_prefix: String,
}

/// Makes a new secret for the token `id`.
pub fn mint(id: Uuid) -> Result<Minted, getrandom::Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)?;
    let secret = hex::encode(secret);
    let token = format!("{API_TOKEN_PREFIX}{}_{secret}", id.simple());
    Ok(Minted {
        hash: hash(&secret),
        shown_prefix: token.chars().take(PREFIX_SHOWN).collect(),
        token,
    })
}

/// The id and secret of a well-formed token, `None` for anything else.
pub fn parse(token: &str) -> Option<(Uuid, &str)> {
    let rest = token.strip_prefix(API_TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = id.len() == 32
        && secret.len() == 64
        && secret
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !well_formed {
        return None;
    }
    Some((Uuid::try_parse(id).ok()?, secret))
}

/// SHA-256 of a secret.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_parse_back_to_their_id_and_hash() {
        let id = Uuid::now_v7();
        let minted = mint(id).unwrap();
        assert!(minted.token.starts_with("sbt_"));
        assert_eq!(minted.shown_prefix.len(), 12);
        let (parsed, secret) = parse(&minted.token).unwrap();
        assert_eq!(parsed, id);
        assert_eq!(hash(secret), minted.hash);
        assert_ne!(mint(id).unwrap().token, minted.token, "secrets are random");
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let good = mint(Uuid::now_v7()).unwrap().token;
        let upper = good.to_uppercase().replacen("SBT_", "sbt_", 1);
        for bad in [
            "",
            "sbt_",
            "sbt_abc_def",
            &good[..good.len() - 1],
            &format!("{good}0"),
            &good.replacen("sbt_", "sbx_", 1),
            &upper,
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
