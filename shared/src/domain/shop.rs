//! The in-stream shop: products, orders and their life cycle, and how an order's money is split.
//!
//! An order's money sits on the order's own ledger account from payment until completion (or
//! refund). Completion moves the seller's proceeds and the creator's commission out; the
//! platform's fee is what stays behind, so the three always add up to the total.

use std::collections::{HashMap, HashSet};

use time::{Duration, OffsetDateTime};

use super::agencies::{Funding, Stint};
use super::ledger::{AccountId, AccountKind, LedgerError, Transfer, TransferKind};
use super::settlement::{round_up_to_hour, BPS};
use crate::input::{bounded_str, in_range, InvalidInput};

/// Lines per order (API.md). 50 product items plus the order, the buyer's limits, the stream
/// check and the idempotency record fit one 100-item transaction.
pub const MAX_ORDER_LINES: usize = 50;
/// Units per line (API.md).
pub const MAX_LINE_QUANTITY: u64 = 1_000;
/// Highest product price: $100,000.
pub const MAX_PRICE_CENTS: u64 = 10_000_000;
/// Most units a product may hold in stock.
pub const MAX_STOCK: u64 = 1_000_000_000;
/// Highest affiliate rate (DOMAIN.md: 1–80 %; 0 means no commission).
pub const MAX_AFFILIATE_RATE_BPS: u64 = 8_000;
/// Highest platform fee a deployment may configure, so fee + commission never exceed a total.
pub const MAX_PLATFORM_FEE_BPS: u64 = 2_000;
pub const MAX_PRODUCT_TITLE_BYTES: usize = 200;
pub const MAX_REFUND_REASON_BYTES: usize = 500;
/// Longest product or order id a client may send (ours are far shorter).
pub const MAX_ID_BYTES: usize = 128;

/// The shop's numbers (DOMAIN.md defaults; each is configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShopPolicy {
    /// The platform's referral fee on an order's total: 6 %.
    pub platform_fee_bps: u64,
    /// How long an unpaid order keeps its stock reserved: 15 minutes.
    pub payment_window: Duration,
    /// How long after its window an unpaid order waits before it expires, so that a payment made
    /// inside the window whose webhook arrives late (provider retries, contention) still pays
    /// it: 5 minutes.
    pub payment_grace: Duration,
    /// From delivery to the seller's proceeds becoming available (and the order `completed`).
    pub seller_hold: Duration,
    /// From delivery to the creator's commission becoming available (after the return window).
    pub commission_hold: Duration,
}

impl Default for ShopPolicy {
    fn default() -> Self {
        Self {
            platform_fee_bps: 600,
            payment_window: Duration::seconds(900),
            payment_grace: Duration::seconds(300),
            seller_hold: Duration::days(7),
            commission_hold: Duration::days(15),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub product_id: String,
    pub seller_id: String,
    pub title: String,
    pub price_cents: u64,
    /// How many items its stock is split over (`domain::stock`), fixed when it is created.
    pub stock_shards: u32,
    /// Most units one buyer may hold across all their orders that are not cancelled, expired or
    /// refunded.
    pub per_buyer_limit: Option<u64>,
    /// The creator's commission on this product, fixed on each order when it is placed.
    pub affiliate_rate_bps: u64,
    pub created_at: String,
}

impl Product {
    /// Checks a seller's new product; the title comes back trimmed.
    pub fn validate_new(
        title: &str,
        price_cents: u64,
        stock: u64,
        per_buyer_limit: Option<u64>,
        affiliate_rate_bps: u64,
    ) -> Result<String, InvalidInput> {
        bounded_str("title", title, MAX_PRODUCT_TITLE_BYTES)?;
        in_range("price_cents", price_cents, 1..=MAX_PRICE_CENTS)?;
        in_range("stock", stock, 0..=MAX_STOCK)?;
        if let Some(limit) = per_buyer_limit {
            in_range("per_buyer_limit", limit, 1..=MAX_STOCK)?;
        }
        in_range(
            "affiliate_rate_bps",
            affiliate_rate_bps,
            0..=MAX_AFFILIATE_RATE_BPS,
        )?;
        Ok(title.trim().to_owned())
    }
}

/// A stock adjustment: a seller adds or removes units (never more than are available).
pub fn validate_stock_delta(delta: i64) -> Result<i64, InvalidInput> {
    // unsigned_abs: i64::MIN has no i64 absolute value (abs would panic, or wrap in release).
    if delta == 0 || delta.unsigned_abs() > MAX_STOCK {
        return Err(InvalidInput::new(
            "delta",
            format!("must be a non-zero number between -{MAX_STOCK} and {MAX_STOCK}"),
        ));
    }
    Ok(delta)
}

/// One line as the buyer asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRequest {
    pub product_id: String,
    pub quantity: u64,
}

/// One line as ordered: the price and the commission rate are the product's at placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub product_id: String,
    pub quantity: u64,
    pub unit_price_cents: u64,
    pub affiliate_rate_bps: u64,
    /// The product's per-buyer limit: the units count against the buyer's limit until they are
    /// released (cancel, expiry, refund).
    pub per_buyer_limit: Option<u64>,
}

