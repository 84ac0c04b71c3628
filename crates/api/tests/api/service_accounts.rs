//! Service account tokens: the TokenRequest subresource (`TokenREST.Create`), the token
//! authenticator (bound-object checks, expiry, audiences) and the `ServiceAccount` admission
//! plugin's token volume, with the test clock.

use kbatch_api::clock::Clock;
use kbatch_api::serviceaccount::{TokenIssuer, generate_key_pem};
use kbatch_core::object::{Object, POD, SERVICEACCOUNT};
use serde_json::{Value, json};

use crate::common::{TestServer, create, pod};

const ADMIN: &str = "admin-token-for-tests";
const SA_PATH: &str = "/api/v1/namespaces/default/serviceaccounts";
const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";

async fn server() -> TestServer {
    let issuer = TokenIssuer::new(
        &generate_key_pem().unwrap(),
        "-----BEGIN CERTIFICATE-----\n",
    )
    .unwrap();
    let s = TestServer::start_with(Some(ADMIN), Some(issuer)).await;
    for name in ["default", "builder"] {
        create(
            s.registry(),
            &SERVICEACCOUNT,
            json!({"metadata": {"name": name, "namespace": "default"}}),
        )
        .await;
    }
    s
}

async fn token(s: &TestServer, account: &str, spec: Value) -> (u16, Value) {
    let r = s
        .json(
            "POST",
            &format!("{SA_PATH}/{account}/token"),
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}),
        )
        .await;
    (r.status, r.json())
}

/// GET the Jobs with `token` as the bearer: the status code.
async fn call_with(s: &TestServer, token: &str) -> u16 {
    s.request(
        "GET",
        JOBS,
        &[("Authorization", &format!("Bearer {token}"))],
        None,
    )
    .await
    .status
}

