//! The lean client of the measured runs: one keep-alive HTTP/1.1 connection per worker, driven
//! through hyper's connection API (no pool, no URL parsing, no per-request client state), so
//! that the cores the harness shares with the server go to the server. The server sees the same
//! requests a real client sends: Host header, bearer key, JSON body.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, RETRY_AFTER};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// One connection slot per worker, all to one server.
#[derive(Clone)]
pub struct Lanes(Arc<Inner>);

struct Inner {
    /// `host[:port]` of the server, as its Host header names it.
    authority: String,
    /// Where to connect: `host:port`, with the scheme's port when the URL gives none.
    address: String,
    /// What follows a tenant's slug in its Host (`.localhost:port` for a fresh server).
    tenant_suffix: String,
    slots: Vec<Mutex<Option<SendRequest<Full<Bytes>>>>>,
}

/// What came back: the status, whether it said when to retry, and the body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: bool,
    pub body: Bytes,
}

/// One request, described by what differs between the scenarios' requests.
#[derive(Debug)]
pub struct Call<'a> {
    pub method: Method,
    pub path: &'a str,
    /// The tenant addressed by its host (`<slug>.<base domain>`), or the server itself.
    pub tenant: Option<&'a str>,
    pub key: Option<&'a str>,
    pub json: Option<Vec<u8>>,
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lanes")
            .field("server", &self.0.authority)
            .field("workers", &self.0.slots.len())
            .finish()
    }
}

impl Lanes {
    /// Slots for `workers` workers against `base` (`http://host:port`); nothing connects yet.
    pub fn new(base: &str, workers: usize) -> Self {
        let authority = base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let address = reqwest::Url::parse(base)
            .ok()
            .and_then(|url| {
                Some(format!(
                    "{}:{}",
                    url.host_str()?,
                    url.port_or_known_default()?
                ))
            })
            .unwrap_or_else(|| authority.clone());
        Self(Arc::new(Inner {
            authority,
            address,
            tenant_suffix: crate::client::tenant_host_suffix(base),
            slots: (0..workers.max(1)).map(|_| Mutex::new(None)).collect(),
        }))
    }

    /// Opens every worker's connection now, a few at a time, so that a timed run measures
    /// requests on open keep-alive connections and not the opening of them all in its first
    /// moments. Answers how many are open; a slot that could not connect tries again on first use.
    pub async fn connect_all(&self) -> usize {
        use futures_util::{StreamExt, stream};
        stream::iter(&self.0.slots)
            .map(|slot| async move {
                let mut slot = slot.lock().await;
                self.open(&mut slot).await.is_some()
            })
            .buffer_unordered(16)
            .filter(|open| std::future::ready(*open))
            .count()
            .await
    }

    /// Sends `call` on `worker`'s connection (made on first use and after any failure). `None`
    /// when the server could not be reached or the connection broke.
    pub async fn send(&self, worker: usize, call: Call<'_>) -> Option<Answer> {
        let inner = &self.0;
        let mut slot = inner.slots[worker % inner.slots.len()].lock().await;
        let answer = self.exchange(&mut slot, call).await;
        if answer.is_none() {
            *slot = None;
        }
        answer
    }

