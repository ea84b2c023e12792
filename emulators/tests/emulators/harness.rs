//! What both suites share: one HTTP exchange read into a [`Resp`], and a PKCE pair. Each suite
//! adds the accessors of its provider's error envelope (`reason` on Google, `code` on Graph).

use almanac_emulators::{Emulator, Served};
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::Digest;

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    /// `error.message`, where both providers put the human-readable text.
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request with a bearer token; the body is read as JSON when it parses, else kept as
/// a string (error pages), and `null` when empty.
pub async fn send(
    http: &reqwest::Client,
    method: Method,
    url: String,
    token: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut r = http.request(method, url).bearer_auth(token);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Resp {
        status,
        body,
        headers,
    }
}

/// A PKCE verifier ending in `tag` and its S256 challenge.
pub fn pkce(tag: &str) -> (String, String) {
    let verifier = format!("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-{tag}");
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// One provider as the shared cases see it: how to start its emulator with a signed-in account,
/// a read that succeeds on a fresh mailbox, and its server-error and throttling faults.
pub trait Fixture {
    type App: Served;
    /// `emulator`, `base URL`, `access token` for a fresh account.
    async fn start() -> (Emulator<Self::App>, String, String);
    /// Relative to the base URL; answers 200 on a fresh account.
    const READ: &'static str;
    /// A 500 and a 429 of the provider's own kinds.
    fn server_error_and_throttling() -> Vec<<Self::App as Served>::Fault>;
}
