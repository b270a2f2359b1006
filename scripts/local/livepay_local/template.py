"""Reading the synthesized CloudFormation template: the single source of the local resources."""
import json
import re
from dataclasses import dataclass, field


@dataclass
class Table:
    logical_id: str
    props: dict


@dataclass
class Queue:
    logical_id: str
    props: dict


@dataclass
class Secret:
    logical_id: str


@dataclass
class Function:
    logical_id: str
    binary: str
    env: dict  # name -> raw CloudFormation value (string or {"Ref": ...})


@dataclass
class Route:
    method: str
    path: str
    binary: str
    jwt: bool


@dataclass
class QueueTrigger:
    """An SQS event source mapping: what Lambda would poll, and how it batches."""
    queue_logical_id: str
    binary: str
    batch_size: int
    window_seconds: int
    report_failures: bool


@dataclass
class Schedule:
    binary: str
    every_seconds: int


@dataclass
class Template:
    tables: list = field(default_factory=list)
    queues: list = field(default_factory=list)
    secrets: list = field(default_factory=list)
    functions: list = field(default_factory=list)
    routes: list = field(default_factory=list)
    jwt_issuer: str = ""
    jwt_audience: list = field(default_factory=list)
    queue_triggers: list = field(default_factory=list)
    schedules: list = field(default_factory=list)


_RATE_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def rate_seconds(expression: str) -> int:
    """`rate(5 minutes)` -> 300. Cron expressions are not used by the stack."""
    m = re.fullmatch(r"rate\((\d+) (\w+)\)", expression)
    if not m or m.group(2) not in _RATE_UNITS:
        raise ValueError(f"unsupported schedule {expression!r}")
    return int(m.group(1)) * _RATE_UNITS[m.group(2)]


def short_name(logical_id: str) -> str:
    """`LedgerTable38A58B60` -> `LedgerTable`: CDK appends an 8-hex-digit hash."""
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)


def load(path: str) -> Template:
    with open(path) as f:
        resources = json.load(f)["Resources"]
    t = Template()
    by_type = lambda kind: [(k, v) for k, v in resources.items() if v["Type"] == kind]
    for lid, r in by_type("AWS::DynamoDB::Table"):
        t.tables.append(Table(lid, r["Properties"]))
    for lid, r in by_type("AWS::SQS::Queue"):
        t.queues.append(Queue(lid, r.get("Properties", {})))
    for lid, r in by_type("AWS::SecretsManager::Secret"):
        t.secrets.append(Secret(lid))
    binaries = {}
    for lid, r in by_type("AWS::Lambda::Function"):
        binary = r.get("Metadata", {}).get("livepay:binary")
        if binary:
            binaries[lid] = binary
            env = r["Properties"].get("Environment", {}).get("Variables", {})
            t.functions.append(Function(lid, binary, env))
    integrations = {}
    for lid, r in by_type("AWS::ApiGatewayV2::Integration"):
        fn = r["Properties"]["IntegrationUri"]["Fn::GetAtt"][0]
        integrations[lid] = binaries[fn]
    for lid, r in by_type("AWS::ApiGatewayV2::Authorizer"):
        cfg = r["Properties"]["JwtConfiguration"]
        t.jwt_issuer, t.jwt_audience = cfg["Issuer"], cfg["Audience"]
    for lid, r in by_type("AWS::ApiGatewayV2::Route"):
        p = r["Properties"]
        method, path = p["RouteKey"].split(" ", 1)
        target = p["Target"]["Fn::Join"][1][1]["Ref"]
        t.routes.append(Route(method, path, integrations[target], p.get("AuthorizationType") == "JWT"))
    for lid, r in by_type("AWS::Lambda::EventSourceMapping"):
        p = r["Properties"]
        t.queue_triggers.append(QueueTrigger(
            p["EventSourceArn"]["Fn::GetAtt"][0], binaries[p["FunctionName"]["Ref"]],
            int(p.get("BatchSize", 10)), int(p.get("MaximumBatchingWindowInSeconds", 0)),
            "ReportBatchItemFailures" in p.get("FunctionResponseTypes", [])))
    for lid, r in by_type("AWS::Events::Rule"):
        p = r["Properties"]
        for target in p.get("Targets", []):
            fn = target["Arn"]["Fn::GetAtt"][0]
            t.schedules.append(Schedule(binaries[fn], rate_seconds(p["ScheduleExpression"])))
    return t
