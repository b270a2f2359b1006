"""Cost per million gifts on AWS, priced from measured inputs.

    scripts/cost-per-million-gifts [--gifts N] [--memory-mb M] [--send-gift-ms X] [--settle-ms X]

Reads the `cost-inputs:` JSON line of `tests/tests/cost.rs` on stdin. Measured there: each
handler invocation's duration (against moto), every DynamoDB item written (transactional or not,
condition checks included) with its size, every item read, and every SQS call the functions make.
Modelled here, from AWS's billing rules: request units from sizes, global secondary index writes
(see the test), Lambda's 1 ms billing, and the SQS calls Lambda's event source mapping makes to
deliver and delete settlement messages (10 per ReceiveMessage, 10 per DeleteMessageBatch).

Prices are us-east-1 list prices without free tier (Lambda arm64 after its first 6 billion GB-s
tier, DynamoDB on-demand since the November 2024 cut); edit PRICES for another region.
"""
import argparse
import json
import math
import sys

PRICES = {
    "lambda_gb_s_arm64": 0.0000133334,
    "lambda_request": 0.20 / 1e6,
    "dynamodb_wru": 0.625 / 1e6,
    "dynamodb_rru": 0.125 / 1e6,
    "sqs_standard_request": 0.40 / 1e6,
    "http_api_request": 1.00 / 1e6,
}
MILLION = 1_000_000


def lambda_cost(ms_per_invocation, invocations_per_gift, memory_mb):
    billed_s = math.ceil(ms_per_invocation) / 1000
    gb_s = billed_s * memory_mb / 1024 * invocations_per_gift * MILLION
    requests = invocations_per_gift * MILLION
    return gb_s, gb_s * PRICES["lambda_gb_s_arm64"] + requests * PRICES["lambda_request"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--memory-mb", type=int, default=256, help="the infra's memorySize")
    ap.add_argument("--send-gift-ms", type=float, help="override the measured mean send-gift duration")
    ap.add_argument("--settle-ms", type=float, help="override the measured mean settlement invocation")
    args = ap.parse_args()
    line = next((l for l in sys.stdin if l.startswith("cost-inputs: ")), None)
    if line is None:
        sys.exit("no cost-inputs line: did the cost test run?")
    m = json.loads(line[len("cost-inputs: "):])
    gifts = m["gifts"]
    send, settle = m["send_gift"], m["settlement"]

    send_ms = args.send_gift_ms or send["lambda"]["mean_ms"]
    settle_ms = args.settle_ms or settle["lambda"]["mean_ms"]
    settle_invocations = settle["lambda"]["invocations"] / gifts
    rows = []
    gb_s, usd = lambda_cost(send_ms, send["lambda"]["invocations"] / gifts, args.memory_mb)
    rows.append(("Lambda send-gift", f"1 invocation/gift x {send_ms:.1f} ms x {args.memory_mb} MB = {gb_s:,.0f} GB-s", usd))
    gb_s, usd = lambda_cost(settle_ms, settle_invocations, args.memory_mb)
    rows.append(("Lambda settlement", f"1 per {gifts / settle['lambda']['invocations']:.0f} gifts x {settle_ms:.0f} ms = {gb_s:,.0f} GB-s", usd))
    for name, phase in (("send-gift", send), ("settlement", settle)):
        d = phase["dynamodb"]
        wru = (d["table_wru"] + d["index_wru"]) / gifts
        rows.append((f"DynamoDB writes, {name}",
                     f"{wru:.2f} WRU/gift ({d['table_wru'] / gifts:.2f} table + {d['index_wru'] / gifts:.2f} index)",
                     wru * MILLION * PRICES["dynamodb_wru"]))
        rru = d["rru"] / gifts
        if rru:
            rows.append((f"DynamoDB reads, {name}", f"{rru:.3f} RRU/gift",
                         rru * MILLION * PRICES["dynamodb_rru"]))
    sends = send["calls"].get("SendMessage", 0) / gifts
    delivery = 2 * math.ceil(settle["batch"] / 10) / settle["batch"]
    rows.append(("SQS", f"{sends:.2f} SendMessage + {delivery:.2f} receive/delete per gift",
                 (sends + delivery) * MILLION * PRICES["sqs_standard_request"]))
    rows.append(("API Gateway HTTP API", "1 request/gift", MILLION * PRICES["http_api_request"]))

    name_width = max(len(r[0]) for r in rows)
    width = max(len(r[1]) for r in rows)
    print(f"Cost per million gifts (arm64, {args.memory_mb} MB, us-east-1 list prices; measured over {gifts} gifts)")
    print(f"{'':{name_width}} {'':{width}}       USD")
    for name, basis, usd in rows:
        print(f"{name:{name_width}} {basis:{width}}  {usd:8.2f}")
    total = sum(r[2] for r in rows)
    print(f"{'total':{name_width}} {'':{width}}  {total:8.2f}")
    for name, phase in (("send-gift", send), ("settlement", settle)):
        per_gift = {k: round(v / gifts, 2) for k, v in phase["dynamodb"]["wru_by_item"].items()}
        print(f"table WRU per gift by item, {name}: {json.dumps(per_gift)}")


if __name__ == "__main__":
    main()
