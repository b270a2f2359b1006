//! The authorization matrix: every HTTP route of the synthesized infra template × {no token, bad
//! token, other user, missing role, right user}, with the exact status each must answer. The
//! rows are checked against the template's route list, so a route added without a row fails.
//!
//! "No token" and "bad token" are what reaches a function when the gateway's authorizer is
//! missing or hands over claims without a usable `sub`; the gateway's own refusal of missing,
//! forged and expired tokens on every route is `scripts/local/tests/test_gateway.py`.

use std::collections::BTreeSet;

use livepay_tests::payouts::PAYOUT_SETTINGS;
use livepay_tests::shop::order_req;
use livepay_tests::{
    accept_req, add_guest_req, attach_req, create_agency_req, detach_req, end_req, gift_req,
    invite_req, match_req, remove_guest_req, Func, Identity, Req, TestEnv,
};
use serde_json::json;

/// The objects the routes act on, each owned by someone.
struct Fixtures {
    stream: String,
    /// Another host's live stream, for `stream` to invite.
    opponent: String,
    /// An invitation of `OPPONENT`'s stream, for them to accept.
    invitation: String,
    product: String,
    /// Pending payment: read and cancelled.
    pending_order: String,
    /// Paid: shipped.
    shipped_order: String,
    /// Paid: refunded.
    refunded_order: String,
    /// Owned by `AGENCY_OWNER`.
    agency: String,
}

const CREATOR: &str = "owner-creator";
const SELLER: &str = "owner-seller";
const BUYER: &str = "owner-buyer";
const VIEWER: &str = "owner-viewer";
/// Hosts the streams `CREATOR`'s invite.
const OPPONENT: &str = "owner-opponent";
/// Brought into `CREATOR`'s room, then removed.
const GUEST: &str = "guest-creator";
/// Owns an agency; `OTHER_OWNER` owns another.
const AGENCY_OWNER: &str = "owner-agency";
const OTHER_OWNER: &str = "owner-other-agency";

/// Who calls, in the order the columns run: refusals first, so the right user's effect (an
/// ended stream, a cancelled order) cannot change another column's answer.
#[derive(Debug, Clone, Copy)]
enum Column {
    NoToken,
    BadToken,
    MissingRole,
    OtherUser,
    RightUser,
}

struct Row {
    route: &'static str,
    func: Func,
    request: Box<dyn Fn(&Fixtures) -> Req>,
    right: Identity,
    right_status: u16,
    /// Another signed-in user with the route's role, and what they get.
    other: (Identity, u16),
    /// A signed-in user without the role (or attribute) the route needs, and what they get.
    missing_role: (Identity, u16),
}

/// A signed-in user without any role or age verification.
fn plain(sub: &str) -> Identity {
    Identity::user(sub)
}

