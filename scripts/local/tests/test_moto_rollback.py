"""The patched moto (moto_server.py): the transaction rollback keeps DynamoDB's all-or-nothing
rule, and SQS's cheaper retention check keeps dropping what is past the retention period."""
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


@mock_aws
class RetentionTest(unittest.TestCase):
    def test_messages_within_their_retention_are_received_and_older_ones_are_not(self):
        sqs = boto3.client("sqs", region_name="us-east-1")
        from moto.sqs.models import sqs_backends
        received = {}
        for name, age_ms in [("fresh", 59_000), ("expired", 61_000)]:
            url = sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=name)
            queue = sqs_backends["123456789012"]["us-east-1"].queues[name]
            queue._messages[0].sent_timestamp -= age_ms
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            received[name] = [m["Body"] for m in got.get("Messages", [])]
        self.assertEqual(received, {"fresh": ["fresh"], "expired": []})

    def test_queue_counts_stay_exact_around_sends_receives_and_deletes(self):
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="counted")["QueueUrl"]
        for i in range(5):
            sqs.send_message(QueueUrl=url, MessageBody=str(i))
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, WaitTimeSeconds=0)["Messages"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self.assertEqual((attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"],
                          attrs["ApproximateNumberOfMessagesDelayed"]), ("3", "1", "1"))
