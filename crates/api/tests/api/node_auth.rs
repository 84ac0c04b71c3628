//! Joining nodes and what they may do: bootstrap tokens (kubeadm's Secrets), the node
//! credential a bootstrap token is exchanged for, and the Node authorizer's rules for it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kbatch_api::serviceaccount::{TokenIssuer, generate_key_pem};
use serde_json::{Value, json};

use crate::common::{TestServer, pod};

const ADMIN: &str = "admin-token-for-tests";
const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

async fn server() -> TestServer {
    let issuer = TokenIssuer::new(&generate_key_pem().unwrap(), CA).unwrap();
    TestServer::start_with(Some(ADMIN), Some(issuer)).await
}

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

/// Stores bootstrap token `abcdef.0123456789abcdef` (as `kbatch token create` does), expiring
/// at `expiration`.
async fn bootstrap_token(s: &TestServer, expiration: &str) -> String {
    let r = s
        .json(
            "POST",
            "/api/v1/namespaces/kube-system/secrets",
            &json!({
                "metadata": {"name": "bootstrap-token-abcdef"},
                "type": "bootstrap.kubernetes.io/token",
                "data": {
                    "token-id": b64("abcdef"),
                    "token-secret": b64("0123456789abcdef"),
                    "expiration": b64(expiration),
                    "usage-bootstrap-authentication": b64("true"),
                },
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    "abcdef.0123456789abcdef".to_owned()
}

async fn as_user(
    s: &TestServer,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    let r = s
        .request(
            method,
            path,
            &headers,
            body.map(|b| serde_json::to_vec(b).unwrap()),
        )
        .await;
    let value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, value)
}

async fn node_credential(s: &TestServer, bootstrap: &str, node: &str) -> String {
    let (code, body) = as_user(
        s,
        bootstrap,
        "POST",
        "/kbatch/v1/node-credentials",
        Some(&json!({"nodeName": node})),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_bootstrap_token_only_buys_a_node_credential() {
    let s = server().await;
    // The CA is there for anyone, without credentials.
    let r = s
        .request("GET", "/kbatch/v1/cacerts", &[("Authorization", "")], None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), CA);

    let token = bootstrap_token(&s, "2100-01-01T00:00:00Z").await;
    let (code, body) = as_user(
        &s,
        &token,
        "GET",
        "/apis/batch/v1/namespaces/default/jobs",
        None,
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        body["message"],
        "jobs.batch is forbidden: User \"system:bootstrap:abcdef\" cannot list resource \"jobs\" in API group \"batch\" in the namespace \"default\""
    );
    // A wrong secret, a bad node name.
    let (code, _) = as_user(&s, "abcdef.0123456789abcdeX", "GET", "/api/v1/pods", None).await;
    assert_eq!(code, 401);
    let (code, body) = as_user(
        &s,
        &token,
        "POST",
        "/kbatch/v1/node-credentials",
        Some(&json!({"nodeName": "Not_A_Name"})),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    // A node credential for n1, which names the node.
    let credential = node_credential(&s, &token, "n1").await;
    let (code, body) = as_user(&s, &credential, "GET", "/api/v1/pods", None).await;
    assert_eq!(code, 200, "{body}");
    // A node credential cannot get another one, nor can a service account.
    let (code, _) = as_user(
        &s,
        &credential,
        "POST",
        "/kbatch/v1/node-credentials",
        Some(&json!({"nodeName": "n2"})),
    )
    .await;
    assert_eq!(code, 403);
    // Asking again replaces the credential: the first no longer works.
    let second = node_credential(&s, &token, "n1").await;
    assert_eq!(
        as_user(&s, &credential, "GET", "/api/v1/pods", None)
            .await
            .0,
        401
    );
    assert_eq!(
        as_user(&s, &second, "GET", "/api/v1/pods", None).await.0,
        200
    );
    // Deleting its Secret revokes it.
    let r = s
        .request(
            "DELETE",
            "/api/v1/namespaces/kube-system/secrets/node-credential-n1",
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        as_user(&s, &second, "GET", "/api/v1/pods", None).await.0,
        401
    );
}

#[tokio::test]
async fn an_expired_bootstrap_token_is_refused() {
    let s = server().await;
    let token = bootstrap_token(&s, "2001-01-01T00:00:00Z").await;
    let (code, _) = as_user(
        &s,
        &token,
        "POST",
        "/kbatch/v1/node-credentials",
        Some(&json!({"nodeName": "n1"})),
    )
    .await;
    assert_eq!(code, 401);
}

async fn get(s: &TestServer, token: &str, path: &str) -> (u16, Value) {
    as_user(s, token, "GET", path, None).await
}

/// Writes pod `name`'s status as `token`.
async fn status_of(s: &TestServer, token: &str, name: &str) -> (u16, Value) {
    let path = format!("/api/v1/namespaces/default/pods/{name}");
    let (_, mut pod) = as_user(s, ADMIN, "GET", &path, None).await;
    pod["status"]["phase"] = json!("Running");
    as_user(s, token, "PUT", &format!("{path}/status"), Some(&pod)).await
}

#[tokio::test]
async fn a_node_reads_and_writes_what_a_kubelet_needs_and_no_more() {
    let s = server().await;
    let token = bootstrap_token(&s, "2100-01-01T00:00:00Z").await;
    let n1 = node_credential(&s, &token, "n1").await;
    for (name, data) in [("used", "a"), ("unused", "b")] {
        let r = s
            .json(
                "POST",
                "/api/v1/namespaces/default/secrets",
                &json!({"metadata": {"name": name}, "stringData": {"k": data}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    for sa in ["default", "builder"] {
        let r = s
            .json(
                "POST",
                "/api/v1/namespaces/default/serviceaccounts",
                &json!({"metadata": {"name": sa}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let mut on_n1 = pod("default", "on-n1", &["main"], &[]);
    on_n1["spec"]["nodeName"] = json!("n1");
    on_n1["spec"]["volumes"] = json!([{"name": "s", "secret": {"secretName": "used"}}]);
    let mut on_n2 = pod("default", "on-n2", &["main"], &[]);
    on_n2["spec"]["nodeName"] = json!("n2");
    for p in [&on_n1, &on_n2] {
        let r = s.json("POST", "/api/v1/namespaces/default/pods", p).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    assert_eq!(
        get(&s, &n1, "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1")
            .await
            .0,
        200
    );
    assert_eq!(
        get(&s, &n1, "/api/v1/namespaces/default/secrets/used")
            .await
            .0,
        200
    );
    let (code, body) = get(&s, &n1, "/api/v1/namespaces/default/secrets/unused").await;
    assert_eq!(code, 403);
    assert_eq!(
        body["message"],
        "secrets \"unused\" is forbidden: User \"system:node:n1\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\": no relationship found between node 'n1' and this object"
    );
    assert_eq!(
        get(&s, &n1, "/api/v1/namespaces/default/secrets").await.0,
        403
    );
    assert_eq!(get(&s, &n1, "/apis/batch/v1/jobs").await.0, 403);

    // Status of its own pods only.
    assert_eq!(status_of(&s, &n1, "on-n1").await.0, 200);
    let (code, body) = status_of(&s, &n1, "on-n2").await;
    assert_eq!(code, 403, "{body}");
    // No creating pods or deleting others'.
    let mut extra = pod("default", "extra", &["main"], &[]);
    extra["spec"]["nodeName"] = json!("n1");
    assert_eq!(
        as_user(
            &s,
            &n1,
            "POST",
            "/api/v1/namespaces/default/pods",
            Some(&extra)
        )
        .await
        .0,
        403
    );
    assert_eq!(
        as_user(
            &s,
            &n1,
            "DELETE",
            "/api/v1/namespaces/default/pods/on-n2",
            None
        )
        .await
        .0,
        403
    );

    // Its own Node and Lease, not another's.
    let node = |name: &str| json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
    assert_eq!(
        as_user(&s, &n1, "POST", "/api/v1/nodes", Some(&node("n1")))
            .await
            .0,
        201
    );
    assert_eq!(
        as_user(&s, &n1, "POST", "/api/v1/nodes", Some(&node("n2")))
            .await
            .0,
        403
    );
    let lease = |name: &str| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
               "spec": {"holderIdentity": name, "leaseDurationSeconds": 40}})
    };
    let leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    assert_eq!(
        as_user(&s, &n1, "POST", leases, Some(&lease("n1"))).await.0,
        201
    );
    assert_eq!(
        as_user(&s, &n1, "POST", leases, Some(&lease("n2"))).await.0,
        403
    );

    // Tokens only for its own pods, of their service account.
    let token_for = |pod: &str| {
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod}}})
    };
    let sa_token = "/api/v1/namespaces/default/serviceaccounts/default/token";
    let (code, body) = as_user(&s, &n1, "POST", sa_token, Some(&token_for("on-n1"))).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(
        as_user(&s, &n1, "POST", sa_token, Some(&token_for("on-n2")))
            .await
            .0,
        403
    );
    let builder = "/api/v1/namespaces/default/serviceaccounts/builder/token";
    assert_eq!(
        as_user(&s, &n1, "POST", builder, Some(&token_for("on-n1")))
            .await
            .0,
        403
    );
    let unbound =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}});
    assert_eq!(
        as_user(&s, &n1, "POST", sa_token, Some(&unbound)).await.0,
        403
    );

    // Once its pod is gone, the node's access to what the pod used ends (as soon as the
    // authorizer's graph has seen the deletion).
    let r = s
        .request(
            "DELETE",
            "/api/v1/namespaces/default/pods/on-n1?gracePeriodSeconds=0",
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let used = "/api/v1/namespaces/default/secrets/used";
    let mut code = 0;
    for _ in 0..500 {
        code = get(&s, &n1, used).await.0;
        if code == 403 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(code, 403);
}

/// A node publishes where its log server is and the certificate it serves with on its own Node
/// only (the server pins that certificate when it reads the node's logs), and it reads no pod's
/// log through the API (system:node has no `pods/log`).
#[tokio::test]
async fn a_node_publishes_its_log_server_on_its_own_node_only() {
    let s = server().await;
    let token = bootstrap_token(&s, "2100-01-01T00:00:00Z").await;
    let n1 = node_credential(&s, &token, "n1").await;
    let annotation = kbatch_api::node_logs::LOG_SERVER_CERT_ANNOTATION;
    let node = |name: &str, sha: &str| {
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": name, "annotations": {annotation: sha}},
               "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}})
    };
    let own = "a".repeat(64);
    let (code, body) = as_user(&s, &n1, "POST", "/api/v1/nodes", Some(&node("n1", &own))).await;
    assert_eq!(code, 201, "{body}");
    let r = s
        .json("POST", "/api/v1/nodes", &node("n2", &"b".repeat(64)))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // Its own Node: the annotation and the port, through the object and its status.
    let (_, mut mine) = get(&s, &n1, "/api/v1/nodes/n1").await;
    mine["metadata"]["annotations"][annotation] = json!("c".repeat(64));
    let (code, body) = as_user(&s, &n1, "PUT", "/api/v1/nodes/n1", Some(&mine)).await;
    assert_eq!(code, 200, "{body}");
    let (_, mut mine) = get(&s, &n1, "/api/v1/nodes/n1").await;
    mine["metadata"]["annotations"][annotation] = json!("d".repeat(64));
    mine["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = json!(10251);
    let (code, body) = as_user(&s, &n1, "PUT", "/api/v1/nodes/n1/status", Some(&mine)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["metadata"]["annotations"][annotation], "d".repeat(64));
    assert_eq!(
        body["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"],
        10251
    );

    // Not another node's, by either path, nor by deleting and creating it again.
    let (_, mut other) = get(&s, &n1, "/api/v1/nodes/n2").await;
    other["metadata"]["annotations"][annotation] = json!(own);
    for path in ["/api/v1/nodes/n2", "/api/v1/nodes/n2/status"] {
        let (code, body) = as_user(&s, &n1, "PUT", path, Some(&other)).await;
        assert_eq!(code, 403, "{path}: {body}");
    }
    let (code, _) = as_user(&s, &n1, "DELETE", "/api/v1/nodes/n2", None).await;
    assert_eq!(code, 403);
    let (_, stored) = get(&s, ADMIN, "/api/v1/nodes/n2").await;
    assert_eq!(
        stored["metadata"]["annotations"][annotation],
        "b".repeat(64)
    );

    // No logs through the API, not even of its own pods.
    let mut on_n1 = pod("default", "on-n1", &["main"], &[]);
    on_n1["spec"]["nodeName"] = json!("n1");
    let r = s
        .json("POST", "/api/v1/namespaces/default/pods", &on_n1)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let (code, body) = get(&s, &n1, "/api/v1/namespaces/default/pods/on-n1/log").await;
    assert_eq!(code, 403, "{body}");
}

async fn can_i(s: &TestServer, token: &str, spec: Value) -> (u16, Value) {
    as_user(
        s,
        token,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        Some(&json!({
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "spec": spec,
            "status": {"allowed": false},
        })),
    )
    .await
}

/// `kubectl auth can-i` asks the authorizers every request goes through: the admin may do
/// anything (even what kbatch does not serve), a node what a kubelet may, a bootstrap token
/// nothing; a review is answered for every caller, and asks exactly one question.
#[tokio::test]
async fn self_reviews_answer_with_the_authorizers_decision() {
    let s = server().await;
    let bootstrap = bootstrap_token(&s, "2999-01-01T00:00:00Z").await;
    let node = node_credential(&s, &bootstrap, "edge-1").await;
    let create_jobs = json!({"resourceAttributes": {"namespace": "default", "verb": "create", "group": "batch", "resource": "jobs"}});
    let get_pods =
        json!({"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}});
    let deployments =
        json!({"resourceAttributes": {"verb": "list", "group": "apps", "resource": "deployments"}});
    let own_node =
        json!({"resourceAttributes": {"verb": "update", "resource": "nodes", "name": "edge-1"}});
    let other_node =
        json!({"resourceAttributes": {"verb": "update", "resource": "nodes", "name": "edge-2"}});
    let healthz = json!({"nonResourceAttributes": {"path": "/healthz", "verb": "get"}});

    for (token, spec, allowed) in [
        (ADMIN, &create_jobs, true),
        (ADMIN, &deployments, true),
        (ADMIN, &healthz, true),
        (node.as_str(), &create_jobs, false),
        (node.as_str(), &get_pods, true),
        (node.as_str(), &own_node, true),
        (node.as_str(), &other_node, false),
        (node.as_str(), &deployments, false),
        (node.as_str(), &healthz, false),
    ] {
        let (code, review) = can_i(&s, token, spec.clone()).await;
        assert_eq!(code, 201, "{review}");
        assert_eq!(review["kind"], "SelfSubjectAccessReview");
        assert_eq!(review["spec"], *spec);
        assert_eq!(review["status"]["allowed"], allowed, "{spec}: {review}");
    }
    // A bootstrap token may do nothing but exchange itself; asking is every user's
    // (system:basic-user), as `kubectl auth whoami` is.
    let (code, review) = can_i(&s, &bootstrap, create_jobs.clone()).await;
    assert_eq!(code, 201, "{review}");
    assert_eq!(review["status"]["allowed"], false);

    let (code, status) = can_i(&s, ADMIN, json!({})).await;
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["reason"], "Invalid");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"),
        "{status}"
    );
    let both = json!({"resourceAttributes": {"verb": "get", "resource": "pods"}, "nonResourceAttributes": {"path": "/", "verb": "get"}});
    let (code, status) = can_i(&s, ADMIN, both).await;
    assert_eq!(code, 422, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("cannot be specified in combination with resourceAttributes"),
        "{status}"
    );

    let rules = |token: String| {
        let s = &s;
        async move {
            as_user(
                s,
                &token,
                "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                Some(&json!({"spec": {"namespace": "default"}})),
            )
            .await
        }
    };
    let (code, review) = rules(ADMIN.to_owned()).await;
    assert_eq!(code, 201, "{review}");
    assert_eq!(
        review["status"]["resourceRules"],
        json!([{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}])
    );
    assert_eq!(review["status"]["incomplete"], false);
    let (code, review) = rules(node.clone()).await;
    assert_eq!(code, 201, "{review}");
    assert_eq!(review["status"]["incomplete"], true);
    assert_eq!(
        review["status"]["evaluationError"],
        "node authorizer does not support user rule resolution"
    );
}
