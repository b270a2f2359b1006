import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import {
  API_RATE_LIMIT, bootstrapMachine, LivepayStack, logicalName, PLACEHOLDER_JWT_ISSUER, PAYOUT_BATCH_SIZE, PAYOUT_MAX_CONCURRENCY, SCHEDULE_RETRY_ATTEMPTS,
  SETTLEMENT_MAX_CONCURRENCY, WEBHOOK_RATE_LIMIT, PAYOUT_CONSUMER_TIMEOUT, PAYOUT_MAX_AGE, PAYOUT_MAX_RECEIVE_COUNT,
  PAYOUT_SCHEDULE, SETTLEMENT_BATCH_SIZE, SETTLEMENT_CONSUMER_TIMEOUT, SWEEP_SCHEDULE, PAYOUT_RUN_MAX_CONCURRENCY, PAYOUT_RUN_MAX_RECEIVE_COUNT,
} from '../lib/livepay-stack';
import { FUNCTIONS } from '../lib/functions';
import { METRIC_NAMESPACE, METRICS, PAYOUT_FAILURES_ALARM, SETTLEMENT_LAG_ALARM } from '../lib/observability';

const synth = (architecture: 'arm64' | 'x86_64' = 'arm64') => {
  const app = new App();
  const stack = new LivepayStack(app, 'Test', {
    architecture, jwtIssuer: 'https://issuer.example', jwtAudience: 'livepay', lambdaArtifacts: '/nonexistent',
  });
  return Template.fromStack(stack);
};

/** The logical id of `binary`'s function. */
const idOf = (t: Template, binary: string) =>
  Object.entries<any>(t.findResources('AWS::Lambda::Function'))
    .find(([, f]) => f.Metadata['livepay:binary'] === binary)![0];

/** Every IAM action `binary`'s role is granted, sorted. */
const actionsOf = (t: Template, binary: string) => {
  const [, policy] = Object.entries<any>(t.findResources('AWS::IAM::Policy'))
    .find(([id]) => id.startsWith(`${logicalName(binary)}ServiceRole`))!;
  return policy.Properties.PolicyDocument.Statement.flatMap((s: any) => [].concat(s.Action)).sort();
};

/** The actions a function may take on one table (statements whose resources name it). */
const tableActionsOf = (t: Template, binary: string, table: string) => {
  const [, policy] = Object.entries<any>(t.findResources('AWS::IAM::Policy'))
    .find(([id]) => id.startsWith(`${logicalName(binary)}ServiceRole`))!;
  return policy.Properties.PolicyDocument.Statement
    .filter((s: any) => JSON.stringify(s.Resource).includes(table))
    .flatMap((s: any) => [].concat(s.Action)).sort();
};

test('each function may read the commerce items its code reads, and no gift or order checks a stream in its transaction', () => {
  const t = synth();
  const reads: Record<string, string[]> = {
    'send-gift': ['dynamodb:GetItem'],
    // Streams, rooms, matches and boards; a match side's totals in one BatchGetItem.
    'streams-api': ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
    'place-order': ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
    'shop-api': ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
    'settle-payouts': ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    'sweep-settlements': ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
    // An order chargeback returns its stock.
    'payments-webhook': ['dynamodb:UpdateItem'],
  };
  for (const [binary, actions] of Object.entries(reads)) {
    assert.deepEqual(tableActionsOf(t, binary, 'CommerceTable'), actions.sort(), binary);
  }
});

test('streams-api may query the ledger (a match is final once the sweep index holds none of its gifts) and nothing more', () => {
  assert.deepEqual(tableActionsOf(synth(), 'streams-api', 'LedgerTable'), ['dynamodb:Query']);
});

test('the payments webhook may check, query and batch-read the ledger: purchases and chargebacks do', () => {
  const t = synth();
  const ledger = tableActionsOf(t, 'payments-webhook', 'LedgerTable');
  for (const action of ['dynamodb:ConditionCheckItem', 'dynamodb:Query', 'dynamodb:BatchGetItem',
    'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']) {
    assert.ok(ledger.includes(action), `${action}: ${ledger}`);
  }
});

