//! Automatic persisted queries, Apollo's protocol: a client sends only
//! `extensions.persistedQuery {version: 1, sha256Hash}`; an unknown hash gets
//! `PERSISTED_QUERY_NOT_FOUND` (message `PersistedQueryNotFound`, which Apollo's
//! `PersistedQueryLink` also recognises), and the client resends with the query, which is checked
//! against the hash and remembered.
//!
//! Resolved here, before anything else looks at the request, so authorization, the write check,
//! the GET-mutation refusal and limits all see the real query text whichever way it came.
//! async-graphql's own `ApolloPersistedQueries` extension is not used: it answers a miss with no
//! `extensions.code` and resolves the hash inside the schema, after the HTTP layer has already
//! looked at an empty query (a persisted mutation would pass the read-only check and GET unseen).

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Most queries remembered, and most bytes of query text: a client that floods the cache only
/// evicts the least recently used entries, whose clients then pay one extra round trip.
pub const MAX_ENTRIES: usize = 4_096;
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

/// Why a persisted-query request cannot be answered; each maps to an `extensions.code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistedQueryError {
    /// The hash is not (or no longer) known: the client resends with the query.
    NotFound,
    /// The query does not hash to the given value.
    HashMismatch,
    /// `persistedQuery` is not `{version: 1, sha256Hash: "<64 hex digits>"}`.
    Invalid(String),
}

impl PersistedQueryError {
    pub fn code(&self) -> &'static str {
        match self {
            PersistedQueryError::NotFound => "PERSISTED_QUERY_NOT_FOUND",
            PersistedQueryError::HashMismatch => "PERSISTED_QUERY_HASH_MISMATCH",
            PersistedQueryError::Invalid(_) => "BAD_REQUEST",
        }
    }

    pub fn message(&self) -> String {
        match self {
            // Apollo's clients match this exact message as well as the code.
            PersistedQueryError::NotFound => "PersistedQueryNotFound".into(),
            PersistedQueryError::HashMismatch => {
                "the query's SHA-256 does not match extensions.persistedQuery.sha256Hash".into()
            }
            PersistedQueryError::Invalid(why) => why.clone(),
        }
    }
}

struct Entry {
    query: Arc<str>,
    used: u64,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<String, Entry>,
    by_use: BTreeMap<u64, String>,
    bytes: usize,
    clock: u64,
}

/// The bounded, least-recently-used store of queries by SHA-256 (lowercase hex), per process.
#[derive(Default)]
pub struct PersistedQueries {
    lru: Mutex<Lru>,
}

impl PersistedQueries {
    /// The query text to run: `query` when there is no `persistedQuery` extension; otherwise the
    /// remembered query for the hash, or `query` after checking it against the hash.
    pub fn resolve(
        &self,
        query: Option<String>,
        persisted: Option<&serde_json::Value>,
    ) -> Result<Option<String>, PersistedQueryError> {
        let Some(persisted) = persisted else {
            return Ok(query);
        };
        let version = persisted.get("version").and_then(|v| v.as_i64());
        if version != Some(1) {
            return Err(PersistedQueryError::Invalid(format!(
                "extensions.persistedQuery.version must be 1, got {}",
                persisted
                    .get("version")
                    .map_or("nothing".into(), |v| v.to_string())
            )));
        }
        let hash = persisted
            .get("sha256Hash")
            .and_then(|v| v.as_str())
            .map(str::to_ascii_lowercase);
        let Some(hash) = hash.filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        else {
            return Err(PersistedQueryError::Invalid(
                "extensions.persistedQuery.sha256Hash must be a SHA-256 in hexadecimal (64 digits)"
                    .into(),
            ));
        };
        match query {
            None => self
                .get(&hash)
                .map(|q| Some(q.to_string()))
                .ok_or(PersistedQueryError::NotFound),
            Some(query) => {
                let actual = hex(&Sha256::digest(query.as_bytes()));
                if actual != hash {
                    return Err(PersistedQueryError::HashMismatch);
                }
                self.put(hash, &query);
                Ok(Some(query))
            }
        }
    }

    fn get(&self, hash: &str) -> Option<Arc<str>> {
        let mut guard = self.lru.lock().unwrap_or_else(|p| p.into_inner());
        let lru = &mut *guard;
        lru.clock += 1;
        let now = lru.clock;
        let entry = lru.entries.get_mut(hash)?;
        lru.by_use.remove(&entry.used);
        entry.used = now;
        lru.by_use.insert(now, hash.to_string());
        Some(entry.query.clone())
    }

