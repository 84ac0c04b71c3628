//! `GET …/pods/{p}/log` (kubectl-wire.md §0.6, §4.8, §7, §8.8) over [`MemoryLogs`]: the
//! container is picked as the apiserver's pod log REST does, the PodLogOptions are checked and
//! applied, and the body is `text/plain`.

use kbatch_core::object::POD;

use crate::common::{TestServer, at, create, pod};

const LOG: &str = "/api/v1/namespaces/default/pods";

/// A server with pod `one` (container `main`) and pod `two` (containers `a`, `b`, init
/// container `setup`), each with a few log lines before T0.
async fn server() -> TestServer {
    let s = TestServer::start(None).await;
    create(s.registry(), &POD, pod("default", "one", &["main"], &[])).await;
    create(
        s.registry(),
        &POD,
        pod("default", "two", &["a", "b"], &["setup"]),
    )
    .await;
    create(s.registry(), &POD, pod("default", "pair", &["x", "y"], &[])).await;
    s.logs.push("default", "one", "main", at(-30), "first");
    s.logs.push(
        "default",
        "one",
        "main",
        at(-20)
            .checked_add(jiff::SignedDuration::from_millis(500))
            .unwrap(),
        "second",
    );
    s.logs.push("default", "one", "main", at(-10), "third");
    s.logs.push("default", "two", "a", at(-5), "from a");
    s.logs.push("default", "two", "b", at(-5), "from b");
    s.logs.push("default", "two", "setup", at(-60), "init done");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_only_container_is_the_default_and_the_body_is_text_plain() {
    // §7: the Python client sends no `container=`; a pod with one container needs none.
    let s = server().await;
    let r = s.get(&format!("{LOG}/one/log")).await;
    r.expect(200);
    assert_eq!(r.text(), "first\nsecond\nthird\n");
    let ct = r.header("content-type").unwrap();
    assert!(ct.starts_with("text/plain"), "{ct}");
    // §4.8: kubectl always names the container.
    let named = s.get(&format!("{LOG}/one/log?container=main")).await;
    named.expect(200);
    assert_eq!(named.text(), "first\nsecond\nthird\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_containers_need_a_name_with_the_apiservers_wording() {
    // §7: 400 `a container name must be specified for pod P, choose one of: [a b]`, plus the
    // init containers (pkg/registry/core/pod/strategy.go validateContainer).
    let s = server().await;
    let r = s.get(&format!("{LOG}/pair/log")).await;
    r.expect(400);
    let status = r.json();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "BadRequest");
    assert_eq!(status["code"], 400);
    assert_eq!(
        status["message"],
        "a container name must be specified for pod pair, choose one of: [x y]"
    );

    let r = s.get(&format!("{LOG}/two/log")).await;
    r.expect(400);
    assert_eq!(
        r.json()["message"],
        "a container name must be specified for pod two, choose one of: [a b] or one of the init containers: [setup]"
    );

    // Each container, init containers included, can be named.
    for (container, text) in [
        ("a", "from a\n"),
        ("b", "from b\n"),
        ("setup", "init done\n"),
    ] {
        let r = s.get(&format!("{LOG}/two/log?container={container}")).await;
        r.expect(200);
        assert_eq!(r.text(), text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_container_is_a_bad_request() {
    let s = server().await;
    let r = s.get(&format!("{LOG}/two/log?container=nope")).await;
    r.expect(400);
    assert_eq!(
        r.json()["message"],
        "container nope is not valid for pod two"
    );
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_pod_is_404() {
    // §4.8: unknown pod → 404 Status.
    let s = server().await;
    let r = s.get(&format!("{LOG}/nope/log?container=main")).await;
    r.expect(404);
    let status = r.json();
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["message"], "pods \"nope\" not found");
    assert_eq!(status["details"]["kind"], "pods");
    assert_eq!(status["details"]["name"], "nope");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_lines_and_limit_bytes() {
    // §4.8: `--tail=2` → tailLines=2, `--limit-bytes` → limitBytes.
    let s = server().await;
    let get = |q: &'static str| {
        let s = &s;
        async move { s.get(&format!("{LOG}/one/log?container=main&{q}")).await }
    };
    let r = get("tailLines=2").await;
    r.expect(200);
    assert_eq!(r.text(), "second\nthird\n");
    assert_eq!(get("tailLines=0").await.text(), "");
    assert_eq!(get("tailLines=10").await.text(), "first\nsecond\nthird\n");
    assert_eq!(get("limitBytes=8").await.text(), "first\nse");
    assert_eq!(get("tailLines=2&limitBytes=3").await.text(), "sec");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_seconds_and_since_time_select_by_the_servers_clock() {
    // §4.8: `--since=1h` → sinceSeconds, `--since-time` → sinceTime. The server's clock
    // (pinned at T0) decides what "15 seconds ago" is.
    let s = server().await;
    let r = s
        .get(&format!("{LOG}/one/log?container=main&sinceSeconds=15"))
        .await;
    r.expect(200);
    assert_eq!(r.text(), "third\n");
    let r = s
        .get(&format!("{LOG}/one/log?container=main&sinceSeconds=3600"))
        .await;
    assert_eq!(r.text(), "first\nsecond\nthird\n");
    // A line written exactly at sinceTime is included.
    let r = s
        .get(&format!(
            "{LOG}/one/log?container=main&sinceTime=2026-11-27T09:59:30Z"
        ))
        .await;
    r.expect(200);
    assert_eq!(r.text(), "first\nsecond\nthird\n");
    let r = s
        .get(&format!(
            "{LOG}/one/log?container=main&sinceTime=2026-11-27T09:59:35Z"
        ))
        .await;
    assert_eq!(r.text(), "second\nthird\n");
    s.clock.advance(3600);
    let r = s
        .get(&format!("{LOG}/one/log?container=main&sinceSeconds=15"))
        .await;
    assert_eq!(r.text(), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_prefix_each_line_with_rfc3339_nano() {
    // §4.8: `--timestamps` → each line starts with an RFC3339Nano time and a space (Go's
    // format: no trailing zeros in the fraction, `Z` for UTC).
    let s = server().await;
    let r = s
        .get(&format!("{LOG}/one/log?container=main&timestamps=true"))
        .await;
    r.expect(200);
    assert_eq!(
        r.text(),
        "2026-11-27T09:59:30Z first\n2026-11-27T09:59:40.5Z second\n2026-11-27T09:59:50Z third\n"
    );
    let r = s
        .get(&format!(
            "{LOG}/one/log?container=main&timestamps=true&tailLines=1"
        ))
        .await;
    assert_eq!(r.text(), "2026-11-27T09:59:50Z third\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_log_options_are_bad_requests() {
    // PodLogOptions validation (pkg/apis/core/validation ValidatePodLogOptions).
    let s = server().await;
    for q in [
        "sinceSeconds=0",
        "sinceSeconds=-5",
        "sinceTime=yesterday",
        "sinceSeconds=10&sinceTime=2026-11-27T09:59:35Z",
        "tailLines=-1",
        "limitBytes=0",
        "follow=maybe",
    ] {
        let r = s.get(&format!("{LOG}/one/log?container=main&{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text());
        assert_eq!(r.json()["kind"], "Status", "{q}");
    }
    let r = s
        .get(&format!(
            "{LOG}/one/log?container=main&sinceSeconds=10&sinceTime=2026-11-27T09:59:35Z"
        ))
        .await;
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("at most one of `sinceTime` or `sinceSeconds` may be specified"),
        "{}",
        r.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_without_log_lines_has_an_empty_log() {
    let s = server().await;
    create(s.registry(), &POD, pod("default", "quiet", &["c"], &[])).await;
    let r = s.get(&format!("{LOG}/quiet/log")).await;
    r.expect(200);
    assert_eq!(r.text(), "");
}