test('three on-demand tables with point-in-time recovery; idempotency keys expire by TTL', () => {
  const t = synth();
  t.resourceCountIs('AWS::DynamoDB::Table', 3);
  t.allResourcesProperties('AWS::DynamoDB::Table', {
    BillingMode: 'PAY_PER_REQUEST',
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
  });
  t.hasResourceProperties('AWS::DynamoDB::Table', {
    TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
  });
});

test('settlement queue redrives to its DLQ, visibility is 6x the consumer timeout, DLQ depth alarms', () => {
  const t = synth();
  t.hasResourceProperties('AWS::SQS::Queue', {
    VisibilityTimeout: SETTLEMENT_CONSUMER_TIMEOUT.toSeconds() * 6,
    RedrivePolicy: { deadLetterTargetArn: Match.anyValue(), maxReceiveCount: 5 },
  });
  t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1 });
});

test('every route of every function exists; JWT on all but the webhook', () => {
  const t = synth();
  const routes = t.findResources('AWS::ApiGatewayV2::Route');
  const byKey = new Map(Object.values(routes).map((r: any) => [r.Properties.RouteKey, r.Properties]));
  const expected = FUNCTIONS.flatMap((f) => f.routes);
  assert.equal(byKey.size, expected.length);
  for (const route of expected) {
    const props: any = byKey.get(route.routeKey);
    assert.ok(props, `missing route ${route.routeKey}`);
    assert.equal(props.AuthorizationType, route.access === 'jwt' ? 'JWT' : 'NONE', route.routeKey);
  }
  t.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
    AuthorizerType: 'JWT',
    JwtConfiguration: { Issuer: 'https://issuer.example', Audience: ['livepay'] },
  });
  t.allResourcesProperties('AWS::ApiGatewayV2::Integration', { PayloadFormatVersion: '2.0' });
});

test('functions are provided.al2023 on the configured architecture, tagged with their binary', () => {
  for (const arch of ['arm64', 'x86_64'] as const) {
    const t = synth(arch);
    t.resourceCountIs('AWS::Lambda::Function', FUNCTIONS.length);
    t.allResourcesProperties('AWS::Lambda::Function', { Runtime: 'provided.al2023', Handler: 'bootstrap', Architectures: [arch] });
  }
  const fns = synth().findResources('AWS::Lambda::Function');
  const binaries = Object.values(fns).map((f: any) => f.Metadata['livepay:binary']).sort();
  assert.deepEqual(binaries, FUNCTIONS.map((f) => f.binary).sort());
});

test('least privilege: who may enqueue settlement or money out (payouts, refunds); only the webhook and the executor get secrets', () => {
  const t = synth();
  const fns = t.findResources('AWS::Lambda::Function');
  const settlementSenders = ['send-gift', 'sweep-settlements'];
  // Refunds start where money becomes owed to a buyer: a seller's or admin's refund, a payment
  // an order could not take.
  const payoutSenders = ['creators-api', 'payments-webhook', 'schedule-payouts', 'shop-api', 'sweep-settlements'];
  for (const [id, fn] of Object.entries<any>(fns)) {
    const binary = fn.Metadata['livepay:binary'];
    const vars = fn.Properties.Environment.Variables;
    assert.equal('SETTLEMENT_QUEUE_URL' in vars, settlementSenders.includes(binary), id);
    assert.equal('PAYOUT_QUEUE_URL' in vars, payoutSenders.includes(binary), id);
  }
  const policies = t.findResources('AWS::IAM::Policy');
  const sendMessage = Object.entries<any>(policies).filter(([, p]) => JSON.stringify(p).includes('sqs:SendMessage'));
  assert.deepEqual(sendMessage.map(([id]) => id.replace(/ServiceRole.*/, '')).sort(),
    ['CreatorsApi', 'PaymentsWebhook', 'SchedulePayouts', 'SendGift', 'ShopApi', 'SweepSettlements']);
  // No function may scan or delete items.
  const all = JSON.stringify(policies);
  assert.ok(!all.includes('dynamodb:Scan') && !all.includes('dynamodb:DeleteItem') && !all.includes('dynamodb:*'));
});

