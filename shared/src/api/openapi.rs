//! The OpenAPI 3.1 document of the HTTP API, generated from the route annotations on the
//! handlers and their request and response types. `docs/openapi.json` is this document; a test
//! keeps the two equal and checks the paths against the infra code's routes, and the local
//! gateway serves it at `GET /openapi.json`.

use std::collections::BTreeMap;

use serde_json::json;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ArrayItems, Object, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::domain::payments::MAX_EVENT_ID_BYTES;
use crate::domain::shop::MAX_ID_BYTES;
use crate::http::idempotency::MAX_KEY_CHARS;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "livepay",
        description = "Virtual gifts, in-stream shopping and creator payouts (../shared/API.md).",
        version = "1"
    ),
    paths(
        super::wallet::list_gifts,
        super::wallet::get_wallet,
        super::wallet::set_limits,
        super::streams::create,
        super::streams::end,
        super::streams::add_guest,
        super::streams::remove_guest,
        super::matches::invite,
        super::matches::accept,
        super::matches::score,
        super::send_gift::send_gift,
        super::leaderboards::stream,
        super::payouts::balance,
        super::payouts::statement,
        super::payouts::request_payout,
        super::payouts::list,
        super::leaderboards::creator_week,
        super::sellers::balance,
        super::sellers::statement,
        super::sellers::request_payout,
        super::sellers::list,
        super::agencies::create,
        super::agencies::attach,
        super::agencies::detach,
        super::agencies::balance,
        super::agencies::statement,
        super::agencies::request_payout,
        super::agencies::list,
        super::admin::list_held,
        super::admin::release,
        super::admin::return_held,
        super::admin::retry_refund,
        super::admin::set_payout_account,
        super::admin::correct,
        super::shop::create_product,
        super::shop::get_product,
        super::shop::adjust_stock,
        super::place_order::place_order,
        super::shop::get_order,
        super::shop::cancel,
        super::shop::fulfill,
        super::shop::refund,
        super::shop::list_refunds,
        super::payments::webhook,
        super::stripe::webhook,
    ),
    components(schemas(crate::http::Unauthorized)),
    modifiers(&JwtAuthorizer, &Conventions, &Constraints)
)]
struct ApiDoc;

/// The API Gateway JWT authorizer, as a bearer scheme.
struct JwtAuthorizer;

impl Modify for JwtAuthorizer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// What every operation of a kind has, stated once rather than on each handler: a route behind
/// the JWT authorizer may answer `401`; a write other than a provider's webhook takes an
/// `Idempotency-Key` (`Idempotency::from_request`) and may answer the idempotency layer's and
/// the contention retry's refusals. An annotation that names one of these statuses keeps its
/// own, more specific, description.
struct Conventions;

const IDEMPOTENCY_KEY_DESCRIPTION: &str =
    "1-255 characters; same key and body replay the first answer";

/// The answers of the idempotency layer and the contention retry, on every keyed write.
const WRITE_RESPONSES: [(&str, &str); 4] = [
    ("400", "malformed body or Idempotency-Key missing"),
    ("409", "idempotency_in_progress, or the state forbids it"),
    ("422", "idempotency_key_reused, or a business limit"),
    ("503", "busy; retry with the same key"),
];

impl Modify for Conventions {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let keyed = !path.starts_with("/v1/webhooks/");
            for (writes, op) in operations(item) {
                if writes && keyed {
                    op.parameters.get_or_insert_with(Vec::new).push(
                        ParameterBuilder::new()
                            .name("Idempotency-Key")
                            .parameter_in(ParameterIn::Header)
                            .required(Required::True)
                            .description(Some(IDEMPOTENCY_KEY_DESCRIPTION))
                            .build(),
                    );
                    for (status, description) in WRITE_RESPONSES {
                        add_response(op, status, description, "ErrorBody");
                    }
                }
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    let description = "no token, a bad one, or unusable claims";
                    add_response(op, "401", description, "Unauthorized");
                }
            }
        }
    }
}

