"""Storms through the running local stack (`scripts/storm`): the local gateway, every function
under cargo-lambda with several instances, DynamoDB behind the conflict layer. Viewers buy coins
through signed webhooks, then send gifts to one live stream from many clients at once; the creator
ends the stream half way. Then a flash sale, and the payments of its orders all at once. It checks
what the in-process storm tests check, from outside: every gift answered 201 or a rule refusal
(never 404, never 5xx), ending the stream succeeds, every accepted gift settles (through the queue
trigger), the conflict layer saw conflicts on no item but a sender's own wallet, exactly the stock
is sold and every payment applied; then a LIVE match of two rooms whose score must reach exactly
the coins sent each side, and how long it lags the gifts. Exits non-zero otherwise."""
import argparse
import datetime
import json
import os
import sys
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from . import tokens
from .demo import call, wait_for, webhook
from .template import load

# finger_heart: 5 coins, 2 whole diamonds to the creator at the default 50 % share.
GIFT, COINS, DIAMONDS = "finger_heart", 5, 2


def main():
    ap = argparse.ArgumentParser(prog="storm")
    ap.add_argument("--gifts", type=int, default=600)
    ap.add_argument("--viewers", type=int, default=60)
    ap.add_argument("--clients", type=int, default=32, help="requests in flight at once")
    args = ap.parse_args()
    tpl = load(os.environ["LIVEPAY_TEMPLATE"])
    mint = lambda sub, groups=(): tokens.mint(os.environ["LIVEPAY_KEY_DIR"], tpl.jwt_issuer,  # noqa: E731
                                              tpl.jwt_audience[0], sub, list(groups), True)
    reset_conflicts()
    run = uuid.uuid4().hex[:6]
    creator = f"storm-creator-{run}"
    host = mint(creator, ["creator"])
    viewers = [f"storm-{run}-{i:03}" for i in range(args.viewers)]
    per_viewer = -(-args.gifts // args.viewers)
    with ThreadPoolExecutor(args.clients) as pool:
        funded = list(pool.map(lambda v: webhook({"id": f"evt_{v}", "type": "coins.purchased",
                                                  "data": {"user_id": v, "coins": per_viewer * COINS,
                                                           "amount_cents": 99}}, quiet=True), viewers))
    bearer = {v: mint(v) for v in viewers}
    _, stream = call("POST", "/v1/streams", {"title": "Storm"}, host, key=f"open-{run}", quiet=True)
    sid = stream["stream_id"]

    def gift(i):
        if i == args.gifts // 2:
            started = time.monotonic()
            status, _ = call("POST", f"/v1/streams/{sid}/end", None, host, key=f"end-{run}", quiet=True)
            return "end", status, "", time.monotonic() - started
        v = viewers[i % len(viewers)]
        started = time.monotonic()
        status, body = call("POST", f"/v1/streams/{sid}/gifts", {"gift_id": GIFT, "count": 1}, bearer[v],
                            key=f"g-{run}-{i}", quiet=True)
        code = (body or {}).get("error", {}).get("code", "") if status >= 400 else ""
        return "gift", status, code, time.monotonic() - started

    started = time.monotonic()
    with ThreadPoolExecutor(args.clients) as pool:
        answers = list(pool.map(gift, range(args.gifts + 1)))
    wall = time.monotonic() - started
    gifts = [a for a in answers if a[0] == "gift"]
    end_status = next(a[1] for a in answers if a[0] == "end")
    statuses = Counter((s, c) for _, s, c, _ in gifts)
    times = sorted(t for *_, t in gifts)
    accepted = statuses[(201, "")]
    print(f"gateway storm: {len(gifts)} gifts from {len(viewers)} viewers, {args.clients} clients, the stream ended"
          f" half way ({end_status}): answers {dict(statuses)}, latency p50 {times[len(times) // 2] * 1000:.0f} ms"
          f" p99 {times[int(len(times) * 0.99)] * 1000:.0f} ms, wall {wall:.1f} s")
    balance = wait_for("/v1/creators/me/balance", host, lambda b: b["diamonds_available"] == accepted * DIAMONDS,
                       seconds=120)
    conflicts = fetch_conflicts()
    by_kind = Counter()
    for c in conflicts:
        pk = c["key"].get("pk", {}).get("S", "")
        by_kind[pk.split(":")[0] if ":" in pk else pk.split("#")[0]] += c["conflicts"]
    print(f"gateway storm conflicts by item kind: {dict(by_kind)}")
    allowed = {(201, ""), (409, "stream_not_live")}
    sale_ok = flash_sale(run, mint, args.clients)
    match_ok = match_lag(run, mint, viewers, bearer, args.clients)
    ok = (all(f == 200 for f in funded) and end_status == 200 and set(statuses) <= allowed
          and balance and balance["diamonds_available"] == accepted * DIAMONDS
          and set(by_kind) <= {"ACCT#wallet"} and sale_ok and match_ok)
    print("gateway storm: " + ("passed" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


def flash_sale(run, mint, clients, buyers=200, units=50):
    """`buyers` race for `units` of one product, then the provider confirms every placed order at
    once: exactly `units` placed, the rest `409 out_of_stock`, every payment applied."""
    seller = mint(f"storm-seller-{run}", ["seller"])
    _, product = call("POST", "/v1/products", {"title": "Storm lamp", "price_cents": 1500, "stock": units},
                      seller, key=f"p-{run}", quiet=True)
    pid = product["product_id"]

    def order(i):
        return call("POST", "/v1/orders", {"lines": [{"product_id": pid, "quantity": 1}]},
                    mint(f"storm-buyer-{run}-{i}"), key=f"o-{run}-{i}", quiet=True)

    with ThreadPoolExecutor(clients) as pool:
        orders = list(pool.map(order, range(buyers)))
    placed = [body for status, body in orders if status == 201]
    refused = [body for status, body in orders if status == 409 and body["error"]["code"] == "out_of_stock"]

    def pay(i_body):
        i, body = i_body
        return webhook({"id": f"evt_pay_{run}_{i}", "type": "order.paid",
                        "data": {"order_id": body["order_id"], "amount_cents": body["total_cents"]}}, quiet=True)

    with ThreadPoolExecutor(clients) as pool:
        paid = list(pool.map(pay, enumerate(placed)))
    _, after = call("GET", f"/v1/products/{pid}", tok=seller, quiet=True)
    print(f"gateway flash sale: {buyers} buyers for {units} units: {len(placed)} placed, {len(refused)} out of stock,"
          f" {buyers - len(placed) - len(refused)} other; {paid.count(200)} of {len(placed)} payments applied;"
          f" stock left {after['stock_available']}")
    return (len(placed) == units and len(refused) == buyers - units and paid == [200] * units
            and after["stock_available"] == 0)


def match_lag(run, mint, viewers, bearer, clients, gifts=200):
    """A LIVE match between two rooms (one with a guest): `gifts` gifts to both sides at once,
    then how long the score takes to show all of them (points come from settlement, so they lag
    by the settlement window: the queue trigger's batching window plus a settlement batch).
    The viewers' coins are topped up first."""
    hosts = [f"storm-match-{run}-{side}" for side in "ab"]
    tok = {h: mint(h, ["creator"]) for h in hosts}
    guest = f"storm-guest-{run}"
    sids = [call("POST", "/v1/streams", {"title": "Match"}, tok[h], key=f"m-open-{run}-{h}", quiet=True)[1]["stream_id"]
            for h in hosts]
    call("POST", f"/v1/streams/{sids[1]}/guests", {"user_id": guest}, tok[hosts[1]], key=f"m-guest-{run}", quiet=True)
    for v in viewers:
        webhook({"id": f"evt_m_{v}", "type": "coins.purchased",
                 "data": {"user_id": v, "coins": gifts * COINS, "amount_cents": 99}}, quiet=True)
    _, invited = call("POST", "/v1/matches", {"stream_id": sids[0], "opponent_stream_id": sids[1]},
                      tok[hosts[0]], key=f"m-invite-{run}", quiet=True)
    mid = invited["match_id"]
    status, accepted = call("POST", f"/v1/matches/{mid}/accept", None, tok[hosts[1]], key=f"m-accept-{run}",
                            quiet=True)
    # The window opens after the countdown (START_LEAD_SECONDS); gifts before it do not score.
    starts = datetime.datetime.fromisoformat(accepted["starts_at"].replace("Z", "+00:00"))
    time.sleep(max(0.0, (starts - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) + 1)
    recipients = [(sids[0], hosts[0]), (sids[1], hosts[1]), (sids[1], guest)]

    def gift(i):
        sid, recipient = recipients[i % 3]
        v = viewers[i % len(viewers)]
        status, _ = call("POST", f"/v1/streams/{sid}/gifts", {"gift_id": GIFT, "count": 1, "recipient_id": recipient},
                         bearer[v], key=f"m-g-{run}-{i}", quiet=True)
        return sid, status, time.monotonic()

    with ThreadPoolExecutor(clients) as pool:
        sent = list(pool.map(gift, range(gifts)))
    expected = [COINS * sum(1 for sid, st, _ in sent if sid == side and st == 201) for side in sids]
    last_answer = max(t for *_, t in sent)
    first_seen = complete = None
    deadline = last_answer + 120
    while time.monotonic() < deadline:
        _, score = call("GET", f"/v1/matches/{mid}", tok=tok[hosts[0]], quiet=True)
        points = [side["points"] for side in score["sides"]]
        now = time.monotonic()
        if first_seen is None and any(points):
            first_seen = now
        if points == expected:
            complete = now
            break
        time.sleep(0.1)
    if complete is None:
        print(f"gateway match: points {points} never reached {expected}")
        return False
    print(f"gateway match: accept {status}, {gifts} gifts to 2 sides (3 recipients), points {expected};"
          f" score lag after the last gift's answer: first points {first_seen - last_answer:+.2f} s,"
          f" all points {complete - last_answer:.2f} s")
    return status == 200 and all(st == 201 for _, st, _ in sent)


def reset_conflicts():
    url = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", "") + "/livepay/conflicts/reset"
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=10).close()
    except OSError:
        pass  # no conflict layer: nothing counted


def fetch_conflicts():
    """What the conflict layer counted on the stack's tables (none without the layer)."""
    url = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", "") + "/livepay/conflicts?table_prefix=livepay"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except (OSError, ValueError):
        return []


if __name__ == "__main__":
    main()