test('no environment variable holds a secret: each names a Secrets Manager secret only its function may read', () => {
  const t = synth();
  const secrets = t.findResources('AWS::SecretsManager::Secret');
  const owners: Record<string, string> = {
    WebhookSecret: 'payments-webhook', StripeWebhookSecret: 'payments-webhook',
    PayoutApiKey: 'execute-payouts', StatementCursorKey: 'creators-api',
  };
  assert.deepEqual(Object.keys(secrets).map((id) => id.replace(/[0-9A-F]{8}$/, '')).sort(), Object.keys(owners).sort());
  assert.deepEqual(t.findParameters('*', { NoEcho: true }), {}, 'no secret passes through a parameter');
  const fns = t.findResources('AWS::Lambda::Function');
  const policies = Object.values<any>(t.findResources('AWS::IAM::Policy'));
  for (const [id, fn] of Object.entries<any>(fns)) {
    const binary = fn.Metadata?.['livepay:binary'];
    if (!binary) continue;
    const vars = fn.Properties.Environment.Variables;
    for (const [name, value] of Object.entries<any>(vars)) {
      if (/SECRET|KEY|TOKEN|PASSWORD/.test(name) && !name.endsWith('_INDEX')) {
        assert.ok(name.endsWith('_SECRET_ARN'), `${id}: ${name} would hold a secret's value`);
        assert.ok(value.Ref && value.Ref in secrets, `${id}: ${name} names a secret of the stack`);
      }
    }
    const role = fn.Properties.Role['Fn::GetAtt'][0];
    const readable = policies
      .filter((p) => p.Properties.Roles.some((r: any) => r.Ref === role))
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'))
      .map((s) => s.Resource.Ref.replace(/[0-9A-F]{8}$/, ''));
    const own = Object.entries(owners).filter(([, b]) => b === binary).map(([s]) => s);
    assert.deepEqual(readable.sort(), own.sort(), `${binary} may read exactly its secrets`);
    assert.deepEqual(Object.values<any>(vars).filter((v) => v.Ref in secrets).map((v) => v.Ref.replace(/[0-9A-F]{8}$/, '')).sort(),
      own.sort(), `${binary} names exactly its secrets`);
  }
});

test('settle-payouts consumes the settlement queue in batches and reports partial failures', () => {
  const t = synth();
  const fns = t.findResources('AWS::Lambda::Function');
  const settleId = idOf(t, 'settle-payouts');
  t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    FunctionName: { Ref: settleId },
    BatchSize: SETTLEMENT_BATCH_SIZE,
    MaximumBatchingWindowInSeconds: 2,
    FunctionResponseTypes: ['ReportBatchItemFailures'],
  });
  t.resourceCountIs('AWS::Lambda::EventSourceMapping', 3);
  assert.equal(fns[settleId].Properties.Timeout, SETTLEMENT_CONSUMER_TIMEOUT.toSeconds());
});

