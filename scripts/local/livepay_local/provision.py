"""Create exactly the template's tables and queues in the emulator, and resolve every function's
environment to the local names. Used by scripts/up and, with a per-test prefix, by the tests."""
import secrets as random_secrets

import boto3

from .template import Template, short_name


def table_name(prefix: str, logical_id: str) -> str:
    return f"{prefix}-{short_name(logical_id)}"


def queue_name(prefix: str, logical_id: str, fifo: bool) -> str:
    return f"{prefix}-{short_name(logical_id)}" + (".fifo" if fifo else "")


def put_secret(client, secret_id: str, value: str) -> None:
    """Makes `value` the secret's current version unless it already is: a new value is a rotation
    (the one before becomes AWSPREVIOUS, still accepted for the overlap), the same value is none.
    scripts/deploy puts a deployment's secrets with this too."""
    current = client.get_secret_value(SecretId=secret_id)["SecretString"]
    if current != value:
        client.put_secret_value(SecretId=secret_id, SecretString=value)


def provision(t: Template, endpoint: str, region: str, prefix: str, dynamodb_endpoint: str = "",
              secrets: dict = None) -> dict:
    """Returns {logical_id: physical value}: table names, queue URLs and secret ARNs (what `Ref`
    gives). Tables go to `dynamodb_endpoint` where the DynamoDB engine is not the SQS emulator.
    `secrets` maps a secret's short name to its values, oldest first (each put in turn, so the
    one before last is AWSPREVIOUS); a secret without one gets a random value, as CloudFormation
    generates it."""
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=region)
    ddb = session.client("dynamodb", endpoint_url=dynamodb_endpoint or endpoint or None)
    sqs = session.client("sqs", endpoint_url=endpoint or None)
    refs = {}
    sm = session.client("secretsmanager", endpoint_url=endpoint or None)
    for secret in t.secrets:
        name = f"{prefix}-{short_name(secret.logical_id)}"
        values = (secrets or {}).get(short_name(secret.logical_id)) or [random_secrets.token_urlsafe(36)]
        try:
            arn = sm.create_secret(Name=name, SecretString=values[0])["ARN"]
        except sm.exceptions.ResourceExistsException:
            arn = sm.describe_secret(SecretId=name)["ARN"]
            put_secret(sm, arn, values[0])
        for value in values[1:]:
            put_secret(sm, arn, value)
        refs[secret.logical_id] = arn
    existing = set(ddb.list_tables().get("TableNames", []))
    for table in t.tables:
        p = table.props
        name = table_name(prefix, table.logical_id)
        refs[table.logical_id] = name
        if name in existing:
            continue
        args = dict(TableName=name, KeySchema=p["KeySchema"], AttributeDefinitions=p["AttributeDefinitions"],
                    BillingMode=p.get("BillingMode", "PAY_PER_REQUEST"))
        if p.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = p["GlobalSecondaryIndexes"]
        ddb.create_table(**args)
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["AttributeName"]})
    arns = {}
    # Dead-letter queues first: a redrive policy names its DLQ's ARN.
    for queue in sorted(t.queues, key=lambda q: "RedrivePolicy" in q.props):
        p = queue.props
        fifo = bool(p.get("FifoQueue"))
        attrs = {}
        if fifo:
            attrs["FifoQueue"] = "true"
            if p.get("ContentBasedDeduplication"):
                attrs["ContentBasedDeduplication"] = "true"
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
            if key in p:
                attrs[key] = str(p[key])
        if "RedrivePolicy" in p:
            rp = p["RedrivePolicy"]
            dlq = rp["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attrs["RedrivePolicy"] = f'{{"deadLetterTargetArn":"{arns[dlq]}","maxReceiveCount":{rp["maxReceiveCount"]}}}'
        url = sqs.create_queue(QueueName=queue_name(prefix, queue.logical_id, fifo), Attributes=attrs)["QueueUrl"]
        refs[queue.logical_id] = url
        arns[queue.logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return refs


def function_env(t: Template, refs: dict, secrets: dict) -> dict:
    """The environment the local stack gives every function: each function's variables merged,
    with Refs resolved (Refs to template parameters, the secrets, come from `secrets`). A variable
    the template sets differently per function (`WARM_UP_CONNECTIONS`) is left out, so every
    function falls back to its own default instead of whichever function came last."""
    values = {}
    for fn in t.functions:
        for name, value in fn.env.items():
            if isinstance(value, dict) and "Ref" in value:
                ref = value["Ref"]
                value = refs[ref] if ref in refs else secrets[ref]
            values.setdefault(name, set()).add(str(value))
    return {name: seen.pop() for name, seen in values.items() if len(seen) == 1}
