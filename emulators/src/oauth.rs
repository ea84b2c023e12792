//! OAuth 2.0 machinery both identity endpoints share: client credentials from the form or HTTP
//! Basic, PKCE verification, and the consent redirect. The providers' dialects (Google's
//! `error_description` texts, Microsoft's AADSTS codes, scopes, token shapes) stay in their
//! modules.

use crate::util::{percent_decode, percent_encode, sha256_b64url};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;

/// Authorization codes live ten minutes on both providers.
pub(crate) const CODE_TTL_MS: i64 = 10 * 60 * 1000;

/// Client credentials from HTTP Basic (what the `oauth2` crate sends by default) or from the form.
pub(crate) fn client_credentials(
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Option<(String, Option<String>)> {
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        // RFC 6749 2.3.1: both parts are form-encoded before being joined.
        let (id, secret) = text.split_once(':')?;
        return Some((percent_decode(id), Some(percent_decode(secret))));
    }
    field("client_id").map(|id| (id, field("client_secret")))
}

/// Whether a `code_verifier` answers the authorization request's `(code_challenge, method)`.
pub(crate) fn verifier_matches((challenge, method): &(String, String), verifier: &str) -> bool {
    let computed = if method == "S256" {
        sha256_b64url(verifier.as_bytes())
    } else {
        verifier.to_string()
    };
    &computed == challenge
}

/// The 302 back to the client with `params` in the query; `None` when the redirect URI cannot
/// be a `Location` (each provider then shows its own error page).
pub(crate) fn redirect(uri: &str, params: &[(&str, String)]) -> Option<Response> {
    let sep = if uri.contains('?') { '&' } else { '?' };
    let q: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    let location = HeaderValue::from_str(&format!("{uri}{sep}{}", q.join("&"))).ok()?;
    Some((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_and_plain() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let s256 = (
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_string(),
            "S256".to_string(),
        );
        assert!(verifier_matches(&s256, verifier));
        assert!(!verifier_matches(&s256, "something else"));
        let plain = (verifier.to_string(), "plain".to_string());
        assert!(verifier_matches(&plain, verifier));
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_win_over_the_form() {
        let mut headers = HeaderMap::new();
        let basic = base64::engine::general_purpose::STANDARD.encode("my%20app:s%3Acret");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {basic}")).expect("base64 is a valid header"),
        );
        let form = vec![("client_id".to_string(), "other".to_string())];
        assert_eq!(
            client_credentials(&headers, &form),
            Some(("my app".into(), Some("s:cret".into())))
        );
        assert_eq!(
            client_credentials(&HeaderMap::new(), &form),
            Some(("other".into(), None))
        );
    }
}