test('the sweeper runs on a schedule; the sweep, open-orders, sender-gifts and boards indexes exist and reach the functions', () => {
  const t = synth();
  t.hasResourceProperties('AWS::Events::Rule', {
    ScheduleExpression: `rate(${SWEEP_SCHEDULE.toMinutes()} minute${SWEEP_SCHEDULE.toMinutes() === 1 ? '' : 's'})`,
    Targets: [Match.objectLike({ Arn: Match.anyValue() })],
  });
  t.hasResourceProperties('AWS::DynamoDB::Table', {
    GlobalSecondaryIndexes: [Match.objectLike({
      IndexName: 'sweep',
      KeySchema: [{ AttributeName: 'sweep_shard', KeyType: 'HASH' }, { AttributeName: 'sweep_at', KeyType: 'RANGE' }],
    }), Match.objectLike({
      IndexName: 'open_orders',
      KeySchema: [{ AttributeName: 'open_seller', KeyType: 'HASH' }, { AttributeName: 'placed_at', KeyType: 'RANGE' }],
    }), Match.objectLike({
      IndexName: 'sender_gifts',
      KeySchema: [{ AttributeName: 'sender_id', KeyType: 'HASH' }, { AttributeName: 'sent_at', KeyType: 'RANGE' }],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    })],
  });
  t.hasResourceProperties('AWS::DynamoDB::Table', {
    GlobalSecondaryIndexes: [Match.objectLike({
      IndexName: 'boards',
      KeySchema: [{ AttributeName: 'board', KeyType: 'HASH' }, { AttributeName: 'coins', KeyType: 'RANGE' }],
    })],
  });
  t.allResourcesProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({
      LEDGER_SWEEP_INDEX: 'sweep', LEDGER_OPEN_ORDERS_INDEX: 'open_orders',
      LEDGER_SENDER_GIFTS_INDEX: 'sender_gifts', COMMERCE_BOARDS_INDEX: 'boards',
    }) },
  });
});

test('the shop: place-order reserves stock in one transaction; orders live in the ledger; alarms watch settlement and the sweeper', () => {
  const t = synth();
  // One BatchGetItem for prices when this container has not seen the products, then only the
  // transaction's item actions: no read-then-write on stock. DescribeEndpoints (no data) opens
  // the connection during init.
  assert.deepEqual(actionsOf(t, 'place-order'), [
    'dynamodb:BatchGetItem', 'dynamodb:DescribeEndpoints', 'dynamodb:GetItem', 'dynamodb:GetItem',
    'dynamodb:PutItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem',
  ].sort());
  t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage' });
  t.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: { Ref: idOf(t, 'sweep-settlements') } }],
  });
  // Expiry is driven by the sweeper every minute, so reserved stock returns promptly.
  assert.equal(SWEEP_SCHEDULE.toMinutes(), 1);
});

test('HTTP functions open their AWS connections in init; queue and schedule functions do not, and may not', () => {
  const t = synth();
  const fns = t.findResources('AWS::Lambda::Function');
  for (const spec of FUNCTIONS) {
    const http = spec.routes.length > 0;
    const variables = fns[idOf(t, spec.binary)].Properties.Environment.Variables;
    assert.equal(variables.WARM_UP_CONNECTIONS, String(http), spec.binary);
    assert.equal(actionsOf(t, spec.binary).includes('dynamodb:DescribeEndpoints'), http, spec.binary);
  }
});
test('payouts: a FIFO queue with a FIFO DLQ feeds execute-payouts; a weekly schedule; alarms on the DLQ and stuck payouts', () => {
  const t = synth();
  const fns = t.findResources('AWS::Lambda::Function');
  const queues = Object.entries<any>(t.findResources('AWS::SQS::Queue'));
  const [queueId, queue] = queues.find(([id]) => id.startsWith('PayoutQueue'))!;
  const [dlqId, dlq] = queues.find(([id]) => id.startsWith('PayoutDlq'))!;
  assert.equal(queue.Properties.FifoQueue, true);
  assert.equal(dlq.Properties.FifoQueue, true);
  // Deduplication by payout id (the message's MessageDeduplicationId), never by content.
  assert.notEqual(queue.Properties.ContentBasedDeduplication, true);
  assert.deepEqual(queue.Properties.RedrivePolicy, {
    deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: PAYOUT_MAX_RECEIVE_COUNT,
  });
  assert.ok(queue.Properties.VisibilityTimeout >= 6 * PAYOUT_CONSUMER_TIMEOUT.toSeconds());
  t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    FunctionName: { Ref: idOf(t, 'execute-payouts') },
    EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
    BatchSize: PAYOUT_BATCH_SIZE,
    FunctionResponseTypes: ['ReportBatchItemFailures'],
  });
  assert.equal(fns[idOf(t, 'execute-payouts')].Properties.Timeout, PAYOUT_CONSUMER_TIMEOUT.toSeconds());
  t.hasResourceProperties('AWS::Events::Rule', {
    ScheduleExpression: `rate(${PAYOUT_SCHEDULE.toDays()} days)`,
    Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [idOf(t, 'schedule-payouts'), 'Arn'] } })],
  });
  t.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1,
    Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
  });
  t.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'ApproximateAgeOfOldestMessage', Threshold: PAYOUT_MAX_AGE.toSeconds(),
    Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
  });
  // The provider is a deliberate choice at deploy time: no default that could fake payouts.
  const params = t.toJSON().Parameters;
  assert.deepEqual(params.PayoutProvider.AllowedValues, ['stripe', 'http', 'sandbox']);
  assert.equal(params.PayoutProvider.Default, undefined);
});

