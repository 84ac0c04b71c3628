//! The store conformance suite over [`EncryptedStore`] with every key encrypted: the wrapper
//! changes values at rest, never the store's behaviour.

use std::path::Path;
use std::sync::Arc;

use kbatch_api::encryption::{EncryptedStore, Keys};
use kbatch_store::{MemoryStore, Store};

fn fresh() -> (Arc<dyn Store>, ()) {
    let keys = Keys::parse(
        "key1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        Path::new("keys"),
    )
    .expect("test key");
    let store = EncryptedStore::with_prefix(Arc::new(MemoryStore::new()), keys, "/");
    (Arc::new(store) as Arc<dyn Store>, ())
}

kbatch_store::conformance_tests!(fresh);
