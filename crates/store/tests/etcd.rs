//! The etcd backend against a real etcd (Debian's etcd-server; CI installs it): the conformance
//! suite, each case on its own fresh single-member etcd, then what only etcd shows — its
//! compaction driven by the shared compactor, a watch that outlives an etcd restart, a 3-member
//! cluster that keeps serving with one member stopped, TLS with client certificates, and
//! prefixes that keep clusters sharing one etcd apart.
//!
//! Without an `etcd` binary on the PATH every test here says so and passes without running.

#[path = "support/etcd.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kbatch_store::{
    Compactor, Error, EtcdOptions, EtcdStore, EtcdTls, EventKind, ListOptions, Retention, Store,
    WatchStream,
};
use support::{Cluster, PATIENCE, make_pki};

async fn next_event(watch: &mut WatchStream) -> kbatch_store::Event {
    tokio::time::timeout(PATIENCE, watch.next())
        .await
        .expect("watch hung")
        .expect("watch ended")
        .expect("watch failed")
}

/// Each conformance case gets its own single-member etcd, so revisions are the case's alone.
/// The keys live under a prefix, so the suite also checks that the prefix is invisible.
async fn fresh() -> Option<(Arc<dyn Store>, Cluster)> {
    let cluster = Cluster::start("the etcd conformance case", 1, false).await?;
    let store = cluster.store("/conformance").await;
    Some((Arc::new(store), cluster))
}