fn rows() -> Vec<Row> {
    let anyone = |route, func, request: fn(&Fixtures) -> Req, ok| Row {
        route,
        func,
        request: Box::new(request),
        right: plain("someone"),
        right_status: ok,
        other: (Identity::creator("someone-else"), ok),
        missing_role: (plain("no-roles"), ok),
    };
    vec![
        anyone(
            "GET /v1/gifts",
            Func::WalletApi,
            |_| Req::get("/v1/gifts", "GET /v1/gifts"),
            200,
        ),
        anyone(
            "GET /v1/wallet",
            Func::WalletApi,
            |_| Req::get("/v1/wallet", "GET /v1/wallet"),
            200,
        ),
        anyone(
            "PUT /v1/wallet/limits",
            Func::WalletApi,
            |_| {
                Req::new("PUT", "/v1/wallet/limits", "PUT /v1/wallet/limits")
                    .json(json!({"daily_cap_coins": 100}))
            },
            200,
        ),
        Row {
            route: "POST /v1/streams",
            func: Func::StreamsApi,
            request: Box::new(|_| {
                Req::post("/v1/streams", "POST /v1/streams").json(json!({"title": "x"}))
            }),
            right: Identity::creator(CREATOR),
            right_status: 201,
            other: (Identity::creator("another-creator"), 201),
            missing_role: (Identity::adult("a-viewer"), 403),
        },
        Row {
            route: "POST /v1/streams/{stream_id}/gifts",
            func: Func::SendGift,
            request: Box::new(|f| {
                gift_req(&f.stream).json(json!({"gift_id": "crown", "count": 1}))
            }),
            right: Identity::adult(VIEWER),
            right_status: 201,
            // The one user who may not gift on a stream is its creator.
            other: (Identity::creator(CREATOR), 403),
            // Gifting needs the age_verified claim.
            missing_role: (plain(VIEWER), 403),
        },
        anyone(
            "GET /v1/streams/{stream_id}/leaderboard",
            Func::StreamsApi,
            |f| {
                Req::get(
                    &format!("/v1/streams/{}/leaderboard", f.stream),
                    "GET /v1/streams/{stream_id}/leaderboard",
                )
                .path_param("stream_id", &f.stream)
            },
            200,
        ),
        Row {
            route: "POST /v1/streams/{stream_id}/guests",
            func: Func::StreamsApi,
            request: Box::new(|f| add_guest_req(&f.stream, GUEST)),
            right: Identity::creator(CREATOR),
            right_status: 201,
            other: (Identity::creator("another-creator"), 403),
            missing_role: (Identity::adult("a-viewer"), 403),
        },
        Row {
            route: "DELETE /v1/streams/{stream_id}/guests/{user_id}",
            func: Func::StreamsApi,
            request: Box::new(|f| remove_guest_req(&f.stream, GUEST)),
            right: Identity::creator(CREATOR),
            right_status: 200,
            other: (Identity::creator("another-creator"), 403),
            missing_role: (Identity::adult("a-viewer"), 403),
        },
        Row {
            route: "POST /v1/matches",
            func: Func::StreamsApi,
            request: Box::new(|f| invite_req(&f.stream, &f.opponent)),
            right: Identity::creator(CREATOR),
            right_status: 201,
            other: (Identity::creator("another-creator"), 403),
            missing_role: (Identity::adult("a-viewer"), 403),
        },
        Row {
            route: "POST /v1/matches/{match_id}/accept",
            func: Func::StreamsApi,
            request: Box::new(|f| accept_req(&f.invitation)),
            right: Identity::creator(OPPONENT),
            right_status: 200,
            other: (Identity::creator(CREATOR), 403),
            missing_role: (Identity::adult("a-viewer"), 403),
        },
        anyone(
            "GET /v1/matches/{match_id}",
            Func::StreamsApi,
            |f| match_req(&f.invitation),
            200,
        ),
        Row {
            route: "POST /v1/streams/{stream_id}/end",
            func: Func::StreamsApi,
            request: Box::new(|f| end_req(&f.stream)),
            right: Identity::creator(CREATOR),
            right_status: 200,
            other: (Identity::creator("another-creator"), 403),
            missing_role: (Identity::adult("a-viewer"), 403),
        },
        creator_row("GET /v1/creators/me/balance", 200, 200),
        creator_row("GET /v1/creators/me/statement", 200, 200),
        creator_row("GET /v1/creators/me/payouts", 200, 200),
        // Another creator asks against their own (empty) balance.
        creator_row("POST /v1/creators/me/payouts", 202, 402),
        seller_row("GET /v1/sellers/me/balance", 200),
        seller_row("GET /v1/sellers/me/statement", 200),
        seller_row("GET /v1/sellers/me/payouts", 200),
        // Neither seller has completed orders: nothing available to pay out.
        seller_row("POST /v1/sellers/me/payouts", 402),
        agency_row("GET /v1/agencies/me/balance", 200),
        agency_row("GET /v1/agencies/me/statement", 200),
        agency_row("GET /v1/agencies/me/payouts", 200),
        // Neither agency has earned anything yet.
        agency_row("POST /v1/agencies/me/payouts", 402),
        // Each call names a new owner (an owner owns one agency).
        admin_row(
            "POST /v1/admin/agencies",
            |_| create_agency_req("Matrix", &format!("owner-{}", ulid::Ulid::new())),
            201,
        ),
        admin_row(
            "PUT /v1/admin/creators/{creator_id}/agency",
            |f| attach_req(CREATOR, &f.agency, 2_000, "platform"),
            200,
        ),
        // The other admin detaches first; the right one then finds nothing attached.
        Row {
            route: "DELETE /v1/admin/creators/{creator_id}/agency",
            func: Func::CreatorsApi,
            request: Box::new(|_| detach_req(CREATOR)),
            right: Identity::admin("an-admin"),
            right_status: 404,
            other: (Identity::admin("another-admin"), 200),
            missing_role: (Identity::creator(CREATOR), 403),
        },
        anyone(
            "GET /v1/creators/{creator_id}/leaderboard/weekly",
            Func::CreatorsApi,
            |_| {
                Req::get(
                    &format!("/v1/creators/{CREATOR}/leaderboard/weekly"),
                    "GET /v1/creators/{creator_id}/leaderboard/weekly",
                )
                .path_param("creator_id", CREATOR)
            },
            200,
        ),
        Row {
            route: "POST /v1/products",
            func: Func::ShopApi,
            request: Box::new(|_| {
                Req::post("/v1/products", "POST /v1/products")
                    .json(json!({"title": "Mug", "price_cents": 100, "stock": 1}))
            }),
            right: Identity::seller(SELLER),
            right_status: 201,
            other: (Identity::seller("another-seller"), 201),
            missing_role: (Identity::creator("a-creator"), 403),
        },
        anyone(
            "GET /v1/products/{product_id}",
            Func::ShopApi,
            |f| {
                Req::get(
                    &format!("/v1/products/{}", f.product),
                    "GET /v1/products/{product_id}",
                )
                .path_param("product_id", &f.product)
            },
            200,
        ),
        Row {
            route: "POST /v1/products/{product_id}/stock",
            func: Func::ShopApi,
            request: Box::new(|f| {
                Req::post(
                    &format!("/v1/products/{}/stock", f.product),
                    "POST /v1/products/{product_id}/stock",
                )
                .path_param("product_id", &f.product)
                .json(json!({"delta": 1}))
            }),
            right: Identity::seller(SELLER),
            right_status: 200,
            other: (Identity::seller("another-seller"), 403),
            missing_role: (Identity::creator(SELLER), 403),
        },
        Row {
            route: "POST /v1/orders",
            func: Func::PlaceOrder,
            request: Box::new(|f| {
                Req::post("/v1/orders", "POST /v1/orders")
                    .json(json!({"lines": [{"product_id": f.product, "quantity": 1}]}))
            }),
            right: plain(BUYER),
            right_status: 201,
            other: (plain("another-buyer"), 201),
            // Buying needs no role.
            missing_role: (plain("a-third-buyer"), 201),
        },
        Row {
            route: "GET /v1/orders/{order_id}",
            func: Func::ShopApi,
            request: Box::new(|f| order_req(&f.pending_order, "")),
            right: plain(BUYER),
            right_status: 200,
            // A stranger learns nothing, not even that the order exists.
            other: (plain("a-stranger"), 404),
            missing_role: (Identity::seller("another-seller"), 404),
        },
        Row {
            route: "POST /v1/orders/{order_id}/cancel",
            func: Func::ShopApi,
            request: Box::new(|f| order_req(&f.pending_order, "cancel").json(json!({}))),
            right: plain(BUYER),
            right_status: 200,
            other: (plain("a-stranger"), 404),
            // The seller sees the order but may not cancel it for the buyer.
            missing_role: (Identity::seller(SELLER), 403),
        },
        Row {
            route: "POST /v1/orders/{order_id}/fulfillment",
            func: Func::ShopApi,
            request: Box::new(|f| {
                order_req(&f.shipped_order, "fulfillment").json(json!({"status": "shipped"}))
            }),
            right: Identity::seller(SELLER),
            right_status: 200,
            other: (Identity::seller("another-seller"), 404),
            // The order's seller without the seller role is a stranger to it.
            missing_role: (Identity::adult(SELLER), 404),
        },
        Row {
            route: "POST /v1/orders/{order_id}/refund",
            func: Func::ShopApi,
            request: Box::new(|f| {
                order_req(&f.refunded_order, "refund").json(json!({"reason": "damaged"}))
            }),
            right: Identity::seller(SELLER),
            right_status: 200,
            other: (Identity::seller("another-seller"), 404),
            missing_role: (plain(BUYER), 403),
        },
        Row {
            route: "GET /v1/me/refunds",
            func: Func::ShopApi,
            request: Box::new(|_| Req::get("/v1/me/refunds", "GET /v1/me/refunds")),
            right: plain(BUYER),
            right_status: 200,
            // Anyone signed in lists their own refunds (none, for a stranger).
            other: (plain("someone-else"), 200),
            missing_role: (plain("no-roles"), 200),
        },
        admin_row(
            "GET /v1/admin/payouts",
            |_| Req::get("/v1/admin/payouts", "GET /v1/admin/payouts").query("status", "held"),
            200,
        ),
        // No payout is held here: the admin reaches the handler, which finds none.
        admin_row(
            "POST /v1/admin/payouts/{payout_id}/release",
            |_| admin_exit_req("release", json!({"note": "checked"})),
            404,
        ),
        admin_row(
            "POST /v1/admin/payouts/{payout_id}/return",
            |_| admin_exit_req("return", json!({"reason": "closed"})),
            404,
        ),
        // No refund exists here either.
        admin_row(
            "POST /v1/admin/refunds/{refund_id}/retry",
            |_| {
                Req::post(
                    "/v1/admin/refunds/rf_none/retry",
                    "POST /v1/admin/refunds/{refund_id}/retry",
                )
                .path_param("refund_id", "rf_none")
                .json(json!({"note": "card replaced"}))
            },
            404,
        ),
        admin_row(
            "POST /v1/admin/corrections",
            |_| {
                Req::post("/v1/admin/corrections", "POST /v1/admin/corrections").json(json!({
                    "debit": "platform-expense:goodwill", "credit": format!("seller:{SELLER}"),
                    "amount": 1, "unit": "cents", "reason": "goodwill"}))
            },
            201,
        ),
        admin_row(
            "PUT /v1/admin/payees/{payee_id}/payout-account",
            |_| {
                Req::new(
                    "PUT",
                    &format!("/v1/admin/payees/{CREATOR}/payout-account"),
                    "PUT /v1/admin/payees/{payee_id}/payout-account",
                )
                .path_param("payee_id", CREATOR)
                .json(json!({"stripe_account": "acct_1Matrix"}))
            },
            200,
        ),
    ]
}

