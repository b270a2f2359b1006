"""A local stand-in for the part of Stripe's API livepay's money out calls, for the local stack
and its tests: Connect transfers (which no fake Stripe server on PyPI or npm implements) and
refunds of a PaymentIntent (which localstripe implements only for PaymentIntents it made itself,
and the local stack's payments arrive as signed webhooks, not through it).

Requests and answers follow Stripe's API reference (https://docs.stripe.com/api): form-encoded
bodies with nested `metadata[...]`, `Authorization: Bearer sk_test_…`, `Idempotency-Key` (the
same key and parameters replay the first answer; other parameters are an `idempotency_error`),
list objects, and the error object `{"error": {"type", "code", "message", "param"}}`.
`scripts/local/tests/test_stripe_standin.py` drives it with Stripe's own Python library.
"""
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _error(status, kind, message, code=None, param=None):
    body = {"type": kind, "message": message}
    if code:
        body["code"] = code
    if param:
        body["param"] = param
    return status, {"error": body}


def _form(raw):
    """Stripe's encoding: `a=1&metadata[k]=v` → {"a": "1", "metadata": {"k": "v"}}."""
    out = {}
    for key, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
        if "[" in key and key.endswith("]"):
            outer, inner = key[:-1].split("[", 1)
            out.setdefault(outer, {})[inner] = value
        else:
            out[key] = value
    return out


class StripeStandIn:
    def __init__(self):
        self.lock = threading.Lock()
        self.transfers, self.refunds = [], []
        self.keys = {}  # idempotency key -> (path, params, status, body)

    def handle(self, method, path, query, params, key, authorization):
        if not authorization.startswith("Bearer sk_test_"):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        with self.lock:
            if method == "POST" and key:
                seen = self.keys.get(key)
                if seen:
                    if seen[:2] != (path, params):
                        return _error(400, "idempotency_error",
                                      "Keys for idempotent requests can only be used with the same parameters "
                                      "they were first used with.")
                    return seen[2], seen[3]
            status, body = self._route(method, path, query, params)
            if method == "POST" and key:
                self.keys[key] = (path, params, status, body)
            return status, body

    def _route(self, method, path, query, params):
        if (method, path) == ("POST", "/v1/transfers"):
            return self._create_transfer(params)
        if (method, path) == ("GET", "/v1/transfers"):
            group = query.get("transfer_group")
            return self._list("/v1/transfers", [t for t in self.transfers
                                                 if group is None or t["transfer_group"] == group], query)
        if (method, path) == ("POST", "/v1/refunds"):
            return self._create_refund(params)
        if (method, path) == ("GET", "/v1/refunds"):
            pi = query.get("payment_intent")
            return self._list("/v1/refunds", [r for r in self.refunds
                                               if pi is None or r["payment_intent"] == pi], query)
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    @staticmethod
    def _amount(params):
        try:
            amount = int(params.get("amount", ""))
        except ValueError:
            return None
        return amount if amount > 0 else None

    def _create_transfer(self, params):
        amount = self._amount(params)
        if amount is None:
            return _error(400, "invalid_request_error", "Invalid positive integer", "parameter_invalid_integer", "amount")
        if params.get("currency") != "usd":
            return _error(400, "invalid_request_error", "Invalid currency", "parameter_invalid_string", "currency")
        destination = params.get("destination", "")
        if not destination.startswith("acct_"):
            return _error(400, "invalid_request_error", f"No such destination: '{destination}'",
                          "resource_missing", "destination")
        transfer = {
            "id": "tr_" + secrets.token_hex(12), "object": "transfer", "amount": amount, "amount_reversed": 0,
            "balance_transaction": "txn_" + secrets.token_hex(12), "created": int(time.time()), "currency": "usd",
            "description": params.get("description"), "destination": destination,
            "destination_payment": "py_" + secrets.token_hex(12), "livemode": False,
            "metadata": params.get("metadata", {}),
            "reversals": {"object": "list", "data": [], "has_more": False, "url": "/v1/transfers/reversals"},
            "reversed": False, "source_transaction": None, "source_type": "card",
            "transfer_group": params.get("transfer_group"),
        }
        self.transfers.append(transfer)
        return 200, transfer

    def _create_refund(self, params):
        pi = params.get("payment_intent", "")
        if not pi:
            return _error(400, "invalid_request_error", "One of charge or payment_intent is required.",
                          "parameter_missing", "payment_intent")
        amount = self._amount(params)
        if amount is None:
            return _error(400, "invalid_request_error", "Invalid positive integer", "parameter_invalid_integer", "amount")
        refund = {
            "id": "re_" + secrets.token_hex(12), "object": "refund", "amount": amount,
            "balance_transaction": "txn_" + secrets.token_hex(12), "charge": "ch_" + secrets.token_hex(12),
            "created": int(time.time()), "currency": "usd", "metadata": params.get("metadata", {}),
            "payment_intent": pi, "reason": params.get("reason"), "receipt_number": None,
            "source_transfer_reversal": None, "status": "succeeded", "transfer_reversal": None,
        }
        self.refunds.append(refund)
        return 200, refund

    @staticmethod
    def _list(url, items, query):
        limit = min(int(query.get("limit", "10")), 100)
        newest = list(reversed(items))
        return 200, {"object": "list", "data": newest[:limit], "has_more": len(newest) > limit, "url": url}


def serve(port, host="127.0.0.1"):
    state = StripeStandIn()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method):
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            status, body = state.handle(
                method, url.path, dict(urllib.parse.parse_qsl(url.query)), _form(raw),
                self.headers.get("idempotency-key", ""), self.headers.get("authorization", ""))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._answer("GET")

        def do_POST(self):
            self._answer("POST")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.serve_forever()
