"""The demo: real HTTP requests through the local gateway, printed as they happen."""
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

API = os.environ["LIVEPAY_API_URL"]
SECRET = os.environ["LIVEPAY_WEBHOOK_SECRET"].encode()
STRIPE_SECRET = os.environ["LIVEPAY_STRIPE_WEBHOOK_SECRET"]
STRIPE_API = os.environ["LIVEPAY_STRIPE_API_URL"]
# Stripe's own library signs the demo's Stripe events (tests/stripe, installed by scripts/up).
STRIPE_SIGN = os.path.join(os.path.dirname(__file__), "..", "..", "..", "tests", "stripe", "sign.mjs")
TOKEN_CMD = os.environ["LIVEPAY_TOKEN_CMD"]
# The functions' default (STREAM_CACHE_SECONDS): how long send-gift trusts a stream it read.
STREAM_CACHE_SECONDS = int(os.environ.get("STREAM_CACHE_SECONDS", "5"))


def token(sub, *flags):
    return subprocess.check_output([TOKEN_CMD, "--sub", sub, *flags], text=True).strip()


def call(method, path, body=None, tok=None, key=None, headers=None, quiet=False):
    data = json.dumps(body).encode() if body is not None else None
    h = {"content-type": "application/json", **(headers or {})}
    if tok:
        h["authorization"] = f"Bearer {tok}"
    if key:
        h["idempotency-key"] = key
    req = urllib.request.Request(API + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            status, resp_headers, text = r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        status, resp_headers, text = e.code, e.headers, e.read().decode()
    replay = " (Idempotent-Replayed)" if resp_headers.get("idempotent-replayed") == "true" else ""
    if not quiet:
        print(f"  {method} {path} -> {status}{replay}\n    {text}")
    return status, json.loads(text) if text else None


def webhook(event, quiet=False):
    raw = json.dumps(event).encode()
    t = str(int(time.time()))
    sig = hmac.new(SECRET, t.encode() + b"." + raw, hashlib.sha256).hexdigest()
    req = urllib.request.Request(API + "/v1/webhooks/payments", data=raw, method="POST",
                                 headers={"content-type": "application/json", "livepay-signature": f"t={t},v1={sig}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        text = r.read().decode()
        if not quiet:
            print(f"  POST /v1/webhooks/payments ({event['type']}) -> {r.status}\n    {text}")
        return r.status


def stripe_event(event):
    """Delivers `event` to the Stripe endpoint, signed as Stripe signs it."""
    raw = json.dumps(event)
    signed = [{"payload": raw, "secret": STRIPE_SECRET, "timestamp": int(time.time())}]
    sig = json.loads(subprocess.check_output(["node", STRIPE_SIGN], input=json.dumps(signed), text=True))[0]
    req = urllib.request.Request(API + "/v1/webhooks/stripe", data=raw.encode(), method="POST",
                                 headers={"content-type": "application/json", "stripe-signature": sig})
    with urllib.request.urlopen(req, timeout=120) as r:
        print(f"  POST /v1/webhooks/stripe ({event['type']}) -> {r.status}\n    {r.read().decode()}")
        return r.status


def checkout(run, user, coins, cents):
    """Stripe's two events for one Checkout payment of a coin pack (shapes as Stripe documents)."""
    pi, meta = f"pi_demo_{run}", {"livepay_kind": "coins", "user_id": user, "coins": str(coins)}
    base = {"object": "event", "api_version": "2025-08-27.basil", "created": int(time.time()), "livemode": False,
            "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None}}
    session = dict(base, id=f"evt_cs_{run}", type="checkout.session.completed", data={"object": {
        "id": f"cs_test_{run}", "object": "checkout.session", "mode": "payment", "payment_status": "paid",
        "status": "complete", "payment_intent": pi, "amount_total": cents, "currency": "usd", "metadata": meta}})
    intent = dict(base, id=f"evt_pi_{run}", type="payment_intent.succeeded", data={"object": {
        "id": pi, "object": "payment_intent", "amount": cents, "amount_received": cents, "currency": "usd",
        "status": "succeeded", "metadata": meta}})
    return session, intent


def wait_for(path, tok, done, seconds=30):
    """GETs `path` until `done(body)` (the queue triggers work in the background), then shows it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, body = call("GET", path, tok=tok, quiet=True)
        if status == 200 and done(body):
            break
        time.sleep(0.5)
    return call("GET", path, tok=tok)[1]


def main():
    run = uuid.uuid4().hex[:6]
    creator, viewer = f"ana-{run}", f"bob-{run}"
    ana, bob = token(creator, "--groups", "creator", "--adult"), token(viewer, "--adult")
    print(f"1. {viewer} buys 70 coins ($0.99) through Stripe Checkout; Stripe sends checkout.session.completed,"
          " signed with the endpoint secret by Stripe's own library:")
    session, intent = checkout(run, viewer, 70, 99)
    stripe_event(session)
    print("   ...and payment_intent.succeeded for the same payment, then the first again (Stripe retries):"
          " the PaymentIntent is credited once")
    stripe_event(intent)
    stripe_event(session)
    print(f"2. {creator} goes live:")
    _, stream = call("POST", "/v1/streams", {"title": "Friday night live"}, ana, key=f"open-{run}")
    sid = stream["stream_id"]
    print(f"3. {viewer} sends a combo of 5 roses, then a doughnut:")
    call("POST", f"/v1/streams/{sid}/gifts", {"gift_id": "rose", "count": 5}, bob, key=f"g1-{run}")
    call("POST", f"/v1/streams/{sid}/gifts", {"gift_id": "doughnut", "count": 1}, bob, key=f"g2-{run}")
    print("4. The app retries the doughnut with the same Idempotency-Key: replayed, not charged twice")
    call("POST", f"/v1/streams/{sid}/gifts", {"gift_id": "doughnut", "count": 1}, bob, key=f"g2-{run}")
    print("5. A Lion (29,999 coins) is more than the wallet holds:")
    call("POST", f"/v1/streams/{sid}/gifts", {"gift_id": "lion", "count": 1}, bob, key=f"g3-{run}")
    print("6. No token, or a creator gifting themself, are refused:")
    call("POST", f"/v1/streams/{sid}/gifts", {"gift_id": "rose", "count": 1}, None, key=f"g4-{run}")
    call("POST", f"/v1/streams/{sid}/gifts", {"gift_id": "rose", "count": 1}, ana, key=f"g5-{run}")
    print(f"7. {viewer}'s wallet now:")
    _, wallet = call("GET", "/v1/wallet", tok=bob)
    print(f"8. {creator} ends the stream. A send-gift instance trusts the stream it read for up to"
          f" {STREAM_CACHE_SECONDS} s (a gift it takes then still counts); after that gifts are refused:")
    call("POST", f"/v1/streams/{sid}/end", None, ana, key=f"end-{run}")
    time.sleep(STREAM_CACHE_SECONDS + 1)
    call("POST", f"/v1/streams/{sid}/gifts", {"gift_id": "rose", "count": 1}, bob, key=f"g6-{run}")
    # 5 roses (5 coins) and a doughnut (30) at the 50 % creator share: 2 + 15 whole diamonds.
    expected = 5 * 50 // 100 + 30 * 50 // 100
    print(f"9. settle-payouts takes the two gifts off the settlement queue (the local trigger polls it,"
          f" batching window 2 s); {creator}'s earnings:")
    balance = wait_for("/v1/creators/me/balance", ana, lambda b: b["diamonds_available"] == expected)
    print("10. The stream's leaderboard (settled gifts; it outlives the stream), and this week's top gifters:")
    _, board = call("GET", f"/v1/streams/{sid}/leaderboard?limit=3", tok=bob)
    call("GET", f"/v1/creators/{creator}/leaderboard/weekly", tok=bob)
    gifts_ok = (wallet and wallet["coins"] == 70 - 5 - 30 and balance and balance["diamonds_available"] == expected
                and board and board["top"] == [{"user_id": viewer, "coins": 35}])
    sale_ok = flash_sale(run, creator, ana)
    paid_ok = payout(run, creator, ana, expected)
    ok = gifts_ok and sale_ok and paid_ok
    print(f"\nDemo {f'finished: 35 coins spent, {expected} diamonds settled to {creator}; flash sale sold 5 of 5; {creator} paid $50.00' if ok else 'FAILED'}.")
    sys.exit(0 if ok else 1)


def flash_sale(run, creator, ana):
    """A live flash sale: twelve viewers race for five units on the creator's stream."""
    seller = f"sam-{run}"
    sam = token(seller, "--groups", "seller", "--adult")
    print(f"11. {creator} goes live again for a flash sale; {seller} lists 5 lamps, 1 per buyer, 10 % commission:")
    _, stream = call("POST", "/v1/streams", {"title": "Flash sale!"}, ana, key=f"open2-{run}")
    _, product = call("POST", "/v1/products", {"title": "Moon lamp", "price_cents": 2500, "stock": 5,
                                               "per_buyer_limit": 1, "affiliate_rate_bps": 1000}, sam, key=f"p-{run}")
    pid, sid = product["product_id"], stream["stream_id"]
    buyers = [f"fan{i}-{run}" for i in range(12)]
    tokens = {b: token(b, "--adult") for b in buyers}
    print("12. Twelve viewers place an order at the same moment (one transaction each reserves the stock):")

    def order(b):
        return b, call("POST", "/v1/orders", {"lines": [{"product_id": pid, "quantity": 1}], "stream_id": sid},
                       tokens[b], key=f"o-{run}", quiet=True)

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(order, buyers))
    placed = [(b, body) for b, (status, body) in results if status == 201]
    sold_out = [b for b, (status, body) in results if status == 409 and body["error"]["code"] == "out_of_stock"]
    print(f"    {len(placed)} orders placed (201), {len(sold_out)} refused with 409 out_of_stock")
    call("GET", f"/v1/products/{pid}", tok=sam)
    (payer, paid), (canceller, cancelled) = placed[0], placed[1]
    print(f"13. The provider confirms {payer}'s payment; {canceller} cancels, and the lamp is back in stock:")
    webhook({"id": f"evt_pay_{run}", "type": "order.paid",
             "data": {"order_id": paid["order_id"], "amount_cents": paid["total_cents"]}})
    call("POST", f"/v1/orders/{cancelled['order_id']}/cancel", None, tokens[canceller], key=f"c-{run}")
    _, after_cancel = call("GET", f"/v1/products/{pid}", tok=sam, quiet=True)
    print(f"    stock_available is now {after_cancel['stock_available']}; unpaid orders expire after 15 minutes")
    print(f"14. {seller} ships and delivers; the order completes 7 days after delivery (SELLER_HOLD_SECONDS),")
    print(f"    paying {seller} the total less the 6 % fee and {creator}'s 10 % commission:")
    call("POST", f"/v1/orders/{paid['order_id']}/fulfillment", {"status": "shipped"}, sam, key=f"ship-{run}")
    _, delivered = call("POST", f"/v1/orders/{paid['order_id']}/fulfillment", {"status": "delivered"}, sam,
                        key=f"deliver-{run}")
    return (len(placed) == 5 and len(sold_out) == 7 and after_cancel["stock_available"] == 1
            and delivered and delivered["status"] == "delivered")


def payout(run, creator, ana, diamonds_before):
    """A whale's Lion makes the creator's earnings payable; the creator asks for $50 and is paid."""
    whale = f"wes-{run}"
    wes = token(whale, "--adult")
    print(f"15. {whale} buys 30,000 coins and sends {creator} a Lion (29,999 coins: 14,999 diamonds, $74.99 payable):")
    webhook({"id": f"evt_whale_{run}", "type": "coins.purchased",
             "data": {"user_id": whale, "coins": 30000, "amount_cents": 42999}})
    _, stream = call("POST", "/v1/streams", {"title": "Thank you stream"}, ana, key=f"open3-{run}", quiet=True)
    call("POST", f"/v1/streams/{stream['stream_id']}/gifts", {"gift_id": "lion", "count": 1}, wes, key=f"lion-{run}")
    want = diamonds_before + 29999 * 50 // 100
    wait_for("/v1/creators/me/balance", ana, lambda b: b["diamonds_available"] == want)
    admin = token(f"ada-{run}", "--groups", "admin")
    account = f"acct_demo{run}"
    print(f"16. An admin connects {creator}'s Stripe account ({account}), where payouts go (Stripe Connect):")
    call("PUT", f"/v1/admin/payees/{creator}/payout-account", {"stripe_account": account}, admin, key=f"acct-{run}")
    print(f"17. {creator} asks for a $40 payout (below the $50 minimum), then for $50:")
    call("POST", "/v1/creators/me/payouts", {"amount_cents": 4000}, ana, key=f"po-small-{run}")
    status, requested = call("POST", "/v1/creators/me/payouts", {"amount_cents": 5000}, ana, key=f"po-{run}")
    print("18. execute-payouts takes it off the FIFO payouts queue and makes a Connect transfer"
          " (POST /v1/transfers to the local Stripe stand-in; api.stripe.com in a deployment):")
    payouts = wait_for("/v1/creators/me/payouts", ana,
                       lambda p: p["payouts"] and p["payouts"][0]["status"] not in ("requested", "processing"))
    _, balance = call("GET", "/v1/creators/me/balance", tok=ana)
    payout_id = requested["payout_id"] if requested else ""
    with urllib.request.urlopen(urllib.request.Request(
            f"{STRIPE_API}/v1/transfers?transfer_group={payout_id}",
            headers={"authorization": "Bearer sk_test_local"})) as r:
        transfers = json.loads(r.read())["data"]
    for tr in transfers:
        print(f"    Stripe transfer {tr['id']}: {tr['amount']} cents to {tr['destination']},"
              f" transfer_group {tr['transfer_group']}")
    print(f"19. {creator}'s statement explains every balance, entry by entry (the last three):")
    _, statement = call("GET", "/v1/creators/me/statement?limit=200", tok=ana, quiet=True)
    for e in (statement or {}).get("entries", [])[-3:]:
        print(f"    {e['at']} {e['kind']:>14} {e['amount']:>+8} {e['unit']:<5} -> {e['balance']} = {e['balance_after']}")
    return (status == 202 and requested["status"] == "requested" and payouts
            and payouts["payouts"][0]["status"] == "paid" and balance and balance["cents_paid_out"] == 5000
            and [(t["amount"], t["destination"]) for t in transfers] == [(5000, account)])


if __name__ == "__main__":
    main()
