"""python -m livepay_local <command>: the local stack's tools (see scripts/)."""
import argparse
import sys

from . import provision, template


def main() -> None:
    ap = argparse.ArgumentParser(prog="livepay_local")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("provision", help="create the template's tables and queues; print the functions' env")
    p.add_argument("--template", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--dynamodb-endpoint", default="", help="DynamoDB's endpoint, where it is not --endpoint")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--prefix", required=True)
    p.add_argument("--webhook-secret", default="local-webhook-secret-0123456789")
    p.add_argument("--stripe-webhook-secret", default="whsec_local_0123456789")
    p.add_argument("--stripe-webhook-secret-previous", default="",
                   help="put before --stripe-webhook-secret: a rotation whose overlap has begun")
    p.add_argument("--payout-provider", default="sandbox", choices=["sandbox", "http", "stripe"])
    p.add_argument("--payout-api-url", default="")
    p.add_argument("--payout-api-key", default="")
    ps = sub.add_parser("put-secrets", help="put a deployment's secrets (scripts/deploy): LIVEPAY_PUT_<output>=value")
    ps.add_argument("--outputs", required=True, help="cdk deploy's --outputs-file")
    ps.add_argument("--stack", required=True)
    t = sub.add_parser("token", help="mint a JWT the local gateway accepts")
    t.add_argument("--sub", required=True)
    t.add_argument("--groups", default="")
    t.add_argument("--adult", action="store_true")
    t.add_argument("--key-dir", required=True)
    t.add_argument("--template", required=True)
    g = sub.add_parser("gateway", help="serve the template's HTTP API on 127.0.0.1")
    g.add_argument("--template", required=True)
    g.add_argument("--port", type=int, required=True)
    g.add_argument("--lambda-url", required=True)
    g.add_argument("--key-dir", required=True)
    r = sub.add_parser("triggers", help="poll the template's queues and fire its schedules into the functions")
    r.add_argument("--template", required=True)
    r.add_argument("--endpoint", required=True)
    r.add_argument("--region", default="us-east-1")
    r.add_argument("--prefix", required=True)
    r.add_argument("--lambda-url", required=True)
    r.add_argument("--schedule-every", type=int, default=0, help="seconds between scheduled runs (default: the template's rate)")
    s = sub.add_parser("stripe", help="serve the local stand-in for Stripe's transfers and refunds")
    s.add_argument("--port", type=int, required=True)
    c = sub.add_parser("conflicts", help="apply DynamoDB's transaction-conflict rules in front of an engine")
    c.add_argument("--backend", required=True, help="the engine's URL")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--latency-ms", type=int, default=15,
                   help="a transaction is answered no sooner than this after it arrived (its items held until then)")
    c.add_argument("--engine-slots", type=int, default=0,
                   help="requests the engine serves at once (1 for moto); 0: as many as arrive")
    args = ap.parse_args()

    if args.cmd == "provision":
        tpl = template.load(args.template)
        stripe = [v for v in (args.stripe_webhook_secret_previous, args.stripe_webhook_secret) if v]
        refs = provision.provision(tpl, args.endpoint, args.region, args.prefix, args.dynamodb_endpoint, {
            "WebhookSecret": [args.webhook_secret], "StripeWebhookSecret": stripe,
            "PayoutApiKey": [args.payout_api_key or "sk_test_local"]})
        # The local stack is a test stage: it may pay through the sandbox.
        env = provision.function_env(tpl, refs, {
            "PayoutProvider": args.payout_provider, "PayoutApiUrl": args.payout_api_url,
            "StripeLivemode": "false", "TestStage": "true"})
        for name, value in sorted(env.items()):
            print(f"{name}={value}")
    elif args.cmd == "put-secrets":
        import json
        import os
        import boto3
        with open(args.outputs) as f:
            outputs = json.load(f)[args.stack]
        client = boto3.client("secretsmanager")
        for output, arn in sorted(outputs.items()):
            value = os.environ.get(f"LIVEPAY_PUT_{output}", "").strip()
            if output.endswith("Arn") and value:
                provision.put_secret(client, arn, value)
                print(f"{output[:-3]}: put", file=sys.stderr)
    elif args.cmd == "token":
        from . import tokens
        tpl = template.load(args.template)
        groups = [g for g in args.groups.split(",") if g]
        print(tokens.mint(args.key_dir, tpl.jwt_issuer, tpl.jwt_audience[0], args.sub, groups, args.adult))
    elif args.cmd == "gateway":
        from . import gateway
        gateway.serve(template.load(args.template), args.port, args.lambda_url, args.key_dir)
    elif args.cmd == "triggers":
        from . import triggers
        triggers.serve(template.load(args.template), args.endpoint, args.region, args.prefix, args.lambda_url,
                       args.schedule_every)
    elif args.cmd == "stripe":
        from . import stripe_standin
        stripe_standin.serve(args.port)
    elif args.cmd == "conflicts":
        from . import conflicts
        conflicts.serve(args.backend, args.port, args.latency_ms, args.engine_slots)
    else:
        sys.exit(2)


if __name__ == "__main__":
    main()
