"""DynamoDB's transaction-conflict rules, applied in front of any local DynamoDB engine.

No local engine (moto, dynoxide) ever cancels a transaction because another one is touching the
same item: they run requests one at a time. Real DynamoDB does (the developer guide, "Transaction
conflict handling in DynamoDB"):

- a PutItem, UpdateItem or DeleteItem of an item that an ongoing TransactWriteItems includes fails
  with `TransactionConflictException`;
- a TransactWriteItems that includes an item another ongoing TransactWriteItems includes is
  cancelled (`TransactionCanceledException`, reason `TransactionConflict` for that item, `None`
  for the others);
- a TransactGetItems that includes an item an ongoing TransactWriteItems or single-item write
  includes is cancelled the same way;
- non-transactional reads (GetItem, Query, Scan, BatchGetItem) never conflict.

This proxy forwards every request to the engine unchanged, except that it answers a request that
breaks one of those rules itself, as DynamoDB would, without forwarding it. A TransactWriteItems
holds its items from the moment it arrives until it is answered, and it is answered no sooner
than `latency_ms` after it arrived: DynamoDB's own transactions take tens of milliseconds, a local
engine answers in a few, and the latency models the difference (default 15 ms, a typical small
TransactWriteItems on DynamoDB). Like DynamoDB's, a transaction is over when its caller hears
back, so a caller's next transaction never collides with its last one. Under load the engine's
queue would count as "in flight" too; for an engine that serves one request at a time (moto),
`engine_slots=1` makes a request wait for the engine before it is checked, so only the time it
runs (and its latency) holds its items, as on DynamoDB. BatchWriteItem is passed through unchecked
(livepay uses it only in a test's setup).

Every conflict is logged with its item key, and `GET /livepay/conflicts` returns them counted by
table and key (`?table_prefix=` to keep one test's tables; `POST /livepay/conflicts/reset` clears).
"""
import contextlib
import http.client
import itertools
import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TARGET_PREFIX = "DynamoDB_20120810."
SINGLE_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
CONFLICT_MESSAGE = "Transaction is ongoing for the item"


class Holds:
    """Which items ongoing writes hold."""

    def __init__(self):
        self._lock = threading.Lock()
        self._tx = {}  # item key -> owner: TransactWriteItems
        self._single = {}  # item key -> count of single-item writes running

    def acquire_tx(self, owner, keys):
        """Holds every key for `owner`, or none: returns the per-item conflict flags."""
        with self._lock:
            flags = [k in self._tx for k in keys]
            if not any(flags):
                for k in keys:
                    self._tx[k] = owner
            return flags

    def release_tx(self, owner, keys):
        with self._lock:
            for k in keys:
                if self._tx.get(k) == owner:
                    del self._tx[k]

    def tx_holds(self, key):
        with self._lock:
            return key in self._tx

    def any_write_holds(self, keys):
        with self._lock:
            return [k in self._tx or self._single.get(k, 0) > 0 for k in keys]

    def begin_single(self, key):
        with self._lock:
            self._single[key] = self._single.get(key, 0) + 1

    def end_single(self, key):
        with self._lock:
            n = self._single.get(key, 0) - 1
            if n > 0:
                self._single[key] = n
            else:
                self._single.pop(key, None)


class ConflictLog:
    def __init__(self, stream):
        self._lock = threading.Lock()
        self._counts = Counter()
        self._stream = stream

    def record(self, op, table, key_attrs):
        key = json.dumps(key_attrs, sort_keys=True, separators=(",", ":"))
        with self._lock:
            self._counts[(table, key)] += 1
        print(json.dumps({"conflict": op, "table": table, "key": key_attrs}), file=self._stream, flush=True)

    def summary(self, table_prefix=""):
        with self._lock:
            return [{"table": t, "key": json.loads(k), "conflicts": n}
                    for (t, k), n in sorted(self._counts.items()) if t.startswith(table_prefix)]

    def reset(self):
        with self._lock:
            self._counts.clear()


def error_body(kind, message, reasons=None):
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": message}
    if reasons is not None:
        body["CancellationReasons"] = reasons
    return json.dumps(body).encode()


def cancellation(flags):
    reasons = [{"Code": "TransactionConflict", "Message": CONFLICT_MESSAGE} if f else {"Code": "None"}
               for f in flags]
    codes = ", ".join(r["Code"] for r in reasons)
    return error_body("TransactionCanceledException",
                      f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                      reasons)


