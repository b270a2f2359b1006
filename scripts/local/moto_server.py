"""moto server, one request at a time, with cheaper transaction rollback.

- moto's stock server is threaded, and concurrent TransactWriteItems can then fail with HTTP 500
  from an internal race (DESIGN.md, measured with moto 5.2.5). Serving requests one by one removes
  the race; DynamoDB's own semantics (conditions, cancellation reasons) are unchanged.
- moto backs up a whole table with `copy.deepcopy` once per *item* of every TransactWriteItems, so a
  100-item transaction on a 3,000-item table took 3.5 s. Here the backup is the touched items only
  (an undo log), restored when the transaction fails: the same all-or-nothing outcome, in time
  proportional to the transaction instead of the table. tests/test_moto_rollback.py checks it.
- moto's SQS computes *all* of a queue's attributes, approximate message counts included (a pass
  over every message, several times), to read one setting, on every send and for every received
  message: sending or receiving n messages cost O(n²), and 3,000 settlement messages took minutes
  of moto's one thread (py-spy: 85-95 % of its time). Here the retention check reads the
  retention period alone, and while a message is sent, received or deleted the counts (which
  those calls never return) are not computed; the same outcomes, checked in
  tests/test_moto_rollback.py.
"""
import copy
import sys

import moto.dynamodb.models as ddb_models
from moto.core.utils import unix_time
from moto.sqs.models import Queue, SQSBackend
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.moto_server.threaded_moto_server import MotoRequestHandler  # noqa: F401  (import side effects)
from werkzeug.serving import run_simple


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto's DynamoDB backend while a transaction runs:
    deep-copying a Table returns the table itself, so moto's own whole-table "restore" is a no-op
    and the undo log below does the restoring."""

    active = False

    def __getattr__(self, name):
        return getattr(copy, name)

    def deepcopy(self, obj, memo=None):
        if self.active and isinstance(obj, Table):
            return obj
        return copy.deepcopy(obj, memo)


_shim = _TablesNotCopied()
_original_transact = DynamoDBBackend.transact_write_items


def _touched_keys(backend, transact_items):
    for entry in transact_items:
        for op in entry.values():
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            attrs = op.get("Key") or op.get("Item") or {}
            if table.hash_key_attr not in attrs:
                continue
            hash_key = DynamoType(attrs[table.hash_key_attr])
            range_key = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in attrs:
                    continue
                range_key = DynamoType(attrs[table.range_key_attr])
            yield table, hash_key, range_key


def _transact_with_undo_log(self, transact_items):
    undo = [(t, h, r, copy.deepcopy(t.get_item(h, r))) for t, h, r in _touched_keys(self, transact_items)]
    _shim.active = True
    try:
        return _original_transact(self, transact_items)
    except BaseException:
        for table, hash_key, range_key, before in reversed(undo):
            if before is not None:
                if range_key is not None:
                    table.items[hash_key][range_key] = before
                else:
                    table.items[hash_key] = before
            elif table.get_item(hash_key, range_key) is not None:
                table.delete_item(hash_key, range_key)
        raise
    finally:
        _shim.active = False


def _within_retention(self, queue_name, message) -> bool:
    retention = int(self.get_queue(queue_name).message_retention_period)
    return retention + message.sent_timestamp / 1000 > unix_time()


class _CountsNotNeeded:
    """While set, a queue's approximate message counts read as 0: only inside SQS calls that
    read a queue setting through `Queue.attributes` and never return the counts."""

    active = False


_COUNTS = ("approximate_number_of_messages", "approximate_number_of_messages_delayed",
           "approximate_number_of_messages_not_visible")


def _count_unless_skipped(counted):
    return property(lambda queue: 0 if _CountsNotNeeded.active else counted.fget(queue))


def _without_counts(call):
    def wrapper(*args, **kwargs):
        _CountsNotNeeded.active = True
        try:
            return call(*args, **kwargs)
        finally:
            _CountsNotNeeded.active = False
    return wrapper


def install() -> None:
    ddb_models.copy = _shim
    DynamoDBBackend.transact_write_items = _transact_with_undo_log
    SQSBackend.is_message_valid_based_on_retention_period = _within_retention
    for name in _COUNTS:
        setattr(Queue, name, _count_unless_skipped(getattr(Queue, name)))
    for name in ("send_message", "receive_message", "delete_message", "change_message_visibility"):
        setattr(SQSBackend, name, _without_counts(getattr(SQSBackend, name)))


def main() -> None:
    install()
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
