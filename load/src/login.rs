//! Full sign-in flows at load (ask for a code, read it from the file mailer, trade it for a
//! session), then the limit that matters most under attack: guessing codes kills the flow after
//! five tries and locks the identity after `otp_lock_after` failures across flows.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::json;

use crate::client::{SetupError, http_client, tenant_request};
use crate::report::ScenarioReport;
use crate::scenarios::{Options, Outcome, RunError, drive, report};
use crate::server::Server;

/// Tries a flow takes before it is dead, and failures across flows that lock an identity (the
/// server's defaults, which the harness leaves alone).
const TRIES_PER_FLOW: usize = 5;
const LOCK_AFTER: usize = 20;

/// Full sign-in flows: ask for a code, read it from the mail folder, trade it for a session.
pub async fn login(options: &Options) -> Result<Vec<ScenarioReport>, RunError> {
    let server = Arc::new(Server::spawn(&options.bin, &options.server_settings, 900).await?);
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
    let (c, srv) = (client.clone(), Arc::clone(&server));
    let seen: Arc<Vec<std::sync::Mutex<std::collections::HashSet<std::path::PathBuf>>>> =
        Arc::new((0..workers).map(|_| std::sync::Mutex::default()).collect());
    let run = drive("login", workers, options.duration, move |worker, _| {
        let (client, server, slug, seen) =
            (c.clone(), Arc::clone(&srv), slug.clone(), Arc::clone(&seen));
        async move {
            let email = format!("w{worker}@login.load");
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
            let started = Instant::now();
            let code = loop {
                // Workers share the mail folder: each takes the newest mail to its own member.
                let found = seen[worker]
                    .lock()
                    .ok()
                    .and_then(|mut seen| server.code_for(&slug, &email, &mut seen));
                if let Some(code) = found {
                    break code;
                }
                if started.elapsed() > Duration::from_secs(5) {
                    return Outcome::status(599);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            };
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
    report
        .notes
        .push(brute_force_is_stopped(&client, &server, "login").await?);
    Ok(vec![report])
}

/// Asks for a code for `email` and reads it from the mail folder: (flow, code).
async fn fresh_code(
    client: &Client,
    server: &Server,
    slug: &str,
    email: &str,
    seen: &mut HashSet<PathBuf>,
) -> Result<(String, String), RunError> {
    let setup = |what: String| RunError::Setup(SetupError(what));
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
    let started = Instant::now();
    loop {
        if let Some(code) = server.code_for(slug, email, seen) {
            return Ok((flow, code));
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(setup(format!("no code mailed to {email}")));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
    let mut seen = HashSet::new();
    // A flow kept aside, untouched: once the identity is locked, even its right code is refused.
    let (kept_flow, kept_code) = fresh_code(client, server, slug, email, &mut seen).await?;
    let mut wrong_tries = 0;
    while wrong_tries < LOCK_AFTER {
        let (flow, code) = fresh_code(client, server, slug, email, &mut seen).await?;
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
