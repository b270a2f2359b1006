"""How long moto takes for TransactWriteItems as a table grows (the local stack's speed limit).

    .local/venv/bin/python scripts/local/moto_server.py 127.0.0.1 5123 &
    .local/venv/bin/python scripts/local/bench/moto_transactions.py http://127.0.0.1:5123

Prints, at 100 / 1,000 / 3,000 items: a 1-item transaction, a 100-item transaction, a PutItem.
Run it against moto's stock server (`moto_server -p 5123`) to see what moto_server.py's undo-log
rollback saves.
"""
import sys
import time

import boto3


def main(endpoint: str) -> None:
    d = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="x", aws_secret_access_key="x")
    d.create_table(TableName="bench", BillingMode="PAY_PER_REQUEST",
                   KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                   AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                         {"AttributeName": "sk", "AttributeType": "S"}])
    n = 0

    def update(i):
        return {"Update": {"TableName": "bench", "Key": {"pk": {"S": f"p{i}"}, "sk": {"S": "A"}},
                           "UpdateExpression": "SET z = :z", "ExpressionAttributeValues": {":z": {"N": "1"}}}}

    for size in [100, 1000, 3000]:
        while n < size:
            batch = min(100, size - n)
            d.transact_write_items(TransactItems=[{"Put": {"TableName": "bench", "Item": {
                "pk": {"S": f"p{n + i}"}, "sk": {"S": "A"}, "x": {"S": "y" * 200}}}} for i in range(batch)])
            n += batch
        t = time.perf_counter()
        d.transact_write_items(TransactItems=[update(1)])
        one = time.perf_counter() - t
        t = time.perf_counter()
        d.transact_write_items(TransactItems=[update(i) for i in range(100)])
        hundred = time.perf_counter() - t
        t = time.perf_counter()
        d.put_item(TableName="bench", Item={"pk": {"S": "q"}, "sk": {"S": "A"}})
        put = time.perf_counter() - t
        print(f"{size:>5} items: tx1 {one * 1000:.0f} ms, tx100 {hundred * 1000:.0f} ms, put {put * 1000:.0f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