/// Each operation of a path, and whether it writes (any method but GET).
fn operations(item: &mut PathItem) -> impl Iterator<Item = (bool, &mut Operation)> {
    let ops = [
        (false, item.get.as_mut()),
        (true, item.put.as_mut()),
        (true, item.post.as_mut()),
        (true, item.delete.as_mut()),
        (true, item.patch.as_mut()),
    ];
    ops.into_iter()
        .filter_map(|(writes, op)| op.map(|op| (writes, op)))
}

/// A JSON response of the named component, unless the operation states that status itself.
fn add_response(op: &mut Operation, status: &str, description: &str, schema: &str) {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build();
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert(RefOr::T(response));
}

/// What the handlers enforce that the route and type annotations cannot say, added to the
/// generated document in this one place:
/// - the parameters many operations share: the `Idempotency-Key` header
///   ([`Idempotency::from_request`](crate::http::idempotency::Idempotency::from_request): 1 to
///   255 characters; a value that is not visible ASCII counts as absent, and HTTP drops leading
///   spaces), a statement's `cursor` (a sealed token, `<payload>.<tag>` in base64url,
///   `domain::sealed`; empty means absent), a `stream_id` (`domain::streams::StreamId`) and
///   an `order_id` or `product_id` (`domain::shop::MAX_ID_BYTES`, not blank);
/// - "not blank": an annotation says `pattern = "\\S"`, and the document spells out the
///   characters Rust's `str::trim` keeps, since regex dialects disagree on what `\s` is;
/// - an optional request body is the body's schema (an absent body is the option), not also
///   `null`, which the handlers refuse;
/// - keywords utoipa's model lacks (`not`, `anyOf` beside `properties`) on `StockBody.delta`
///   (not 0) and `CorrectionBody` (its accounts correctable and of its unit), and the webhook
///   envelope's `id` and `type` (a `domain` type).
struct Constraints;

/// `Idempotency-Key`: visible ASCII, spaces and tabs inside (HTTP drops them in front).
const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~][\\t -~]*$";
/// A statement cursor, or empty (the first page).
const CURSOR_PATTERN: &str = "^([A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+)?$";
/// `st_<ULID>_<base64url(creator id)>`: a ULID's 26 Crockford base32 characters, either case,
/// and a creator id of 1 to 128 bytes.
const STREAM_ID_PATTERN: &str = "^st_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}_[A-Za-z0-9_-]{2,171}$";
/// What an annotation writes for "not blank".
const NOT_BLANK_MARK: &str = "\\S";

/// The account kinds a correction may touch (`domain::admin::correctable`), by unit.
const CORRECTABLE: [(&str, &[&str]); 2] = [
    ("coins", &["wallet", "chargeback-loss"]),
    (
        "cents",
        &[
            "commission",
            "seller",
            "seller-clawback",
            "platform-cash",
            "platform-expense",
        ],
    ),
];

/// The `type`s `domain::payments::PaymentEvent::parse` reads (`400 unsupported_event_type`
/// for any other).
const PAYMENT_EVENT_TYPES: [&str; 7] = [
    "coins.purchased",
    "payment.charged_back",
    "order.paid",
    "order.charged_back",
    "chargeback.won",
    "refund.succeeded",
    "refund.failed",
];