/// An admin route: any admin may use it; a creator or seller may not.
fn admin_row(route: &'static str, request: fn(&Fixtures) -> Req, status: u16) -> Row {
    Row {
        route,
        func: Func::CreatorsApi,
        request: Box::new(request),
        right: Identity::admin("an-admin"),
        right_status: status,
        other: (Identity::admin("another-admin"), status),
        missing_role: (Identity::creator(CREATOR), 403),
    }
}

fn admin_exit_req(exit: &str, body: serde_json::Value) -> Req {
    Req::post(
        &format!("/v1/admin/payouts/po_none/{exit}"),
        &format!("POST /v1/admin/payouts/{{payout_id}}/{exit}"),
    )
    .path_param("payout_id", "po_none")
    .json(body)
}

/// A `/v1/creators/me/...` route: the caller's own data, for creators only.
fn creator_row(route: &'static str, right_status: u16, other_status: u16) -> Row {
    Row {
        route,
        func: Func::CreatorsApi,
        request: Box::new(move |_| creators_me_request(route)),
        right: Identity::creator(CREATOR),
        right_status,
        other: (Identity::creator("another-creator"), other_status),
        missing_role: (Identity::adult(CREATOR), 403),
    }
}

/// A `/v1/sellers/me/...` row: the seller's own money; a creator is not a seller.
fn seller_row(route: &'static str, status: u16) -> Row {
    Row {
        route,
        func: Func::CreatorsApi,
        request: Box::new(move |_| creators_me_request(route)),
        right: Identity::seller(SELLER),
        right_status: status,
        other: (Identity::seller("another-seller"), status),
        missing_role: (Identity::creator(SELLER), 403),
    }
}

