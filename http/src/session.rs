//! The session cookie: `__Host-majlis_session`, an opaque 128-bit id signed with the server
//! secret. The session itself lives in the tenant; the signature only lets the edge drop forged
//! cookies without asking it.

use axum::http::HeaderValue;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const COOKIE_NAME: &str = "__Host-majlis_session";

fn signature(secret: &[u8], id: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"session\x1f");
    mac.update(id.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// `id.signature`.
pub fn sign(secret: &[u8], id: &str) -> String {
    format!("{id}.{}", signature(secret, id))
}

/// The id inside a cookie value, when the signature is right.
pub fn verify(secret: &[u8], value: &str) -> Option<String> {
    let (id, presented) = value.rsplit_once('.')?;
    let well_formed = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let expected = signature(secret, id);
    (well_formed && bool::from(expected.as_bytes().ct_eq(presented.as_bytes())))
        .then(|| id.to_owned())
}

/// `Set-Cookie` for a new session: host-only, HTTPS-only, invisible to scripts, sent on
/// top-level navigation; it ends with the browser session, and the server enforces its timeouts.
pub fn set_cookie(secret: &[u8], id: &str) -> HeaderValue {
    let cookie = cookie::Cookie::build((COOKIE_NAME, sign(secret, id)))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    let cookie = cookie::Cookie::build((COOKIE_NAME, ""))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .max_age(cookie::time::Duration::ZERO)
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_ids_verify_and_tampering_fails() {
        let id = "0123456789abcdef0123456789abcdef";
        let value = sign(b"secret", id);
        assert_eq!(verify(b"secret", &value).as_deref(), Some(id));
        assert_eq!(verify(b"other", &value), None);
        let tampered = value.replace('0', "1");
        assert_eq!(verify(b"secret", &tampered), None);
        assert_eq!(verify(b"secret", "nonsense"), None);
    }

    #[test]
    fn the_cookie_has_every_protective_attribute() {
        let header = set_cookie(b"s", "0123456789abcdef0123456789abcdef");
        let text = header.to_str().expect("ascii");
        assert!(text.starts_with("__Host-majlis_session="));
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(text.contains(attribute), "{text} lacks {attribute}");
        }
        assert!(!text.contains("Domain"));
    }
}
