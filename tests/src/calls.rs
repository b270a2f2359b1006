//! Counts AWS calls by operation, and DynamoDB item writes by partition key, with an SDK
//! interceptor: the real request path, not a guess. It also logs every item written and read,
//! for what DynamoDB would bill ([`crate::capacity`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::ConfigBag;

use crate::capacity::{item_size, key_of, CapacityLog, ItemWrite, ReadCall};

#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<String, usize>>>,
    /// Items written by committed TransactWriteItems (Put, Update, Delete; not ConditionCheck),
    /// by `pk`. A cancelled transaction writes nothing and is not counted here.
    item_writes: Arc<Mutex<BTreeMap<String, usize>>>,
    /// Items in every TransactWriteItems sent, committed or cancelled.
    items_sent: Arc<Mutex<usize>>,
    capacity: Arc<Mutex<CapacityLog>>,
}

/// The items one write call touches, kept until its outcome is known.
#[derive(Debug, Clone)]
struct PendingWrites(Vec<ItemWrite>);

impl aws_smithy_types::config_bag::Storable for PendingWrites {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// Whether a read call asked for a strongly consistent read, kept until its items are back.
#[derive(Debug, Clone, Copy)]
struct PendingRead {
    consistent: bool,
}

impl aws_smithy_types::config_bag::Storable for PendingRead {
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

    /// Items written by committed calls and items read, since the last `take_capacity`.
    pub fn take_capacity(&self) -> CapacityLog {
        std::mem::take(&mut *self.capacity.lock().unwrap())
    }
}

/// The items a write call would touch, if it is one.
fn writes_of(
    input: &aws_smithy_runtime_api::client::interceptors::context::Input,
) -> Option<Vec<ItemWrite>> {
    if let Some(tx) = input.downcast_ref::<TransactWriteItemsInput>() {
        let items = tx.transact_items().iter().filter_map(|item| {
            if let Some(u) = item.update() {
                Some(key_of(u.table_name(), u.key(), true, false))
            } else if let Some(p) = item.put() {
                Some(key_of(p.table_name(), p.item(), true, false))
            } else if let Some(d) = item.delete() {
                Some(key_of(d.table_name(), d.key(), true, false))
            } else {
                item.condition_check()
                    .map(|c| key_of(c.table_name(), c.key(), true, true))
            }
        });
        return Some(items.collect());
    }
    let single = if let Some(u) = input.downcast_ref::<UpdateItemInput>() {
        u.key()
            .zip(u.table_name())
            .map(|(k, t)| key_of(t, k, false, false))
    } else if let Some(p) = input.downcast_ref::<PutItemInput>() {
        p.item()
            .zip(p.table_name())
            .map(|(i, t)| key_of(t, i, false, false))
    } else if let Some(d) = input.downcast_ref::<DeleteItemInput>() {
        d.key()
            .zip(d.table_name())
            .map(|(k, t)| key_of(t, k, false, false))
    } else {
        None
    };
    single.map(|w| vec![w])
}

/// Whether a read call is strongly consistent, if it is one the log prices.
fn read_of(
    input: &aws_smithy_runtime_api::client::interceptors::context::Input,
) -> Option<PendingRead> {
    let consistent = if let Some(g) = input.downcast_ref::<GetItemInput>() {
        g.consistent_read()
    } else if let Some(q) = input.downcast_ref::<QueryInput>() {
        q.consistent_read()
    } else if let Some(b) = input.downcast_ref::<BatchGetItemInput>() {
        b.request_items()
            .and_then(|r| r.values().next())
            .and_then(|k| k.consistent_read())
    } else {
        return None;
    };
    Some(PendingRead {
        consistent: consistent.unwrap_or(false),
    })
}

tokio::task_local! {
    static TRANSACTIONS: std::cell::Cell<usize>;
}

/// Runs `request` and counts the `TransactWriteItems` it sent, every attempt included: the
/// interceptor runs inside the request's own task, so concurrent requests are told apart.
pub async fn count_transactions<T>(request: impl std::future::Future<Output = T>) -> (T, usize) {
    TRANSACTIONS
        .scope(std::cell::Cell::new(0), async {
            let out = request.await;
            (out, TRANSACTIONS.with(std::cell::Cell::get))
        })
        .await
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
            *self.items_sent.lock().unwrap() += tx.transact_items().len();
            // Outside `count_transactions` there is nothing to count into.
            let _ = TRANSACTIONS.try_with(|n| n.set(n.get() + 1));
        }
        if let Some(writes) = writes_of(ctx.input()) {
            cfg.interceptor_state().store_put(PendingWrites(writes));
        }
        if let Some(read) = read_of(ctx.input()) {
            cfg.interceptor_state().store_put(read);
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
        let Some(Ok(output)) = ctx.output_or_error() else {
            return Ok(());
        };
        if let Some(PendingWrites(items)) = cfg.load::<PendingWrites>() {
            let mut writes = self.item_writes.lock().unwrap();
            for w in items
                .iter()
                .filter(|w| w.transactional && !w.condition_check)
            {
                *writes.entry(w.pk.clone()).or_default() += 1;
            }
            let mut log = self.capacity.lock().unwrap();
            log.writes.extend(items.iter().cloned());
            if items.iter().any(|w| w.transactional) {
                log.transactions.push(items.clone());
            }
        }
        if let Some(PendingRead { consistent }) = cfg.load::<PendingRead>() {
            let (summed, item_sizes) = if let Some(g) = output.downcast_ref::<GetItemOutput>() {
                // A miss still costs a read unit: a zero-size item rounds up to one.
                (false, vec![g.item().map_or(0, item_size)])
            } else if let Some(q) = output.downcast_ref::<QueryOutput>() {
                (true, q.items().iter().map(item_size).collect())
            } else if let Some(b) = output.downcast_ref::<BatchGetItemOutput>() {
                let items = b.responses().into_iter().flat_map(|r| r.values()).flatten();
                (false, items.map(item_size).collect())
            } else {
                return Ok(());
            };
            self.capacity.lock().unwrap().reads.push(ReadCall {
                summed,
                consistent: *consistent,
                item_sizes,
            });
        }
        Ok(())
    }
}