class Proxy:
    def __init__(self, backend, latency_ms=15, log_stream=sys.stderr, engine_slots=None):
        parts = urlsplit(backend)
        self.backend = (parts.hostname, parts.port or 80)
        self.latency_seconds = latency_ms / 1000
        # Requests the engine serves at once (None: as many as arrive).
        self._slots = threading.BoundedSemaphore(engine_slots) if engine_slots else None
        self.holds = Holds()
        self.log = ConflictLog(log_stream)
        self._schemas = {}
        self._schema_lock = threading.Lock()
        self._owners = itertools.count(1)

    def engine_slot(self):
        return self._slots if self._slots is not None else contextlib.nullcontext()

    def forward(self, method, path, headers, body):
        with self.engine_slot():
            return self._send(method, path, headers, body)

    def _send(self, method, path, headers, body):
        conn = http.client.HTTPConnection(*self.backend, timeout=300)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP], resp.read()
        finally:
            conn.close()

    def key_names(self, table, headers):
        """The table's key attribute names, asked of the engine once (with the caller's headers, so
        the engine sees the same account and region)."""
        with self._schema_lock:
            if table in self._schemas:
                return self._schemas[table]
        h = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "x-amz-target")}
        h["X-Amz-Target"] = TARGET_PREFIX + "DescribeTable"
        status, _, body = self.forward("POST", "/", h, json.dumps({"TableName": table}).encode())
        if status != 200:
            return None  # the engine answers the real request with its own error
        names = tuple(k["AttributeName"] for k in json.loads(body)["Table"]["KeySchema"])
        with self._schema_lock:
            self._schemas[table] = names
        return names

    def item_key(self, table, attrs, headers):
        names = self.key_names(table, headers)
        if names is None or not all(n in attrs for n in names):
            return None
        key = {n: attrs[n] for n in names}
        return (table, json.dumps(key, sort_keys=True, separators=(",", ":"))), key

    def keys_of(self, entries, headers):
        """(item key, key attributes) per entry of a transaction, None where none can be made."""
        out = []
        for entry in entries:
            op = next(iter(entry.values())) if isinstance(entry, dict) and len(entry) == 1 else None
            if not isinstance(op, dict):
                out.append(None)
                continue
            attrs = op.get("Key") or op.get("Item") or {}
            out.append(self.item_key(op.get("TableName", ""), attrs, headers))
        return out

    def handle(self, method, path, headers, body):
        """(status, headers, body) for one request."""
        target = headers.get("X-Amz-Target") or headers.get("x-amz-target") or ""
        op = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
        try:
            request = json.loads(body) if op else None
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return self.forward(method, path, headers, body)
        if op == "TransactWriteItems":
            return self.transact_write(request, method, path, headers, body)
        if op == "TransactGetItems":
            return self.transact_get(request, method, path, headers, body)
        if op in SINGLE_WRITES:
            return self.single_write(op, request, method, path, headers, body)
        return self.forward(method, path, headers, body)

    def conflict_answer(self, op, keys, flags):
        for k, f in zip(keys, flags):
            if f:
                self.log.record(op, k[0][0], k[1])
        return 400, [("Content-Type", "application/x-amz-json-1.0")], cancellation(flags)

    def transact_write(self, request, method, path, headers, body):
        entries = request.get("TransactItems")
        keys = self.keys_of(entries if isinstance(entries, list) else [], headers)
        held = [k for k in keys if k is not None]
        owner = next(self._owners)
        with self.engine_slot():
            # Checked when the engine takes it: what waits for the engine holds nothing yet.
            flags = self.holds.acquire_tx(owner, [k[0] for k in held])
            if any(flags):
                it = iter(flags)
                return self.conflict_answer("TransactWriteItems", keys, [k is not None and next(it) for k in keys])
            started = time.monotonic()
            try:
                answer = self._send(method, path, headers, body)
            except BaseException:
                self.holds.release_tx(owner, [k[0] for k in held])
                raise
        try:
            time.sleep(max(0.0, started + self.latency_seconds - time.monotonic()))
            return answer
        finally:
            self.holds.release_tx(owner, [k[0] for k in held])

    def transact_get(self, request, method, path, headers, body):
        entries = request.get("TransactItems")
        keys = self.keys_of(entries if isinstance(entries, list) else [], headers)
        flags = self.holds.any_write_holds([k[0] for k in keys if k is not None])
        it = iter(flags)
        flags = [k is not None and next(it) for k in keys]
        if any(flags):
            return self.conflict_answer("TransactGetItems", keys, flags)
        return self.forward(method, path, headers, body)

    def single_write(self, op, request, method, path, headers, body):
        attrs = request.get("Key") or request.get("Item") or {}
        found = self.item_key(request.get("TableName", ""), attrs, headers) if isinstance(attrs, dict) else None
        if found is None:
            return self.forward(method, path, headers, body)
        key, key_attrs = found
        if self.holds.tx_holds(key):
            self.log.record(op, key[0], key_attrs)
            return 400, [("Content-Type", "application/x-amz-json-1.0")], error_body(
                "TransactionConflictException", CONFLICT_MESSAGE)
        self.holds.begin_single(key)
        try:
            return self.forward(method, path, headers, body)
        finally:
            self.holds.end_single(key)


def make_server(proxy: Proxy, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes; with Nagle's algorithm on, a keep-alive client's
        # delayed ACK then stalls every response ~40 ms (measured: 49 ms a GetItem, 5 without).
        disable_nagle_algorithm = True

        def _send(self, status, headers, body):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self):
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self):
            body = self._body()
            if self.path == "/livepay/conflicts/reset":
                proxy.log.reset()
                return self._send(204, [], b"")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            try:
                self._send(*proxy.handle("POST", self.path, headers, body))
            except OSError as e:
                self._send(502, [("Content-Type", "text/plain")], f"engine unreachable: {e}".encode())

        def do_GET(self):
            parts = urlsplit(self.path)
            if parts.path == "/livepay/conflicts":
                prefix = parse_qs(parts.query).get("table_prefix", [""])[0]
                body = json.dumps(proxy.log.summary(prefix)).encode()
                return self._send(200, [("Content-Type", "application/json")], body)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            self._send(*proxy.forward("GET", self.path, headers, None))

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    return Server(("127.0.0.1", port), Handler)


def serve(backend: str, port: int, latency_ms: int, engine_slots: int = 0) -> None:
    server = make_server(Proxy(backend, latency_ms, engine_slots=engine_slots or None), port)
    print(f"DynamoDB conflict rules on 127.0.0.1:{server.server_address[1]} -> {backend}, "
          f"transactions take at least {latency_ms} ms",
          file=sys.stderr, flush=True)
    server.serve_forever()