    /// The slot's connection, opened unless it is open already.
    async fn open<'s>(
        &self,
        slot: &'s mut Option<SendRequest<Full<Bytes>>>,
    ) -> Option<&'s mut SendRequest<Full<Bytes>>> {
        if slot.as_ref().is_none_or(SendRequest::is_closed) {
            let stream = TcpStream::connect(&self.0.address).await.ok()?;
            stream.set_nodelay(true).ok()?;
            let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.ok()?;
            tokio::spawn(connection);
            *slot = Some(sender);
        }
        slot.as_mut()
    }

    async fn exchange(
        &self,
        slot: &mut Option<SendRequest<Full<Bytes>>>,
        call: Call<'_>,
    ) -> Option<Answer> {
        let inner = &self.0;
        let sender = self.open(slot).await?;
        sender.ready().await.ok()?;
        let host = match call.tenant {
            Some(slug) => format!("{slug}{}", inner.tenant_suffix),
            None => inner.authority.clone(),
        };
        let mut request = Request::builder()
            .method(call.method)
            .uri(call.path)
            .header(HOST, host);
        if let Some(key) = call.key {
            request = request.header(AUTHORIZATION, format!("Bearer {key}"));
        }
        if call.json.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(call.json.unwrap_or_default())))
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key(RETRY_AFTER);
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some(Answer {
            status,
            retry_after,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-connection server that answers every request with `answer`, and reports what it
    /// was sent.
    async fn canned(answer: &'static str) -> (String, tokio::sync::mpsc::Receiver<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (seen, heard) = tokio::sync::mpsc::channel(8);
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = vec![0u8; 4096];
            loop {
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                let _ = seen
                    .send(String::from_utf8_lossy(&buffer[..n]).into_owned())
                    .await;
                socket.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        (base, heard)
    }

    #[tokio::test]
    async fn sends_host_key_and_body_and_reads_the_answer_on_one_connection() {
        let (base, mut heard) = canned(
            "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 2\r\n\r\n{}",
        )
        .await;
        let port = base.rsplit(':').next().unwrap().to_owned();
        let lanes = Lanes::new(&base, 1);
        for _ in 0..2 {
            let answer = lanes
                .send(
                    0,
                    Call {
                        method: Method::POST,
                        path: "/api/members",
                        tenant: Some("acme"),
                        key: Some("mjk_x"),
                        json: Some(b"{\"a\":1}".to_vec()),
                    },
                )
                .await
                .expect("an answer");
            assert_eq!(answer.status, 503);
            assert!(answer.retry_after);
            assert_eq!(&answer.body[..], b"{}");
            let request = heard.recv().await.unwrap();
            assert!(request.starts_with("POST /api/members HTTP/1.1\r\n"));
            assert!(request.contains(&format!("host: acme.localhost:{port}\r\n")));
            assert!(request.contains("authorization: Bearer mjk_x\r\n"));
            assert!(request.ends_with("{\"a\":1}"));
        }
    }

    #[tokio::test]
    async fn connections_opened_beforehand_are_the_ones_requests_use() {
        // The canned server accepts one connection only: a request that opened another would
        // never be answered.
        let (base, mut heard) = canned("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let lanes = Lanes::new(&base, 1);
        assert_eq!(lanes.connect_all().await, 1);
        let call = Call {
            method: Method::GET,
            path: "/ping",
            tenant: None,
            key: None,
            json: None,
        };
        let answer = tokio::time::timeout(std::time::Duration::from_secs(10), lanes.send(0, call))
            .await
            .expect("answered on the open connection")
            .expect("an answer");
        assert_eq!(answer.status, 200);
        assert!(
            heard
                .recv()
                .await
                .unwrap()
                .starts_with("GET /ping HTTP/1.1\r\n")
        );
    }

    #[tokio::test]
    async fn connections_to_nowhere_are_not_counted_as_open() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        assert_eq!(Lanes::new(&base, 3).connect_all().await, 0);
    }

    #[test]
    fn connects_to_the_urls_port_or_the_schemes() {
        let lanes = Lanes::new("http://board.example.com", 1);
        assert_eq!(lanes.0.address, "board.example.com:80");
        assert_eq!(lanes.0.authority, "board.example.com");
        let lanes = Lanes::new("http://127.0.0.1:4000/", 1);
        assert_eq!(lanes.0.address, "127.0.0.1:4000");
        assert_eq!(lanes.0.authority, "127.0.0.1:4000");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_no_answer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let lanes = Lanes::new(&base, 1);
        let call = Call {
            method: Method::GET,
            path: "/",
            tenant: None,
            key: None,
            json: None,
        };
        assert!(lanes.send(0, call).await.is_none());
    }
}
