//! Public, cacheable JSON documents: built once, served with a strong `ETag`, and answered with
//! 304 when the client already holds them.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct CachedJson {
    bytes: axum::body::Bytes,
    etag: HeaderValue,
    cache_control: &'static str,
}

impl CachedJson {
    pub fn new(value: &impl serde::Serialize, cache_control: &'static str) -> Self {
        let bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
        let digest = Sha256::digest(&bytes);
        let etag = format!("\"{}\"", hex::encode(&digest[..16]));
        Self {
            etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"0\"")),
            bytes: bytes.into(),
            cache_control,
        }
    }

    /// The document, or 304 when `If-None-Match` names its ETag.
    pub fn respond(&self, request_headers: &HeaderMap) -> Response {
        let matches = request_headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',').any(|tag| {
                    let tag = tag.trim();
                    tag == "*" || tag.trim_start_matches("W/") == self.etag.to_str().unwrap_or("")
                })
            });
        let mut response = if matches {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut response = Response::new(Body::from(self.bytes.clone()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, self.etag.clone());
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(self.cache_control),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("ETag"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_304_for_its_own_etag() {
        let doc = CachedJson::new(&serde_json::json!({"a": 1}), "public, max-age=60");
        let first = doc.respond(&HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(doc.respond(&again).status(), StatusCode::NOT_MODIFIED);
    }
}
