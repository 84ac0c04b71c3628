//! Malformed requests against a real server: every one gets a 4xx meta/v1 Status, the server
//! stays up, and nothing stored changes.

mod common;

use base64::Engine;
use common::Server;

/// Managed by another controller (`spec.managedBy`), so kbatch's Job controller leaves it alone
/// and the only writes are the requests' own.
const JOB: &str = r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"keep"},"spec":{"managedBy":"example.com/elsewhere","template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}"#;
const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const KEEP: &str = "/apis/batch/v1/namespaces/default/jobs/keep";
const PODS: &str = "/api/v1/namespaces/default/pods";

/// `kubectl create job j1 --image=busybox -- echo hi` as kubectl 1.32 sends it (kubectl-wire.md §6).
const PROTOBUF_JOB: &str = "azhzAAoPCghiYXRjaC92MRIDSm9iEoQBChIKAmoxEgAaACIAKgAyADgAQgASZDJiChAKABIAGgAiACoAMgA4AEIAEk4SKwoCajESB2J1c3lib3gaBGVjaG8aAmhpKgBCAGoAcgCAAQCIAQCQAQCiAQAaBU5ldmVyMgBCAEoAUgBYAGAAaACCAQCKAQCaAQDCAQAaCCAAKAAwADoAGgAiAA==";

struct Case {
    method: &'static str,
    path: String,
    headers: Vec<&'static str>,
    body: Option<Vec<u8>>,
    auth: bool,
    /// The expected HTTP code.
    code: u16,
}

fn case(method: &'static str, path: impl Into<String>, code: u16) -> Case {
    Case {
        method,
        path: path.into(),
        headers: Vec::new(),
        body: None,
        auth: true,
        code,
    }
}

impl Case {
    fn json(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.headers.push("Content-Type: application/json");
        self.body = Some(body.into());
        self
    }

    fn typed(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Case {
        self.headers.push(content_type);
        self.body = Some(body.into());
        self
    }

    fn header(mut self, h: &'static str) -> Case {
        self.headers.push(h);
        self
    }

    fn no_auth(mut self) -> Case {
        self.auth = false;
        self
    }
}

fn job_with(edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_str(JOB).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn cases() -> Vec<Case> {
    let protobuf = base64::engine::general_purpose::STANDARD
        .decode(PROTOBUF_JOB)
        .unwrap();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let laughs = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n";
    let mut cases = vec![
        // Broken JSON and YAML bodies.
        case("POST", JOBS, 400).json("{"),
        case("POST", JOBS, 400).json("["),
        case("POST", JOBS, 400).json("null"),
        case("POST", JOBS, 400).json("42"),
        case("POST", JOBS, 400).json("\"job\""),
        case("POST", JOBS, 400).json("[]"),
        case("POST", JOBS, 400).json(""),
        case("POST", JOBS, 400).json("   "),
        case("POST", JOBS, 400).json(deep.clone()),
        case("POST", JOBS, 400).json(vec![0xff, 0xfe, 0x00, 0x7b]),
        case("POST", JOBS, 400).json(r#"{"apiVersion":1,"kind":"Job"}"#),
        case("POST", JOBS, 400).json(job_with(|v| v["spec"]["template"] = "oops".into())),
        case("POST", JOBS, 400).json(job_with(|v| v["spec"]["parallelism"] = "two".into())),
        case("POST", JOBS, 400).json(job_with(|v| v["spec"]["parallelism"] = 1e40.into())),
        case("POST", JOBS, 400).json(job_with(|v| {
            v["metadata"]["labels"] = serde_json::json!([1])
        })),
        case("POST", JOBS, 400).json(job_with(|v| {
            v["spec"]["template"]["spec"]["containers"][0]["resources"] =
                serde_json::json!({"limits": {"cpu": "lots"}})
        })),
        case("POST", format!("{JOBS}?fieldValidation=Strict"), 400)
            .json(r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"a","name":"b"}}"#),
        case("POST", format!("{JOBS}?fieldValidation=Strict"), 400)
            .json(job_with(|v| v["spec"]["foo"] = 1.into())),
        case("POST", format!("{JOBS}?fieldValidation=Bogus"), 400).json(JOB),
        case("POST", JOBS, 400).typed("Content-Type: application/yaml", "a: ["),
        case("POST", JOBS, 400).typed(
            "Content-Type: application/yaml",
            "kind: Job\n---\nkind: Job\n",
        ),
        case("POST", JOBS, 400).typed("Content-Type: application/yaml", laughs),
        case("POST", JOBS, 400).typed(
            "Content-Type: application/yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata: [\n",
        ),
        case("POST", JOBS, 400).typed("Content-Type: application/yaml", "\t- tab"),
        // Wrong kinds.
        case("POST", JOBS, 400).json(r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}"#),
        case("POST", JOBS, 400)
            .json(r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"}}"#),
        case("POST", JOBS, 400)
            .json(r#"{"apiVersion":"batch/v2","kind":"Job","metadata":{"name":"j"}}"#),
        case("POST", PODS, 400).json(JOB),
        case("POST", "/api/v1/namespaces", 400).json(JOB),
        // Protobuf bodies.
        case("POST", JOBS, 400).typed(
            "Content-Type: application/vnd.kubernetes.protobuf",
            b"garbage".to_vec(),
        ),
        case("POST", JOBS, 400).typed(
            "Content-Type: application/vnd.kubernetes.protobuf",
            b"k8s\0".to_vec(),
        ),
        case("POST", JOBS, 400).typed(
            "Content-Type: application/vnd.kubernetes.protobuf",
            protobuf[..protobuf.len() / 2].to_vec(),
        ),
        case("POST", JOBS, 400).typed("Content-Type: application/vnd.kubernetes.protobuf", {
            let mut p = protobuf.clone();
            p[4] = 0xff;
            p
        }),
        case("POST", PODS, 400).typed(
            "Content-Type: application/vnd.kubernetes.protobuf",
            protobuf.clone(),
        ),
        case("POST", JOBS, 400).typed("Content-Type: application/vnd.kubernetes.protobuf", vec![]),
        // Media types.
        case("POST", JOBS, 415).typed("Content-Type: text/plain", JOB),
        case("POST", JOBS, 415).typed("Content-Type: application/xml", "<job/>"),
        case("PATCH", KEEP, 415).typed("Content-Type: application/json", "{}"),
        case("PATCH", KEEP, 415).typed("Content-Type: text/plain", "{}"),
        case("GET", JOBS, 406).header("Accept: text/html"),
        case("GET", JOBS, 406).header("Accept: application/vnd.kubernetes.protobuf"),
        // Huge bodies.
        case("POST", JOBS, 413).json(vec![b' '; 4 * 1024 * 1024]),
        case("PUT", KEEP, 413).json(vec![b'{'; 3 * 1024 * 1024 + 1]),
        case("PATCH", KEEP, 413).typed(
            "Content-Type: application/merge-patch+json",
            vec![b' '; 5 * 1024 * 1024],
        ),
        // Selectors.
        case("GET", format!("{JOBS}?labelSelector=a%20in%20(b"), 400),
        case("GET", format!("{JOBS}?labelSelector=!!"), 400),
        case("GET", format!("{JOBS}?labelSelector=a%3Db%3Dc"), 400),
        case("GET", format!("{JOBS}?labelSelector=a%20notin"), 400),
        case("GET", format!("{JOBS}?labelSelector=-bad-%3Dx"), 400),
        case(
            "GET",
            format!("{JOBS}?labelSelector=a%3D{}", "x".repeat(70)),
            400,
        ),
        case("GET", format!("{JOBS}?fieldSelector=x"), 400),
        case("GET", format!("{JOBS}?fieldSelector=spec.foo%3Dbar"), 400),
        case("GET", format!("{PODS}?fieldSelector=status.phase%3E1"), 400),
        case(
            "GET",
            format!("{JOBS}?fieldSelector=metadata.name%3Da%5Cq"),
            400,
        ),
        case(
            "GET",
            format!("{JOBS}?watch=true&labelSelector=a%20in%20("),
            400,
        ),
        case(
            "GET",
            format!("{JOBS}?watch=true&fieldSelector=spec.x%3D1"),
            400,
        ),
        case("DELETE", format!("{JOBS}?labelSelector=(("), 400),
        // resourceVersions and list parameters.
        case("GET", format!("{JOBS}?resourceVersion=abc"), 400),
        case("GET", format!("{JOBS}?resourceVersion=-5"), 400),
        case(
            "GET",
            format!("{JOBS}?resourceVersion=1&resourceVersionMatch=Bogus"),
            400,
        ),
        case("GET", format!("{JOBS}?resourceVersionMatch=Exact"), 400),
        case(
            "GET",
            format!("{JOBS}?resourceVersion=0&resourceVersionMatch=Exact"),
            400,
        ),
        case("GET", format!("{JOBS}?watch=true&resourceVersion=abc"), 400),
        case("GET", format!("{JOBS}?continue=garbage"), 400),
        case("GET", format!("{JOBS}?continue=6b627331"), 400),
        case("GET", format!("{JOBS}?limit=-1"), 400),
        case("GET", format!("{JOBS}?limit=abc"), 400),
        case("GET", format!("{JOBS}?watch=maybe"), 400),
        case("GET", format!("{JOBS}?watch=true&timeoutSeconds=soon"), 400),
        case("GET", format!("{JOBS}?includeObject=Everything"), 400)
            .header("Accept: application/json;as=Table;v=v1;g=meta.k8s.io"),
        case("PUT", KEEP, 400).json(job_with(|v| {
            v["metadata"]["resourceVersion"] = "abc".into()
        })),
        case("PUT", KEEP, 409).json(job_with(|v| v["metadata"]["resourceVersion"] = "1".into())),
        // Path tricks.
        case(
            "GET",
            "/apis/batch/v1/namespaces/default/jobs/../../pods",
            404,
        ),
        case("GET", "/apis/batch/v1/namespaces/default/jobs/a%2Fb", 400),
        case("GET", "/apis/batch/v1/namespaces/default/jobs/..", 404),
        case("GET", "/apis/batch/v1/namespaces/default/jobs/%2E%2E", 400),
        case("GET", "/apis/batch/v1/namespaces/default/jobs/a%25b", 400),
        case("GET", "/apis/batch/v1/namespaces/default/jobs/%FF", 400),
        case("GET", "/apis/batch/v1/namespaces//jobs", 404),
        case("GET", "/apis/batch/v1/namespaces/default/jobs/x/y/z", 404),
        case("GET", "/apis/batch/v2/jobs", 404),
        case("GET", "/apis/apps/v1/deployments", 404),
        case("GET", "/api/v1/namespaces/default/jobs", 404),
        case("GET", "/api/v1/namespaces/default/pods/x/exec", 404),
        case(
            "GET",
            "/apis/batch/v1/namespaces/default/jobs/keep/log",
            404,
        ),
        case("GET", "/apis/batch/v1/jobs/keep", 404),
        case("GET", "/api/v1/namespaces/default/namespaces/x", 404),
        case(
            "GET",
            format!("/api/v1/namespaces/default/pods/{}", "x".repeat(10_000)),
            404,
        ),
        case("GET", "/nothing/here", 404),
        case("GET", "/openapi/v3/apis/apps/v1", 404),
        case("GET", "/openapi/v2", 406).header("Accept: application/xml"),
        case("POST", "/openapi/v2", 405).json("{}"),
        // Access reviews.
        case(
            "GET",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            405,
        ),
        case(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            400,
        )
        .json("{not json"),
        case(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            400,
        )
        .json(r#"{"apiVersion":"batch/v1","kind":"Job","spec":{}}"#),
        case(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            422,
        )
        .json(r#"{"spec":{}}"#),
        case(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            400,
        )
        .json(r#"{"spec":{"resourceAttributes":"jobs"}}"#),
        case(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            400,
        )
        .json("[1, 2]"),
        // Methods.
        case("PUT", JOBS, 405).json(JOB),
        case("POST", KEEP, 405).json(JOB),
        case("POST", "/apis/batch/v1/jobs", 405).json(JOB),
        case("DELETE", "/version", 405),
        case("POST", "/api", 405),
        case("PATCH", format!("{KEEP}/log"), 404)
            .typed("Content-Type: application/merge-patch+json", "{}"),
        case("DELETE", format!("{KEEP}/status"), 405),
        // Updates.
        case("PUT", KEEP, 400).json(job_with(|v| v["metadata"]["name"] = "other".into())),
        case("PUT", "/apis/batch/v1/namespaces/default/jobs/none", 400).json(JOB),
        case("PUT", KEEP, 400).json(job_with(|v| v["metadata"]["namespace"] = "other".into())),
        case("POST", JOBS, 400).json(job_with(|v| {
            v["metadata"]["namespace"] = "kube-system".into()
        })),
        case("PUT", KEEP, 422).json(job_with(|v| {
            v["spec"]["template"]["spec"]["containers"][0]["image"] = "alpine".into()
        })),
        case("POST", JOBS, 409).json(JOB),
        case("POST", JOBS, 422).json(job_with(|v| v["metadata"]["name"] = "Not_A_Name".into())),
        case("POST", JOBS, 422).json(job_with(|v| {
            v["metadata"]["name"] = serde_json::Value::Null;
            v["metadata"]["generateName"] = "BAD_".into();
        })),
        case("POST", JOBS, 422).json(job_with(|v| v["spec"]["backoffLimit"] = (-1).into())),
        case("POST", "/apis/batch/v1/namespaces/missing/jobs", 404).json(JOB),
        // Patches.
        case("PATCH", KEEP, 400).typed("Content-Type: application/json-patch+json", "{"),
        case("PATCH", KEEP, 400).typed(
            "Content-Type: application/json-patch+json",
            r#"{"op":"add"}"#,
        ),
        case("PATCH", KEEP, 422).typed(
            "Content-Type: application/json-patch+json",
            r#"[{"op":"test","path":"/spec/parallelism","value":99}]"#,
        ),
        case("PATCH", KEEP, 422).typed(
            "Content-Type: application/json-patch+json",
            r#"[{"op":"remove","path":"/nope/deeper"}]"#,
        ),
        case("PATCH", KEEP, 422).typed(
            "Content-Type: application/json-patch+json",
            r#"[{"op":"dance","path":"/spec"}]"#,
        ),
        case("PATCH", KEEP, 400).typed("Content-Type: application/merge-patch+json", "[1,2]"),
        case("PATCH", KEEP, 400).typed("Content-Type: application/merge-patch+json", "{"),
        case("PATCH", KEEP, 400).typed(
            "Content-Type: application/merge-patch+json",
            r#"{"kind":"Pod"}"#,
        ),
        case("PATCH", KEEP, 400).typed(
            "Content-Type: application/merge-patch+json",
            r#"{"metadata":{"name":"renamed"}}"#,
        ),
        case("PATCH", KEEP, 400).typed(
            "Content-Type: application/merge-patch+json",
            r#"{"spec":{"parallelism":"x"}}"#,
        ),
        case("PATCH", KEEP, 422).typed(
            "Content-Type: application/merge-patch+json",
            r#"{"spec":{"completions":5}}"#,
        ),
        case("PATCH", KEEP, 409).typed(
            "Content-Type: application/merge-patch+json",
            r#"{"metadata":{"resourceVersion":"1"}}"#,
        ),
        case("PATCH", KEEP, 400)
            .typed("Content-Type: application/strategic-merge-patch+json", "[]"),
        case("PATCH", KEEP, 400).typed(
            "Content-Type: application/strategic-merge-patch+json",
            r#"{"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}}"#,
        ),
        case("PATCH", KEEP, 400).typed(
            "Content-Type: application/strategic-merge-patch+json",
            r#"{"$patch":"explode"}"#,
        ),
        case("PATCH", KEEP, 400).typed(
            "Content-Type: application/strategic-merge-patch+json",
            r#"{"spec":{"$setElementOrder/x":"y"}}"#,
        ),
        case("PATCH", format!("{KEEP}?force=true"), 400)
            .typed("Content-Type: application/merge-patch+json", "{}"),
        case("PATCH", KEEP, 400).typed("Content-Type: application/apply-patch+yaml", JOB),
        case("PATCH", format!("{KEEP}?fieldManager=t"), 400).typed(
            "Content-Type: application/apply-patch+yaml",
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"keep"}}"#,
        ),
        case("PATCH", format!("{KEEP}?fieldManager=t"), 400)
            .typed("Content-Type: application/apply-patch+yaml", "a: ["),
        case("PATCH", format!("{KEEP}?fieldManager=t"), 400).typed(
            "Content-Type: application/apply-patch+yaml",
            r#"{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"other"}}"#,
        ),
        case("PATCH", "/apis/batch/v1/namespaces/default/jobs/none", 404)
            .typed("Content-Type: application/merge-patch+json", "{}"),
        case(
            "PATCH",
            format!("{KEEP}?fieldManager={}", "m".repeat(200)),
            400,
        )
        .typed("Content-Type: application/merge-patch+json", "{}"),
        // Deletes.
        case("DELETE", KEEP, 400).json("{"),
        case("DELETE", KEEP, 400).json("[]"),
        case("DELETE", format!("{KEEP}?propagationPolicy=Sideways"), 422),
        case("DELETE", KEEP, 422).json(r#"{"propagationPolicy":"Sideways"}"#),
        case("DELETE", KEEP, 422)
            .json(r#"{"propagationPolicy":"Orphan","orphanDependents":false}"#),
        case("DELETE", KEEP, 409).json(r#"{"preconditions":{"uid":"not-the-uid"}}"#),
        case("DELETE", KEEP, 409).json(r#"{"preconditions":{"resourceVersion":"1"}}"#),
        case("DELETE", format!("{KEEP}?dryRun=Maybe"), 400),
        case("DELETE", KEEP, 400).json(r#"{"dryRun":["Some"]}"#),
        case("DELETE", format!("{KEEP}?gracePeriodSeconds=abc"), 400),
        case("DELETE", "/apis/batch/v1/namespaces/default/jobs/none", 404),
        // Logs.
        case("GET", format!("{PODS}/none/log"), 404),
        case("GET", format!("{PODS}/two/log"), 400),
        case("GET", format!("{PODS}/two/log?container=nope"), 400),
        case(
            "GET",
            format!("{PODS}/two/log?container=a&tailLines=-1"),
            400,
        ),
        case(
            "GET",
            format!("{PODS}/two/log?container=a&sinceSeconds=0"),
            400,
        ),
        case(
            "GET",
            format!("{PODS}/two/log?container=a&limitBytes=0"),
            400,
        ),
        case(
            "GET",
            format!("{PODS}/two/log?container=a&sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z"),
            400,
        ),
        case(
            "GET",
            format!("{PODS}/two/log?container=a&sinceTime=yesterday"),
            400,
        ),
        case(
            "GET",
            format!("{PODS}/two/log?container=a&follow=perhaps"),
            400,
        ),
        // Authentication.
        case("GET", JOBS, 401).no_auth(),
        case("POST", JOBS, 401).no_auth().json(JOB),
        case("GET", "/api", 401).no_auth(),
        case("GET", "/openapi/v3", 401).no_auth(),
        case("GET", "/metrics", 401).no_auth(),
        case("GET", JOBS, 401)
            .no_auth()
            .header("Authorization: Bearer wrong"),
        case("GET", JOBS, 401)
            .no_auth()
            .header("Authorization: Basic YWRtaW46YWRtaW4="),
        // Dry runs and queries of writes.
        case("POST", format!("{JOBS}?dryRun=Sometimes"), 400).json(JOB),
        case("POST", JOBS, 400).json(job_with(|v| {
            v["metadata"]["managedFields"] = serde_json::json!("x")
        })),
    ];
    // The same broken bodies through PUT and the namespace and pod endpoints.
    for body in ["{", "null", "[1]", "{\"kind\":\"Job\"}"] {
        cases.push(case("PUT", KEEP, 400).json(body));
        cases.push(case("POST", PODS, 400).json(body));
        cases.push(case("POST", "/api/v1/namespaces", 400).json(body));
    }
    cases
}

/// Every stored object with its resourceVersion, across the kinds the cases touch.
fn snapshot(s: &Server) -> Vec<String> {
    let mut out = Vec::new();
    for path in [
        "/apis/batch/v1/jobs",
        "/api/v1/pods",
        "/api/v1/namespaces",
        "/apis/batch/v1/cronjobs",
    ] {
        let (code, body, _) = s.curl("GET", path, &[], None, true);
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        for item in v["items"].as_array().unwrap() {
            out.push(format!(
                "{}/{}@{}",
                item["metadata"]["namespace"],
                item["metadata"]["name"],
                item["metadata"]["resourceVersion"]
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn malformed_requests_get_4xx_statuses_and_change_nothing() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: curl is not installed (.ci/run installs it)");
        return;
    }
    // No node runs pods here, and the pod names a node that does not exist, so the
    // scheduler leaves it alone: nothing but the requests writes.
    let s = Server::start_with(&["--no-agent"]);
    let (code, body, _) = s.curl(
        "POST",
        JOBS,
        &["Content-Type: application/json"],
        Some(JOB.as_bytes()),
        true,
    );
    assert_eq!(code, 201, "{body}");
    let two = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"two"},"spec":{"nodeName":"nowhere","restartPolicy":"Never","containers":[{"name":"a","image":"busybox"},{"name":"b","image":"busybox"}]}}"#;
    let (code, body, _) = s.curl(
        "POST",
        PODS,
        &["Content-Type: application/json"],
        Some(two.as_bytes()),
        true,
    );
    assert_eq!(code, 201, "{body}");
    let before = snapshot(&s);
    let cases = cases();
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let (code, body, _) = s.curl(c.method, &c.path, &c.headers, c.body.as_deref(), c.auth);
        let status: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        let is_status = status.as_ref().is_some_and(|v| {
            v["kind"] == "Status" && v["code"] == code && v["status"] == "Failure"
        });
        if code != c.code || !is_status {
            let shown: String = body.chars().take(300).collect();
            failures.push(format!(
                "{} {} → {code} (want {}): {shown}",
                c.method,
                &c.path[..c.path.len().min(120)],
                c.code
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    let (code, _, _) = s.curl("GET", "/readyz", &[], None, false);
    assert_eq!(code, 200, "the server is down");
    assert_eq!(snapshot(&s), before, "stored objects changed");
}

#[test]
fn a_future_resource_version_is_a_timeout_as_in_kubernetes() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        return;
    }
    let s = Server::start();
    let (code, body, _) = s.curl(
        "GET",
        &format!("{JOBS}?resourceVersion=999999999"),
        &[],
        None,
        true,
    );
    assert_eq!(code, 504, "{body}");
    assert!(body.contains("Too large resource version"), "{body}");
}
