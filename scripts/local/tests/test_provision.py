"""The local stack's function environment, from the template."""
import os
import unittest

import boto3
from moto import mock_aws

from livepay_local import provision, template


class FunctionEnvTest(unittest.TestCase):
    def test_shared_variables_are_merged_and_per_function_ones_left_to_the_defaults(self):
        tpl = template.load(os.environ["LIVEPAY_TEMPLATE"])
        refs = {name: f"resolved-{name}" for fn in tpl.functions for value in fn.env.values()
                if isinstance(value, dict) for name in [value["Ref"]]}
        env = provision.function_env(tpl, refs, {})
        self.assertEqual(env["RUST_LOG"], "info")
        self.assertEqual(env["COMMERCE_BOARDS_INDEX"], "boards")
        self.assertTrue(env["LEDGER_TABLE"].startswith("resolved-"))
        warm_up = {fn.env.get("WARM_UP_CONNECTIONS") for fn in tpl.functions}
        self.assertEqual(warm_up, {"true", "false"})
        self.assertNotIn("WARM_UP_CONNECTIONS", env)


@mock_aws
class SecretsTest(unittest.TestCase):
    def setUp(self):
        self.sm = boto3.client("secretsmanager", region_name="us-east-1")

    def stages(self, arn):
        versions = self.sm.list_secret_version_ids(SecretId=arn)["Versions"]
        by_stage = {stage: v["VersionId"] for v in versions for stage in v["VersionStages"]}
        value = lambda stage: self.sm.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"]
        return {stage: value(stage) for stage in ("AWSCURRENT", "AWSPREVIOUS") if stage in by_stage}

    def test_a_new_value_is_a_rotation_and_the_same_value_none(self):
        arn = self.sm.create_secret(Name="s", SecretString="one")["ARN"]
        provision.put_secret(self.sm, arn, "one")
        self.assertEqual(self.stages(arn), {"AWSCURRENT": "one"})
        provision.put_secret(self.sm, arn, "two")
        provision.put_secret(self.sm, arn, "two")
        self.assertEqual(self.stages(arn), {"AWSCURRENT": "two", "AWSPREVIOUS": "one"})

    def test_every_secret_of_the_template_is_created_with_its_values_in_order_or_a_random_one(self):
        tpl = template.load(os.environ["LIVEPAY_TEMPLATE"])
        self.assertEqual(sorted(template.short_name(s.logical_id) for s in tpl.secrets),
                         ["PayoutApiKey", "StatementCursorKey", "StripeWebhookSecret", "WebhookSecret"])
        tpl.tables, tpl.queues = [], []
        refs = provision.provision(tpl, "", "us-east-1", "p", secrets={
            "StripeWebhookSecret": ["whsec_old", "whsec_new"], "WebhookSecret": ["w" * 20]})
        arn = lambda short: next(v for k, v in refs.items() if template.short_name(k) == short)
        self.assertEqual(self.stages(arn("StripeWebhookSecret")),
                         {"AWSCURRENT": "whsec_new", "AWSPREVIOUS": "whsec_old"})
        cursor_key = self.stages(arn("StatementCursorKey"))["AWSCURRENT"]
        self.assertGreaterEqual(len(cursor_key), 32)
        # Provisioning again (scripts/up after scripts/down keeps nothing, a test reruns) is no rotation.
        provision.provision(tpl, "", "us-east-1", "p", secrets={"WebhookSecret": ["w" * 20]})
        self.assertEqual(self.stages(arn("WebhookSecret")), {"AWSCURRENT": "w" * 20})


if __name__ == "__main__":
    unittest.main()
