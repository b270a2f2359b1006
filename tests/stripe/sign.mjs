// Signs webhook payloads with Stripe's own library (stripe.webhooks.generateTestHeaderString),
// so no test trusts livepay's code to check livepay's code. Reads a JSON array of
// {"payload", "secret", "timestamp"} on stdin; prints the JSON array of Stripe-Signature values.
import Stripe from 'stripe';

const stripe = new Stripe('sk_test_signing_only');
let input = '';
for await (const chunk of process.stdin) input += chunk;
const headers = JSON.parse(input).map(({ payload, secret, timestamp }) =>
  stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp }));
process.stdout.write(JSON.stringify(headers));