impl OrderLine {
    pub fn total_cents(&self) -> u64 {
        self.quantity * self.unit_price_cents
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Shipped,
    Delivered,
    Completed,
    Cancelled,
    Expired,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
        OrderStatus::Expired,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The seller's fulfillment steps: paid → shipped → delivered (or paid → delivered).
    pub fn fulfill(self, to: OrderStatus) -> Result<(), ShopError> {
        match (self, to) {
            (OrderStatus::Paid, OrderStatus::Shipped | OrderStatus::Delivered)
            | (OrderStatus::Shipped, OrderStatus::Delivered) => Ok(()),
            _ => Err(ShopError::InvalidTransition { from: self, to }),
        }
    }

    /// How a refund of an order in this status is booked; `admin` may refund a completed order.
    pub fn refund(self, admin: bool) -> Result<RefundBooking, ShopError> {
        match self {
            OrderStatus::Paid | OrderStatus::Shipped | OrderStatus::Delivered => {
                Ok(RefundBooking::FromOrder)
            }
            OrderStatus::Completed if admin => Ok(RefundBooking::AgainstSeller),
            _ => Err(ShopError::InvalidTransition {
                from: self,
                to: OrderStatus::Refunded,
            }),
        }
    }
}

/// Where a refund's money comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundBooking {
    /// Before completion the order still holds the whole payment: it all goes back, the seller's
    /// and creator's shares are never credited, and the stock returns.
    FromOrder,
    /// After completion the shares are paid out: the refund is booked against the seller's
    /// future earnings (their clawback account goes negative), and the goods are not restocked.
    AgainstSeller,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_id: String,
    pub buyer_id: String,
    pub seller_id: String,
    /// The stream it was bought from.
    pub stream_id: Option<String>,
    /// Who earns the commission: the stream's creator, unless they are the buyer or the seller.
    pub affiliate_id: Option<String>,
    pub lines: Vec<OrderLine>,
    pub total_cents: u64,
    pub status: OrderStatus,
    pub placed_at: String,
    pub expires_at: String,
    /// When each step happened, by status name (`paid`, `shipped`, ...).
    pub history: Vec<(OrderStatus, String)>,
    pub refund_reason: Option<String>,
    /// Payments that arrived after the order could take them, owed back to the buyer.
    pub owed_back_cents: u64,
    /// The payment event that paid it: what a refund of it gives back at the provider.
    pub payment_event_id: Option<String>,
    /// The latest refund made for it: its id and when it was created (its record's key).
    pub refund: Option<(String, String)>,
    /// Its units (stock, the buyer's limits) went back when a dispute reversed it, and a won
    /// dispute brought it back without them: a later refund or cancellation returns none again.
    pub units_released: bool,
    /// What the creator's agency took of the commission, as completion booked it.
    pub agency_cut: Option<AgencyCut>,
    pub version: u64,
}

/// An agency's cut of an order's commission (`domain::agencies`): `share_bps` of the commission,
/// out of the creator's commission or the platform's fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyCut {
    pub agency_id: String,
    pub cents: u64,
    pub funded_by: Funding,
    /// A refund after completion gave it back to the platform's fee, which funded it.
    pub returned: bool,
}

impl AgencyCut {
    /// Where the cut of `creator`'s commission lands: held with the commission, in the agency's
    /// pending share of that creator, so no completion writes an account all the agency's
    /// creators share. A completion so late that the commission is no longer held (the sweep
    /// days behind) credits the agency's available cents, as it does the creator's.
    pub fn account(&self, creator: &str, held: bool) -> AccountId {
        match held {
            true => {
                AccountId::agency_share(AccountKind::AgencyCentsPending, &self.agency_id, creator)
            }
            false => AccountId::new(AccountKind::AgencyCents, &self.agency_id),
        }
    }
}

/// The cut the creator's agency of the sale's time (`stint`) takes of `split`'s commission;
/// funded by the platform, at most the fee.
pub fn agency_cut(split: &OrderSplit, stint: Option<&Stint>) -> Option<AgencyCut> {
    let stint = stint?;
    let cut = u64::try_from(
        u128::from(split.commission) * u128::from(stint.share_bps.min(BPS)) / u128::from(BPS),
    )
    .expect("a share of a u64 fits a u64");
    let cents = match stint.funded_by {
        Funding::Creator => cut,
        Funding::Platform => cut.min(split.fee),
    };
    (cents > 0).then(|| AgencyCut {
        agency_id: stint.agency_id.clone(),
        cents,
        funded_by: stint.funded_by,
        returned: false,
    })
}

