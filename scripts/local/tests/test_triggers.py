"""The local SQS event source: batches go to the function, reported failures stay queued."""
import os
import unittest

import boto3
from moto import mock_aws

from livepay_local import template, triggers
from test_gateway import RecordingInvokeApi


@mock_aws
class QueueTriggerTest(unittest.TestCase):
    def setUp(self):
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.url = self.sqs.create_queue(QueueName="settle", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        for i in range(3):
            self.sqs.send_message(QueueUrl=self.url, MessageBody=f'{{"n":{i}}}')
        tpl = template.load(os.environ["LIVEPAY_TEMPLATE"])
        [self.trigger] = [t for t in tpl.queue_triggers if t.binary == "settle-payouts"]

    def remaining(self):
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["All"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def test_the_template_declares_the_queue_triggers_and_the_schedules(self):
        self.assertTrue(self.trigger.report_failures)
        tpl = template.load(os.environ["LIVEPAY_TEMPLATE"])
        triggers_by_binary = {t.binary: t for t in tpl.queue_triggers}
        self.assertEqual(sorted(triggers_by_binary), ["execute-payouts", "schedule-payouts", "settle-payouts"])
        # The weekly payout run's pieces: one per invocation, its own queue.
        run = triggers_by_binary["schedule-payouts"]
        self.assertEqual((run.batch_size, run.report_failures), (1, True))
        payouts = triggers_by_binary["execute-payouts"]
        self.assertTrue(payouts.report_failures)
        self.assertEqual(payouts.batch_size, 10)
        fifo = {q.logical_id: bool(q.props.get("FifoQueue")) for q in tpl.queues}
        self.assertTrue(fifo[payouts.queue_logical_id])
        self.assertEqual(sorted((s.binary, s.every_seconds) for s in tpl.schedules),
                         [("schedule-payouts", 7 * 86400), ("sweep-settlements", 60)])
        self.assertEqual(template.rate_seconds("rate(1 hour)"), 3600)
        with self.assertRaises(ValueError):
            template.rate_seconds("cron(0 * * * ? *)")

    def test_reported_failures_stay_and_the_rest_are_deleted(self):
        def fail_the_second(event):
            return {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
        api = RecordingInvokeApi(fail_the_second)
        try:
            handed = triggers.poll_once(self.sqs, self.url, "arn:aws:sqs:us-east-1:000000000000:settle",
                                        "us-east-1", self.trigger, api.url)
        finally:
            api.server.shutdown()
        self.assertEqual(handed, 3)
        [(path, event)] = api.events
        self.assertEqual(path, "/2015-03-31/functions/settle-payouts/invocations")
        self.assertEqual([r["eventSource"] for r in event["Records"]], ["aws:sqs"] * 3)
        self.assertEqual(self.remaining(), 1)

    def test_a_failed_invocation_leaves_the_whole_batch(self):
        api = RecordingInvokeApi(lambda event: {"errorType": "Panic", "errorMessage": "boom"})
        try:
            triggers.poll_once(self.sqs, self.url, "arn", "us-east-1", self.trigger, api.url)
        finally:
            api.server.shutdown()
        self.assertEqual(self.remaining(), 3)


if __name__ == "__main__":
    unittest.main()