kbatch_store::conformance_tests!(async fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_compactor_compacts_etcd_and_reads_below_are_gone() {
    let Some(cluster) = Cluster::start("compaction", 1, false).await else {
        return;
    };
    let store = cluster.store("").await;
    let first = store
        .create("/registry/jobs/a", b"1".to_vec())
        .await
        .unwrap();
    let mut last = first;
    for i in 2..=10 {
        last = store
            .update("/registry/jobs/a", i.to_string().into_bytes(), last)
            .await
            .unwrap();
    }
    // Keep the newest 3 revisions, whatever their age.
    let mut compactor = Compactor::new(Retention {
        min_age: Duration::ZERO,
        min_events: 3,
    });
    let compacted = compactor
        .compact_once(&store, Instant::now())
        .await
        .unwrap();
    assert_eq!(compacted, last - 3);

    let old = ListOptions {
        revision: Some(first),
        ..ListOptions::default()
    };
    match store.list("/registry/jobs/", old).await.unwrap_err() {
        Error::Compacted {
            requested,
            compacted: at,
        } => {
            assert_eq!(requested, first);
            assert_eq!(at, compacted);
        }
        other => panic!("expected Compacted, got {other}"),
    }
    assert!(matches!(
        store.watch("/registry/jobs/", first).await.err(),
        Some(Error::Compacted { .. })
    ));
    // The kept window still reads and replays.
    let kept = ListOptions {
        revision: Some(compacted),
        ..ListOptions::default()
    };
    let listed = store.list("/registry/jobs/", kept).await.unwrap();
    assert_eq!(listed.items[0].value, (10 - 3).to_string().into_bytes());
    let mut watch = store.watch("/registry/jobs/", compacted).await.unwrap();
    for expected in compacted + 1..=last {
        assert_eq!(next_event(&mut watch).await.revision(), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_after_etcd_restarts() {
    let Some(mut cluster) = Cluster::start("watch resume", 1, false).await else {
        return;
    };
    let store = cluster.store("").await;
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/w/", start).await.unwrap();
    let mut written = Vec::new();
    for i in 0..3 {
        written.push(store.create(&format!("/w/{i}"), vec![1]).await.unwrap());
    }
    for &revision in &written {
        assert_eq!(next_event(&mut watch).await.revision(), revision);
    }

    cluster.kill(0);
    cluster.restart(0).await;
    // The store's client reconnects by itself; a read first, since a write sent into the dying
    // connection would be reported as Unavailable rather than retried.
    store.current_revision().await.unwrap();
    let a0 = store.get("/w/0").await.unwrap().mod_revision;
    let mut after = vec![store.update("/w/0", vec![2], a0).await.unwrap()];
    after.push(store.delete("/w/1", None).await.unwrap().revision);
    after.push(store.create("/w/3", vec![1]).await.unwrap());

    let events = [
        next_event(&mut watch).await,
        next_event(&mut watch).await,
        next_event(&mut watch).await,
    ];
    assert_eq!(
        events.iter().map(|e| e.revision()).collect::<Vec<_>>(),
        after,
        "every event after the restart once, in order, none of the earlier ones again"
    );
    assert_eq!(events[0].kind, EventKind::Update);
    assert_eq!(events[0].prev.as_ref().unwrap().value, vec![1]);
    assert_eq!(events[1].kind, EventKind::Delete);
    assert_eq!(events[2].kind, EventKind::Create);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_member_cluster_serves_with_one_member_stopped() {
    let Some(mut cluster) = Cluster::start("3-member cluster", 3, false).await else {
        return;
    };
    // The store talks to the raft leader first, and that is the member stopped: the hardest
    // loss (an election, and the store's requests and watch move to another member).
    let leader = cluster.leader().await;
    let mut endpoints = cluster.endpoints();
    endpoints.rotate_left(leader);
    let store = EtcdStore::connect(cluster.options(endpoints.clone(), "/kbatch"))
        .await
        .unwrap();
    let start = store.current_revision().await.unwrap();
    let mut watch = store.watch("/registry/", start).await.unwrap();
    let before = store
        .create("/registry/jobs/before", vec![1])
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.revision(), before);

    cluster.kill(leader);
    let mut created = Vec::new();
    for i in 0..20 {
        let key = format!("/registry/jobs/after-{i:02}");
        // The first write moves to a follower that still forwards to the dead leader until
        // the election: etcd times the proposal out ("request timed out, possibly due to
        // previous leader failure"), which may or may not have applied it, so the store
        // reports Unavailable rather than retry, as clientv3 does. Later writes go through.
        match store.create(&key, vec![2]).await {
            Ok(revision) => created.push(revision),
            Err(Error::Unavailable(_)) if i == 0 => {
                if let Ok(kv) = store.get(&key).await {
                    created.push(kv.mod_revision);
                }
            }
            Err(other) => panic!("create {i}: {other}"),
        }
    }
    assert!(created.len() >= 19);
    let listed = store
        .list("/registry/jobs/", ListOptions::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1 + created.len());
    for &revision in &created {
        assert_eq!(next_event(&mut watch).await.revision(), revision);
    }

    // With a second member gone there is no quorum: requests fail instead of hanging.
    let second = (leader + 1) % 3;
    cluster.kill(second);
    let mut impatient = cluster.options(endpoints, "/kbatch");
    impatient.request_timeout = Duration::from_secs(3);
    let lonely = EtcdStore::connect(impatient).await.unwrap_err();
    assert!(matches!(lonely, Error::Unavailable(_)), "{lonely}");
    // Back to two members: the first store carries on, and its watch with it.
    cluster.restart(second).await;
    let last = store
        .create("/registry/jobs/quorum-again", vec![3])
        .await
        .unwrap();
    assert_eq!(next_event(&mut watch).await.revision(), last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates() {
    let Some(cluster) = Cluster::start("TLS", 1, true).await else {
        return;
    };
    let store = cluster.store("").await;
    let revision = store.create("/a", b"secret".to_vec()).await.unwrap();
    assert_eq!(store.get("/a").await.unwrap().mod_revision, revision);

    // The member requires a client certificate: the same settings without one are turned away
    // (rustls reports the member's alert or the connection it closes, whichever comes first).
    let mut anonymous = cluster.options(cluster.endpoints(), "");
    if let Some(tls) = anonymous.tls.as_mut() {
        tls.cert_file = None;
        tls.key_file = None;
    }
    anonymous.request_timeout = Duration::from_secs(2);
    let refused = EtcdStore::connect(anonymous).await.unwrap_err();
    assert!(matches!(refused, Error::Unavailable(_)), "{refused}");

    // And the store checks the member's certificate against the CA it was given.
    let stranger = make_pki(&cluster.dir.path().join("other"));
    let mut wrong_ca = cluster.options(cluster.endpoints(), "");
    if let Some(tls) = wrong_ca.tls.as_mut() {
        tls.ca_file = stranger.ca;
    }
    wrong_ca.request_timeout = Duration::from_secs(2);
    let untrusted = EtcdStore::connect(wrong_ca).await.unwrap_err().to_string();
    assert!(
        untrusted.contains("invalid peer certificate"),
        "{untrusted}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_keep_clusters_apart() {
    let Some(cluster) = Cluster::start("prefixes", 1, false).await else {
        return;
    };
    let a = cluster.store("/a").await;
    let b = cluster.store("/b").await;
    a.create("/registry/jobs/default/x", b"a".to_vec())
        .await
        .unwrap();
    b.create("/registry/jobs/default/x", b"b".to_vec())
        .await
        .unwrap();
    let start = a.current_revision().await.unwrap();
    let mut watch_a = a.watch("/registry/", start).await.unwrap();
    b.create("/registry/jobs/default/y", b"b".to_vec())
        .await
        .unwrap();
    let mine = a
        .create("/registry/jobs/default/y", b"a".to_vec())
        .await
        .unwrap();
    let event = next_event(&mut watch_a).await;
    assert_eq!(event.revision(), mine, "b's write is not a's event");
    assert_eq!(event.kv.key, "/registry/jobs/default/y");
    let listed = a.list("", ListOptions::default()).await.unwrap();
    assert_eq!(listed.items.len(), 2);
    assert!(listed.items.iter().all(|kv| kv.value == b"a"));
}

#[tokio::test]
async fn bad_settings_are_refused() {
    let none = EtcdOptions::new(Vec::new());
    assert!(matches!(
        EtcdStore::connect(none).await.unwrap_err(),
        Error::Config(_)
    ));
    let mut prefix = EtcdOptions::new(vec!["http://127.0.0.1:1".to_owned()]);
    prefix.prefix = "kbatch/".to_owned();
    assert!(matches!(
        EtcdStore::connect(prefix).await.unwrap_err(),
        Error::Config(_)
    ));
    let mut tls_on_http = EtcdOptions::new(vec!["http://127.0.0.1:1".to_owned()]);
    let dir = tempfile::tempdir().unwrap();
    tls_on_http.tls = Some(EtcdTls {
        ca_file: make_pki(dir.path()).ca,
        ..EtcdTls::default()
    });
    assert!(matches!(
        EtcdStore::connect(tls_on_http).await.unwrap_err(),
        Error::Config(_)
    ));
}
