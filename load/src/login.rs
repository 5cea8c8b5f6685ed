//! Full sign-in flows at load (ask for a code, wait for it in the mailbox — the file mailer's
//! folder or the harness's SMTP sink — and trade it for a session), then the limit that matters
//! most under attack: guessing codes kills the flow after five tries and locks the identity
//! after `otp_lock_after` failures across flows.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reqwest::{Client, Method, StatusCode};
use serde_json::json;

use crate::client::{CODE_WAIT, SetupError, http_client, tenant_request};
use crate::mailbox::Mail;
use crate::report::ScenarioReport;
use crate::scenarios::{Options, Outcome, RunError, drive, report};
use crate::server::Server;

/// Tries a flow takes before it is dead, and failures across flows that lock an identity (the
/// server's defaults, which the harness leaves alone).
const TRIES_PER_FLOW: usize = 5;
const LOCK_AFTER: usize = 20;

/// How long a flow under load waits for its code before it counts as undelivered (599).
const FLOW_CODE_WAIT: Duration = Duration::from_secs(5);

/// Full sign-in flows: ask for a code, wait for it in the mailbox, trade it for a session.
pub async fn login(options: &Options) -> Result<Vec<ScenarioReport>, RunError> {
    let server = Arc::new(Server::spawn(&options.launch, 900).await?);
    let client = http_client(options.concurrency * 2);
    let slug = "login".to_owned();
    client
        .post(format!("{}/admin/api/tenants", server.base))
        .bearer_auth(&server.token)
        .json(&json!({"slug": slug, "name": "Login", "plan": "enterprise", "sector": "corporate"}))
        .send()
        .await
        .map_err(|e| RunError::Setup(crate::client::SetupError(e.to_string())))?;
    let workers = options.concurrency.min(16);
    for worker in 0..workers {
        client
            .post(format!("{}/admin/api/tenants/{slug}/members", server.base))
            .bearer_auth(&server.token)
            .json(&json!({"name": "Signer", "email": format!("w{worker}@login.load"), "role": "member"}))
            .send()
            .await
            .map_err(|e| RunError::Setup(crate::client::SetupError(e.to_string())))?;
    }
    // From asking for a code to holding it: what a member waits for their mail.
    let delivery = Arc::new(Mutex::new(crate::driver::new_histogram()));
    let (c, srv, waits) = (client.clone(), Arc::clone(&server), Arc::clone(&delivery));
    let run = drive("login", workers, options.duration, move |worker, _| {
        let (client, server, slug, waits) = (
            c.clone(),
            Arc::clone(&srv),
            slug.clone(),
            Arc::clone(&waits),
        );
        async move {
            let email = format!("w{worker}@login.load");
            let asked = Instant::now();
            let Ok(response) = tenant_request(
                &client,
                &server.base,
                &slug,
                Method::POST,
                "/api/auth/otp/request",
            )
            .json(&json!({"identity": email}))
            .send()
            .await
            else {
                return Outcome::io();
            };
            if response.status().as_u16() != 202 {
                return Outcome::status(response.status().as_u16());
            }
            let flow = response
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["flow"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let Some(code) = server.next_code(&slug, &email, asked, FLOW_CODE_WAIT).await else {
                return Outcome::status(599);
            };
            if let Ok(mut waits) = waits.lock() {
                let _ = waits.record((asked.elapsed().as_micros() as u64).max(1));
            }
            match tenant_request(
                &client,
                &server.base,
                &slug,
                Method::POST,
                "/api/auth/otp/verify",
            )
            .json(&json!({"flow": flow, "code": code}))
            .send()
            .await
            {
                Ok(r) => Outcome::status(r.status().as_u16()),
                Err(_) => Outcome::io(),
            }
        }
    })
    .await;
    let mut report = report("login", &run, workers, 0.0, 0, server.rss_mb());
    if let Ok(waits) = delivery.lock() {
        report
            .notes
            .push(delivery_note(&options.launch.mail, &waits));
    }
    report
        .notes
        .push(brute_force_is_stopped(&client, &server, "login").await?);
    Ok(vec![report])
}

/// How codes travelled and how long members waited for them.
fn delivery_note(mail: &Mail, waits: &Histogram<u64>) -> String {
    let by = match mail {
        Mail::Files => "the file mailer".to_owned(),
        Mail::Smtp(sink) if sink.latency().is_zero() => {
            format!("SMTP to the harness's sink at {}", sink.address())
        }
        Mail::Smtp(sink) => format!(
            "SMTP to the harness's sink at {}, which took {} ms to accept each message",
            sink.address(),
            sink.latency().as_millis()
        ),
    };
    let ms = |q: f64| waits.value_at_quantile(q) as f64 / 1000.0;
    format!(
        "{} codes by {by}: from asking to the code in hand p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        waits.len(),
        ms(0.5),
        ms(0.99),
        waits.max() as f64 / 1000.0
    )
}

/// Asks for a code for `email` and waits for it in the mailbox: (flow, code).
async fn fresh_code(
    client: &Client,
    server: &Server,
    slug: &str,
    email: &str,
) -> Result<(String, String), RunError> {
    let setup = |what: String| RunError::Setup(SetupError(what));
    let asked = Instant::now();
    let response = tenant_request(
        client,
        &server.base,
        slug,
        Method::POST,
        "/api/auth/otp/request",
    )
    .json(&json!({"identity": email}))
    .send()
    .await
    .map_err(|e| setup(e.to_string()))?;
    let flow = response
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| v["flow"].as_str().map(str::to_owned))
        .ok_or_else(|| setup("no flow in the answer to a code request".into()))?;
    let code = server
        .next_code(slug, email, asked, CODE_WAIT)
        .await
        .ok_or_else(|| setup(format!("no code mailed to {email}")))?;
    Ok((flow, code))
}