    fn put(&self, hash: String, query: &str) {
        if query.len() > MAX_BYTES {
            return;
        }
        let mut guard = self.lru.lock().unwrap_or_else(|p| p.into_inner());
        let lru = &mut *guard;
        lru.clock += 1;
        let now = lru.clock;
        if let Some(old) = lru.entries.remove(&hash) {
            lru.by_use.remove(&old.used);
            lru.bytes -= old.query.len();
        }
        while lru.entries.len() >= MAX_ENTRIES || lru.bytes + query.len() > MAX_BYTES {
            let Some((_, oldest)) = lru.by_use.pop_first() else {
                break;
            };
            if let Some(e) = lru.entries.remove(&oldest) {
                lru.bytes -= e.query.len();
            }
        }
        lru.bytes += query.len();
        lru.by_use.insert(now, hash.clone());
        lru.entries.insert(
            hash,
            Entry {
                query: query.into(),
                used: now,
            },
        );
    }

    /// How many queries are remembered.
    pub fn len(&self) -> usize {
        self.lru
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sha(q: &str) -> String {
        hex(&Sha256::digest(q.as_bytes()))
    }

    #[test]
    fn the_protocol_round_trip() {
        let pq = PersistedQueries::default();
        let q = "{ viewer { organizationId } }";
        let ext = json!({ "version": 1, "sha256Hash": sha(q) });
        assert_eq!(
            pq.resolve(None, Some(&ext)),
            Err(PersistedQueryError::NotFound)
        );
        assert_eq!(
            pq.resolve(Some("{ other }".into()), Some(&ext)),
            Err(PersistedQueryError::HashMismatch)
        );
        assert!(pq.is_empty(), "a mismatched query is not remembered");
        assert_eq!(
            pq.resolve(Some(q.into()), Some(&ext)),
            Ok(Some(q.to_string()))
        );
        let upper = json!({ "version": 1, "sha256Hash": sha(q).to_ascii_uppercase() });
        assert_eq!(pq.resolve(None, Some(&upper)), Ok(Some(q.to_string())));
        assert!(matches!(
            pq.resolve(None, Some(&json!({ "version": 2, "sha256Hash": sha(q) }))),
            Err(PersistedQueryError::Invalid(_))
        ));
        assert!(matches!(
            pq.resolve(None, Some(&json!({ "version": 1, "sha256Hash": "abc" }))),
            Err(PersistedQueryError::Invalid(_))
        ));
        assert_eq!(
            pq.resolve(Some("{ x }".into()), None),
            Ok(Some("{ x }".to_string()))
        );
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_the_least_recently_used() {
        let pq = PersistedQueries::default();
        let q = |i: usize| format!("{{ q{i} }}");
        let ext = |i: usize| json!({ "version": 1, "sha256Hash": sha(&q(i)) });
        for i in 0..MAX_ENTRIES {
            pq.resolve(Some(q(i)), Some(&ext(i))).expect("stored");
        }
        // Using the first keeps it; the next insertion evicts the second instead.
        assert!(pq.resolve(None, Some(&ext(0))).is_ok());
        pq.resolve(Some(q(MAX_ENTRIES)), Some(&ext(MAX_ENTRIES)))
            .expect("stored");
        assert_eq!(pq.len(), MAX_ENTRIES);
        assert!(pq.resolve(None, Some(&ext(0))).is_ok());
        assert_eq!(
            pq.resolve(None, Some(&ext(1))),
            Err(PersistedQueryError::NotFound)
        );

        let big = "#".repeat(MAX_BYTES / 3) + "\n{ a }";
        let big_ext = |s: &str| json!({ "version": 1, "sha256Hash": sha(s) });
        let big2 = big.replace("{ a }", "{ b }");
        let big3 = big.replace("{ a }", "{ c }");
        for s in [&big, &big2, &big3] {
            pq.resolve(Some(s.clone()), Some(&big_ext(s)))
                .expect("stored");
        }
        let lru = pq.lru.lock().expect("lock");
        assert!(lru.bytes <= MAX_BYTES, "{} bytes", lru.bytes);
        assert_eq!(
            lru.bytes,
            lru.entries.values().map(|e| e.query.len()).sum::<usize>()
        );
        assert_eq!(lru.entries.len(), lru.by_use.len());
    }
}