test('operations: a dashboard of the EMF metrics, and alarms on settlement lag, failed payouts, 5xx and throttles', () => {
  const t = synth();
  t.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  const dashboard: any = Object.values(t.findResources('AWS::CloudWatch::Dashboard'))[0];
  const body = JSON.stringify(dashboard.Properties.DashboardBody);
  for (const name of Object.values(METRICS)) {
    assert.ok(body.includes(name), `the dashboard shows ${name}`);
  }
  assert.ok(body.includes(METRIC_NAMESPACE));
  for (const f of FUNCTIONS) {
    assert.ok(body.includes(`\\"function\\",\\"${f.binary}\\"`) || body.includes(f.binary), `cold starts of ${f.binary}`);
  }
  t.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: METRIC_NAMESPACE, MetricName: METRICS.settlementLag, Statistic: 'Maximum',
    Threshold: SETTLEMENT_LAG_ALARM.toSeconds(), Dimensions: [{ Name: 'function', Value: 'settle-payouts' }],
  });
  t.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: METRIC_NAMESPACE, MetricName: METRICS.payoutsFailed, Threshold: PAYOUT_FAILURES_ALARM,
  });
  t.hasResourceProperties('AWS::CloudWatch::Alarm', {
    Namespace: METRIC_NAMESPACE, MetricName: METRICS.sweepItemsSkipped, Threshold: 1,
    Dimensions: [{ Name: 'function', Value: 'sweep-settlements' }],
  });
  t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: '5xx', Namespace: 'AWS/ApiGateway' });
  // Throttles of this stack's functions, each by its own dimension, the sweeper (throttled on
  // purpose) not among them.
  const throttled = Object.values(t.findResources('AWS::CloudWatch::Alarm'))
    .flatMap((a: any) => (a.Properties.Metrics ?? []).filter((m: any) => m.MetricStat?.Metric.MetricName === 'Throttles'))
    .map((m: any) => m.MetricStat.Metric);
  assert.equal(throttled.length, FUNCTIONS.length - 1);
  for (const m of throttled) {
    assert.equal(m.Namespace, 'AWS/Lambda');
    assert.equal(m.Dimensions[0].Name, 'FunctionName');
  }
  const sweep = Object.entries(t.findResources('AWS::Lambda::Function'))
    .find(([, f]: [string, any]) => f.Properties.Description?.startsWith('Scheduled: re-drives'))![0];
  assert.ok(throttled.every((m: any) => m.Dimensions[0].Value.Ref !== sweep));
  t.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmDescription: Match.stringLikeRegexp('docs/runbook.md') });
});

