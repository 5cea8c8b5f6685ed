//! The accept loop and the middleware around the router: an HTTP/1 connection kept alive answers
//! one request after another, and every answer, matched route or not, carries a request id.

mod common;

use common::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn keep_alive_serves_requests_one_after_another_on_one_connection() {
    let server = TestServer::start().await;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    for _ in 0..3 {
        stream
            .write_all(b"GET /api/almajlis/health.json HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("send");
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        // Read until the whole body (its length from the header) is in.
        loop {
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "the connection stayed open");
            seen.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&seen).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse().expect("a length"))
                    })
                    .expect("content-length");
                if body.len() >= length {
                    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                    break;
                }
            }
        }
    }
}

#[tokio::test]
async fn every_answer_carries_a_request_id_matched_route_or_not() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let cases = [
        (reqwest::Method::GET, "/api/almajlis/health.json", 200),
        (
            reqwest::Method::GET,
            "/api/almajlis/no-such-document.json",
            404,
        ),
        (reqwest::Method::DELETE, "/api/almajlis/health.json", 405),
    ];
    for (method, path, status) in cases {
        // A caller's id comes back as sent.
        let response = client
            .request(method.clone(), server.url(path))
            .header("x-request-id", "caller-chosen-17")
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        assert_eq!(
            response.headers().get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"caller-chosen-17"[..]),
            "{method} {path}"
        );
        // Without one, the server makes one up, different for each request.
        let ids: Vec<String> = request_ids_of_two(&client, method.clone(), &server.url(path)).await;
        assert_eq!(ids.len(), 2, "{method} {path}");
        assert_ne!(ids[0], ids[1], "{method} {path}");
        assert!(ids.iter().all(|id| id.len() == 36), "{ids:?}");
    }
}

/// The request ids of two requests sent without one.
async fn request_ids_of_two(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = client
            .request(method.clone(), url)
            .send()
            .await
            .expect("send");
        if let Some(id) = response.headers().get("x-request-id") {
            ids.push(id.to_str().expect("ascii").to_owned());
        }
    }
    ids
}