impl Modify for Constraints {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let not_blank = not_blank_pattern();
        for item in doc.paths.paths.values_mut() {
            for (_, op) in operations(item) {
                for p in op.parameters.iter_mut().flatten() {
                    match (p.name.as_str(), &p.parameter_in) {
                        ("Idempotency-Key", ParameterIn::Header) => {
                            p.schema = Some(string(
                                Some(1),
                                Some(MAX_KEY_CHARS),
                                IDEMPOTENCY_KEY_PATTERN,
                            ))
                        }
                        ("cursor", ParameterIn::Query) => {
                            p.schema = Some(string(None, None, CURSOR_PATTERN))
                        }
                        ("stream_id", ParameterIn::Path) => {
                            p.schema = Some(string(None, None, STREAM_ID_PATTERN))
                        }
                        ("order_id" | "product_id", ParameterIn::Path) => {
                            p.schema = Some(string(Some(1), Some(MAX_ID_BYTES), NOT_BLANK_MARK))
                        }
                        _ => {}
                    }
                    if let Some(schema) = p.schema.as_mut() {
                        spell_not_blank(schema, &not_blank);
                    }
                }
                if let Some(body) = op.request_body.as_mut() {
                    if body.required != Some(Required::True) {
                        for content in body.content.values_mut() {
                            drop_null(&mut content.schema);
                        }
                    }
                }
            }
        }
        let schemas = &mut doc.components.get_or_insert_with(Default::default).schemas;
        for schema in schemas.values_mut() {
            spell_not_blank(schema, &not_blank);
        }
        if let Some(delta) = property(schemas, "StockBody", "delta") {
            delta.extensions = Some(keyword("not", json!({ "const": 0 })));
        }
        if let Some(stream_id) = property(schemas, "PlaceOrderBody", "stream_id") {
            stream_id.pattern = Some(STREAM_ID_PATTERN.to_owned());
        }
        let kinds = |units: &[(&str, &[&str])]| {
            let kinds: Vec<&str> = units.iter().flat_map(|(_, k)| k.iter().copied()).collect();
            // The owner after the colon is any text, but not none (`AccountId::parse`).
            format!("^({}):[\\s\\S]", kinds.join("|"))
        };
        for field in ["debit", "credit"] {
            if let Some(account) = property(schemas, "CorrectionBody", field) {
                account.pattern = Some(kinds(&CORRECTABLE));
            }
        }
        if let Some(RefOr::T(Schema::Object(body))) = schemas.get_mut("CorrectionBody") {
            let by_unit = CORRECTABLE.iter().map(|unit @ (name, _)| {
                let pattern = kinds(std::slice::from_ref(unit));
                json!({ "properties": {
                    "unit": { "const": name },
                    "debit": { "pattern": pattern },
                    "credit": { "pattern": pattern },
                } })
            });
            body.extensions = Some(keyword("anyOf", by_unit.collect()));
        }
        if let Some(id) = property(schemas, "WebhookEnvelope", "id") {
            id.min_length = Some(1);
            id.max_length = Some(MAX_EVENT_ID_BYTES);
            id.pattern = Some(not_blank.clone());
        }
        if let Some(event_type) = property(schemas, "WebhookEnvelope", "type") {
            event_type.enum_values = Some(PAYMENT_EVENT_TYPES.iter().map(|t| json!(t)).collect());
        }
    }
}

fn string(min: Option<usize>, max: Option<usize>, pattern: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(min)
        .max_length(max)
        .pattern(Some(pattern))
        .build()
        .into()
}

/// A class of every character that is not whitespace to Rust (`char::is_whitespace`, what
/// `str::trim` removes): a string matches it somewhere iff it is not blank.
fn not_blank_pattern() -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
        if !c.is_whitespace() {
            continue;
        }
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == u32::from(c) => *end = u32::from(c),
            _ => ranges.push((u32::from(c), u32::from(c))),
        }
    }
    let escape = |c: u32| format!("\\u{c:04x}");
    let class: String = ranges
        .iter()
        .map(|&(start, end)| match end - start {
            0 => escape(start),
            1 => escape(start) + &escape(end),
            _ => format!("{}-{}", escape(start), escape(end)),
        })
        .collect();
    format!("[^{class}]")
}

