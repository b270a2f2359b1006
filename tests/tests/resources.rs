//! The emulator holds exactly the tables and queues of the synthesized template, as the stack's
//! provisioner created them (read back from moto, compared with the template independently).

use std::collections::BTreeMap;

use serde_json::Value;

fn template() -> Value {
    let path = std::env::var("LIVEPAY_TEMPLATE").expect("set by scripts/test");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn short(logical_id: &str) -> String {
    logical_id[..logical_id.len() - 8].to_owned()
}

#[tokio::test]
async fn emulator_resources_are_exactly_the_templates() {
    let env = livepay_tests::TestEnv::new().await;
    let prefix = env
        .app
        .store
        .tables()
        .ledger
        .split('-')
        .next()
        .unwrap()
        .to_owned();
    let sdk = livepay::aws_sdk_config().await.unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let resources = template()["Resources"].as_object().unwrap().clone();

    let mut expected_tables = BTreeMap::new();
    for (id, r) in resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::DynamoDB::Table")
    {
        expected_tables.insert(format!("{prefix}-{}", short(id)), r["Properties"].clone());
    }
    let all_tables: Vec<String> = ddb
        .list_tables()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let mut actual: Vec<String> = all_tables
        .into_iter()
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .collect();
    actual.sort();
    assert_eq!(actual, expected_tables.keys().cloned().collect::<Vec<_>>());
    for (name, props) in &expected_tables {
        let d = ddb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let keys: Vec<(String, String)> = d
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = props["KeySchema"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap().to_owned(),
                    k["KeyType"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(keys, want, "{name}");
        assert_eq!(
            d.global_secondary_indexes().len(),
            props["GlobalSecondaryIndexes"]
                .as_array()
                .map_or(0, Vec::len),
            "{name}"
        );
        let ttl = ddb
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .time_to_live_description
            .unwrap();
        assert_eq!(
            ttl.attribute_name().map(str::to_owned),
            props["TimeToLiveSpecification"]["AttributeName"]
                .as_str()
                .map(str::to_owned),
            "{name}"
        );
    }

    let mut expected_queues = BTreeMap::new();
    for (id, r) in resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::SQS::Queue")
    {
        let fifo = r["Properties"]["FifoQueue"] == true;
        expected_queues.insert(
            format!("{prefix}-{}{}", short(id), if fifo { ".fifo" } else { "" }),
            r["Properties"].clone(),
        );
    }
    let urls = sqs
        .list_queues()
        .queue_name_prefix(format!("{prefix}-"))
        .send()
        .await
        .unwrap()
        .queue_urls
        .unwrap_or_default();
    let mut names: Vec<String> = urls
        .iter()
        .map(|u| u.rsplit('/').next().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, expected_queues.keys().cloned().collect::<Vec<_>>());
    for url in &urls {
        let name = url.rsplit('/').next().unwrap();
        let props = &expected_queues[name];
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap();
        let get = |k: &str| {
            attrs
                .get(&aws_sdk_sqs::types::QueueAttributeName::from(k))
                .cloned()
        };
        assert_eq!(
            get("FifoQueue").as_deref() == Some("true"),
            props["FifoQueue"] == true,
            "{name}"
        );
        if let Some(v) = props["VisibilityTimeout"].as_u64() {
            assert_eq!(get("VisibilityTimeout"), Some(v.to_string()), "{name}");
        }
        match props.get("RedrivePolicy") {
            Some(rp) => {
                let actual: Value =
                    serde_json::from_str(&get("RedrivePolicy").expect("redrive policy")).unwrap();
                assert_eq!(
                    actual["maxReceiveCount"].as_u64(),
                    rp["maxReceiveCount"].as_u64(),
                    "{name}"
                );
                let dlq_id = rp["deadLetterTargetArn"]["Fn::GetAtt"][0].as_str().unwrap();
                let dlq_fifo = resources[dlq_id]["Properties"]["FifoQueue"] == true;
                // A FIFO queue's DLQ must be FIFO too.
                assert_eq!(dlq_fifo, props["FifoQueue"] == true, "{name}");
                let suffix = if dlq_fifo { ".fifo" } else { "" };
                assert!(
                    actual["deadLetterTargetArn"]
                        .as_str()
                        .unwrap()
                        .ends_with(&format!(":{prefix}-{}{suffix}", short(dlq_id))),
                    "{name}: {actual}"
                );
            }
            None => assert_eq!(get("RedrivePolicy"), None, "{name}"),
        }
    }
    // The functions' environment names every table and queue it references.
    assert_eq!(env.env["LEDGER_TABLE"], format!("{prefix}-LedgerTable"));
    assert!(env.env["SETTLEMENT_QUEUE_URL"].ends_with(&format!("{prefix}-SettlementQueue")));
}
