"""A local API Gateway HTTP API: the template's routes, its JWT authorizer, payload 2.0 events,
and Lambda proxy responses, with the functions invoked through cargo-lambda's invoke API."""
import base64
import json
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from . import tokens
from .template import Template


OPENAPI_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "openapi.json")


def _route_regex(path: str):
    pattern = re.sub(r"\\{([a-zA-Z_]+)\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(f"^{pattern}$")


def claims_for_event(claims: dict) -> dict:
    """API Gateway hands claims over as strings; an array becomes `[a b]`."""
    out = {}
    for k, v in claims.items():
        if isinstance(v, list):
            out[k] = "[" + " ".join(str(x) for x in v) + "]"
        elif isinstance(v, bool):
            out[k] = "true" if v else "false"
        else:
            out[k] = str(v)
    return out


def serve(t: Template, port: int, lambda_url: str, key_dir: str) -> None:
    make_server(t, port, lambda_url, key_dir).serve_forever()


def make_server(t: Template, port: int, lambda_url: str, key_dir: str) -> ThreadingHTTPServer:
    """The gateway bound to 127.0.0.1:port (0 picks a free port), not yet serving."""
    routes = [(r, _route_regex(r.path)) for r in t.routes]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: without this a keep-alive client's delayed ACK stalls
        # each response ~40 ms.
        disable_nagle_algorithm = True

        def _reply(self, status: int, body: bytes, headers=None):
            self.send_response(status)
            for k, v in (headers or {"content-type": "application/json"}).items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str):
            self._reply(status, json.dumps({"message": message}).encode())

        def _handle(self):
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.command == "GET" and url.path == "/openapi.json":
                # The API's OpenAPI document, generated from the code (docs/openapi.json).
                with open(OPENAPI_PATH, "rb") as f:
                    return self._reply(200, f.read(), {"content-type": "application/json"})
            for route, rx in routes:
                m = rx.match(url.path)
                if route.method == self.command and m:
                    break
            else:
                return self._error(404, "Not Found")
            request_context = {
                "accountId": "000000000000", "apiId": "local", "domainName": "127.0.0.1", "domainPrefix": "local",
                "http": {"method": self.command, "path": url.path, "protocol": "HTTP/1.1",
                         "sourceIp": self.client_address[0], "userAgent": self.headers.get("user-agent", "")},
                "requestId": str(uuid.uuid4()), "routeKey": f"{route.method} {route.path}", "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()), "timeEpoch": int(time.time() * 1000),
            }
            if route.jwt:
                auth = self.headers.get("authorization", "")
                if not auth.lower().startswith("bearer "):
                    return self._error(401, "Unauthorized")
                try:
                    claims = tokens.verify(key_dir, t.jwt_issuer, t.jwt_audience, auth.split(" ", 1)[1].strip())
                except Exception:  # noqa: BLE001  any invalid token is a 401, before any function runs
                    return self._error(401, "Unauthorized")
                request_context["authorizer"] = {"jwt": {"claims": claims_for_event(claims), "scopes": None}}
            # As API Gateway does: a body that is not UTF-8 text reaches the function base64-encoded.
            try:
                text, binary = (body.decode("utf-8") if body else None), False
            except UnicodeDecodeError:
                text, binary = base64.b64encode(body).decode(), True
            event = {
                "version": "2.0", "routeKey": f"{route.method} {route.path}", "rawPath": url.path,
                "rawQueryString": url.query, "headers": {k.lower(): v for k, v in self.headers.items()},
                "requestContext": request_context, "isBase64Encoded": binary,
            }
            if m.groupdict():
                event["pathParameters"] = m.groupdict()
            if url.query:
                event["queryStringParameters"] = dict(parse_qsl(url.query, keep_blank_values=True))
            if text is not None:
                event["body"] = text
            req = urllib.request.Request(f"{lambda_url}/2015-03-31/functions/{route.binary}/invocations",
                                         data=json.dumps(event).encode(), method="POST")
            try:
                with urllib.request.urlopen(req, timeout=300) as r:
                    result = json.loads(r.read() or b"null")
            except (urllib.error.URLError, json.JSONDecodeError) as e:
                return self._error(502, f"function {route.binary} failed: {e}")
            if not isinstance(result, dict) or "statusCode" not in result:
                return self._error(500, "Internal Server Error")
            out = result.get("body") or ""
            out = base64.b64decode(out) if result.get("isBase64Encoded") else out.encode()
            headers = dict(result.get("headers") or {})
            headers.setdefault("content-type", "application/json")
            headers.pop("content-length", None)
            self._reply(int(result["statusCode"]), out, headers)

        def __getattr__(self, name):
            # Every method, even an invented one: without a route it is API Gateway's 404, not
            # the HTTP server's 501.
            if name.startswith("do_"):
                return self._handle
            raise AttributeError(name)

        def log_message(self, fmt, *args):
            print(f"gateway: {self.command} {self.path} -> " + (fmt % args), flush=True)

    return _Server(("127.0.0.1", port), Handler)


class _Server(ThreadingHTTPServer):
    """Python's default listen backlog is 5: a burst of clients beyond it had connections reset.
    API Gateway takes thousands at once; 512 pending connections is plenty for local storms."""

    daemon_threads = True
    request_queue_size = 512
