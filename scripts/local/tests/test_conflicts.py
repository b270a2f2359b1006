"""The conflict layer (livepay_local/conflicts.py) applies DynamoDB's transaction-conflict rules in
front of a real engine: the local stack's moto server (one request at a time), reached through the
proxy with boto3."""
import json
import os
import sys
import threading
import time
import unittest
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
import subprocess
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from livepay_local import conflicts  # noqa: E402

LATENCY_MS = 400  # long enough that a request sent while another is in flight overlaps it


def _free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ConflictRulesTest(unittest.TestCase):
    engine_slots = None
    @classmethod
    def setUpClass(cls):
        cls.moto_port = _free_port()
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        cls.moto = subprocess.Popen([sys.executable, os.path.join(here, "moto_server.py"), "127.0.0.1",
                                     str(cls.moto_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{cls.moto_port}/moto-api/").close()
                break
            except OSError:
                time.sleep(0.1)
        cls.proxy = conflicts.Proxy(f"http://127.0.0.1:{cls.moto_port}", LATENCY_MS, log_stream=open(os.devnull, "w"),
                                    engine_slots=cls.engine_slots)
        cls.server = conflicts.make_server(cls.proxy, 0)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        endpoint = f"http://127.0.0.1:{cls.server.server_address[1]}"
        cls.endpoint = endpoint
        cls.ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                               aws_access_key_id="local", aws_secret_access_key="local",
                               config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                             max_pool_connections=32))

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.moto.terminate()
        cls.moto.wait()

    def setUp(self):
        self.table = f"t{uuid.uuid4().hex[:12]}"
        self.ddb.create_table(
            TableName=self.table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}])

    def key(self, pk):
        return {"pk": {"S": pk}, "sk": {"S": "A"}}

    def add(self, pk, n=1):
        return {"Update": {"TableName": self.table, "Key": self.key(pk), "UpdateExpression": "ADD n :n",
                           "ExpressionAttributeValues": {":n": {"N": str(n)}}}}

    def transact(self, *items):
        try:
            self.ddb.transact_write_items(TransactItems=list(items))
            return "committed"
        except ClientError as e:
            codes = [r["Code"] for r in e.response.get("CancellationReasons", [])]
            return (e.response["Error"]["Code"], codes)

    def n(self, pk):
        item = self.ddb.get_item(TableName=self.table, Key=self.key(pk), ConsistentRead=True).get("Item")
        return int(item["n"]["N"]) if item else 0

    def in_flight(self, *items):
        """Starts a transaction of `items` and returns once the proxy holds them, with a join
        that gives its outcome."""
        result = []
        thread = threading.Thread(target=lambda: result.append(self.transact(*items)))
        thread.start()
        key = items[0][next(iter(items[0]))]["Key"]
        held = (self.table, json.dumps(key, sort_keys=True, separators=(",", ":")))
        for _ in range(200):
            if self.proxy.holds.tx_holds(held):
                break
            time.sleep(0.005)
        else:
            self.fail("the transaction never got its items")

        def join():
            thread.join()
            return result[0]
        return join

    def test_of_overlapping_transactions_on_one_item_exactly_one_commits(self):
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(lambda i: self.transact(self.add("hot"), self.add(f"own{i}")), range(8)))
        self.assertEqual(outcomes.count("committed"), 1, outcomes)
        for o in outcomes:
            if o != "committed":
                self.assertEqual(o, ("TransactionCanceledException", ["TransactionConflict", "None"]))
        self.assertEqual(self.n("hot"), 1)
        self.assertEqual(sum(self.n(f"own{i}") for i in range(8)), 1, "a cancelled transaction wrote nothing")

    def test_a_transaction_is_over_when_its_caller_hears_back(self):
        first = self.in_flight(self.add("x"))
        self.assertEqual(self.transact(self.add("x"))[1], ["TransactionConflict"])
        self.assertEqual(first(), "committed")
        # One after another, as one caller does: never a conflict.
        self.assertEqual(self.transact(self.add("x")), "committed")
        self.assertEqual(self.transact(self.add("x")), "committed")
        self.assertEqual(self.n("x"), 3)

    def test_disjoint_items_never_conflict(self):
        with ThreadPoolExecutor(16) as pool:
            outcomes = list(pool.map(lambda i: self.transact(self.add(f"a{i}"), self.add(f"b{i}")), range(16)))
        self.assertEqual(outcomes, ["committed"] * 16)

    def test_condition_checks_conflict_too(self):
        check = {"ConditionCheck": {"TableName": self.table, "Key": self.key("s"),
                                    "ConditionExpression": "attribute_not_exists(pk)"}}
        first = self.in_flight(check, self.add("g1"))
        self.assertEqual(self.transact(check, self.add("g2"))[1], ["TransactionConflict", "None"])
        self.assertEqual(first(), "committed")

    def test_reads_never_conflict(self):
        self.ddb.put_item(TableName=self.table, Item={**self.key("r"), "n": {"N": "5"}})
        first = self.in_flight(self.add("r"))
        # While it is in flight, every non-transactional read goes through.
        self.assertIn(self.n("r"), (5, 6))
        self.assertEqual(self.ddb.query(TableName=self.table, KeyConditionExpression="pk = :p",
                                        ExpressionAttributeValues={":p": {"S": "r"}})["Count"], 1)
        self.assertEqual(self.ddb.scan(TableName=self.table)["Count"], 1)
        got = self.ddb.batch_get_item(RequestItems={self.table: {"Keys": [self.key("r")]}})
        self.assertEqual(len(got["Responses"][self.table]), 1)
        self.assertTrue(self.proxy.holds.tx_holds((self.table, '{"pk":{"S":"r"},"sk":{"S":"A"}}')))
        self.assertEqual(first(), "committed")

    def test_a_single_write_to_a_held_item_fails_with_transaction_conflict(self):
        first = self.in_flight(self.add("w"))
        with self.assertRaises(ClientError) as e:
            self.ddb.update_item(TableName=self.table, Key=self.key("w"), UpdateExpression="ADD n :n",
                                 ExpressionAttributeValues={":n": {"N": "1"}})
        self.assertEqual(e.exception.response["Error"]["Code"], "TransactionConflictException")
        with self.assertRaises(ClientError):
            self.ddb.put_item(TableName=self.table, Item=self.key("w"))
        self.ddb.put_item(TableName=self.table, Item=self.key("other"))  # another item is free
        self.assertEqual(first(), "committed")
        self.ddb.update_item(TableName=self.table, Key=self.key("w"), UpdateExpression="ADD n :n",
                             ExpressionAttributeValues={":n": {"N": "1"}})
        self.assertEqual(self.n("w"), 2)

    def test_a_transactional_read_of_a_held_item_is_cancelled(self):
        first = self.in_flight(self.add("g"))
        with self.assertRaises(ClientError) as e:
            self.ddb.transact_get_items(TransactItems=[{"Get": {"TableName": self.table, "Key": self.key("g")}},
                                                       {"Get": {"TableName": self.table, "Key": self.key("h")}}])
        self.assertEqual([r["Code"] for r in e.exception.response["CancellationReasons"]],
                         ["TransactionConflict", "None"])
        self.assertEqual(first(), "committed")

    def test_every_conflict_is_counted_by_item_key(self):
        first = self.in_flight(self.add("c"))
        self.transact(self.add("c"), self.add("d"))
        self.transact(self.add("c"))
        self.assertEqual(first(), "committed")
        with urllib.request.urlopen(f"{self.endpoint}/livepay/conflicts?table_prefix={self.table}") as r:
            summary = json.load(r)
        self.assertEqual(summary, [{"table": self.table, "key": self.key("c"), "conflicts": 2}])


class ConflictRulesBeforeASerialEngineTest(ConflictRulesTest):
    """The same rules when the engine serves one request at a time (moto): a request is checked
    when the engine takes it, and still collides with what runs or has just run."""

    engine_slots = 1


if __name__ == "__main__":
    unittest.main()
