"""Hooks scripts/schemathesis loads (SCHEMATHESIS_HOOKS).

Under OpenAPI 3.1, JSON Schema counts `2.0` as an integer, and schemathesis spells some integers
of a JSON body that way. The API refuses them (`400 invalid_request`, "expected u64"): amounts
are integers and are read only from integer literals, so a client's float is never rounded into
money. No JSON Schema keyword states "written without a fraction", so the contract is kept here,
in one place: a whole number in a generated body is sent as the integer it is. A non-whole
number, and every other mutation of a negative case, is sent as generated.
"""

import schemathesis


def as_integer_literals(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: as_integer_literals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_integer_literals(v) for v in value]
    return value


@schemathesis.hook
def map_body(ctx, body):
    return as_integer_literals(body)
