//! `POST /v1/streams/{stream_id}/gifts`: the hot path. One `TransactWriteItems` (sender debit
//! pinned to the wallet snapshot, gift record, transfer, idempotency record) and one
//! `SendMessage` to the settlement queue. The wallet snapshot and the stream come from this
//! container's memory when it has them, else one read each; no item another viewer's gift
//! touches is in the transaction (the stream's end is enforced by settlement, `domain::streams`).

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::MAX_PINNED_ATTEMPTS;
use crate::domain::gifts::{check_sender, price, SentGift};
use crate::domain::ledger::AccountId;
use crate::domain::rooms::RoomError;
use crate::domain::streams::{admit_gift, GiftAdmission, StreamId, MAX_USER_ID_BYTES};
use crate::domain::time::{day_key, seconds, sortable, week_key};
use crate::domain::wallet::{SpendWindow, WalletState};
use crate::http::idempotency::Idempotency;
use crate::http::{record_business_id, serve, ApiError, ApiRequest, ApiResponse};
use crate::input::bounded_str;
use crate::queue::settlement::{SettlementEvent, SettlementQueue};
use crate::store::transaction::attempts;
use crate::store::wallets::wallet_from_failure;
use crate::store::{Role, TxError};
use crate::telemetry::metric;
use crate::App;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SendGiftBody {
    /// A gift of `GET /v1/gifts` (`404 gift_not_found` otherwise).
    gift_id: String,
    /// 1 to 999 (`domain::gifts::MAX_COMBO`); more than 1 only for a streakable gift.
    #[schema(minimum = 1, maximum = 999)]
    count: u64,
    /// Whom the gift is for: the host (the default) or a guest in the room (`409
    /// recipient_not_in_stream` for anyone else).
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    recipient_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SentGiftView<'a> {
    gift_txn_id: &'a str,
    stream_id: &'a str,
    /// The stream's host.
    creator_id: &'a str,
    /// Whom the gift is for, and whose earnings it becomes: the host or a guest.
    recipient_id: &'a str,
    gift_id: &'a str,
    count: u64,
    coins_spent: u64,
    balance_coins: u64,
}

pub async fn handle(
    app: &App,
    queue: &SettlementQueue,
    req: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    serve(req, |r| send_gift(app, queue, r)).await
}

#[utoipa::path(post, path = "/v1/streams/{stream_id}/gifts", tag = "gifts",
    security(("jwt" = [])),
    params(("stream_id" = String, Path)),
    request_body = SendGiftBody,
    responses(
        (status = 201, body = SentGiftView),
        (status = 402, description = "insufficient_coins", body = crate::http::ErrorBody),
        (status = 403, description = "age_restricted, cannot_gift_self",
            body = crate::http::ErrorBody),
        (status = 404, description = "stream_not_found, gift_not_found",
            body = crate::http::ErrorBody),
        (status = 409, description = "stream_not_live, recipient_not_in_stream",
            body = crate::http::ErrorBody),
        (status = 503, description = "busy: the wallet kept changing; retry with the same key",
            body = crate::http::ErrorBody)))]
