"""moto server, one request at a time.

moto's stock server is threaded, and concurrent TransactWriteItems can then fail with HTTP 500 from
an internal race (DESIGN.md, measured with moto 5.2.5). Serving requests one by one removes the race;
DynamoDB's own semantics (conditions, cancellation reasons) are unchanged.
"""
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.moto_server.threaded_moto_server import MotoRequestHandler  # noqa: F401  (import side effects)
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