/// A `/v1/agencies/me/...` row: the agency's money, for its owner only (a creator owning none
/// is refused).
fn agency_row(route: &'static str, status: u16) -> Row {
    Row {
        route,
        func: Func::CreatorsApi,
        request: Box::new(move |_| creators_me_request(route)),
        right: Identity::user(AGENCY_OWNER),
        right_status: status,
        other: (Identity::user(OTHER_OWNER), status),
        missing_role: (Identity::creator(CREATOR), 403),
    }
}

/// The request for a `/v1/<payees>/me/...` row, from its route key.
fn creators_me_request(route: &str) -> Req {
    let (method, path) = route.split_once(' ').expect("METHOD /path");
    let req = Req::new(method, path, route);
    if method == "POST" {
        req.json(json!({"amount_cents": 5000}))
    } else {
        req
    }
}

async fn fixtures(env: &TestEnv) -> Fixtures {
    env.fund_creator(CREATOR, 50).await;
    env.buy_coins(VIEWER, 20_000).await;
    let stream = env.open_stream(CREATOR).await;
    let opponent = env.open_stream(OPPONENT).await;
    let (inviting, invited) = (
        env.open_stream(CREATOR).await,
        env.open_stream(OPPONENT).await,
    );
    let invitation = env
        .call(
            Func::StreamsApi,
            invite_req(&inviting, &invited)
                .identity(Identity::creator(CREATOR))
                .key("invitation"),
        )
        .await;
    assert_eq!(invitation.status, 201, "{invitation:?}");
    let invitation = invitation.body["match_id"].as_str().unwrap().to_owned();
    let product = env
        .create_product(
            SELLER,
            json!({"title": "Tee", "price_cents": 1500, "stock": 100}),
        )
        .await;
    let order = || json!({"lines": [{"product_id": product, "quantity": 1}]});
    let (pending_order, _) = env.placed(BUYER, order()).await;
    let mut paid = Vec::new();
    for _ in 0..2 {
        let (id, total) = env.placed(BUYER, order()).await;
        assert_eq!(env.pay_order(&id, total).await.status, 200);
        paid.push(id);
    }
    let [shipped_order, refunded_order] = <[String; 2]>::try_from(paid).unwrap();
    let agency = env.create_agency(AGENCY_OWNER).await;
    env.create_agency(OTHER_OWNER).await;
    Fixtures {
        agency,
        stream,
        opponent,
        invitation,
        product,
        pending_order,
        shipped_order,
        refunded_order,
    }
}

