"""The local Stripe stand-in, driven by Stripe's own Python library: what the library sends
(form encoding, nested metadata, Idempotency-Key, Bearer key) is what the stand-in reads, and
what it answers the library parses into Stripe's objects."""
import socket
import threading
import unittest

import stripe

from livepay_local import stripe_standin


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class StripeStandInTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        port = free_port()
        threading.Thread(target=stripe_standin.serve, args=(port,), daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        cls.client = stripe.StripeClient("sk_test_local", base_addresses={"api": base}, max_network_retries=0)
        cls.wrong_key = stripe.StripeClient("pk_wrong", base_addresses={"api": base}, max_network_retries=0)
        import urllib.request
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/v1/transfers")
            except urllib.error.HTTPError:
                break
            except OSError:
                import time
                time.sleep(0.05)

    def test_a_transfer_is_made_once_per_idempotency_key_and_found_by_its_group(self):
        params = {"amount": 5000, "currency": "usd", "destination": "acct_1One", "transfer_group": "po_1"}
        first = self.client.v1.transfers.create(params, {"idempotency_key": "po_1"})
        again = self.client.v1.transfers.create(params, {"idempotency_key": "po_1"})
        self.assertEqual(first.id, again.id)
        self.assertEqual((first.object, first.amount, first.destination), ("transfer", 5000, "acct_1One"))
        listed = self.client.v1.transfers.list({"transfer_group": "po_1", "limit": 100})
        self.assertEqual([t.id for t in listed.data], [first.id])
        with self.assertRaises(stripe.IdempotencyError):
            self.client.v1.transfers.create(dict(params, amount=6000), {"idempotency_key": "po_1"})
        with self.assertRaises(stripe.InvalidRequestError) as refused:
            self.client.v1.transfers.create(dict(params, destination="c1"), {"idempotency_key": "po_2"})
        self.assertEqual(refused.exception.code, "resource_missing")
        with self.assertRaises(stripe.AuthenticationError):
            self.wrong_key.v1.transfers.list({"transfer_group": "po_1"})

    def test_a_refund_carries_its_metadata_and_is_listed_by_payment_intent(self):
        refund = self.client.v1.refunds.create(
            {"payment_intent": "pi_1", "amount": 1200, "metadata": {"livepay_refund_id": "rf_1~retry-1"}},
            {"idempotency_key": "rf_1~retry-1"})
        self.assertEqual((refund.status, refund.metadata["livepay_refund_id"]), ("succeeded", "rf_1~retry-1"))
        listed = self.client.v1.refunds.list({"payment_intent": "pi_1"})
        self.assertEqual([r.id for r in listed.data], [refund.id])


if __name__ == "__main__":
    unittest.main()
