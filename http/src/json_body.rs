//! JSON answers: the body is written into one buffer sized for a typical answer, so an answer
//! is not copied through doublings of a 128-byte buffer on its way out.

use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;

/// What a JSON buffer starts with: a member or a small meeting fits, and a buffer of this size
/// still comes from the allocator's per-thread cache, with no lock taken.
const START: usize = 1024;

/// A JSON answer, `application/json`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(START);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => {
                let mut response = body.into_response();
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }
            Err(e) => {
                ApiError::internal(&format!("an answer did not serialise: {e}")).into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_is_its_json_with_the_json_type() {
        let response = Json(serde_json::json!({"name": "Ann", "n": [1, 2]})).into_response();
        assert_eq!(response.status(), axum::http::StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        assert_eq!(&body[..], br#"{"n":[1,2],"name":"Ann"}"#);
    }

    #[tokio::test]
    async fn an_answer_that_cannot_be_written_is_a_plain_500() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(vec![1u8], 1);
        let response = Json(map).into_response();
        assert_eq!(
            response.status(),
            axum::http::StatusCode::INTERNAL_SERVER_ERROR
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        assert!(
            !String::from_utf8_lossy(&body).contains("key must be"),
            "nothing internal"
        );
    }
}
