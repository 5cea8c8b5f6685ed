//! The accept loop: an HTTP/1 connection kept alive answers one request after another.

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