async fn send_gift(
    app: &App,
    queue: &SettlementQueue,
    req: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let idem = Idempotency::from_request(&req, &caller)?;
    let body: SendGiftBody = req.json()?;
    let stream_id =
        StreamId::parse(req.path_param("stream_id")?).ok_or(ApiError::StreamNotFound)?;
    let creator_id = stream_id.creator_id();
    let recipient_id = match body.recipient_id {
        Some(r) => bounded_str("recipient_id", &r, MAX_USER_ID_BYTES).map(|_| r)?,
        None => creator_id.clone(),
    };
    check_sender(&caller.user_id, caller.adult, &recipient_id)?;
    let priced = price(&app.config.gifts, &body.gift_id, body.count)?;

    let now = app.clock.now();
    let max_age = seconds(app.config.streams.cache_seconds);
    let mut stream = app
        .store
        .recent_stream(stream_id.as_str(), now, max_age)
        .await?;
    let mut admission = admit_gift(stream.as_ref(), &creator_id, &recipient_id);
    if admission == GiftAdmission::RecipientNotInStream {
        // A guest added a moment ago is not in the room this container remembers: a refusal
        // is decided on the room as stored (a read on the refusal path only).
        stream = app.store.stream(stream_id.as_str()).await?;
        admission = admit_gift(stream.as_ref(), &creator_id, &recipient_id);
    }
    let refusal = match admission {
        GiftAdmission::Open => None,
        GiftAdmission::NotFound => Some(ApiError::StreamNotFound),
        GiftAdmission::NotLive => Some(ApiError::StreamNotLive),
        GiftAdmission::RecipientNotInStream => {
            Some(RoomError::RecipientNotInStream(recipient_id.clone()).into())
        }
    };
    if let Some(refusal) = refusal {
        // A retry of a gift that was sent before the stream ended gets its first answer.
        return idem.replay_or(&app.store, now, refusal).await;
    }
    // The gift's earner is its recipient: settlement, leaderboards and chargebacks follow it.
    let gift = SentGift {
        gift_txn_id: idem.derived_id("gift"),
        stream_id: stream_id.as_str().to_owned(),
        creator_id: recipient_id,
        sender_id: caller.user_id.clone(),
        gift_id: priced.gift.gift_id.clone(),
        count: priced.count,
        coins: priced.coins,
        sent_at: sortable(now),
    };
    record_business_id(&gift.gift_txn_id);
    let window = SpendWindow {
        day: day_key(now),
        week: week_key(now),
    };
    let store = &app.store;
    let wallet_account = AccountId::wallet(&caller.user_id);

    let mut wallet = store.wallet_snapshot(&caller.user_id).await?;
    let mut fresh = false;
    for _ in attempts(MAX_PINNED_ATTEMPTS) {
        let debit = match wallet.debit(gift.coins, &window, &app.config.spend_limits) {
            Ok(debit) => debit,
            // A remembered snapshot may be out of date: refuse only on what is stored now.
            Err(_) if !fresh => {
                wallet = store.wallet(&caller.user_id).await?;
                fresh = true;
                continue;
            }
            Err(refusal) => return idem.replay_or(store, app.clock.now(), refusal.into()).await,
        };
        let mut tx = crate::store::Tx::new();
        store.add_sent_gift(&mut tx, &gift, &debit)?;
        let response = ApiResponse::json(
            201,
            &SentGiftView {
                gift_txn_id: &gift.gift_txn_id,
                stream_id: &gift.stream_id,
                creator_id: &creator_id,
                recipient_id: &gift.creator_id,
                gift_id: &gift.gift_id,
                count: gift.count,
                coins_spent: gift.coins,
                balance_coins: debit.balance_after,
            },
        );
        let err = match idem.commit(app, tx, response, now).await? {
            Ok(response) => {
                if !response.replayed {
                    store.remember_wallet(
                        &caller.user_id,
                        WalletState {
                            balance: debit.balance_after,
                            version: debit.expected_version + 1,
                            spend_day: Some(window.day.clone()),
                            spent_day: debit.spent_day_after,
                            spend_week: Some(window.week.clone()),
                            spent_week: debit.spent_week_after,
                            own_daily_cap: wallet.own_daily_cap,
                        },
                    );
                    enqueue(queue, &gift).await;
                    metrics::counter!(metric::GIFTS_SENT).increment(1);
                    metrics::counter!(metric::COINS_SPENT).increment(gift.coins);
                }
                return Ok(response);
            }
            Err(err) => err,
        };
        match err.failure(&Role::Account(wallet_account.clone())) {
            Some(f) if f.condition_failed() => {
                wallet = wallet_from_failure(f.old.as_ref())?;
                fresh = true;
            }
            _ => return Err(unexpected(err, &gift)),
        }
    }
    Err(ApiError::Busy(format!(
        "wallet {wallet_account} kept changing"
    )))
}

/// A committed gift whose message is lost is not lost money: its record stays `pending` and
/// the settlement sweeper re-drives it. So a failed send is logged, not answered with an error.
async fn enqueue(queue: &SettlementQueue, gift: &SentGift) {
    if let Err(e) = queue.send(&SettlementEvent::gift_sent(gift)).await {
        tracing::error!(error = %e, gift_txn_id = %gift.gift_txn_id, "settlement enqueue failed; the sweeper will re-drive it");
    }
}

/// The gift or its transfer already exists although the key's record does not (it expired):
/// the same key asked for the same effect, which happened long ago.
fn unexpected(err: TxError, gift: &SentGift) -> ApiError {
    let gift_account = Role::Account(AccountId::pending_gift(&gift.gift_txn_id));
    match err.failure(&gift_account) {
        Some(f) if f.condition_failed() => ApiError::IdempotencyKeyReused,
        _ => err.into(),
    }
}
