"""The local gateway's JWT authorizer: every invalid token is a 401 and no function runs.

Run from scripts/local with LIVEPAY_TEMPLATE pointing at the synthesized template:
    python -m unittest discover -s tests
"""
import base64
import hashlib
import hmac
import json
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
import time
import unittest
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from livepay_local import gateway, template, tokens


class RecordingInvokeApi:
    """Stands where cargo-lambda's invoke API would be, to observe whether a function ran."""

    def __init__(self, reply=lambda event: {"statusCode": 200, "body": "{}"}):
        self.events = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.events.append((self.path, event))
                body = json.dumps(reply(event)).encode()
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class GatewayAuthorizerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tpl = template.load(os.environ["LIVEPAY_TEMPLATE"])
        cls.keys = tempfile.TemporaryDirectory()
        tokens.ensure_keys(cls.keys.name)
        with open(os.path.join(cls.keys.name, "signing-key.pem"), "rb") as f:
            cls.signing_key = f.read()
        cls.invoke = RecordingInvokeApi()
        cls.gateway = gateway.make_server(cls.tpl, 0, cls.invoke.url, cls.keys.name)
        threading.Thread(target=cls.gateway.serve_forever, daemon=True).start()
        cls.base = f"http://127.0.0.1:{cls.gateway.server_address[1]}"

    @classmethod
    def tearDownClass(cls):
        cls.gateway.shutdown()
        cls.invoke.server.shutdown()
        cls.keys.cleanup()

    def setUp(self):
        self.invoke.events.clear()

    def claims(self, **overrides):
        now = int(time.time())
        claims = {"iss": self.tpl.jwt_issuer, "aud": self.tpl.jwt_audience[0], "sub": "viewer-1",
                  "iat": now, "exp": now + 600, "cognito:groups": ["creator", "seller"], "age_verified": "true"}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, key=None, alg="RS256", **overrides):
        return jwt.encode(self.claims(**overrides), key or self.signing_key, algorithm=alg)

    def get(self, path, authorization=None):
        return self.request("GET", path, authorization)

    def assert_rejected(self, authorization):
        self.assertEqual(self.get("/v1/wallet", authorization), 401)
        self.assertEqual(self.invoke.events, [], "a function ran for a rejected token")

    def test_missing_token(self):
        self.assert_rejected(None)

    def test_not_a_bearer_token(self):
        self.assert_rejected("Basic dXNlcjpwYXNz")

    def test_garbage_token(self):
        self.assert_rejected("Bearer not.a.jwt")

    def test_expired_token(self):
        self.assert_rejected("Bearer " + self.token(exp=int(time.time()) - 60))

    def test_token_without_expiry(self):
        self.assert_rejected("Bearer " + self.token(exp=None))

    def test_wrong_issuer(self):
        self.assert_rejected("Bearer " + self.token(iss="https://evil.example/"))

    def test_wrong_audience(self):
        self.assert_rejected("Bearer " + self.token(aud="someone-else"))

    def test_signed_by_another_key(self):
        other = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.assert_rejected("Bearer " + self.token(key=other))

    def test_unsigned_token(self):
        self.assert_rejected("Bearer " + jwt.encode(self.claims(), None, algorithm="none"))

    def test_hmac_token_keyed_with_the_public_key(self):
        # The classic algorithm-confusion attack: HS256 signed with the RSA public key as secret.
        def b64(b):
            return base64.urlsafe_b64encode(b).rstrip(b"=")

        head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = b64(json.dumps(self.claims()).encode())
        sig = b64(hmac.new(tokens.public_key(self.keys.name), head + b"." + body, hashlib.sha256).digest())
        self.assert_rejected("Bearer " + (head + b"." + body + b"." + sig).decode())

    def test_valid_token_reaches_the_function_with_its_claims_as_api_gateway_sends_them(self):
        self.assertEqual(self.get("/v1/wallet", "Bearer " + self.token()), 200)
        [(path, event)] = self.invoke.events
        self.assertEqual(path, "/2015-03-31/functions/wallet-api/invocations")
        claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
        self.assertEqual(claims["sub"], "viewer-1")
        self.assertEqual(claims["cognito:groups"], "[creator seller]")
        self.assertEqual(event["routeKey"], "GET /v1/wallet")

    def request(self, method, path, authorization=None):
        req = urllib.request.Request(self.base + path, data=b"{}" if method != "GET" else None, method=method)
        if authorization is not None:
            req.add_header("Authorization", authorization)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def test_every_jwt_route_refuses_missing_and_forged_tokens(self):
        # The authorization matrix's "no token" and "bad token" columns at the gateway, for every
        # route of the template: a route added without the authorizer fails here.
        other = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        forged = "Bearer " + self.token(key=other)
        expired = "Bearer " + self.token(exp=int(time.time()) - 60)
        jwt_routes = [r for r in self.tpl.routes if r.jwt]
        self.assertGreaterEqual(len(jwt_routes), 20)
        for route in jwt_routes:
            path = route.path.replace("{", "").replace("}", "")
            for authorization in (None, "Bearer not.a.jwt", forged, expired):
                with self.subTest(route=f"{route.method} {route.path}", authorization=authorization):
                    self.assertEqual(self.request(route.method, path, authorization), 401)
        self.assertEqual(self.invoke.events, [], "a function ran for a rejected token")
        webhook = [r for r in self.tpl.routes if not r.jwt]
        self.assertEqual([f"{r.method} {r.path}" for r in webhook], ["POST /v1/webhooks/payments", "POST /v1/webhooks/stripe"])

    def test_the_webhook_route_needs_no_token(self):
        req = urllib.request.Request(self.base + "/v1/webhooks/payments", data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 200)
        [(path, event)] = self.invoke.events
        self.assertNotIn("authorizer", event["requestContext"])

    def test_the_openapi_document_is_served_without_a_token(self):
        with urllib.request.urlopen(self.base + "/openapi.json", timeout=10) as r:
            doc = json.loads(r.read())
        self.assertEqual(doc["openapi"], "3.1.0")
        self.assertIn("/v1/streams/{stream_id}/gifts", doc["paths"])
        self.assertEqual(self.invoke.events, [])

    def test_a_body_that_is_not_utf8_reaches_the_function_base64_encoded(self):
        req = urllib.request.Request(self.base + "/v1/webhooks/payments", data=b"\xff\xfe{", method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 200)
        [(_, event)] = self.invoke.events
        self.assertTrue(event["isBase64Encoded"])
        self.assertEqual(base64.b64decode(event["body"]), b"\xff\xfe{")

    def test_a_method_without_a_route_is_404(self):
        self.assertEqual(self.request("TRACE", "/v1/webhooks/payments"), 404)
        self.assertEqual(self.request("PATCH", "/v1/wallet", "Bearer " + self.token()), 404)
        self.assertEqual(self.request("QUERY", "/v1/wallet", "Bearer " + self.token()), 404)

    def test_a_burst_of_clients_connecting_at_once_is_served_without_a_reset(self):
        # 128 connections opened in the same instant: with Python's default listen backlog (5)
        # some were reset before the gateway accepted them.
        clients = 128
        barrier = threading.Barrier(clients)

        def fetch(_):
            barrier.wait()
            try:
                with urllib.request.urlopen(self.base + "/openapi.json", timeout=30) as r:
                    return r.status
            except OSError as e:
                return repr(e)

        with ThreadPoolExecutor(clients) as pool:
            statuses = list(pool.map(fetch, range(clients)))
        self.assertEqual(statuses, [200] * clients)

    def test_unknown_route_is_404_without_a_function(self):
        self.assertEqual(self.get("/v1/nowhere", "Bearer " + self.token()), 404)
        self.assertEqual(self.invoke.events, [])


if __name__ == "__main__":
    unittest.main()
