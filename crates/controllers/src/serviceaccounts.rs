//! The ServiceAccounts controller (`pkg/controller/serviceaccount/serviceaccounts_controller.go`):
//! every active namespace has a ServiceAccount named `default`. A namespace added (or found at
//! start) or updated is synced, and so is the namespace of a deleted `default` account, which
//! is created again.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kbatch_api::error::ApiError;
use kbatch_api::registry::plugins::DEFAULT_SERVICE_ACCOUNT;
use kbatch_api::registry::{Registry, WriteOptions};
use kbatch_core::object::{Object, SERVICEACCOUNT};

use crate::runtime::{Change, Informer, ObjectKey, RateLimiter, WorkQueue, run_workers};

/// The controller over the namespace and ServiceAccount informers. Cheap to clone.
#[derive(Clone)]
pub struct ServiceAccountsController {
    registry: Registry,
    namespaces: Informer,
    accounts: Informer,
    /// Namespace names, as `ObjectKey`s with an empty namespace.
    queue: WorkQueue<ObjectKey>,
}

impl std::fmt::Debug for ServiceAccountsController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountsController")
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl ServiceAccountsController {
    /// Registers its handlers on `namespaces` and `accounts` (a ServiceAccount informer).
    pub fn new(registry: Registry, namespaces: &Informer, accounts: &Informer) -> Self {
        let queue = WorkQueue::new(RateLimiter::CONTROLLER_DEFAULT);
        namespaces.add_handler({
            let queue = queue.clone();
            move |change| {
                // namespaceAdded / namespaceUpdated.
                if let Change::Added(ns) | Change::Updated { new: ns, .. } = change {
                    queue.add(ObjectKey::new("", ns.name()));
                }
            }
        });
        accounts.add_handler({
            let queue = queue.clone();
            move |change| {
                // serviceAccountDeleted: only a managed name brings its namespace back.
                if let Change::Deleted(sa) = change
                    && sa.name() == DEFAULT_SERVICE_ACCOUNT
                {
                    let ns = sa.metadata().namespace.clone().unwrap_or_default();
                    queue.add(ObjectKey::new("", ns));
                }
            }
        });
        ServiceAccountsController {
            registry,
            namespaces: namespaces.clone(),
            accounts: accounts.clone(),
            queue,
        }
    }

    /// Waits for both informers, then runs `workers` workers until the queue is shut down.
    pub async fn run(self, workers: usize) {
        self.namespaces.wait_synced().await;
        self.accounts.wait_synced().await;
        let queue = self.queue.clone();
        run_workers(
            "serviceaccount-controller",
            queue,
            workers,
            move |key: ObjectKey| {
                let controller = self.clone();
                async move { controller.sync(&key.name).await }
            },
        )
        .await;
    }

    pub fn shut_down(&self) {
        self.queue.shut_down();
    }

    /// `syncNamespace`: creates `default` in an active namespace that lacks it.
    pub async fn sync(&self, namespace: &str) -> Result<Option<std::time::Duration>, ApiError> {
        let Some(ns) = self.namespaces.get("", namespace) else {
            return Ok(None);
        };
        let Object::Namespace(ns) = ns.as_ref() else {
            return Ok(None);
        };
        let active = ns.metadata.deletion_timestamp.is_none()
            && ns
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .is_none_or(|p| p == "Active");
        if !active
            || self
                .accounts
                .get(namespace, DEFAULT_SERVICE_ACCOUNT)
                .is_some()
        {
            return Ok(None);
        }
        let sa = ServiceAccount {
            metadata: ObjectMeta {
                name: Some(DEFAULT_SERVICE_ACCOUNT.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..Default::default()
            },
            ..Default::default()
        };
        let opts = WriteOptions {
            field_manager: Some("kube-controller-manager".to_owned()),
            ..Default::default()
        };
        match self
            .registry
            .create(
                &SERVICEACCOUNT,
                namespace,
                Object::ServiceAccount(sa),
                &opts,
                Vec::new(),
            )
            .await
        {
            Ok(_) => Ok(None),
            // Created meanwhile, or the namespace began terminating: nothing to do.
            Err(e) if matches!(e.reason(), "AlreadyExists" | "Forbidden") || e.is_not_found() => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