#[tokio::test]
async fn a_requested_token_authenticates_its_service_account() {
    let s = server().await;
    let (code, answer) = token(&s, "builder", json!({})).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["kind"], "TokenRequest");
    assert_eq!(answer["spec"]["expirationSeconds"], 3600);
    assert_eq!(
        answer["spec"]["audiences"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    let t = answer["status"]["token"].as_str().unwrap().to_owned();
    assert_eq!(call_with(&s, &t).await, 200);
    // Anything else is refused: a made-up token, another audience's, a truncated one.
    assert_eq!(call_with(&s, "nope").await, 401);
    assert_eq!(call_with(&s, &t[..t.len() - 2]).await, 401);
    let (_, vault) = token(&s, "builder", json!({"audiences": ["vault"]})).await;
    assert_eq!(
        call_with(&s, vault["status"]["token"].as_str().unwrap()).await,
        401
    );
    // It expires (after the validator's minute of leeway)...
    s.clock.advance(3600 + 59);
    assert_eq!(call_with(&s, &t).await, 200);
    s.clock.advance(2);
    assert_eq!(call_with(&s, &t).await, 401);
}

#[tokio::test]
async fn a_token_dies_with_its_service_account() {
    let s = server().await;
    let (_, answer) = token(&s, "builder", json!({})).await;
    let t = answer["status"]["token"].as_str().unwrap().to_owned();
    let r = s
        .request("DELETE", &format!("{SA_PATH}/builder"), &[], None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(call_with(&s, &t).await, 401);
    // A new account of the same name is another account (another uid).
    create(
        s.registry(),
        &SERVICEACCOUNT,
        json!({"metadata": {"name": "builder", "namespace": "default"}}),
    )
    .await;
    assert_eq!(call_with(&s, &t).await, 401);
}

#[tokio::test]
async fn a_pod_bound_token_lives_as_long_as_its_pod() {
    let s = server().await;
    let mut p = pod("default", "worker", &["main"], &[]);
    p["spec"]["serviceAccountName"] = json!("builder");
    p["spec"]["nodeName"] = json!("node-a");
    let Object::Pod(created) = create(s.registry(), &POD, p.clone()).await else {
        unreachable!()
    };
    let uid = created.metadata.uid.clone().unwrap();
    let bound = |uid: &str| json!({"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "worker", "uid": uid}});
    let (code, answer) = token(&s, "builder", bound(&uid)).await;
    assert_eq!(code, 201, "{answer}");
    let t = answer["status"]["token"].as_str().unwrap().to_owned();
    assert_eq!(call_with(&s, &t).await, 200);
    // Its claims name the pod and its node, as kube-apiserver's do.
    let payload = t.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims["kubernetes.io"]["pod"],
        json!({"name": "worker", "uid": uid})
    );
    assert_eq!(claims["kubernetes.io"]["node"]["name"], "node-a");
    assert_eq!(claims["sub"], "system:serviceaccount:default:builder");

    // A uid that is not the pod's, another account's pod, another kind: refused.
    let (code, answer) = token(&s, "builder", bound("0000")).await;
    assert_eq!(code, 409, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("does not match the UID in record"),
        "{answer}"
    );
    let (code, answer) = token(&s, "default", bound(&uid)).await;
    assert_eq!(code, 400, "{answer}");
    assert_eq!(
        answer["message"],
        "cannot bind token for serviceaccount \"default\" to pod running with different serviceaccount name."
    );
    let (code, answer) = token(
        &s,
        "builder",
        json!({"boundObjectRef": {"apiVersion": "batch/v1", "kind": "Job", "name": "x"}}),
    )
    .await;
    assert_eq!(code, 400, "{answer}");
    assert_eq!(
        answer["message"],
        "cannot bind token to object of type batch/v1, Kind=Job"
    );

    // Being deleted gracefully, the pod's token works until a minute after its
    // deletionTimestamp (the end of its grace period), as the validator's
    // `invalidIfDeletedBefore` allows.
    let r = s
        .request(
            "DELETE",
            "/api/v1/namespaces/default/pods/worker",
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let deleted_at = r.json()["metadata"]["deletionTimestamp"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap();
    let wait = deleted_at.as_second() - s.clock.now().as_second();
    s.clock.advance(wait + 59);
    assert_eq!(call_with(&s, &t).await, 200);
    s.clock.advance(2);
    assert_eq!(call_with(&s, &t).await, 401);
}

#[tokio::test]
async fn token_requests_are_validated() {
    let s = server().await;
    let (code, answer) = token(&s, "builder", json!({"expirationSeconds": 599})).await;
    assert_eq!(code, 422, "{answer}");
    assert_eq!(
        answer["message"],
        "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"
    );
    let (code, _) = token(
        &s,
        "builder",
        json!({"expirationSeconds": (1i64 << 32) + 1}),
    )
    .await;
    assert_eq!(code, 422);
    let (code, answer) = token(&s, "nosuch", json!({})).await;
    assert_eq!(code, 404, "{answer}");
    assert_eq!(answer["message"], "serviceaccounts \"nosuch\" not found");
    let r = s
        .json(
            "POST",
            &format!("{SA_PATH}/builder/token"),
            &json!({"metadata": {"name": "other"}, "spec": {}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    // Only POST is served on the subresource.
    let r = s.get(&format!("{SA_PATH}/builder/token")).await;
    assert_eq!(r.status, 405, "{}", r.text());
}

async fn created(s: &TestServer, p: Value) -> Value {
    let r = s.json("POST", "/api/v1/namespaces/default/pods", &p).await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn volumes(p: &Value) -> Vec<Value> {
    p["spec"]["volumes"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn admitted_pods_mount_their_token_unless_they_opt_out() {
    let s = server().await;
    let p = created(&s, pod("default", "a", &["main", "side"], &["init"])).await;
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    let vols = volumes(&p);
    assert_eq!(vols.len(), 1, "{p}");
    let name = vols[0]["name"].as_str().unwrap();
    assert!(
        name.starts_with("kube-api-access-") && name.len() == 21,
        "{name}"
    );
    assert_eq!(
        vols[0]["projected"],
        json!({
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ]
        })
    );
    let mount = json!([{"name": name, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]);
    for c in ["containers", "initContainers"] {
        for container in p["spec"][c].as_array().unwrap() {
            assert_eq!(container["volumeMounts"], mount, "{container}");
        }
    }

    // The pod opts out; the account opts out; the pod opts back in over its account.
    let mut out = pod("default", "b", &["main"], &[]);
    out["spec"]["automountServiceAccountToken"] = json!(false);
    assert!(volumes(&created(&s, out).await).is_empty());
    create(
        s.registry(),
        &SERVICEACCOUNT,
        json!({"metadata": {"name": "quiet", "namespace": "default"}, "automountServiceAccountToken": false}),
    )
    .await;
    let mut quiet = pod("default", "c", &["main"], &[]);
    quiet["spec"]["serviceAccountName"] = json!("quiet");
    assert!(volumes(&created(&s, quiet.clone()).await).is_empty());
    quiet["metadata"]["name"] = json!("d");
    quiet["spec"]["automountServiceAccountToken"] = json!(true);
    assert_eq!(volumes(&created(&s, quiet).await).len(), 1);

    // A container with its own mount at the token path keeps it; the others get the token.
    let mut own = pod("default", "e", &["main", "other"], &[]);
    own["spec"]["volumes"] = json!([{"name": "mine", "emptyDir": {}}]);
    own["spec"]["containers"][0]["volumeMounts"] =
        json!([{"name": "mine", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]);
    let p = created(&s, own).await;
    assert_eq!(volumes(&p).len(), 2);
    assert_eq!(
        p["spec"]["containers"][0]["volumeMounts"][0]["name"],
        "mine"
    );
    assert_eq!(
        p["spec"]["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        p["spec"]["containers"][1]["volumeMounts"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("kube-api-access-")
    );
}

#[tokio::test]
async fn a_pod_of_a_missing_service_account_is_forbidden() {
    let s = server().await;
    let mut p = pod("default", "", &["main"], &[]);
    p["metadata"] = json!({"generateName": "job-", "namespace": "default"});
    p["spec"]["serviceAccountName"] = json!("ghost");
    let r = s.json("POST", "/api/v1/namespaces/default/pods", &p).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        "pods \"job-\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_deleted_through_the_api_admits_no_more_pods() {
    // The ServiceAccount plugin reads accounts from a watch-fed copy (registry/lister.rs);
    // a delete through the API is seen at once.
    let s = server().await;
    for round in 0..5 {
        let account = format!("brief-{round}");
        s.json("POST", SA_PATH, &json!({"metadata": {"name": account}}))
            .await
            .expect(201);
        for _ in 0..20 {
            let mut p = pod("default", "", &["main"], &[]);
            p["metadata"] = json!({"generateName": "job-", "namespace": "default"});
            p["spec"]["serviceAccountName"] = json!(account);
            s.json("POST", "/api/v1/namespaces/default/pods", &p)
                .await
                .expect(201);
        }
        s.request("DELETE", &format!("{SA_PATH}/{account}"), &[], None)
            .await
            .expect(200);
        let mut p = pod("default", "", &["main"], &[]);
        p["metadata"] = json!({"generateName": "job-", "namespace": "default"});
        p["spec"]["serviceAccountName"] = json!(account);
        let r = s.json("POST", "/api/v1/namespaces/default/pods", &p).await;
        assert_eq!(r.status, 403, "round {round}: {}", r.text());
    }
}

#[tokio::test]
async fn without_an_issuer_pods_get_no_token_volume() {
    let s = TestServer::start(None).await;
    let r = s
        .json(
            "POST",
            "/api/v1/namespaces/default/pods",
            &pod("default", "a", &["main"], &[]),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(volumes(&r.json()).is_empty());
    let (code, _) = token(&s, "default", json!({})).await;
    assert_eq!(code, 503);
}