/// Replaces the not-blank mark in `schema` and the schemas inside it.
fn spell_not_blank(schema: &mut RefOr<Schema>, not_blank: &str) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(o) => {
            if o.pattern.as_deref() == Some(NOT_BLANK_MARK) {
                o.pattern = Some(not_blank.to_owned());
            }
            for p in o.properties.values_mut() {
                spell_not_blank(p, not_blank);
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                spell_not_blank(items, not_blank);
            }
        }
        Schema::OneOf(one) => one
            .items
            .iter_mut()
            .for_each(|s| spell_not_blank(s, not_blank)),
        Schema::AllOf(all) => all
            .items
            .iter_mut()
            .for_each(|s| spell_not_blank(s, not_blank)),
        Schema::AnyOf(any) => any
            .items
            .iter_mut()
            .for_each(|s| spell_not_blank(s, not_blank)),
        _ => {}
    }
}

/// `oneOf: [null, X]` as `X`.
fn drop_null(schema: &mut Option<RefOr<Schema>>) {
    let Some(RefOr::T(Schema::OneOf(one))) = schema else {
        return;
    };
    let null = SchemaType::Type(Type::Null);
    let is_null =
        |s: &RefOr<Schema>| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == null);
    if one.items.len() == 2 && one.items.iter().any(is_null) {
        *schema = one.items.iter().find(|s| !is_null(s)).cloned();
    }
}

/// A property of a component schema, when it is an inline schema.
fn property<'a>(
    schemas: &'a mut BTreeMap<String, RefOr<Schema>>,
    component: &str,
    name: &str,
) -> Option<&'a mut Object> {
    let Some(RefOr::T(Schema::Object(o))) = schemas.get_mut(component) else {
        return None;
    };
    match o.properties.get_mut(name) {
        Some(RefOr::T(Schema::Object(p))) => Some(p),
        _ => None,
    }
}

/// One JSON Schema keyword utoipa's model has no field for (extensions serialize flattened).
fn keyword(name: &str, value: serde_json::Value) -> Extensions {
    [(name, value)].into_iter().collect()
}

