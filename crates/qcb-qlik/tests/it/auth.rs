//! OAuth tokens against a tenant that refuses them: each 401 gets a fresh token, more than
//! once within one request (a long 429 storm may outlive two tokens), and a client Qlik truly
//! refuses still ends with the 401 after a bounded number of tries.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use qcb_qlik::{ClientError, ClientOptions, Credentials, TenantClient, TenantUrl};
use secrecy::SecretString;
use serde_json::json;

/// Issues tokens `t1`, `t2`, …; `/api/v1/users/me` accepts only tokens from number `good` on.
struct Tenant {
    issued: AtomicU32,
    good: u32,
}

async fn token(State(t): State<Arc<Tenant>>) -> Response {
    let n = t.issued.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({"access_token": format!("t{n}"), "token_type": "bearer", "expires_in": 3600}))
        .into_response()
}

async fn me(State(t): State<Arc<Tenant>>, headers: HeaderMap) -> Response {
    let n: u32 = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer t"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if n >= t.good {
        Json(json!({"id": "bot"})).into_response()
    } else {
        let body = json!({"errors": [{"code": "HTTP-401", "title": "Unauthorized"}]});
        (StatusCode::UNAUTHORIZED, Json(body)).into_response()
    }
}

async fn client_for(good: u32) -> (TenantClient, Arc<Tenant>) {
    let tenant = Arc::new(Tenant {
        issued: AtomicU32::new(0),
        good,
    });
    let app = Router::new()
        .route("/oauth/token", post(token))
        .route("/api/v1/users/me", get(me))
        .with_state(tenant.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client = TenantClient::new(
        TenantUrl::parse(&format!("http://{addr}")).expect("url"),
        Credentials::OAuthClient {
            client_id: "bot".into(),
            client_secret: SecretString::from("s".to_string()),
            scope: None,
        },
        ClientOptions::default(),
    )
    .expect("client");
    (client, tenant)
}

#[tokio::test]
async fn a_request_outliving_two_tokens_gets_a_third() {
    let (client, tenant) = client_for(3).await;
    let me = client
        .get_json("/api/v1/users/me", "")
        .await
        .expect("the third token is accepted");
    assert_eq!(me["id"], "bot");
    assert_eq!(tenant.issued.load(Ordering::SeqCst), 3);
    assert_eq!(client.token_requests(), 3);
}

#[tokio::test]
async fn a_client_qlik_refuses_ends_with_the_401() {
    let (client, tenant) = client_for(u32::MAX).await;
    let err = client
        .get_json("/api/v1/users/me", "")
        .await
        .expect_err("every token is refused");
    assert!(
        matches!(err, ClientError::Api { status: 401, .. }),
        "{err:?}"
    );
    // The first token and three fresh ones, then the answer stands.
    assert_eq!(tenant.issued.load(Ordering::SeqCst), 4);
}