async fn verify(
    client: &Client,
    server: &Server,
    slug: &str,
    flow: &str,
    code: &str,
) -> Option<reqwest::Response> {
    tenant_request(
        client,
        &server.base,
        slug,
        Method::POST,
        "/api/auth/otp/verify",
    )
    .json(&json!({"flow": flow, "code": code}))
    .send()
    .await
    .ok()
}

/// Guesses codes for one identity: after `TRIES_PER_FLOW` wrong tries even the right code must
/// fail on that flow, and after `LOCK_AFTER` wrong tries across flows the right code of a flow
/// that was never guessed on must get 429 with `Retry-After`. Answers a sentence for the report.
async fn brute_force_is_stopped(
    client: &Client,
    server: &Server,
    slug: &str,
) -> Result<String, RunError> {
    let fail = |what: String| RunError::Limits(what);
    let email = "guess@login.load";
    client
        .post(format!("{}/admin/api/tenants/{slug}/members", server.base))
        .bearer_auth(&server.token)
        .json(&json!({"name": "Target", "email": email, "role": "member"}))
        .send()
        .await
        .map_err(|e| RunError::Setup(SetupError(e.to_string())))?;
    // A flow kept aside, untouched: once the identity is locked, even its right code is refused.
    let (kept_flow, kept_code) = fresh_code(client, server, slug, email).await?;
    let mut wrong_tries = 0;
    while wrong_tries < LOCK_AFTER {
        let (flow, code) = fresh_code(client, server, slug, email).await?;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..TRIES_PER_FLOW.min(LOCK_AFTER - wrong_tries) {
            let status = verify(client, server, slug, &flow, wrong)
                .await
                .map(|r| r.status());
            if status == Some(StatusCode::OK) {
                return Err(fail("a wrong code signed in".into()));
            }
            wrong_tries += 1;
        }
        if wrong_tries % TRIES_PER_FLOW == 0 && wrong_tries < LOCK_AFTER {
            let status = verify(client, server, slug, &flow, &code)
                .await
                .map(|r| r.status());
            if status == Some(StatusCode::OK) {
                return Err(fail(format!(
                    "the right code still worked after {TRIES_PER_FLOW} wrong tries on its flow"
                )));
            }
        }
    }
    let locked = verify(client, server, slug, &kept_flow, &kept_code)
        .await
        .ok_or_else(|| fail("no answer once locked".into()))?;
    let retry_after = locked.headers().contains_key(reqwest::header::RETRY_AFTER);
    if locked.status() != StatusCode::TOO_MANY_REQUESTS || !retry_after {
        return Err(fail(format!(
            "after {LOCK_AFTER} wrong codes the right one got {} (Retry-After: {retry_after})",
            locked.status()
        )));
    }
    Ok(format!(
        "{LOCK_AFTER} wrong codes over {} flows: each flow refused its right code after {TRIES_PER_FLOW} \
         wrong tries, then the identity was locked (429 with Retry-After)",
        LOCK_AFTER / TRIES_PER_FLOW
    ))
}