/// The document, as pretty JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the document serializes")
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::domain::admin::{correctable, MAX_NOTE_BYTES};
    use crate::domain::gifts::MAX_COMBO;
    use crate::domain::ledger::AccountId;
    use crate::domain::payments::{EventError, PaymentEvent, WebhookEnvelope};
    use crate::domain::shop::{
        MAX_AFFILIATE_RATE_BPS, MAX_ID_BYTES, MAX_LINE_QUANTITY, MAX_ORDER_LINES, MAX_PRICE_CENTS,
        MAX_PRODUCT_TITLE_BYTES, MAX_REFUND_REASON_BYTES, MAX_STOCK,
    };
    use crate::domain::streams::MAX_TITLE_CHARS;

    fn doc() -> Value {
        serde_json::from_str(&document()).unwrap()
    }

    fn at<'a>(doc: &'a Value, pointer: &str) -> &'a Value {
        doc.pointer(pointer)
            .unwrap_or_else(|| panic!("{pointer} is not in the document"))
    }

    fn param<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
        let op = &doc["paths"][path][method];
        op["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| &p["schema"])
            .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
    }

    #[test]
    fn the_numbers_are_the_handlers_constants() {
        let d = doc();
        let s = "/components/schemas";
        for (pointer, expected) in [
            (
                "CreateStreamBody/properties/title/maxLength",
                MAX_TITLE_CHARS as u64,
            ),
            ("SendGiftBody/properties/count/maximum", MAX_COMBO),
            (
                "ReleaseBody/properties/note/maxLength",
                MAX_NOTE_BYTES as u64,
            ),
            (
                "ReturnBody/properties/reason/maxLength",
                MAX_NOTE_BYTES as u64,
            ),
            (
                "CorrectionBody/properties/reason/maxLength",
                MAX_NOTE_BYTES as u64,
            ),
            (
                "PayoutAccountBody/properties/note/maxLength",
                MAX_NOTE_BYTES as u64,
            ),
            (
                "CorrectionBody/properties/amount/maximum",
                super::super::admin::MAX_CORRECTION,
            ),
            (
                "CreateProductBody/properties/title/maxLength",
                MAX_PRODUCT_TITLE_BYTES as u64,
            ),
            (
                "CreateProductBody/properties/price_cents/maximum",
                MAX_PRICE_CENTS,
            ),
            ("CreateProductBody/properties/stock/maximum", MAX_STOCK),
            (
                "CreateProductBody/properties/per_buyer_limit/maximum",
                MAX_STOCK,
            ),
            (
                "CreateProductBody/properties/affiliate_rate_bps/maximum",
                MAX_AFFILIATE_RATE_BPS,
            ),
            ("StockBody/properties/delta/maximum", MAX_STOCK),
            (
                "RefundBody/properties/reason/maxLength",
                MAX_REFUND_REASON_BYTES as u64,
            ),
            (
                "PlaceOrderBody/properties/lines/maxItems",
                MAX_ORDER_LINES as u64,
            ),
            (
                "LineBody/properties/product_id/maxLength",
                MAX_ID_BYTES as u64,
            ),
            ("LineBody/properties/quantity/maximum", MAX_LINE_QUANTITY),
            (
                "WebhookEnvelope/properties/id/maxLength",
                MAX_EVENT_ID_BYTES as u64,
            ),
        ] {
            let value = at(&d, &format!("{s}/{pointer}"));
            assert_eq!(value.as_u64(), Some(expected), "{pointer}");
        }
        assert_eq!(
            at(&d, &format!("{s}/StockBody/properties/delta/minimum")).as_i64(),
            Some(-(MAX_STOCK as i64))
        );

        let admin_id = super::super::admin::MAX_ID_BYTES as u64;
        let page = super::super::payouts::MAX_STATEMENT_PAGE;
        let board = super::super::leaderboards::MAX_LIMIT;
        let creator = super::super::leaderboards::MAX_CREATOR_ID_BYTES as u64;
        let shop_id = MAX_ID_BYTES as u64;
        for (path, method, name, keyword, expected) in [
            (
                "/v1/admin/payouts/{payout_id}/release",
                "post",
                "payout_id",
                "maxLength",
                admin_id,
            ),
            (
                "/v1/admin/payouts/{payout_id}/return",
                "post",
                "payout_id",
                "maxLength",
                admin_id,
            ),
            (
                "/v1/admin/refunds/{refund_id}/retry",
                "post",
                "refund_id",
                "maxLength",
                admin_id,
            ),
            (
                "/v1/admin/payees/{payee_id}/payout-account",
                "put",
                "payee_id",
                "maxLength",
                admin_id,
            ),
            ("/v1/creators/me/statement", "get", "limit", "maximum", page),
            ("/v1/sellers/me/statement", "get", "limit", "maximum", page),
            (
                "/v1/streams/{stream_id}/leaderboard",
                "get",
                "limit",
                "maximum",
                board,
            ),
            (
                "/v1/creators/{creator_id}/leaderboard/weekly",
                "get",
                "limit",
                "maximum",
                board,
            ),
            (
                "/v1/creators/{creator_id}/leaderboard/weekly",
                "get",
                "creator_id",
                "maxLength",
                creator,
            ),
            (
                "/v1/products/{product_id}",
                "get",
                "product_id",
                "maxLength",
                shop_id,
            ),
            (
                "/v1/orders/{order_id}",
                "get",
                "order_id",
                "maxLength",
                shop_id,
            ),
            (
                "/v1/streams",
                "post",
                "Idempotency-Key",
                "maxLength",
                MAX_KEY_CHARS as u64,
            ),
        ] {
            let value = &param(&d, path, method, name)[keyword];
            assert_eq!(
                value.as_u64(),
                Some(expected),
                "{method} {path} {name} {keyword}"
            );
        }
    }

    #[test]
    fn every_idempotent_operation_states_the_key_and_no_blank_mark_is_left() {
        let d = doc();
        let text = d.to_string();
        assert!(
            !text.contains(r#""pattern":"\\S""#),
            "a not-blank mark was not spelled out"
        );
        for (path, ops) in d["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                // Every write but a provider's webhook takes a key (`Idempotency::from_request`).
                let writes = method != "get" && !path.starts_with("/v1/webhooks/");
                let params = op["parameters"].as_array().into_iter().flatten();
                let keys: Vec<_> = params.filter(|p| p["name"] == "Idempotency-Key").collect();
                assert_eq!(keys.len(), usize::from(writes), "{method} {path}");
                for p in keys {
                    assert_eq!(p["in"], "header", "{method} {path}");
                    assert_eq!(p["required"], true, "{method} {path}");
                    assert_eq!(p["schema"]["minLength"], 1, "{method} {path}");
                    assert_eq!(p["schema"]["pattern"], IDEMPOTENCY_KEY_PATTERN);
                }
                let body = &op["requestBody"];
                if !body.is_null() && body["required"] != true {
                    let schema = &body["content"]["application/json"]["schema"];
                    assert!(schema.get("oneOf").is_none(), "{method} {path}: {schema}");
                }
            }
        }
    }

    #[test]
    fn not_blank_is_what_trim_keeps() {
        let pattern = not_blank_pattern();
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let code = u32::from(c);
            let listed = pattern.contains(&format!("\\u{code:04x}"));
            if c.is_whitespace() {
                assert!(listed || pattern.contains('-'), "{code:04x}");
            } else if code < 0x3001 {
                let inside = pattern
                    .trim_start_matches("[^")
                    .trim_end_matches(']')
                    .split("\\u")
                    .filter(|h| !h.is_empty())
                    .collect::<Vec<_>>();
                // Ranges are `\uAAAA-\uBBBB`: a non-whitespace char lies in none of them.
                let mut i = 0;
                while i < inside.len() {
                    let start = u32::from_str_radix(&inside[i][..4], 16).unwrap();
                    let end = if inside[i].ends_with('-') {
                        i += 1;
                        u32::from_str_radix(&inside[i][..4], 16).unwrap()
                    } else {
                        start
                    };
                    assert!(
                        !(start..=end).contains(&code),
                        "{code:04x} is not whitespace"
                    );
                    i += 1;
                }
            }
            assert_eq!(" \t\u{3000}x ".trim(), "x");
        }
    }

    #[test]
    fn correctable_kinds_and_their_units_are_the_domain_rules() {
        for (unit, kinds) in CORRECTABLE {
            for kind in kinds {
                let account = AccountId::parse(&format!("{kind}:owner")).expect(kind);
                assert!(correctable(account.kind), "{kind}");
                assert_eq!(account.kind.unit().as_str(), unit, "{kind}");
            }
        }
        let listed: Vec<&str> = CORRECTABLE
            .iter()
            .flat_map(|(_, k)| k.iter().copied())
            .collect();
        for other in [
            "gift",
            "earnings",
            "earnings-pending",
            "earnings-clawback",
            "issuer",
            "provider",
            "order",
            "commission-pending",
            "refund-owed",
            "in-payout",
            "paid-out",
            "seller-in-payout",
            "seller-paid-out",
            "redeemed",
            "redemption-cash",
        ] {
            let account = AccountId::parse(&format!("{other}:owner")).expect(other);
            assert!(
                !correctable(account.kind) && !listed.contains(&other),
                "{other}"
            );
        }
    }

    #[test]
    fn the_payment_event_types_are_the_ones_read() {
        let parse = |event_type: &str| {
            PaymentEvent::parse(WebhookEnvelope {
                id: "evt_1".into(),
                event_type: event_type.into(),
                created: None,
                data: serde_json::json!({}),
            })
        };
        for t in PAYMENT_EVENT_TYPES {
            assert!(matches!(parse(t), Err(EventError::Invalid(_))), "{t}");
        }
        assert!(matches!(
            parse("payment.made"),
            Err(EventError::UnsupportedType(_))
        ));
    }
}
