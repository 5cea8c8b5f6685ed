//! Talking to majlis like a real client: tenants made through the operator API, an admin who
//! signs in with an emailed code, an API key per tenant, a board with a meeting to read and
//! answer.

use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::server::Server;

#[derive(Debug, thiserror::Error)]
#[error("setup failed: {0}")]
pub struct SetupError(pub String);

/// One tenant ready for load: its slug, an API key, a meeting, and its members' ids.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub slug: String,
    /// A write key of the tenant's admin, who chairs the board.
    pub key: String,
    pub meeting: String,
    pub board: String,
    /// The admin's member id (member edits rename them; their RSVPs answer the meeting).
    pub admin: String,
    /// The meeting's agenda item whose notes the writes change.
    pub item: String,
}

/// How long the harness waits for a sign-in code to arrive.
pub const CODE_WAIT: Duration = Duration::from_secs(10);

pub fn http_client(pool: usize) -> Client {
    Client::builder()
        .pool_max_idle_per_host(pool)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// The JSON body of the answer to `request`, or `None` when it fails.
pub async fn json_of(request: RequestBuilder) -> Option<Value> {
    request.send().await.ok()?.json().await.ok()
}

pub fn tenant_request(
    client: &Client,
    base: &str,
    slug: &str,
    method: Method,
    path: &str,
) -> RequestBuilder {
    client
        .request(method, format!("{base}{path}"))
        .header("host", format!("{slug}{}", tenant_host_suffix(base)))
}

/// What follows a tenant's slug in its Host on the server at `base`: `.<domain>[:port]` when
/// `base` names the server by a domain (its `base_domain`), `.localhost[:port]` when by an address
/// (a fresh server, whose `base_domain` is `localhost`).
pub fn tenant_host_suffix(base: &str) -> String {
    let Ok(url) = reqwest::Url::parse(base) else {
        return ".localhost".to_owned();
    };
    let domain = url.domain().unwrap_or("localhost");
    match url.port() {
        Some(port) => format!(".{domain}:{port}"),
        None => format!(".{domain}"),
    }
}

async fn expect(
    response: reqwest::Result<reqwest::Response>,
    what: &str,
) -> Result<Value, SetupError> {
    let response = response.map_err(|e| SetupError(format!("{what}: {e}")))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(SetupError(format!("{what}: {status} {text}")));
    }
    Ok(if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    })
}

/// Creates a tenant with an admin who signs in and makes a write key, a board they chair and a
/// scheduled meeting of it with one agenda item.
pub async fn prepare_tenant(
    client: &Client,
    server: &Server,
    slug: &str,
) -> Result<Tenant, SetupError> {
    let base = &server.base;
    let admin = |method: Method, path: &str| {
        client
            .request(method, format!("{base}/admin/api{path}"))
            .bearer_auth(&server.token)
    };
    expect(admin(Method::POST, "/tenants").json(&json!({"slug": slug, "name": format!("{slug} board"), "plan": "enterprise", "sector": "corporate"})).send().await, "create tenant").await?;
    let email = format!("admin@{slug}.load");
    let member = expect(
        admin(Method::POST, &format!("/tenants/{slug}/members"))
            .json(&json!({"name": "Load admin", "email": email, "role": "admin"}))
            .send()
            .await,
        "add admin",
    )
    .await?;
    let member_id = member["id"].as_str().unwrap_or_default().to_owned();

    let asked = std::time::Instant::now();
    let flow = expect(
        tenant_request(client, base, slug, Method::POST, "/api/auth/otp/request")
            .json(&json!({"identity": email}))
            .send()
            .await,
        "ask for a code",
    )
    .await?;
    let flow = flow["flow"].as_str().unwrap_or_default().to_owned();
    let code = server
        .next_code(slug, &email, asked, CODE_WAIT)
        .await
        .ok_or_else(|| {
            SetupError(format!(
                "no sign-in code for {email} arrived within {CODE_WAIT:?} (the harness reads the \
                 file mailer's folder of a server on this machine, or its own SMTP sink with \
                 --mail smtp)"
            ))
        })?;
    let verified = tenant_request(client, base, slug, Method::POST, "/api/auth/otp/verify")
        .json(&json!({"flow": flow, "code": code}))
        .send()
        .await
        .map_err(|e| SetupError(e.to_string()))?;
    if verified.status() != StatusCode::OK {
        return Err(SetupError(format!("sign-in: {}", verified.status())));
    }
    let cookie = verified
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_owned();
    let as_admin = |method: Method, path: &str| {
        tenant_request(client, base, slug, method, path).header("cookie", cookie.clone())
    };
    let key = expect(
        as_admin(Method::POST, "/api/keys")
            .json(&json!({"name": "load", "scope": "write"}))
            .send()
            .await,
        "create key",
    )
    .await?;
    let key = key["secret"].as_str().unwrap_or_default().to_owned();
    let board = expect(
        as_admin(Method::POST, "/api/boards")
            .json(&json!({"name": "Board"}))
            .send()
            .await,
        "create board",
    )
    .await?;
    let board = board["id"].as_str().unwrap_or_default().to_owned();
    expect(
        as_admin(
            Method::PUT,
            &format!("/api/boards/{board}/members/{member_id}"),
        )
        .json(&json!({"position": "chair"}))
        .send()
        .await,
        "seat admin",
    )
    .await?;
    let meeting = expect(as_admin(Method::POST, "/api/meetings").json(&json!({"board_id": board, "title": "Load meeting", "starts_at": "2027-01-10T10:00:00+04:00", "ends_at": "2027-01-10T12:00:00+04:00"})).send().await, "create meeting").await?;
    let meeting = meeting["id"].as_str().unwrap_or_default().to_owned();
    expect(
        as_admin(Method::PATCH, &format!("/api/meetings/{meeting}"))
            .json(&json!({"status": "scheduled"}))
            .send()
            .await,
        "schedule meeting",
    )
    .await?;
    let with_item = expect(
        as_admin(Method::POST, &format!("/api/meetings/{meeting}/agenda"))
            .json(&json!({"title": "Load item"}))
            .send()
            .await,
        "add agenda item",
    )
    .await?;
    let item = with_item["agenda"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(Tenant {
        slug: slug.to_owned(),
        key,
        meeting,
        board,
        admin: member_id,
        item,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_live_under_the_servers_domain_or_localhost() {
        assert_eq!(
            tenant_host_suffix("http://127.0.0.1:4000"),
            ".localhost:4000"
        );
        assert_eq!(
            tenant_host_suffix("http://localhost:4000"),
            ".localhost:4000"
        );
        assert_eq!(
            tenant_host_suffix("http://board.example.com"),
            ".board.example.com"
        );
        assert_eq!(
            tenant_host_suffix("http://board.example.com:8080/"),
            ".board.example.com:8080"
        );
        assert_eq!(tenant_host_suffix("not a url"), ".localhost");
    }
}
