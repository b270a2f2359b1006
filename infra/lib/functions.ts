// The catalog of livepay's Lambda functions and the HTTP routes each one serves.
// One place, so the stack, its tests and the local gateway agree on the route list.

export type Access = 'jwt' | 'signed-webhook';

export interface RouteSpec {
  /** API Gateway route key, e.g. `POST /v1/streams`. */
  readonly routeKey: string;
  readonly access: Access;
}

export interface FunctionSpec {
  /** The Cargo binary (and cargo-lambda function) name under `functions/`. */
  readonly binary: string;
  readonly description: string;
  /** HTTP routes; queue consumers and scheduled functions have none. */
  readonly routes: readonly RouteSpec[];
}

const jwt = (routeKey: string): RouteSpec => ({ routeKey, access: 'jwt' });

export const FUNCTIONS: readonly FunctionSpec[] = [
  {
    binary: 'send-gift',
    description: 'Sends a virtual gift during a live stream: debit, record and enqueue settlement',
    routes: [jwt('POST /v1/streams/{stream_id}/gifts')],
  },
  {
    binary: 'wallet-api',
    description: 'Gift catalog, wallet balance and the viewer\'s own spend limits',
    routes: [jwt('GET /v1/gifts'), jwt('GET /v1/wallet'), jwt('PUT /v1/wallet/limits')],
  },
  {
    binary: 'streams-api',
    description: 'Creators open and end live streams, bring guests into their rooms and match their streams; stream leaderboards and match scores',
    routes: [
      jwt('POST /v1/streams'), jwt('POST /v1/streams/{stream_id}/end'),
      jwt('POST /v1/streams/{stream_id}/guests'), jwt('DELETE /v1/streams/{stream_id}/guests/{user_id}'),
      jwt('POST /v1/matches'), jwt('POST /v1/matches/{match_id}/accept'), jwt('GET /v1/matches/{match_id}'),
      jwt('GET /v1/streams/{stream_id}/leaderboard'),
    ],
  },
  {
    binary: 'creators-api',
    description: 'Payees\' money: creators\', sellers\' and agencies\' balances, statements and payout requests; agencies and creators\' attachments; admin payout exits and corrections; weekly top-gifter rankings per creator',
    routes: [
      jwt('GET /v1/creators/me/balance'), jwt('GET /v1/creators/me/statement'),
      jwt('POST /v1/creators/me/payouts'), jwt('GET /v1/creators/me/payouts'),
      jwt('GET /v1/creators/{creator_id}/leaderboard/weekly'),
      jwt('GET /v1/sellers/me/balance'), jwt('GET /v1/sellers/me/statement'),
      jwt('POST /v1/sellers/me/payouts'), jwt('GET /v1/sellers/me/payouts'),
      jwt('GET /v1/agencies/me/balance'), jwt('GET /v1/agencies/me/statement'),
      jwt('POST /v1/agencies/me/payouts'), jwt('GET /v1/agencies/me/payouts'),
      jwt('POST /v1/admin/agencies'), jwt('PUT /v1/admin/creators/{creator_id}/agency'),
      jwt('DELETE /v1/admin/creators/{creator_id}/agency'),
      jwt('GET /v1/admin/payouts'), jwt('POST /v1/admin/payouts/{payout_id}/release'),
      jwt('POST /v1/admin/payouts/{payout_id}/return'), jwt('POST /v1/admin/refunds/{refund_id}/retry'),
      jwt('POST /v1/admin/corrections'), jwt('PUT /v1/admin/payees/{payee_id}/payout-account'),
    ],
  },
  {
    binary: 'place-order',
    description: 'Places a shop order: reserves every line\'s stock, the buyer\'s limits and the order in one transaction',
    routes: [jwt('POST /v1/orders')],
  },
  {
    binary: 'shop-api',
    description: 'Products and stock; orders after placement: read, cancel, fulfillment, refund (through the provider); a buyer\'s refunds',
    routes: [
      jwt('POST /v1/products'), jwt('GET /v1/products/{product_id}'), jwt('POST /v1/products/{product_id}/stock'),
      jwt('GET /v1/orders/{order_id}'), jwt('POST /v1/orders/{order_id}/cancel'),
      jwt('POST /v1/orders/{order_id}/fulfillment'), jwt('POST /v1/orders/{order_id}/refund'),
      jwt('GET /v1/me/refunds'),
    ],
  },
  {
    binary: 'settle-payouts',
    description: 'Settlement queue consumer: gifts become creator earnings and leaderboard entries, due orders pay seller and creator, exactly once',
    routes: [],
  },
  {
    binary: 'sweep-settlements',
    description: 'Scheduled: re-drives unsettled gifts, releases due holds, expires unpaid orders, sends due orders to settlement',
    routes: [],
  },
  {
    binary: 'execute-payouts',
    description: 'Payouts queue consumer (FIFO, one payee or buyer at a time): pays each payout and refund through the provider, exactly once',
    routes: [],
  },
  {
    binary: 'schedule-payouts',
    description: 'Scheduled weekly: requests a payout for every creator and seller with at least the minimum available',
    routes: [],
  },
  {
    binary: 'payments-webhook',
    description: 'Signed payment-provider webhooks (livepay\'s own format and Stripe\'s): coin purchases, order payments, chargebacks, refund answers, connected accounts',
    routes: [
      { routeKey: 'POST /v1/webhooks/payments', access: 'signed-webhook' },
      { routeKey: 'POST /v1/webhooks/stripe', access: 'signed-webhook' },
    ],
  },
];
