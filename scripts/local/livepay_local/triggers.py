"""Locally, nothing polls SQS or fires schedules: this stands in for Lambda's SQS event source
mappings and EventBridge schedules, as the synthesized template declares them.

- Queue triggers: receive (short polls: moto serves one request at a time), gather up to the
  mapping's batch size within its batching window, invoke the function with an `SqsEvent`, then
  delete what succeeded. With `ReportBatchItemFailures`, the reported ids stay on the queue and
  come back after the visibility timeout (and reach the DLQ after maxReceiveCount); a failed
  invocation leaves the whole batch, as Lambda does.
- Schedules: invoke the function with an EventBridge "Scheduled Event" at the template's rate.
"""
import json
import threading
import time
import urllib.error
import urllib.request
import uuid

import boto3

from .provision import queue_name
from .template import Template

# SQS returns at most 10 messages per receive.
RECEIVE_MAX = 10


def _invoke(lambda_url: str, binary: str, event: dict):
    req = urllib.request.Request(f"{lambda_url}/2015-03-31/functions/{binary}/invocations",
                                 data=json.dumps(event).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, json.JSONDecodeError) as e:
        return 0, str(e)


def _log(msg: str) -> None:
    print(f"triggers: {msg}", flush=True)


def poll_queue(sqs, url: str, arn: str, region: str, trigger, lambda_url: str, stop: threading.Event) -> None:
    while not stop.is_set():
        if poll_once(sqs, url, arn, region, trigger, lambda_url) == 0:
            stop.wait(0.5)


def poll_once(sqs, url: str, arn: str, region: str, trigger, lambda_url: str) -> int:
    """One receive → invoke → delete round; returns how many messages it handed over."""
    messages, deadline = [], time.monotonic() + trigger.window_seconds
    while len(messages) < trigger.batch_size:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0, AttributeNames=["All"],
                                  MaxNumberOfMessages=min(RECEIVE_MAX, trigger.batch_size - len(messages)))
        batch = got.get("Messages", [])
        messages.extend(batch)
        if not batch and (not messages or time.monotonic() >= deadline):
            break
        if not batch:
            time.sleep(0.1)
    if not messages:
        return 0
    event = {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": region,
    } for m in messages]}
    status, result = _invoke(lambda_url, trigger.binary, event)
    if status != 200 or (isinstance(result, dict) and "errorType" in result):
        _log(f"{trigger.binary} failed ({status}): {result}; {len(messages)} message(s) will be redelivered")
        return len(messages)
    failed = set()
    if trigger.report_failures and isinstance(result, dict):
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures") or []}
    done = [m for m in messages if m["MessageId"] not in failed]
    for i in range(0, len(done), RECEIVE_MAX):
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i:i + RECEIVE_MAX])])
    _log(f"{trigger.binary}: {len(messages)} message(s), {len(failed)} reported failed")
    return len(messages)


def run_schedule(schedule, every: int, region: str, lambda_url: str, stop: threading.Event) -> None:
    while not stop.wait(every):
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                 "source": "aws.events", "account": "000000000000",
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": region,
                 "resources": [f"arn:aws:events:{region}:000000000000:rule/local"], "detail": {}}
        status, result = _invoke(lambda_url, schedule.binary, event)
        _log(f"{schedule.binary} (every {every} s) -> {status}: {result}")


def serve(t: Template, endpoint: str, region: str, prefix: str, lambda_url: str, schedule_every: int = 0) -> None:
    sqs = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local",
                                region_name=region).client("sqs", endpoint_url=endpoint)
    stop = threading.Event()
    threads = []
    fifo = {q.logical_id: bool(q.props.get("FifoQueue")) for q in t.queues}
    for trigger in t.queue_triggers:
        url = sqs.get_queue_url(QueueName=queue_name(prefix, trigger.queue_logical_id, fifo[trigger.queue_logical_id]))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        _log(f"{trigger.binary} <- {url} (batch {trigger.batch_size}, window {trigger.window_seconds} s)")
        threads.append(threading.Thread(target=poll_queue, daemon=True,
                                        args=(sqs, url, arn, region, trigger, lambda_url, stop)))
    for schedule in t.schedules:
        every = schedule_every or schedule.every_seconds
        _log(f"{schedule.binary} every {every} s")
        threads.append(threading.Thread(target=run_schedule, daemon=True,
                                        args=(schedule, every, region, lambda_url, stop)))
    for th in threads:
        th.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop.set()
