"""Cold starts: each function's release bootstrap against a local Lambda Runtime API.

    scripts/bench-cold-start [--runs N]

For every function (and `hello-lambda`, a hello-world `lambda_runtime` binary built the same way)
it starts the bootstrap as Lambda would, N times, and measures:

- init: process start -> its first `GET /runtime/invocation/next`;
- first: the first invocation, event handed over -> response posted (it pays for the first
  connection to DynamoDB/SQS, unless init warmed one);
- warm: a second invocation in the same process;
- RSS after the first invocation;
- init and first invocation again with `WARM_UP_CONNECTIONS=false`: what the connection warm-up
  moves from the first request into init.

The hello-world runs are interleaved with each function's, so the ratio compares cold starts taken
under the same conditions.

Events are ones the function really works on: requests that reach DynamoDB, queue records and
schedules. The emulator and its tables come from `scripts/bench-cold-start`.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WEBHOOK_SECRET = "bench-webhook-secret"
STREAM = "st_01M82EKR9990C5WBRX7TAQ0JQ0_" + base64.urlsafe_b64encode(b"bench-creator").decode().rstrip("=")


def http_event(method, path, route, claims=None, body=None, headers=None, path_params=None):
    ctx = {"accountId": "000000000000", "apiId": "bench", "domainName": "localhost", "domainPrefix": "bench",
           "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                    "userAgent": "bench"},
           "requestId": str(uuid.uuid4()), "routeKey": route, "stage": "$default",
           "time": "22/Nov/2026:00:00:00 +0000", "timeEpoch": 0}
    if claims:
        ctx["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    event = {"version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
             "headers": {"content-type": "application/json", **(headers or {})},
             "requestContext": ctx, "isBase64Encoded": False}
    if path_params:
        event["pathParameters"] = path_params
    if body is not None:
        event["body"] = body
    return event


def signed_webhook():
    body = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "type": "coins.purchased",
                       "data": {"user_id": "bench-viewer", "coins": 70, "amount_cents": 99}})
    t = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
    return http_event("POST", "/v1/webhooks/payments", "POST /v1/webhooks/payments", body=body,
                      headers={"livepay-signature": f"t={t},v1={mac}"})


def sqs_event(body, group=None):
    record = {"messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": body, "attributes": {},
              "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
              "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench", "awsRegion": "us-east-1"}
    if group:
        record["attributes"]["MessageGroupId"] = group
    return {"Records": [record]}


def scheduled_event():
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "000000000000", "time": "2026-11-22T00:00:00Z", "region": "us-east-1",
            "resources": [], "detail": {}}


VIEWER = {"sub": "bench-viewer", "age_verified": "true"}
CREATOR = {"sub": "bench-creator", "age_verified": "true", "cognito:groups": "[creator]"}


def events():
    """One event per function, each making at least one AWS call."""
    return {
        "send-gift": lambda: http_event("POST", f"/v1/streams/{STREAM}/gifts", "POST /v1/streams/{stream_id}/gifts",
                                        VIEWER, json.dumps({"gift_id": "rose", "count": 1}),
                                        {"idempotency-key": str(uuid.uuid4())}, {"stream_id": STREAM}),
        "wallet-api": lambda: http_event("GET", "/v1/wallet", "GET /v1/wallet", VIEWER),
        "streams-api": lambda: http_event("GET", f"/v1/streams/{STREAM}/leaderboard",
                                          "GET /v1/streams/{stream_id}/leaderboard", VIEWER,
                                          path_params={"stream_id": STREAM}),
        "creators-api": lambda: http_event("GET", "/v1/creators/me/balance", "GET /v1/creators/me/balance", CREATOR),
        "place-order": lambda: http_event("POST", "/v1/orders", "POST /v1/orders", VIEWER,
                                          json.dumps({"lines": [{"product_id": "prod_bench", "quantity": 1}]}),
                                          {"idempotency-key": str(uuid.uuid4())}),
        "shop-api": lambda: http_event("GET", "/v1/products/prod_bench", "GET /v1/products/{product_id}", VIEWER,
                                       path_params={"product_id": "prod_bench"}),
        "payments-webhook": signed_webhook,
        "settle-payouts": lambda: sqs_event(json.dumps({
            "type": "gift.sent", "version": 1, "gift_txn_id": f"gift_{uuid.uuid4().hex}", "stream_id": STREAM,
            "creator_id": "bench-creator", "sender_id": "bench-viewer", "gift_id": "rose", "count": 1, "coins": 1,
            "sent_at": "2026-11-22T00:00:00Z"})),
        "execute-payouts": lambda: sqs_event(json.dumps({
            "type": "payout.requested", "version": 1, "payout_id": f"po_{uuid.uuid4().hex}",
            "creator_id": "bench-creator", "requested_at": "2026-11-22T00:00:00Z"}), group="bench-creator"),
        "sweep-settlements": scheduled_event,
        "schedule-payouts": scheduled_event,
        "hello-lambda": lambda: {"hello": "world"},
    }


class RuntimeApi:
    """The Lambda Runtime API for one process at a time: hands out `events` in order, records when
    each `/next` and each response arrived."""

    def __init__(self):
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self._send(404, b"{}")
                now = time.perf_counter()
                with outer.lock:
                    outer.next_at.append(now)
                    pending = outer.pending.pop(0) if outer.pending else None
                if pending is None:
                    outer.idle.set()
                    time.sleep(30)  # the process is killed meanwhile
                    return
                request_id, event = pending
                outer.sent_at[request_id] = time.perf_counter()
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:000000000000:function:bench")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                now = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                parts = self.path.split("/")
                if "invocation" in parts:
                    request_id = parts[parts.index("invocation") + 1]
                    outer.answers[request_id] = (now, parts[-1], body)
                    outer.rss.append(rss_kib(outer.pid))
                else:
                    outer.answers["init"] = (now, "init-error", body)
                    outer.idle.set()
                self._send(202, b"{}")

            def _send(self, status, body):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def run(self, bootstrap, env, make_event):
        """Starts `bootstrap`, gives it two invocations; returns (init, first, warm) in ms and RSS."""
        ids = [str(uuid.uuid4()), str(uuid.uuid4())]
        self.pending = [(ids[0], make_event()), (ids[1], make_event())]
        self.next_at, self.sent_at, self.answers, self.rss = [], {}, {}, []
        self.idle = threading.Event()
        started = time.perf_counter()
        proc = subprocess.Popen([bootstrap], env={**env, "AWS_LAMBDA_RUNTIME_API": self.address},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pid = proc.pid
        finished = self.idle.wait(60)
        proc.kill()
        _, stderr = proc.communicate()
        if not finished or "init" in self.answers or len(self.answers) < 2:
            sys.exit(f"{bootstrap} did not answer both invocations: {self.answers} {stderr.decode()[-2000:]}")
        for request_id in ids:
            _, kind, body = self.answers[request_id]
            if kind != "response":
                sys.exit(f"{bootstrap} failed an invocation: {body[:500]!r}")
        init = (self.next_at[0] - started) * 1000
        first, warm = ((self.answers[i][0] - self.sent_at[i]) * 1000 for i in ids)
        return init, first, warm, self.rss[0]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lambda-dir", required=True, help="target/lambda with <function>/bootstrap.zip")
    parser.add_argument("--env-file", required=True, help="the functions' environment (KEY=value lines)")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    env = {"PATH": os.environ["PATH"], "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
           "AWS_LAMBDA_LOG_STREAM_NAME": "bench", "RUST_LOG": "warn"}
    with open(args.env_file) as f:
        env.update(line.strip().split("=", 1) for line in f if "=" in line)
    api = RuntimeApi()
    unpacked = tempfile.mkdtemp(prefix="livepay-cold-start-")
    makers = events()
    hello = (unpack(args.lambda_dir, unpacked, "hello-lambda"), env, makers.pop("hello-lambda"))
    api.run(*hello)  # page the binary in once, as a warm host would have it
    cold_env = {**env, "WARM_UP_CONNECTIONS": "false"}
    rows, hello_inits = {}, []
    for name, make_event in makers.items():
        bootstrap = unpack(args.lambda_dir, unpacked, name)
        api.run(bootstrap, env, make_event)
        baseline, warmed, cold = interleaved(api, args.runs, hello, (bootstrap, env, make_event),
                                             (bootstrap, cold_env, make_event))
        hello_inits.append(baseline[0])
        rows[name] = (baseline[0], warmed, cold)
    print(f"median of {args.runs} cold starts per function (release bootstraps, local Runtime API, moto); "
          f"x hello: against hello-lambda started in turn with it (median init {statistics.median(hello_inits):.2f} ms)")
    print(f"{'':<18} {'warm-up in init (default)':<48} {'WARM_UP_CONNECTIONS=false':<28}")
    print(f"{'function':<18} {'init ms':>8} {'x hello':>8} {'1st inv ms':>10} {'warm inv ms':>11} {'RSS MiB':>8} "
          f"{'init ms':>8} {'x hello':>8} {'1st inv ms':>10}")
    for name, (hello_init, (init, first, warm, rss), (cold_init, cold_first, _, _)) in rows.items():
        print(f"{name:<18} {init:>8.2f} {init / hello_init:>8.2f} {first:>10.2f} {warm:>11.2f} {rss / 1024:>8.1f} "
              f"{cold_init:>8.2f} {cold_init / hello_init:>8.2f} {cold_first:>10.2f}")


def unpack(lambda_dir, into, name):
    """`name`'s bootstrap from its deployable zip, as Lambda unpacks it."""
    archive = os.path.join(lambda_dir, name, "bootstrap.zip")
    if not os.path.exists(archive):
        sys.exit(f"{archive} is missing: scripts/build-lambdas builds it")
    target = os.path.join(into, name)
    zipfile.ZipFile(archive).extractall(target)
    bootstrap = os.path.join(target, "bootstrap")
    os.chmod(bootstrap, 0o755)
    return bootstrap


def interleaved(api, runs, *configs):
    """`runs` cold starts of each (bootstrap, env, make_event), taken in turn so that drift on the
    host affects them alike; for each, the median init, first, warm (ms) and RSS (KiB)."""
    samples = [[] for _ in configs]
    for _ in range(runs):
        for taken, config in zip(samples, configs):
            taken.append(api.run(*config))
    return [[statistics.median(s[k] for s in taken) for k in range(4)] for taken in samples]


if __name__ == "__main__":
    main()