impl OrderSplit {
    /// The split once `cut` is taken out of whichever part funds it: `commission` is what the
    /// creator keeps, `fee` what the platform does.
    pub fn after(&self, cut: Option<&AgencyCut>) -> OrderSplit {
        match cut {
            Some(c) if c.funded_by == Funding::Creator => OrderSplit {
                commission: self.commission - c.cents,
                ..*self
            },
            Some(c) => OrderSplit {
                fee: self.fee - c.cents,
                ..*self
            },
            None => *self,
        }
    }
}

impl Order {
    pub fn at(&self, status: OrderStatus) -> Option<&str> {
        self.history
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, at)| at.as_str())
    }

    pub fn account(&self) -> AccountId {
        AccountId::order(&self.order_id)
    }

    /// When the order was delivered, if it was.
    pub fn delivered_at(&self) -> Option<OffsetDateTime> {
        let at = self.at(OrderStatus::Delivered)?;
        OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
    }

    pub fn product_ids(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(|l| l.product_id.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShopError {
    #[error("no product {0}")]
    ProductNotFound(String),
    #[error("all lines of an order must come from one seller; place one order per seller")]
    MixedSellers,
    #[error("product {product_id} is out of stock")]
    OutOfStock { product_id: String },
    #[error("product {product_id} allows {limit} per buyer")]
    PerBuyerLimitExceeded { product_id: String, limit: u64 },
    #[error("product {product_id}: stock would go negative")]
    StockWouldGoNegative { product_id: String },
    #[error("no order with this id")]
    OrderNotFound,
    #[error("only an order awaiting payment can be cancelled (it is {})", .0.as_str())]
    NotCancellable(OrderStatus),
    #[error("an order cannot go from {} to {}", .from.as_str(), .to.as_str())]
    InvalidTransition { from: OrderStatus, to: OrderStatus },
    #[error("the order total overflows")]
    TotalOverflow,
}

/// Lines as a buyer sent them: 1–50, quantity 1–1000, no product twice.
pub fn validate_lines(lines: &[LineRequest]) -> Result<(), InvalidInput> {
    if lines.is_empty() || lines.len() > MAX_ORDER_LINES {
        return Err(InvalidInput::new(
            "lines",
            format!("must hold 1 to {MAX_ORDER_LINES} lines"),
        ));
    }
    let mut seen = HashSet::new();
    for (i, line) in lines.iter().enumerate() {
        bounded_str(
            &format!("lines[{i}].product_id"),
            &line.product_id,
            MAX_ID_BYTES,
        )?;
        in_range(
            &format!("lines[{i}].quantity"),
            line.quantity,
            1..=MAX_LINE_QUANTITY,
        )?;
        if !seen.insert(line.product_id.as_str()) {
            return Err(InvalidInput::new(
                format!("lines[{i}].product_id"),
                "a product may appear on one line only",
            ));
        }
    }
    Ok(())
}

/// Prices validated lines from the products as they are now. Returns the seller, the lines and
/// the total. Refuses unknown products, a second seller, and a line above the buyer limit.
pub fn price_lines(
    lines: &[LineRequest],
    products: &HashMap<String, Product>,
) -> Result<(String, Vec<OrderLine>, u64), ShopError> {
    let mut seller: Option<&str> = None;
    let mut priced = Vec::with_capacity(lines.len());
    let mut total: u64 = 0;
    for line in lines {
        let product = products
            .get(&line.product_id)
            .ok_or_else(|| ShopError::ProductNotFound(line.product_id.clone()))?;
        match seller {
            Some(s) if s != product.seller_id => return Err(ShopError::MixedSellers),
            _ => seller = Some(&product.seller_id),
        }
        if let Some(limit) = product.per_buyer_limit.filter(|l| line.quantity > *l) {
            return Err(ShopError::PerBuyerLimitExceeded {
                product_id: product.product_id.clone(),
                limit,
            });
        }
        let line = OrderLine {
            product_id: product.product_id.clone(),
            quantity: line.quantity,
            unit_price_cents: product.price_cents,
            affiliate_rate_bps: product.affiliate_rate_bps,
            per_buyer_limit: product.per_buyer_limit,
        };
        total = total
            .checked_add(line.total_cents())
            .filter(|t| i64::try_from(*t).is_ok())
            .ok_or(ShopError::TotalOverflow)?;
        priced.push(line);
    }
    let seller = seller.expect("validated lines are never empty").to_owned();
    Ok((seller, priced, total))
}

/// The creator who earns the commission for an order bought from `stream_creator`'s stream: no
/// one earns a commission on their own purchase or their own products.
pub fn affiliate(stream_creator: Option<&str>, buyer_id: &str, seller_id: &str) -> Option<String> {
    stream_creator
        .filter(|c| *c != buyer_id && *c != seller_id)
        .map(str::to_owned)
}

pub fn expires_at(placed: OffsetDateTime, policy: &ShopPolicy) -> OffsetDateTime {
    placed + policy.payment_window
}

/// An order's total in three parts that always add up to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderSplit {
    /// The platform's fee on the total, rounded down.
    pub fee: u64,
    /// Each line's rate × its total, rounded down per line; 0 without an affiliate.
    pub commission: u64,
    /// The rest, rounding remainders included.
    pub proceeds: u64,
}

pub fn split_order(order: &Order, platform_fee_bps: u64) -> OrderSplit {
    assert!(platform_fee_bps <= MAX_PLATFORM_FEE_BPS);
    let share = |amount: u64, bps: u64| {
        u64::try_from(u128::from(amount) * u128::from(bps) / u128::from(BPS))
            .expect("a share of a u64 fits a u64")
    };
    let fee = share(order.total_cents, platform_fee_bps);
    let commission = match order.affiliate_id {
        Some(_) => order
            .lines
            .iter()
            .map(|l| share(l.total_cents(), l.affiliate_rate_bps))
            .sum(),
        None => 0,
    };
    // Fee ≤ 20 % and every rate ≤ 80 %: the parts never exceed the total.
    let proceeds = order.total_cents - fee - commission;
    OrderSplit {
        fee,
        commission,
        proceeds,
    }
}

/// When a delivered order completes (the seller's hold ends).
pub fn completion_due(delivered_at: OffsetDateTime, policy: &ShopPolicy) -> OffsetDateTime {
    delivered_at + policy.seller_hold
}

/// Where the creator's commission lands when the order completes: available if its own hold has
/// ended too, else pending until it does — released on the hour, so one creator's commissions
/// share few hold slots.
pub fn commission_release(
    delivered_at: OffsetDateTime,
    now: OffsetDateTime,
    policy: &ShopPolicy,
) -> Option<OffsetDateTime> {
    let release = delivered_at + policy.commission_hold;
    (release > now).then(|| round_up_to_hour(release))
}

/// What a refund after completion at `now` takes back from the creator: the order's commission
/// and the hold slot it sits in, while that hold has not ended; after it, the commission is final
/// (DOMAIN.md: commission on revenue − refunds inside the return window).
pub fn commission_clawback(
    order: &Order,
    delivered_at: OffsetDateTime,
    now: OffsetDateTime,
    policy: &ShopPolicy,
) -> Option<CommissionClawback> {
    let split = split_order(order, policy.platform_fee_bps);
    let creator = split.after(order.agency_cut.as_ref()).commission;
    let agency = order.agency_cut.as_ref().map_or(0, |c| c.cents);
    if order.affiliate_id.is_none() || creator + agency == 0 {
        return None;
    }
    commission_release(delivered_at, now, policy).map(|release| CommissionClawback {
        creator,
        agency,
        release,
    })
}

/// What a refund after completion takes back of a commission still inside its hold: the
/// creator's part and their agency's, both from that hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommissionClawback {
    pub creator: u64,
    pub agency: u64,
    pub release: OffsetDateTime,
}

