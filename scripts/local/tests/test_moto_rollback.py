"""The patched moto transaction rollback (moto_server.py) keeps DynamoDB's all-or-nothing rule."""
import os
import sys
import unittest

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import moto_server  # noqa: E402

moto_server.install()


@mock_aws
class RollbackTest(unittest.TestCase):
    def setUp(self):
        self.ddb = boto3.client("dynamodb", region_name="us-east-1")
        self.ddb.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}])
        for pk, n in [("a", "5"), ("d", "1")]:
            self.ddb.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": "A"}, "n": {"N": n}})

    def items(self):
        return sorted((i["pk"]["S"], i.get("n", {}).get("N")) for i in self.ddb.scan(TableName="t")["Items"])

    def key(self, pk):
        return {"pk": {"S": pk}, "sk": {"S": "A"}}

    def writes(self):
        return [
            {"Update": {"TableName": "t", "Key": self.key("a"), "UpdateExpression": "ADD n :m",
                        "ExpressionAttributeValues": {":m": {"N": "-5"}}}},
            {"Put": {"TableName": "t", "Item": {**self.key("b"), "n": {"N": "7"}}}},
            {"Delete": {"TableName": "t", "Key": self.key("d")}},
        ]

    def test_a_failed_condition_undoes_every_write_before_it(self):
        failing = {"ConditionCheck": {"TableName": "t", "Key": self.key("zzz"),
                                      "ConditionExpression": "attribute_exists(pk)"}}
        with self.assertRaises(ClientError) as e:
            self.ddb.transact_write_items(TransactItems=self.writes() + [failing])
        self.assertEqual(e.exception.response["Error"]["Code"], "TransactionCanceledException")
        self.assertEqual(self.items(), [("a", "5"), ("d", "1")])

    def test_an_item_named_twice_undoes_everything(self):
        twice = {"Update": {"TableName": "t", "Key": self.key("b"), "UpdateExpression": "SET n = :n",
                            "ExpressionAttributeValues": {":n": {"N": "1"}}}}
        with self.assertRaises(ClientError):
            self.ddb.transact_write_items(TransactItems=self.writes() + [twice])
        self.assertEqual(self.items(), [("a", "5"), ("d", "1")])

    def test_a_successful_transaction_applies_every_write(self):
        self.ddb.transact_write_items(TransactItems=self.writes())
        self.assertEqual(self.items(), [("a", "0"), ("b", "7")])


if __name__ == "__main__":
    unittest.main()
