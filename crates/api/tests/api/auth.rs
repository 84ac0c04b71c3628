//! Bearer-token authentication (kubectl-wire.md §0.8, §5 "401", §8.13): with a token, every
//! route but the health probes and /version answers 401 with a Status unless the request
//! carries `Authorization: Bearer <token>`.

use serde_json::json;

use crate::common::{TestServer, job};

const TOKEN: &str = "s3cret-token-for-tests";

/// (method, path, body) of every kind of route the server has.
fn routes() -> Vec<(&'static str, String, Option<Vec<u8>>)> {
    let job_body = serde_json::to_vec(&job("pi", json!({}))).unwrap();
    let mut routes: Vec<(&'static str, String, Option<Vec<u8>>)> = [
        "/api",
        "/api/",
        "/api/v1",
        "/apis",
        "/apis/batch",
        "/apis/batch/v1",
        "/apis/coordination.k8s.io/v1",
        "/openapi/v3",
        "/openapi/v3/apis/batch/v1",
        "/openapi/v3/api/v1",
        "/openapi/v2",
        "/metrics",
        "/",
        "/no/such/path",
        "/api/v1/namespaces",
        "/api/v1/namespaces/default",
        "/api/v1/namespaces/default/status",
        "/api/v1/namespaces/default/pods",
        "/api/v1/namespaces/default/pods/p",
        "/api/v1/namespaces/default/pods/p/log",
        "/api/v1/namespaces/default/pods/p/log?follow=true",
        "/api/v1/pods",
        "/api/v1/events",
        "/api/v1/nodes",
        "/apis/batch/v1/jobs",
        "/apis/batch/v1/namespaces/default/jobs",
        "/apis/batch/v1/namespaces/default/jobs?watch=true",
        "/apis/batch/v1/namespaces/default/jobs/pi",
        "/apis/batch/v1/namespaces/default/jobs/pi/status",
        "/apis/batch/v1/namespaces/default/cronjobs",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
    ]
    .into_iter()
    .map(|p| ("GET", p.to_owned(), None))
    .collect();
    let jobs = "/apis/batch/v1/namespaces/default/jobs";
    routes.extend([
        ("POST", jobs.to_owned(), Some(job_body.clone())),
        ("PUT", format!("{jobs}/pi"), Some(job_body.clone())),
        ("PATCH", format!("{jobs}/pi"), Some(b"{}".to_vec())),
        ("DELETE", format!("{jobs}/pi"), None),
        ("DELETE", jobs.to_owned(), None),
        (
            "POST",
            "/api/v1/namespaces".to_owned(),
            Some(br#"{"metadata":{"name":"x"}}"#.to_vec()),
        ),
        ("DELETE", "/api/v1/namespaces/default".to_owned(), None),
    ]);
    routes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_health_and_version_needs_the_token() {
    let mut s = TestServer::start(Some(TOKEN)).await;
    s.json(
        "POST",
        "/apis/batch/v1/namespaces/default/jobs",
        &job("keep", json!({})),
    )
    .await
    .expect(201);
    let revision = s.store.current_revision().await.unwrap();
    s.token = None;

    let wrong = format!("Bearer {TOKEN}x");
    let truncated = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    let basic = format!("Basic {TOKEN}");
    let bare = TOKEN.to_owned();
    let credentials: [Option<&str>; 6] = [
        None,
        Some(&wrong),
        Some(&truncated),
        Some(&basic),
        Some(&bare),
        Some("Bearer "),
    ];
    for (method, path, body) in routes() {
        for auth in credentials {
            let mut headers = vec![("Content-Type", "application/json")];
            if let Some(a) = auth {
                headers.push(("Authorization", a));
            }
            let r = s.request(method, &path, &headers, body.clone()).await;
            assert_eq!(r.status, 401, "{method} {path} with {auth:?}: {}", r.text());
            let status = r.json();
            assert_eq!(
                (
                    &status["kind"],
                    &status["apiVersion"],
                    &status["status"],
                    &status["reason"],
                    &status["code"],
                    &status["message"]
                ),
                (
                    &json!("Status"),
                    &json!("v1"),
                    &json!("Failure"),
                    &json!("Unauthorized"),
                    &json!(401),
                    &json!("Unauthorized")
                ),
                "{method} {path}"
            );
            assert!(
                r.header("content-type")
                    .unwrap()
                    .starts_with("application/json")
            );
        }
    }
    assert_eq!(
        s.store.current_revision().await.unwrap(),
        revision,
        "no unauthenticated request wrote anything"
    );

    // The probes and /version answer anyone.
    for path in ["/livez", "/readyz", "/healthz", "/version", "/version/"] {
        let r = s.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    assert_eq!(s.get("/version").await.json()["minor"], "32");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_token_opens_every_route() {
    let s = TestServer::start(Some(TOKEN)).await;
    for (path, status) in [
        ("/api", 200),
        ("/apis", 200),
        ("/apis/batch/v1", 200),
        ("/openapi/v3", 200),
        ("/metrics", 200),
        ("/apis/batch/v1/namespaces/default/jobs", 200),
        ("/apis/batch/v1/namespaces/default/jobs/pi", 404),
        ("/no/such/path", 404),
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
    }
    let r = s
        .json(
            "POST",
            "/apis/batch/v1/namespaces/default/jobs",
            &job("pi", json!({})),
        )
        .await;
    r.expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive() {
    // Upstream bearertoken.go: `strings.ToLower(parts[0]) != "bearer"`; RFC 7235 §2.1: the
    // scheme is case-insensitive.
    let s = TestServer::start(Some(TOKEN)).await;
    let lowercase = format!("bearer {TOKEN}");
    let r = s
        .request("GET", "/api", &[("Authorization", &lowercase)], None)
        .await;
    r.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_nothing_is_checked() {
    // `token: None` serves without authentication (plain-HTTP tests, §0.8).
    let s = TestServer::start(None).await;
    let r = s
        .request(
            "GET",
            "/apis/batch/v1/namespaces/default/jobs",
            &[("Authorization", "Bearer anything")],
            None,
        )
        .await;
    r.expect(200);
    s.get("/api").await.expect(200);
}
