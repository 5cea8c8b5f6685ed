//! Codes through a real SMTP relay during a rush: one tenant's messages go out several at a
//! time, and one tenant's rush leaves the server's other delivery slots to the other tenants.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::auth::*;
use common::{TestServer, eventually};
use reqwest::StatusCode;
use serde_json::Value;

/// What the relay has seen, shared by its connections.
#[derive(Default)]
struct Seen {
    /// Messages held before their final answer, by recipient domain.
    held: HashMap<String, usize>,
    /// Messages accepted, in order.
    accepted: Vec<String>,
    released: bool,
}

/// An SMTP relay in this process that holds the final answer to each message whose recipient is
/// in `holding` until the test releases it, so that messages under way at once can be counted.
#[derive(Clone)]
struct Relay {
    seen: Arc<(Mutex<Seen>, Condvar)>,
    holding: Arc<Vec<String>>,
    recipients: Vec<String>,
    message: Vec<u8>,
}

impl Relay {
    /// Starts the relay on a free port; answers it and its port.
    fn start(holding: &[&str]) -> (Self, String) {
        let relay = Self {
            seen: Arc::default(),
            holding: Arc::new(holding.iter().map(|d| (*d).to_owned()).collect()),
            recipients: Vec::new(),
            message: Vec::new(),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port().to_string();
        let mut server = mailin_embedded::Server::new(relay.clone());
        server
            .with_name("relay.test")
            .with_num_threads(16)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        (relay, port)
    }

    fn held(&self, domain: &str) -> usize {
        let seen = self.seen.0.lock().expect("lock");
        seen.held.get(domain).copied().unwrap_or(0)
    }

    fn accepted(&self) -> Vec<String> {
        self.seen.0.lock().expect("lock").accepted.clone()
    }

    fn release(&self) {
        let (seen, changed) = &*self.seen;
        seen.lock().expect("lock").released = true;
        changed.notify_all();
    }
}

fn domain_of(recipient: &str) -> String {
    recipient
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .trim_end_matches('>')
        .to_owned()
}

impl mailin_embedded::Handler for Relay {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.recipients = to.to_vec();
        self.message.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.message.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let domain = domain_of(self.recipients.first().map_or("", String::as_str));
        let (seen, changed) = &*self.seen;
        let mut guard = seen.lock().expect("lock");
        if self.holding.contains(&domain) {
            *guard.held.entry(domain.clone()).or_default() += 1;
            while !guard.released {
                guard = changed.wait(guard).expect("lock");
            }
            *guard.held.entry(domain).or_default() -= 1;
        }
        guard
            .accepted
            .push(String::from_utf8_lossy(&self.message).into_owned());
        mailin_embedded::response::OK
    }
}

async fn start_with_relay(port: &str, env: &[(&str, &str)]) -> TestServer {
    let mut all = vec![
        FAST,
        ("MAJLIS_SMTP_HOST", "127.0.0.1"),
        ("MAJLIS_SMTP_PORT", port),
        ("MAJLIS_SMTP_TLS", "none"),
    ];
    all.extend_from_slice(env);
    TestServer::start_env(&all).await
}

/// Asks for a code by email and answers the flow it started.
async fn ask(server: &TestServer, slug: &str, email: &str) -> String {
    let response = request_code(server, slug, email, "email").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.json::<Value>().await.expect("json")["flow"]
        .as_str()
        .expect("flow")
        .to_owned()
}

/// The code the relay accepted for `email`.
fn code_for(accepted: &[String], email: &str) -> Option<String> {
    accepted
        .iter()
        .find(|m| m.contains(&format!("To: {email}")))
        .and_then(|m| code_in(m))
}

#[tokio::test]
async fn a_tenants_codes_go_out_several_at_a_time_and_each_signs_in() {
    let (relay, port) = Relay::start(&["acme.om"]);
    let server = start_with_relay(&port, &[("MAJLIS_DELIVERY_CONCURRENCY_PER_TENANT", "3")]).await;
    server.create_tenant("acme", "pro").await;
    let emails = ["a1@acme.om", "a2@acme.om", "a3@acme.om"];
    for (n, email) in emails.iter().enumerate() {
        add(&server, "acme", &format!("Member {n}"), email, "member").await;
    }

    let mut flows = Vec::new();
    for email in emails {
        flows.push(ask(&server, "acme", email).await);
    }
    // Delivered one after the other, the relay would never hold more than one at once.
    eventually(
        "three messages under way at once",
        Duration::from_secs(10),
        || async { (relay.held("acme.om") == 3).then_some(()) },
    )
    .await;
    relay.release();

    let accepted = eventually(
        "three messages accepted",
        Duration::from_secs(10),
        || async {
            let accepted = relay.accepted();
            (accepted.len() == 3).then_some(accepted)
        },
    )
    .await;
    for (email, flow) in emails.iter().zip(&flows) {
        let code = code_for(&accepted, email).expect("a code for each member");
        assert_eq!(
            verify(&server, "acme", flow, &code).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn one_tenants_rush_leaves_slots_to_the_others() {
    // The relay is stuck on the rushing tenant's messages only.
    let (relay, port) = Relay::start(&["rush.om"]);
    let server = start_with_relay(
        &port,
        &[
            ("MAJLIS_DELIVERY_CONCURRENCY", "2"),
            ("MAJLIS_DELIVERY_CONCURRENCY_PER_TENANT", "1"),
        ],
    )
    .await;
    server.create_tenant("rush", "pro").await;
    server.create_tenant("calm", "pro").await;
    for n in 0..3 {
        add(
            &server,
            "rush",
            "Rusher",
            &format!("r{n}@rush.om"),
            "member",
        )
        .await;
        ask(&server, "rush", &format!("r{n}@rush.om")).await;
    }
    eventually(
        "the rush's first message at the relay",
        Duration::from_secs(10),
        || async { (relay.held("rush.om") == 1).then_some(()) },
    )
    .await;

    // With both of the server's slots taken by the rush, this code would wait for it.
    add(&server, "calm", "Calm", "c@calm.om", "member").await;
    let flow = ask(&server, "calm", "c@calm.om").await;
    let code = eventually(
        "the calm tenant's code during the rush",
        Duration::from_secs(10),
        || async { code_for(&relay.accepted(), "c@calm.om") },
    )
    .await;
    assert_eq!(relay.held("rush.om"), 1, "the rush still holds one slot");
    assert_eq!(
        verify(&server, "calm", &flow, &code).await.status(),
        StatusCode::OK
    );

    relay.release();
    eventually(
        "the rush's three messages after it",
        Duration::from_secs(10),
        || async { (relay.accepted().len() == 4).then_some(()) },
    )
    .await;
}
