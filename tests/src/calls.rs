//! Counts AWS calls by operation, and DynamoDB item writes by partition key, with an SDK
//! interceptor: the real request path, not a guess.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<String, usize>>>,
    /// Items written by committed TransactWriteItems (Put, Update, Delete; not ConditionCheck),
    /// by `pk`. A cancelled transaction writes nothing and is not counted here.
    item_writes: Arc<Mutex<BTreeMap<String, usize>>>,
    /// Items in every TransactWriteItems sent, committed or cancelled.
    items_sent: Arc<Mutex<usize>>,
}

/// The partition keys one TransactWriteItems call writes, kept until its outcome is known.
#[derive(Debug, Clone)]
struct TransactionKeys(Vec<String>);

impl aws_smithy_types::config_bag::Storable for TransactionKeys {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl CallCounter {
    /// Calls made since the last `take`, by operation name.
    pub fn take(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// Committed transactional item writes since the last `take_item_writes`, by partition key,
    /// and the items sent in transactions meanwhile (cancelled ones included).
    pub fn take_item_writes(&self) -> (BTreeMap<String, usize>, usize) {
        (
            std::mem::take(&mut *self.item_writes.lock().unwrap()),
            std::mem::take(&mut *self.items_sent.lock().unwrap()),
        )
    }
}

fn pk(item: Option<&std::collections::HashMap<String, AttributeValue>>) -> String {
    item.and_then(|i| i.get("pk"))
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_serialization(
        &self,
        ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            *self
                .calls
                .lock()
                .unwrap()
                .entry(m.name().to_owned())
                .or_default() += 1;
        }
        if let Some(tx) = ctx.input().downcast_ref::<TransactWriteItemsInput>() {
            let mut keys = Vec::new();
            for item in tx.transact_items() {
                let key = if let Some(u) = item.update() {
                    pk(Some(u.key()))
                } else if let Some(p) = item.put() {
                    pk(Some(p.item()))
                } else if let Some(d) = item.delete() {
                    pk(Some(d.key()))
                } else {
                    continue;
                };
                keys.push(key);
            }
            *self.items_sent.lock().unwrap() += tx.transact_items().len();
            cfg.interceptor_state().store_put(TransactionKeys(keys));
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<
            '_,
        >,
        _rc: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let committed = matches!(ctx.output_or_error(), Some(Ok(_)));
        if let (true, Some(TransactionKeys(keys))) = (committed, cfg.load::<TransactionKeys>()) {
            let mut writes = self.item_writes.lock().unwrap();
            for key in keys {
                *writes.entry(key.clone()).or_default() += 1;
            }
        }
        Ok(())
    }
}