test('state is kept: tables protected from deletion, queues and logs retained, logs a year', () => {
  const t = synth();
  t.allResourcesProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true });
  for (const [type, policy] of [['AWS::DynamoDB::Table', 'Retain'], ['AWS::SQS::Queue', 'RetainExceptOnCreate'],
    ['AWS::Logs::LogGroup', 'RetainExceptOnCreate']]) {
    for (const [id, r] of Object.entries<any>(t.findResources(type))) {
      assert.equal(r.DeletionPolicy, policy, `${id} is retained`);
      assert.equal(r.UpdateReplacePolicy, 'Retain', `${id} is retained on replacement`);
    }
  }
  t.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  const dashboard: any = Object.values(t.findResources('AWS::CloudWatch::Dashboard'))[0];
  assert.equal(dashboard.Properties.DashboardName, 'livepay-Test', 'named per stage');
});

test('the weekly payout run fans out in bounded pieces through its own queue, whose DLQ alarms', () => {
  const t = synth();
  const queues = t.findResources('AWS::SQS::Queue');
  const queueId = Object.keys(queues).find((id) => id.startsWith('PayoutRunQueue'))!;
  const dlqId = Object.keys(queues).find((id) => id.startsWith('PayoutRunDlq'))!;
  assert.deepEqual(queues[queueId].Properties.RedrivePolicy, {
    deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: PAYOUT_RUN_MAX_RECEIVE_COUNT,
  });
  const fn = t.findResources('AWS::Lambda::Function')[idOf(t, 'schedule-payouts')];
  assert.ok(fn.Properties.Timeout <= 120, 'a piece is short; no 15-minute run');
  assert.ok(queues[queueId].Properties.VisibilityTimeout >= 6 * fn.Properties.Timeout);
  assert.deepEqual(fn.Properties.Environment.Variables.PAYOUT_RUN_QUEUE_URL, { Ref: queueId });
  t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    FunctionName: { Ref: idOf(t, 'schedule-payouts') }, EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
    BatchSize: 1, FunctionResponseTypes: ['ReportBatchItemFailures'],
    ScalingConfig: { MaximumConcurrency: PAYOUT_RUN_MAX_CONCURRENCY },
  });
  t.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 1,
    Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId, 'QueueName'] } }],
  });
});

test('load is bounded: both queue consumers have a maximum concurrency, the API a rate, the webhooks a tighter one, with access logs', () => {
  const t = synth();
  t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    FunctionName: { Ref: idOf(t, 'settle-payouts') }, ScalingConfig: { MaximumConcurrency: SETTLEMENT_MAX_CONCURRENCY },
  });
  t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    FunctionName: { Ref: idOf(t, 'execute-payouts') }, ScalingConfig: { MaximumConcurrency: PAYOUT_MAX_CONCURRENCY },
  });
  t.allResourcesProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: Match.anyValue() } });
  const [stage]: any[] = Object.values(t.findResources('AWS::ApiGatewayV2::Stage'));
  assert.equal(stage.Properties.DefaultRouteSettings.ThrottlingRateLimit, API_RATE_LIMIT);
  // Every route that takes no token has the tighter limit, and exists before the stage names it.
  const routes = Object.entries<any>(t.findResources('AWS::ApiGatewayV2::Route'));
  const open = routes.filter(([, r]) => r.Properties.AuthorizationType !== 'JWT');
  assert.deepEqual(Object.keys(stage.Properties.RouteSettings).sort(),
    open.map(([, r]) => r.Properties.RouteKey).sort());
  for (const [id, r] of open) {
    assert.equal(stage.Properties.RouteSettings[r.Properties.RouteKey].ThrottlingRateLimit, WEBHOOK_RATE_LIMIT, id);
    assert.ok(stage.DependsOn.includes(id), `the stage waits for ${id}`);
  }
  const format = JSON.parse(stage.Properties.AccessLogSettings.Format);
  for (const field of ['requestId', 'routeKey', 'status', 'latencyMs', 'integrationError']) {
    assert.ok(format[field], `access logs carry ${field}`);
  }
  assert.ok(stage.Properties.AccessLogSettings.DestinationArn);
});

