//! Page tokens: opaque to callers, authenticated, bounded, and bound to the query that issued them.
//!
//! A token is `base64url(fingerprint ‖ key ‖ tag)`: the first 16 bytes of the SHA-256 of the query's
//! filters, the JSON of the key the page ended at, and the first 16 bytes of an HMAC-SHA256 over both
//! under a secret derived from the log's signing key. Every server of one database holds that key, so
//! a token issued by one is accepted by the others; a token a caller made up or altered, or one of
//! another query, is refused before its key is read. SHA-256 rather than `std`'s `DefaultHasher`,
//! whose output may change between Rust releases, so tokens survive an upgrade.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::fields::Fields;

/// The longest token a caller may send (a page key is a few ids and a date).
pub const MAX_TOKEN_CHARS: usize = 1_024;
const FINGERPRINT: usize = 16;
const TAG: usize = 16;

/// Issues and opens page tokens under one secret.
#[derive(Clone)]
pub struct PageTokens {
    key: [u8; 32],
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(..)")
    }
}

/// The fingerprint of a query: its name and filters, which a token must carry to be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query([u8; FINGERPRINT]);

/// The fingerprint of a query's name and filters, each length-prefixed so that no two lists of parts
/// hash alike.
pub fn query(parts: &[&str]) -> Query {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let mut out = [0; FINGERPRINT];
    out.copy_from_slice(&h.finalize()[..FINGERPRINT]);
    Query(out)
}

impl PageTokens {
    /// Tokens under a secret derived from `seed` (the log's signing-key seed), for this purpose only.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(seed).expect("HMAC takes a key of any length");
        mac.update(b"kcn-ledger page tokens v1");
        let mut key = [0; 32];
        key.copy_from_slice(&mac.finalize().into_bytes());
        Self { key }
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        mac.update(body);
        let mut out = [0; TAG];
        out.copy_from_slice(&mac.finalize().into_bytes()[..TAG]);
        out
    }

    /// The token of the page after `after` for `query`, or the empty token when there is none.
    pub fn issue<K: Serialize>(&self, query: &Query, after: Option<&K>) -> String {
        let Some(after) = after else {
            return String::new();
        };
        let mut body = query.0.to_vec();
        body.extend(serde_json::to_vec(after).expect("page keys are plain data"));
        let tag = self.tag(&body);
        body.extend(tag);
        URL_SAFE_NO_PAD.encode(body)
    }

    /// Opens a caller's `page_token` for `query` (empty: the first page), recording a violation of
    /// `page_token` when it is not a token this server issued for this query.
    pub fn open<K: DeserializeOwned>(&self, f: &mut Fields, raw: &str, query: &Query) -> Option<K> {
        if raw.is_empty() {
            return None;
        }
        match self.decode(raw, query) {
            Ok(key) => Some(key),
            Err(why) => {
                f.violation("page_token", why);
                None
            }
        }
    }

    fn decode<K: DeserializeOwned>(&self, raw: &str, query: &Query) -> Result<K, &'static str> {
        const FOREIGN: &str = "is not a token this server issued";
        if raw.len() > MAX_TOKEN_CHARS {
            return Err(FOREIGN);
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| FOREIGN)?;
        if bytes.len() < FINGERPRINT + TAG {
            return Err(FOREIGN);
        }
        let (body, tag) = bytes.split_at(bytes.len() - TAG);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        mac.update(body);
        // Constant-time comparison of the truncated tag.
        mac.verify_truncated_left(tag).map_err(|_| FOREIGN)?;
        let (print, key) = body.split_at(FINGERPRINT);
        if print != query.0 {
            return Err("belongs to a different query; keep the filters of the first page");
        }
        serde_json::from_slice(key).map_err(|_| FOREIGN)
    }
}

/// Splits the rows of a query that asked for one more than `size`: the page, and the key of its last
/// row when there is a next page.
pub fn split<T, K>(mut rows: Vec<T>, size: u32, key: impl Fn(&T) -> K) -> (Vec<T>, Option<K>) {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let more = rows.len() > size;
    rows.truncate(size);
    let next = rows.last().filter(|_| more).map(key);
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> PageTokens {
        PageTokens::from_seed(&[7; 32])
    }

    #[test]
    fn a_token_opens_for_its_query_only() {
        let t = tokens();
        let token = t.issue(
            &query(&["q", "park-1"]),
            Some(&("2025-01-01".to_owned(), 42_u64)),
        );
        let mut f = Fields::default();
        let key: Option<(String, u64)> = t.open(&mut f, &token, &query(&["q", "park-1"]));
        assert_eq!(key, Some(("2025-01-01".to_owned(), 42)));
        assert!(f.finish().is_ok());
        let mut f = Fields::default();
        let other: Option<(String, u64)> = t.open(&mut f, &token, &query(&["q", "park-2"]));
        assert_eq!(other, None);
        assert!(f.finish().is_err());
    }

    #[test]
    fn a_forged_or_altered_token_is_refused() {
        let t = tokens();
        let token = t.issue(&query(&["q"]), Some(&1_u64));
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[FINGERPRINT] ^= 1;
        let altered = URL_SAFE_NO_PAD.encode(&bytes);
        let other_server = PageTokens::from_seed(&[8; 32]).issue(&query(&["q"]), Some(&1_u64));
        for raw in [
            altered.as_str(),
            other_server.as_str(),
            "AAAA",
            "not base64!",
            &"A".repeat(MAX_TOKEN_CHARS + 1),
        ] {
            let mut f = Fields::default();
            let key: Option<u64> = t.open(&mut f, raw, &query(&["q"]));
            assert_eq!(key, None, "{raw}");
            assert!(f.finish().is_err());
        }
    }

    #[test]
    fn a_page_has_a_next_key_only_when_there_is_more() {
        assert_eq!(split(vec![1, 2, 3], 2, |r| *r), (vec![1, 2], Some(2)));
        assert_eq!(split(vec![1, 2], 2, |r| *r), (vec![1, 2], None));
        assert_eq!(split(Vec::<u8>::new(), 2, |r| *r), (vec![], None));
    }

    #[test]
    fn the_fingerprint_separates_the_parts() {
        assert_ne!(query(&["ab", "c"]), query(&["a", "bc"]));
    }
}