#[tokio::test]
async fn every_route_answers_each_kind_of_caller_exactly() {
    let env = TestEnv::with_settings(&PAYOUT_SETTINGS).await;
    let f = fixtures(&env).await;
    let rows = rows();

    let covered: BTreeSet<String> = rows
        .iter()
        .map(|r| r.route.to_owned())
        .chain(["POST /v1/webhooks/payments", "POST /v1/webhooks/stripe"].map(str::to_owned))
        .collect();
    assert_eq!(
        covered,
        livepay_tests::template_routes().into_keys().collect(),
        "every route of the infra template has exactly one row in the matrix"
    );

    let mut failures = Vec::new();
    let mut cells = 0;
    for row in &rows {
        let request = || (row.request)(&f);
        for column in [
            Column::NoToken,
            Column::BadToken,
            Column::MissingRole,
            Column::OtherUser,
            Column::RightUser,
        ] {
            let (req, expected) = match column {
                // A user id in a header is not an identity.
                Column::NoToken => (request().header("x-user-id", row.right.sub()), 401),
                // Claims whose `sub` is blank: an authorizer that let a bad token through.
                Column::BadToken => (request().identity(Identity::user(" ")), 401),
                Column::MissingRole => (
                    request().identity(row.missing_role.0.clone()),
                    row.missing_role.1,
                ),
                Column::OtherUser => (request().identity(row.other.0.clone()), row.other.1),
                Column::RightUser => (request().identity(row.right.clone()), row.right_status),
            };
            let key = format!("matrix-{}", ulid::Ulid::new());
            let a = env.call(row.func, req.key(&key)).await;
            cells += 1;
            if a.status != expected {
                failures.push(format!(
                    "{} as {column:?}: expected {expected}, got {} {}",
                    row.route, a.status, a.body
                ));
            }
        }
    }
    cells += webhook_cells(&env, &mut failures).await;
    cells += stripe_webhook_cells(&env, &mut failures).await;
    println!(
        "authorization matrix: {} routes, {cells} cells",
        rows.len() + 1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The Stripe webhook's row: as the provider-neutral one, with Stripe's signature.
async fn stripe_webhook_cells(env: &TestEnv, failures: &mut Vec<String>) -> usize {
    let event = livepay_tests::stripe::event("account.updated", "evt_matrix", json!({}));
    let signed = env.stripe_signed(&event);
    signed_cells(
        env,
        failures,
        "/v1/webhooks/stripe",
        "Stripe-Signature",
        (&event, signed),
    )
    .await
}

/// The webhook's row: no JWT; a signature instead, and claims never matter.
async fn webhook_cells(env: &TestEnv, failures: &mut Vec<String>) -> usize {
    let event = |id: &str| {
        json!({"id": id, "type": "coins.purchased",
            "data": {"user_id": "someone", "coins": 70, "amount_cents": 99}})
    };
    let signed = env.webhook(&event("evt_matrix_signed"));
    let unsigned = event("evt_matrix_unsigned");
    let path = "/v1/webhooks/payments";
    signed_cells(
        env,
        failures,
        path,
        "Livepay-Signature",
        (&unsigned, signed),
    )
    .await
}

/// A signed route's cells: `body` unsigned, under a wrong signature, with JWT claims only, and
/// the `signed` request.
async fn signed_cells(
    env: &TestEnv,
    failures: &mut Vec<String>,
    path: &str,
    header: &str,
    (body, signed): (&serde_json::Value, Req),
) -> usize {
    let route = format!("POST {path}");
    let unsigned = Req::post(path, &route).raw_body(&body.to_string());
    let bad = unsigned.clone().header(
        header,
        &format!("t={},v1={}", env.now().unix_timestamp(), "00".repeat(32)),
    );
    // A JWT's claims on a webhook call give it no identity and no power.
    let claims_only = unsigned.clone().identity(Identity::admin("someone"));
    let cases = [
        ("NoToken", unsigned, 401),
        ("BadToken", bad, 401),
        ("OtherUser", claims_only, 401),
        ("RightUser", signed.identity(Identity::user("ignored")), 200),
    ];
    let n = cases.len();
    for (column, req, expected) in cases {
        let a = env.call(Func::PaymentsWebhook, req).await;
        if a.status != expected {
            failures.push(format!(
                "{route} as {column}: expected {expected}, got {} {}",
                a.status, a.body
            ));
        }
    }
    n
}