/// The transfers that complete an order: the seller's proceeds (first paying off what they owe
/// for refunds after completion, `seller_debt`), the creator's commission and their agency's
/// `cut` of it. The fee (less a cut the platform funds) stays on the order's account.
pub fn completion_transfers(
    order: &Order,
    split: &OrderSplit,
    seller_debt: u64,
    commission_pending: bool,
    cut: Option<&AgencyCut>,
) -> Result<Vec<Transfer>, LedgerError> {
    let from = order.account();
    let recovery = split.proceeds.min(seller_debt);
    let mut transfers = Vec::new();
    if recovery > 0 {
        transfers.push(Transfer::new(
            format!("recovery:{}", order.order_id),
            from.clone(),
            AccountId::new(AccountKind::SellerClawback, &order.seller_id),
            recovery,
            TransferKind::ClawbackRecovery,
            &order.order_id,
        )?);
    }
    if split.proceeds > recovery {
        transfers.push(Transfer::new(
            format!("proceeds:{}", order.order_id),
            from.clone(),
            AccountId::new(AccountKind::SellerProceeds, &order.seller_id),
            split.proceeds - recovery,
            TransferKind::OrderProceeds,
            &order.order_id,
        )?);
    }
    let creator_kind = if commission_pending {
        AccountKind::CommissionPending
    } else {
        AccountKind::Commission
    };
    let commission = split.after(cut).commission;
    if let (Some(creator), true) = (&order.affiliate_id, commission > 0) {
        transfers.push(Transfer::new(
            format!("commission:{}", order.order_id),
            from.clone(),
            AccountId::new(creator_kind, creator),
            commission,
            TransferKind::AffiliateCommission,
            &order.order_id,
        )?);
    }
    if let (Some(cut), Some(creator)) = (cut, &order.affiliate_id) {
        transfers.push(Transfer::new(
            format!("agency:{}", order.order_id),
            from,
            cut.account(creator, commission_pending),
            cut.cents,
            TransferKind::AgencyCut,
            &order.order_id,
        )?);
    }
    Ok(transfers)
}