test('every schedule target retries and has a DLQ, whose depth alarms; a failed sweep is not retried beside the next', () => {
  const t = synth();
  t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
    FunctionName: { Ref: idOf(t, 'sweep-settlements') }, MaximumRetryAttempts: 0,
  });
  t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
    FunctionName: { Ref: idOf(t, 'schedule-payouts') },
    DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ScheduleDlq'), 'Arn'] } } },
  });
  const rules = Object.values<any>(t.findResources('AWS::Events::Rule'));
  assert.equal(rules.length, 2);
  for (const rule of rules) {
    for (const target of rule.Properties.Targets) {
      assert.equal(target.RetryPolicy.MaximumRetryAttempts, SCHEDULE_RETRY_ATTEMPTS);
      assert.ok(target.RetryPolicy.MaximumEventAgeInSeconds > 0);
      assert.deepEqual(target.DeadLetterConfig.Arn['Fn::GetAtt'][1], 'Arn');
      assert.ok(target.DeadLetterConfig.Arn['Fn::GetAtt'][0].startsWith('ScheduleDlq'));
    }
  }
  t.hasResourceProperties('AWS::CloudWatch::Alarm', {
    MetricName: 'ApproximateNumberOfMessagesVisible',
    Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ScheduleDlq'), 'QueueName'] } }],
  });
  // A sweep cannot overlap itself: one instance at most, and only that function is limited so.
  const reserved = Object.values<any>(t.findResources('AWS::Lambda::Function'))
    .filter((f) => f.Properties.ReservedConcurrentExecutions !== undefined)
    .map((f) => [f.Metadata['livepay:binary'], f.Properties.ReservedConcurrentExecutions]);
  assert.deepEqual(reserved, [['sweep-settlements', 1]]);
});

test('alarms reach someone: every alarm notifies the stage topic when it fires and when it clears', () => {
  const t = synth();
  const [topicId] = Object.keys(t.findResources('AWS::SNS::Topic'));
  const alarms = Object.entries<any>(t.findResources('AWS::CloudWatch::Alarm'));
  assert.ok(alarms.length > 10);
  for (const [id, a] of alarms) {
    assert.deepEqual(a.Properties.AlarmActions, [{ Ref: topicId }], id);
    assert.deepEqual(a.Properties.OKActions, [{ Ref: topicId }], id);
  }
  // Errors of every queue consumer and schedule, and each table's throttles and system errors.
  for (const binary of ['settle-payouts', 'execute-payouts', 'sweep-settlements', 'schedule-payouts']) {
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: { Ref: idOf(t, binary) } }],
    });
  }
  for (const table of ['Ledger', 'Commerce', 'Idempotency']) {
    for (const [kind, metric] of [['Throttled', 'ThrottledRequests'], ['SystemErrors', 'SystemErrors']]) {
      const [, a] = alarms.find(([id]) => id.startsWith(`${table}Table${kind}`))!;
      const [sum, ...each] = a.Properties.Metrics;
      // Every operation's metric filled with 0, so an empty period sums to 0, not to no data.
      assert.equal(sum.Expression.match(/FILL\(m\d, 0\)/g).length, each.length, `${table} ${kind}`);
      for (const m of each) {
        assert.equal(m.MetricStat.Metric.MetricName, metric);
        assert.ok(m.MetricStat.Metric.Dimensions.some((d: any) => d.Name === 'Operation'));
      }
    }
  }
  // The email subscription exists only when an address is given; CloudWatch may publish.
  const [subscription]: any[] = Object.values(t.findResources('AWS::SNS::Subscription'));
  assert.equal(subscription.Properties.Protocol, 'email');
  assert.ok(subscription.Condition);
  const [policy]: any[] = Object.values(t.findResources('AWS::SNS::TopicPolicy'));
  assert.ok(policy.Properties.PolicyDocument.Statement.some((s: any) => s.Effect === 'Allow'
    && s.Principal.Service === 'cloudwatch.amazonaws.com' && [].concat(s.Action).includes('sns:Publish')));
});

