//! Shop requests as a seller, buyer, admin or the payment provider would make them.

use livepay::domain::ledger::{AccountId, AccountKind};
use serde_json::{json, Value};

use crate::{Answer, Func, Identity, Req, TestEnv};

pub fn order_req(order_id: &str, action: &str) -> Req {
    let (method, suffix) = match action {
        "" => ("GET", String::new()),
        other => ("POST", format!("/{other}")),
    };
    Req::new(
        method,
        &format!("/v1/orders/{order_id}{suffix}"),
        &format!("{method} /v1/orders/{{order_id}}{suffix}"),
    )
    .path_param("order_id", order_id)
}

impl TestEnv {
    /// `seller` creates a product; returns its id.
    pub async fn create_product(&self, seller: &str, body: Value) -> String {
        let a = self
            .call(
                Func::ShopApi,
                Req::post("/v1/products", "POST /v1/products")
                    .identity(Identity::seller(seller))
                    .key(&format!("product-{}", ulid::Ulid::new()))
                    .json(body),
            )
            .await;
        assert_eq!(a.status, 201, "{a:?}");
        a.body["product_id"].as_str().unwrap().to_owned()
    }

    pub async fn place_order(&self, buyer: &str, key: &str, body: Value) -> Answer {
        self.call(
            Func::PlaceOrder,
            Req::post("/v1/orders", "POST /v1/orders")
                .identity(Identity::adult(buyer))
                .key(key)
                .json(body),
        )
        .await
    }

    /// A placed order's id, asserting it was placed.
    pub async fn placed(&self, buyer: &str, body: Value) -> (String, u64) {
        let a = self
            .place_order(buyer, &format!("order-{}", ulid::Ulid::new()), body)
            .await;
        assert_eq!(a.status, 201, "{a:?}");
        (
            a.body["order_id"].as_str().unwrap().to_owned(),
            a.body["total_cents"].as_u64().unwrap(),
        )
    }

    /// `buyer`'s order of one `product_id`, paid: its id and total.
    pub async fn paid_order(&self, buyer: &str, product_id: &str) -> (String, u64) {
        let (order_id, total) = self
            .placed(
                buyer,
                json!({"lines": [{"product_id": product_id, "quantity": 1}]}),
            )
            .await;
        assert_eq!(self.pay_order(&order_id, total).await.status, 200);
        (order_id, total)
    }

    /// `who` posts `action` (`cancel`, `fulfillment`, `refund`) on the order with a fresh key.
    pub async fn order_action(
        &self,
        who: Identity,
        order_id: &str,
        action: &str,
        body: Value,
    ) -> Answer {
        self.call(
            Func::ShopApi,
            order_req(order_id, action)
                .identity(who)
                .key(&format!("{action}-{}", ulid::Ulid::new()))
                .json(body),
        )
        .await
    }

    /// `seller` ships the order and marks it delivered.
    pub async fn ship_and_deliver(&self, seller: &str, order_id: &str) {
        for step in ["shipped", "delivered"] {
            let a = self
                .order_action(
                    Identity::seller(seller),
                    order_id,
                    "fulfillment",
                    json!({"status": step}),
                )
                .await;
            assert_eq!(a.body["status"], step, "{a:?}");
        }
    }

    pub async fn get_order(&self, who: Identity, order_id: &str) -> Answer {
        self.call(Func::ShopApi, order_req(order_id, "").identity(who))
            .await
    }

    /// The payment provider's `order.paid` for `order_id`.
    pub async fn pay_order(&self, order_id: &str, amount_cents: u64) -> Answer {
        let body = json!({"id": format!("evt_{}", ulid::Ulid::new()), "type": "order.paid",
            "data": {"order_id": order_id, "amount_cents": amount_cents}});
        self.call(Func::PaymentsWebhook, self.webhook(&body)).await
    }

    /// The units a product's stock shards hold together.
    pub async fn stock(&self, product_id: &str) -> u64 {
        self.stock_shards(product_id).await.iter().sum()
    }

    /// The units each of a product's stock shards holds.
    pub async fn stock_shards(&self, product_id: &str) -> Vec<u64> {
        let store = &self.app.store;
        let product = store.product(product_id).await.unwrap();
        store
            .stock(&product.expect("the product exists"))
            .await
            .unwrap()
    }

    pub async fn balance(&self, kind: AccountKind, owner: &str) -> i64 {
        self.app
            .store
            .account_balance(&AccountId::new(kind, owner))
            .await
            .unwrap()
    }

    /// Runs the sweeper, then delivers what it sent to the settlement queue to the consumer;
    /// returns the message ids the consumer reported failed.
    pub async fn sweep_and_settle(&self) -> Vec<String> {
        self.sweep().await;
        let records = self.drain_settlement_queue().await;
        if records.is_empty() {
            return Vec::new();
        }
        self.settle(&records).await
    }
}