/// Who gives a reversed order's money back to its buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repayer<'a> {
    /// We do, through a refund: the money is owed to the buyer until it leaves.
    Platform,
    /// The provider did already (a chargeback, this event id): the money goes to it.
    Provider(&'a str),
}

/// The reversal of a whole order: its money back to the buyer (or to the provider that repaid
/// them), from where `booking` says. After completion, a `clawback` (the creator's commission
/// and their agency's cut, while their hold has not ended) comes back from their pending
/// commissions, and the rest from the seller.
pub fn refund_transfers(
    order: &Order,
    booking: RefundBooking,
    clawback: Option<&CommissionClawback>,
    repayer: Repayer<'_>,
) -> Result<Vec<Transfer>, LedgerError> {
    // A chargeback's reversal is named by its event too: an order a won dispute reinstated can
    // still be refunded, under the refund's own ids.
    let (to, suffix) = match repayer {
        Repayer::Platform => (
            AccountId::new(AccountKind::RefundOwed, &order.buyer_id),
            String::new(),
        ),
        Repayer::Provider(event_id) => (
            AccountId::outside(AccountKind::PaymentProvider, event_id),
            format!("/{event_id}"),
        ),
    };
    let refund = |what: &str, from: AccountId, amount: u64, kind: TransferKind| {
        let id = format!("{what}:{}{suffix}", order.order_id);
        Transfer::new(id, from, to.clone(), amount, kind, &order.order_id)
    };
    match (booking, &order.affiliate_id) {
        (RefundBooking::FromOrder, _) => Ok(vec![refund(
            "refund",
            order.account(),
            order.total_cents,
            TransferKind::OrderRefund,
        )?]),
        (RefundBooking::AgainstSeller, affiliate) => {
            let clawback = clawback.filter(|_| affiliate.is_some());
            let creator = clawback.map_or(0, |c| c.creator).min(order.total_cents);
            let agency = clawback
                .zip(order.agency_cut.as_ref())
                .map_or(0, |(c, _)| c.agency)
                .min(order.total_cents - creator);
            let mut transfers = Vec::new();
            if let (Some(creator_id), true) = (affiliate, creator > 0) {
                transfers.push(refund(
                    "clawback",
                    AccountId::new(AccountKind::CommissionPending, creator_id),
                    creator,
                    TransferKind::CommissionClawback,
                )?);
            }
            // The agency's cut goes back to whoever funded it: the buyer's money, if the
            // creator's commission did; the platform's fee on the order, if the platform did. The
            // seller repays the buyer what the commission does not, as without an agency.
            let mut repaid = creator;
            if let (Some(cut), Some(creator_id), true) = (&order.agency_cut, affiliate, agency > 0)
            {
                // Taken back only while held (`commission_clawback`).
                let from = cut.account(creator_id, true);
                let id = format!("agency-clawback:{}{suffix}", order.order_id);
                let kind = TransferKind::CommissionClawback;
                transfers.push(match cut.funded_by {
                    Funding::Creator => {
                        repaid += agency;
                        Transfer::new(id, from, to.clone(), agency, kind, &order.order_id)?
                    }
                    Funding::Platform => {
                        Transfer::new(id, from, order.account(), agency, kind, &order.order_id)?
                    }
                });
            }
            if order.total_cents > repaid {
                transfers.push(refund(
                    "refund",
                    AccountId::new(AccountKind::SellerClawback, &order.seller_id),
                    order.total_cents - repaid,
                    TransferKind::OrderRefund,
                )?);
            }
            Ok(transfers)
        }
    }
}

/// What an `order.paid` event does to the order it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// The order takes the payment and becomes `paid`.
    Accept,
    /// The order cannot take it (expired, cancelled, paid already, wrong amount): the money is
    /// owed back to the buyer.
    OweBack(&'static str),
}

/// `paid_at` is when the provider says the payment happened (`domain::payments::event_time`).
pub fn payment_outcome(order: &Order, amount_cents: u64, paid_at: &str) -> PaymentOutcome {
    if order.status != OrderStatus::PendingPayment {
        return PaymentOutcome::OweBack(order.status.as_str());
    }
    // Past its window the order is as good as expired, even before the sweeper marks it so:
    // otherwise whether a late payment counts would depend on when the sweeper last ran.
    if order.expires_at.as_str() <= paid_at {
        return PaymentOutcome::OweBack("expired");
    }
    if amount_cents != order.total_cents {
        return PaymentOutcome::OweBack("amount_mismatch");
    }
    PaymentOutcome::Accept
}

