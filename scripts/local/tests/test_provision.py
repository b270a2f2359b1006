"""The local stack's function environment, from the template."""
import os
import unittest

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


if __name__ == "__main__":
    unittest.main()