/** A Lambda zip of one deflated `bootstrap` whose ELF header names `machine` (62 x86_64, 183 arm64). */
const lambdaZip = (file: string, machine: number) => {
  const elf = Buffer.alloc(64);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf.writeUInt16LE(machine, 18);
  const data = zlib.deflateRawSync(elf);
  const name = Buffer.from('bootstrap');
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(elf.length, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(elf.length, 24);
  central.writeUInt16LE(name.length, 28);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + name.length, 12);
  end.writeUInt32LE(local.length + name.length + data.length, 16);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([local, name, data, central, name, end]));
};

/** A folder of every function's zip, built for `machine`, but `binary` (if given) for `other`. */
const artifacts = (machine: number, odd?: { binary: string, machine?: number }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livepay-artifacts-'));
  for (const f of FUNCTIONS) {
    if (f.binary === odd?.binary && odd.machine === undefined) continue;
    lambdaZip(path.join(dir, f.binary, 'bootstrap.zip'), f.binary === odd?.binary ? odd.machine! : machine);
  }
  return dir;
};

const deploySynth = (architecture: 'arm64' | 'x86_64', lambdaArtifacts: string, jwtIssuer = 'https://issuer.example') =>
  new LivepayStack(new App(), 'Deploy', {
    architecture, jwtIssuer, jwtAudience: 'livepay', lambdaArtifacts, forDeployment: true,
  });

test('a synth for deployment ships only zips built for the stack\'s architecture, and a real issuer', () => {
  const x86 = artifacts(62);
  assert.equal(bootstrapMachine(path.join(x86, 'send-gift', 'bootstrap.zip')), 62);
  const stack = deploySynth('x86_64', x86);
  // `cdk deploy --strict` fails on any warning: a deployment's synth has none.
  Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
  const t = Template.fromStack(stack);
  for (const f of Object.values<any>(t.findResources('AWS::Lambda::Function'))) {
    if (f.Metadata['livepay:binary']) assert.deepEqual(f.Properties.Architectures, ['x86_64']);
  }
  Template.fromStack(deploySynth('arm64', artifacts(183)));
  assert.throws(() => deploySynth('arm64', x86), /holds no arm64 bootstrap \(ELF machine 62\)/);
  assert.throws(() => deploySynth('x86_64', artifacts(62, { binary: 'execute-payouts', machine: 183 })),
    /execute-payouts.*holds no x86_64 bootstrap/);
  assert.throws(() => deploySynth('x86_64', artifacts(62, { binary: 'sweep-settlements' })),
    /sweep-settlements.*not found/);
  assert.throws(() => deploySynth('x86_64', x86, PLACEHOLDER_JWT_ISSUER), /issuer/);
  // Tests and the local stack synthesize without a build, warned about it.
  const plain = new LivepayStack(new App(), 'Plain', {
    architecture: 'x86_64', jwtIssuer: PLACEHOLDER_JWT_ISSUER, jwtAudience: 'livepay', lambdaArtifacts: '/nonexistent',
  });
  Annotations.fromStack(plain).hasWarning('*', Match.stringLikeRegexp('not found'));
});

test('sandbox moves no money: CloudFormation refuses it before creating anything unless the stage is a test stage', () => {
  const t = synth().toJSON();
  assert.deepEqual(t.Parameters.TestStage.AllowedValues, ['true', 'false']);
  assert.equal(t.Parameters.TestStage.Default, 'false');
  const rule = t.Rules.SandboxOnlyOnTestStages;
  assert.deepEqual(rule.RuleCondition, { 'Fn::Equals': [{ Ref: 'TestStage' }, 'false'] });
  assert.deepEqual(rule.Assertions[0].Assert, { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'PayoutProvider' }, 'sandbox'] }] });
  const noLiveMoney = t.Rules.TestStagesTakeNoLiveMoney;
  assert.deepEqual(noLiveMoney.RuleCondition, { 'Fn::Equals': [{ Ref: 'TestStage' }, 'true'] });
  assert.deepEqual(noLiveMoney.Assertions[0].Assert, { 'Fn::Equals': [{ Ref: 'StripeLivemode' }, 'false'] });
});