/// The transfer an `order.paid` event makes: into the order, or owed back to its buyer.
pub fn payment_transfer(
    event_id: &str,
    order: &Order,
    amount_cents: u64,
    outcome: &PaymentOutcome,
) -> Result<Transfer, LedgerError> {
    let provider = AccountId::outside(AccountKind::PaymentProvider, event_id);
    let (credit, kind) = match outcome {
        PaymentOutcome::Accept => (order.account(), TransferKind::OrderPayment),
        PaymentOutcome::OweBack(_) => (
            AccountId::new(AccountKind::RefundOwed, &order.buyer_id),
            TransferKind::PaymentOwedBack,
        ),
    };
    Transfer::new(
        format!("payment:{event_id}"),
        provider,
        credit,
        amount_cents,
        kind,
        &order.order_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by schemathesis: `{"delta": -9223372036854775808}` panicked the handler.
    #[test]
    fn the_most_negative_delta_is_refused_not_a_panic() {
        assert!(validate_stock_delta(i64::MIN).is_err());
        assert!(validate_stock_delta(i64::MAX).is_err());
        assert!(validate_stock_delta(-1).is_ok());
    }

    fn product(id: &str, seller: &str, price: u64, limit: Option<u64>, rate: u64) -> Product {
        Product {
            product_id: id.into(),
            seller_id: seller.into(),
            title: "t".into(),
            price_cents: price,
            stock_shards: 1,
            per_buyer_limit: limit,
            affiliate_rate_bps: rate,
            created_at: "2026-11-22T00:00:00Z".into(),
        }
    }

    fn line(id: &str, quantity: u64) -> LineRequest {
        LineRequest {
            product_id: id.into(),
            quantity,
        }
    }

    fn priced(quantity: u64, unit_price_cents: u64, affiliate_rate_bps: u64) -> OrderLine {
        OrderLine {
            product_id: "a".into(),
            quantity,
            unit_price_cents,
            affiliate_rate_bps,
            per_buyer_limit: None,
        }
    }

    fn order(lines: Vec<OrderLine>, affiliate: Option<&str>) -> Order {
        let total_cents = lines.iter().map(OrderLine::total_cents).sum();
        Order {
            agency_cut: None,
            order_id: "o".into(),
            buyer_id: "b".into(),
            seller_id: "s".into(),
            stream_id: None,
            affiliate_id: affiliate.map(str::to_owned),
            lines,
            total_cents,
            status: OrderStatus::PendingPayment,
            placed_at: "2026-11-22T00:00:00Z".into(),
            expires_at: "2026-11-22T00:15:00Z".into(),
            history: vec![],
            refund_reason: None,
            owed_back_cents: 0,
            payment_event_id: None,
            refund: None,
            units_released: false,
            version: 1,
        }
    }

    #[test]
    fn lines_are_bounded_and_unique() {
        assert!(validate_lines(&[]).is_err());
        assert!(validate_lines(&[line("a", 1)]).is_ok());
        assert_eq!(
            validate_lines(&[line("a", 0)]).unwrap_err().field,
            "lines[0].quantity"
        );
        assert!(validate_lines(&[line("a", 1001)]).is_err());
        assert_eq!(
            validate_lines(&[line("a", 1), line("a", 2)])
                .unwrap_err()
                .field,
            "lines[1].product_id"
        );
        let many: Vec<_> = (0..51).map(|i| line(&format!("p{i}"), 1)).collect();
        assert_eq!(validate_lines(&many).unwrap_err().field, "lines");
    }

    #[test]
    fn pricing_refuses_strangers_second_sellers_and_lines_above_the_limit() {
        let products: HashMap<String, Product> = [
            product("a", "s1", 250, Some(2), 1000),
            product("b", "s1", 100, None, 0),
            product("c", "s2", 100, None, 0),
        ]
        .into_iter()
        .map(|p| (p.product_id.clone(), p))
        .collect();
        let (seller, lines, total) = price_lines(&[line("a", 2), line("b", 3)], &products).unwrap();
        assert_eq!((seller.as_str(), total), ("s1", 800));
        assert_eq!(lines[0].unit_price_cents, 250);
        assert_eq!(lines[0].affiliate_rate_bps, 1000);
        assert_eq!(
            price_lines(&[line("x", 1)], &products),
            Err(ShopError::ProductNotFound("x".into()))
        );
        assert_eq!(
            price_lines(&[line("a", 1), line("c", 1)], &products),
            Err(ShopError::MixedSellers)
        );
        assert!(matches!(
            price_lines(&[line("a", 3)], &products),
            Err(ShopError::PerBuyerLimitExceeded { limit: 2, .. })
        ));
    }

    #[test]
    fn the_three_shares_always_add_up_to_the_total() {
        for (price, qty, rate, fee_bps) in [
            (1, 1, 8000, 2000),
            (999, 7, 1234, 600),
            (10_000_000, 1000, 8000, 2000),
            (3, 3, 0, 600),
        ] {
            let o = order(vec![priced(qty, price, rate)], Some("c"));
            let s = split_order(&o, fee_bps);
            assert_eq!(s.fee + s.commission + s.proceeds, o.total_cents);
        }
        let o = order(vec![priced(1, 10_000, 1_000)], Some("c"));
        assert_eq!(
            split_order(&o, 600),
            OrderSplit {
                fee: 600,
                commission: 1_000,
                proceeds: 8_400
            }
        );
        let unaffiliated = Order {
            affiliate_id: None,
            ..o
        };
        assert_eq!(split_order(&unaffiliated, 600).commission, 0);
    }

    fn held(creator: u64) -> CommissionClawback {
        CommissionClawback {
            creator,
            agency: 0,
            release: time::macros::datetime!(2026-12-01 00:00 UTC),
        }
    }

    #[test]
    fn an_agency_cut_of_a_commission_comes_out_of_whoever_funds_it_and_is_clawed_back_with_it() {
        let mut o = order(vec![priced(1, 10_001, 1_500)], Some("c"));
        let s = split_order(&o, 600);
        assert_eq!((s.fee, s.commission, s.proceeds), (600, 1_500, 7_901));
        let stint = |funded_by| Stint {
            agency_id: "ag".into(),
            share_bps: 3_333,
            funded_by,
            since: String::new(),
            until: None,
        };
        // 33.33 % of 1,500 is 499.95: 499.
        let by_creator = agency_cut(&s, Some(&stint(Funding::Creator))).unwrap();
        assert_eq!(by_creator.cents, 499);
        let after = s.after(Some(&by_creator));
        assert_eq!((after.fee, after.commission), (600, 1_001));
        let by_platform = agency_cut(&s, Some(&stint(Funding::Platform))).unwrap();
        let after = s.after(Some(&by_platform));
        assert_eq!((after.fee, after.commission), (101, 1_500));
        assert_eq!(agency_cut(&s, None), None);
        let credits = |t: &[Transfer]| -> Vec<(String, u64)> {
            t.iter().map(|t| (t.credit.to_string(), t.amount)).collect()
        };
        let t = completion_transfers(&o, &s, 0, true, Some(&by_creator)).unwrap();
        assert_eq!(
            credits(&t),
            vec![
                ("seller:s".into(), 7_901),
                ("commission-pending:c".into(), 1_001),
                ("agency-cents-pending:ag~c".into(), 499),
            ]
        );
        // What stays on the order is the fee: the parts add up to the total.
        let moved: u64 = t.iter().map(|t| t.amount).sum();
        assert_eq!(moved + after_fee(&s, &by_creator), o.total_cents);
        // Completed after the commission's hold: both available.
        let late = completion_transfers(&o, &s, 0, false, Some(&by_creator)).unwrap();
        assert_eq!(
            credits(&late)[1..],
            [
                ("commission:c".into(), 1_001),
                ("agency-cents:ag".into(), 499)
            ]
        );
        o.agency_cut = Some(by_creator.clone());
        // An hour before the commission's hold ends.
        let now = time::macros::datetime!(2026-12-01 00:00 UTC);
        let policy = ShopPolicy::default();
        let delivered = now - policy.commission_hold + time::Duration::hours(1);
        let back = commission_clawback(&o, delivered, now, &policy).unwrap();
        assert_eq!((back.creator, back.agency), (1_001, 499));
        let t = refund_transfers(
            &o,
            RefundBooking::AgainstSeller,
            Some(&back),
            Repayer::Platform,
        )
        .unwrap();
        let debits: Vec<_> = t.iter().map(|t| (t.debit.to_string(), t.amount)).collect();
        assert_eq!(
            debits,
            vec![
                ("commission-pending:c".into(), 1_001),
                ("agency-cents-pending:ag~c".into(), 499),
                ("seller-clawback:s".into(), 10_001 - 1_500),
            ]
        );
        // Funded by the platform, the cut goes back to the fee, not to the buyer: the seller
        // still repays what the commission does not.
        o.agency_cut = Some(by_platform);
        let back = commission_clawback(&o, delivered, now, &policy).unwrap();
        assert_eq!((back.creator, back.agency), (1_500, 499));
        let t = refund_transfers(
            &o,
            RefundBooking::AgainstSeller,
            Some(&back),
            Repayer::Platform,
        )
        .unwrap();
        let moves: Vec<_> = t
            .iter()
            .map(|t| (t.debit.to_string(), t.credit.to_string(), t.amount))
            .collect();
        assert_eq!(
            moves,
            vec![
                ("commission-pending:c".into(), "refund-owed:b".into(), 1_500),
                (
                    "agency-cents-pending:ag~c".into(),
                    o.account().to_string(),
                    499
                ),
                (
                    "seller-clawback:s".into(),
                    "refund-owed:b".into(),
                    10_001 - 1_500
                ),
            ]
        );
        assert_eq!(by_creator.funded_by, Funding::Creator);
    }

    fn after_fee(s: &OrderSplit, cut: &AgencyCut) -> u64 {
        s.after(Some(cut)).fee
    }

    #[test]
    fn a_refund_after_completion_takes_the_held_commission_back_from_the_creator() {
        let o = order(vec![priced(1, 10_000, 1_000)], Some("c"));
        let debits = |t: Vec<Transfer>| -> Vec<(String, u64)> {
            t.iter().map(|t| (t.debit.to_string(), t.amount)).collect()
        };
        let t = refund_transfers(
            &o,
            RefundBooking::AgainstSeller,
            Some(&held(1_000)),
            Repayer::Platform,
        )
        .unwrap();
        assert!(t.iter().all(|t| t.credit.to_string() == "refund-owed:b"));
        assert_eq!(
            debits(t),
            vec![
                ("commission-pending:c".into(), 1_000),
                ("seller-clawback:s".into(), 9_000)
            ]
        );
        let final_commission =
            refund_transfers(&o, RefundBooking::AgainstSeller, None, Repayer::Platform).unwrap();
        assert_eq!(
            debits(final_commission),
            vec![("seller-clawback:s".into(), 10_000)]
        );
        let before = refund_transfers(
            &o,
            RefundBooking::FromOrder,
            Some(&held(1_000)),
            Repayer::Platform,
        )
        .unwrap();
        assert_eq!(debits(before), vec![(o.account().to_string(), 10_000)]);
        // A chargeback: the provider repaid the buyer, so the money goes to it, not owed.
        let disputed = refund_transfers(
            &o,
            RefundBooking::AgainstSeller,
            None,
            Repayer::Provider("ev"),
        )
        .unwrap();
        assert_eq!(disputed[0].credit.to_string(), "provider:ev");
    }

    #[test]
    fn completion_pays_off_seller_debt_first() {
        let o = order(vec![priced(1, 10_000, 1_000)], Some("c"));
        let s = split_order(&o, 600);
        let t = completion_transfers(&o, &s, 3_000, true, None).unwrap();
        let amounts: Vec<_> = t.iter().map(|t| (t.credit.to_string(), t.amount)).collect();
        assert_eq!(
            amounts,
            vec![
                ("seller-clawback:s".into(), 3_000),
                ("seller:s".into(), 5_400),
                ("commission-pending:c".into(), 1_000),
            ]
        );
        let all_debt = completion_transfers(&o, &s, 1_000_000, false, None).unwrap();
        assert_eq!(all_debt.len(), 2);
        assert_eq!(all_debt[0].amount, 8_400);
        assert_eq!(all_debt[1].credit.to_string(), "commission:c");
    }

    #[test]
    fn transitions_follow_the_api() {
        use OrderStatus::*;
        assert!(Paid.fulfill(Shipped).is_ok());
        assert!(Paid.fulfill(Delivered).is_ok());
        assert!(Shipped.fulfill(Delivered).is_ok());
        for (from, to) in [
            (PendingPayment, Shipped),
            (Shipped, Shipped),
            (Delivered, Shipped),
        ] {
            assert!(from.fulfill(to).is_err(), "{from:?} → {to:?}");
        }
        assert_eq!(Delivered.refund(false), Ok(RefundBooking::FromOrder));
        assert!(Completed.refund(false).is_err());
        assert_eq!(Completed.refund(true), Ok(RefundBooking::AgainstSeller));
        assert!(PendingPayment.refund(true).is_err());
        assert!(Refunded.refund(true).is_err());
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn only_a_pending_order_inside_its_window_takes_a_payment() {
        let mut o = order(vec![], None);
        o.total_cents = 500;
        assert_eq!(
            payment_outcome(&o, 500, "2026-11-22T00:14:59Z"),
            PaymentOutcome::Accept
        );
        assert_eq!(
            payment_outcome(&o, 500, "2026-11-22T00:15:00Z"),
            PaymentOutcome::OweBack("expired")
        );
        assert_eq!(
            payment_outcome(&o, 499, "2026-11-22T00:00:01Z"),
            PaymentOutcome::OweBack("amount_mismatch")
        );
        o.status = OrderStatus::Cancelled;
        assert_eq!(
            payment_outcome(&o, 500, "2026-11-22T00:00:01Z"),
            PaymentOutcome::OweBack("cancelled")
        );
    }

    #[test]
    fn affiliates_never_earn_on_themselves() {
        assert_eq!(affiliate(Some("c"), "b", "s"), Some("c".into()));
        assert_eq!(affiliate(Some("b"), "b", "s"), None);
        assert_eq!(affiliate(Some("s"), "b", "s"), None);
        assert_eq!(affiliate(None, "b", "s"), None);
    }
}
