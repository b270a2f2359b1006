//! The OpenAPI 3.1 document of the HTTP API, generated from the route annotations on the
//! handlers and their request and response types. `docs/openapi.json` is this document; a test
//! keeps the two equal and checks the paths against the infra code's routes, and the local
//! gateway serves it at `GET /openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
    modifiers(&JwtAuthorizer)
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

/// The document, as pretty JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the document serializes")
}
