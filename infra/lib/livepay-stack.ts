import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
  Annotations, Aws, CfnCondition, CfnOutput, CfnParameter, CfnRule, Duration, Fn, RemovalPolicy, Stack,
  StackProps,
  aws_apigatewayv2 as apigw, aws_apigatewayv2_authorizers as authorizers,
  aws_apigatewayv2_integrations as integrations, aws_cloudwatch as cloudwatch,
  aws_dynamodb as dynamodb, aws_events as events, aws_events_targets as targets, aws_iam as iam, aws_lambda as lambda,
  aws_lambda_event_sources as eventSources, aws_logs as logs, aws_secretsmanager as secretsmanager, aws_sns as sns,
  aws_sqs as sqs,
  aws_cloudwatch_actions as actions, aws_lambda_destinations as destinations,
} from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { addObservability } from './observability';
import { FUNCTIONS, FunctionSpec } from './functions';
import { acceptSignedWebhookRoute, acknowledgeAccepted } from './nag';

export interface LivepayStackProps extends StackProps {
  /**
   * `x86_64` (the default in cdk.json: what this project's build makes) or `arm64` (Graviton,
   * cheaper; `scripts/build-lambdas --arm64` needs the aarch64 standard library).
   */
  readonly architecture: 'arm64' | 'x86_64';
  readonly jwtIssuer: string;
  readonly jwtAudience: string;
  /** Folder holding `<binary>/bootstrap.zip` from `cargo lambda build --release --output-format zip`. */
  readonly lambdaArtifacts: string;
  /** Days every function's logs are kept (a money audit trail): default one year. */
  readonly logRetention?: logs.RetentionDays;
  /**
   * A synth for deployment (scripts/deploy): every function's zip must exist and hold a
   * `bootstrap` built for `architecture`, and the issuer must be a real one. Synth for tests
   * and the local stack leaves it off and needs no Rust build.
   */
  readonly forDeployment?: boolean;
}

/** The issuer `infra/cdk.json` ships with: fine locally, refused by a deployment. */
export const PLACEHOLDER_JWT_ISSUER = 'https://auth.livepay.local';
/** ELF `e_machine` of each architecture's `bootstrap`. */
const ELF_MACHINE = { x86_64: 62, arm64: 183 } as const;

/**
 * Most settlement consumers running at once. Each takes a 500-gift batch, so 10 settle 5,000
 * gifts at a time, and the consumer cannot take the account's concurrency from the HTTP
 * functions when a backlog drains.
 */
export const SETTLEMENT_MAX_CONCURRENCY = 10;
/** Most payout executors running at once: at most 40 provider calls in flight (8 per executor). */
export const PAYOUT_MAX_CONCURRENCY = 5;
/** A scheduled run EventBridge could not hand to Lambda is tried again, then parked on a DLQ. */
export const SCHEDULE_RETRY_ATTEMPTS = 3;
/** Requests per second (and burst) the API takes, and the tighter limit of the webhook routes. */
export const API_RATE_LIMIT = 1_000;
export const API_BURST_LIMIT = 2_000;
export const WEBHOOK_RATE_LIMIT = 100;
export const WEBHOOK_BURST_LIMIT = 200;

/** Seconds an HTTP function may run; API Gateway gives up at 30 s anyway. */
const HTTP_FUNCTION_TIMEOUT = Duration.seconds(10);
/** A settlement consumer's timeout; its queue's visibility is 6x this (AWS guidance for SQS sources). */
export const SETTLEMENT_CONSUMER_TIMEOUT = Duration.seconds(30);
/** Deliveries before a settlement message is parked on the DLQ for a human. */
export const SETTLEMENT_MAX_RECEIVE_COUNT = 5;
/**
 * Messages per settlement invocation, and how long Lambda waits to fill a batch. Big batches are
 * what make aggregation work (one creator balance write per 99 of that creator's gifts); 2 s is
 * the latency a gift's earnings pay for it.
 */
export const SETTLEMENT_BATCH_SIZE = 500;
export const SETTLEMENT_BATCHING_WINDOW = Duration.seconds(2);
/**
 * How often the sweeper runs. It expires unpaid orders, so this bounds how long their stock stays
 * reserved past the payment window (a flash sale wants it back fast): one minute, EventBridge's
 * finest rate. Stranded gifts still wait their 10-minute grace (SWEEP_GRACE_SECONDS).
 */
export const SWEEP_SCHEDULE = Duration.minutes(1);
/** Alarm when the oldest settlement message is older than this: settlement is falling behind. */
export const SETTLEMENT_MAX_AGE = Duration.minutes(15);
const SWEEP_TIMEOUT = Duration.seconds(120);
/** The payout executor's timeout: one provider call per payout, each bounded by what is left of it. */
export const PAYOUT_CONSUMER_TIMEOUT = Duration.seconds(30);
/**
 * Deliveries before a payout message is parked on the DLQ: with a 180 s visibility, about an
 * hour of a provider not answering. The payout stays `processing` (money in payout, never paid
 * twice) until its message is redriven (docs/runbook.md).
 */
export const PAYOUT_MAX_RECEIVE_COUNT = 20;
/** SQS hands a FIFO consumer at most 10 messages. */
export const PAYOUT_BATCH_SIZE = 10;
/**
 * Scheduled payouts: every payee (creator or seller) with the minimum available, weekly
 * (DOMAIN.md). The run's week is the event's own time, so Lambda's retries and a late delivery
 * stay in the week the event was scheduled in (`jobs::payout_run::start`).
 */
export const PAYOUT_SCHEDULE = Duration.days(7);
/** Alarm when a payout message is older than this: payouts are stuck in `processing`. */
export const PAYOUT_MAX_AGE = Duration.minutes(15);
/**
 * The payout run's timeout. The weekly event only fans the run out onto its queue; each piece
 * (200 payees, shared/src/jobs/payout_run.rs) takes seconds.
 */
const PAYOUT_RUN_TIMEOUT = Duration.minutes(2);
/** Pieces of a payout run at once (SQS event source maximum concurrency: its least, 2). */
export const PAYOUT_RUN_MAX_CONCURRENCY = 2;
/** Deliveries before a piece of a run is parked on the DLQ (its payouts are then not requested). */
export const PAYOUT_RUN_MAX_RECEIVE_COUNT = 5;
/** Index names the functions get through their environment (see shared/src/store/mod.rs). */
export const LEDGER_SWEEP_INDEX = 'sweep';
export const LEDGER_OPEN_ORDERS_INDEX = 'open_orders';
export const LEDGER_SENDER_GIFTS_INDEX = 'sender_gifts';
export const COMMERCE_BOARDS_INDEX = 'boards';

/**
 * What must outlive the stack (queues that may hold payouts in flight, the logs of a money audit
 * trail) is kept when the stack is updated or deleted; a first deploy that rolls back takes it
 * with it, so a failed try leaves nothing to clean up. (The tables are kept in every case, as
 * deletion protection would refuse a rollback's delete anyway.)
 */
const KEPT = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE;

export class LivepayStack extends Stack {
  constructor(scope: Construct, id: string, props: LivepayStackProps) {
    super(scope, id, props);
    if (props.forDeployment && (props.jwtIssuer === PLACEHOLDER_JWT_ISSUER || !props.jwtIssuer.startsWith('https://'))) {
      throw new Error(`a deployment needs the identity provider's issuer (https://…), not ${props.jwtIssuer}`);
    }

    const table = (name: string, ttl?: string) => new dynamodb.Table(this, name, {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: ttl,
      removalPolicy: RemovalPolicy.RETAIN,
      deletionProtection: true,
    });
    // Accounts, transfers and pending gifts: the money.
    const ledger = table('LedgerTable');
    // Streams, leaderboards, products and buyers' per-product limits. Orders live in the ledger:
    // an order's record is its own ledger account, so its money and its status change together.
    const commerce = table('CommerceTable');
    // Idempotency keys, expiring through TTL (kept >= 24 h, see API.md).
    const idempotency = table('IdempotencyTable', 'expires_at');
    // Sparse: only gifts still owing settlement or leaderboard credit, held earnings and
    // commissions, and orders awaiting payment or the end of their hold after delivery.
    ledger.addGlobalSecondaryIndex({
      indexName: LEDGER_SWEEP_INDEX,
      partitionKey: { name: 'sweep_shard', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sweep_at', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // Sparse: paid orders not yet completed or refunded, by seller shard (`<seller>#NN`, 16 per
    // seller: a flash sale's payments spread over 16 partitions), for a seller's pending proceeds.
    ledger.addGlobalSecondaryIndex({
      indexName: LEDGER_OPEN_ORDERS_INDEX,
      partitionKey: { name: 'open_seller', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'placed_at', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // Every gift account by its sender and time, keys only: a chargeback traces the coins it
    // takes back to the buyer's gifts since the purchase (shared/src/domain/chargebacks.rs).
    // Keys only, so settling a gift does not write the index again.
    ledger.addGlobalSecondaryIndex({
      indexName: LEDGER_SENDER_GIFTS_INDEX,
      partitionKey: { name: 'sender_id', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sent_at', type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });
    // Each leaderboard shard's entries ranked by coins (`board` = `<board>#<shard>`: a board's
    // writes spread over 32 partitions, shared/src/domain/settlement.rs BOARD_SHARDS).
    commerce.addGlobalSecondaryIndex({
      indexName: COMMERCE_BOARDS_INDEX,
      partitionKey: { name: 'board', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'coins', type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.ALL,
    });

    // Every alarm goes to the stage's topic, when it fires and when it clears; whoever deploys
    // names who is told (AlarmEmail), and can subscribe more (chat, paging) to the topic.
    const alarmEmail = new CfnParameter(this, 'AlarmEmail', {
      type: 'String',
      default: '',
      description: 'Who is emailed when an alarm fires or clears (empty: subscribe to the AlarmTopicArn output yourself)',
    });
    const alarmTopic = new sns.Topic(this, 'AlarmTopic', { enforceSSL: true });
    // The topic's policy (it refuses plain HTTP) replaces SNS's default one: CloudWatch's alarms
    // of this account are allowed to publish.
    alarmTopic.addToResourcePolicy(new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [alarmTopic.topicArn],
      conditions: {
        ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
      },
    }));
    const emailGiven = new CfnCondition(this, 'AlarmEmailGiven', {
      expression: Fn.conditionNot(Fn.conditionEquals(alarmEmail.valueAsString, '')),
    });
    const email = new sns.Subscription(this, 'AlarmEmailSubscription', {
      topic: alarmTopic,
      protocol: sns.SubscriptionProtocol.EMAIL,
      endpoint: alarmEmail.valueAsString,
    });
    (email.node.defaultChild as sns.CfnSubscription).cfnOptions.condition = emailGiven;
    const notify = new actions.SnsAction(alarmTopic);
    // Every alarm fires on one evaluation period and treats missing data as healthy.
    const alarm = (id: string, description: string, metric: cloudwatch.IMetric, threshold: number,
      comparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD) => {
      const a = new cloudwatch.Alarm(this, id, {
        alarmDescription: `${description} (see docs/runbook.md)`,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(notify);
      a.addOkAction(notify);
      return a;
    };

    // A queue and its DLQ (FIFO both, or neither), kept 14 days, encrypted at rest (SSE-SQS); the queue's visibility is 6x its
    // consumer's timeout (AWS guidance for SQS event sources).
    const queueWithDlq = (name: string, consumerTimeout: Duration, maxReceiveCount: number, fifo = false) => {
      // Kept when the stack is replaced or deleted (they may hold payouts in flight), but not
      // when its first deploy rolls back: nothing was in them.
      const dlq = new sqs.Queue(this, `${name}Dlq`, {
        fifo: fifo || undefined,
        retentionPeriod: Duration.days(14),
        enforceSSL: true,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        removalPolicy: KEPT,
      });
      const queue = new sqs.Queue(this, `${name}Queue`, {
        fifo: fifo || undefined,
        visibilityTimeout: Duration.seconds(consumerTimeout.toSeconds() * 6),
        retentionPeriod: Duration.days(14),
        deadLetterQueue: { queue: dlq, maxReceiveCount },
        enforceSSL: true,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        removalPolicy: KEPT,
      });
      return [queue, dlq];
    };

    // Throttles and DynamoDB's own errors, per table, on the operations the functions issue.
    const operations = [dynamodb.Operation.GET_ITEM, dynamodb.Operation.PUT_ITEM, dynamodb.Operation.UPDATE_ITEM,
      dynamodb.Operation.QUERY, dynamodb.Operation.BATCH_GET_ITEM, dynamodb.Operation.TRANSACT_WRITE_ITEMS];
    // Each operation's metric only has data when something happened: each is filled with 0, so
    // the sum has a value every period and one throttled operation is enough to fire.
    const perOperation = (t: dynamodb.Table, metricName: string) => {
      const period = Duration.minutes(5);
      return new cloudwatch.MathExpression({
        expression: operations.map((_, i) => `FILL(m${i}, 0)`).join(' + '),
        usingMetrics: Object.fromEntries(operations.map((operation, i) => [`m${i}`, t.metric(metricName, {
          dimensionsMap: { TableName: t.tableName, Operation: operation }, statistic: 'Sum', period,
        })])),
        period,
      });
    };
    for (const [name, t] of [['Ledger', ledger], ['Commerce', commerce], ['Idempotency', idempotency]] as const) {
      alarm(`${name}TableThrottled`, `DynamoDB throttled requests to the ${name.toLowerCase()} table`,
        perOperation(t, 'ThrottledRequests'), 1);
      alarm(`${name}TableSystemErrors`, `DynamoDB answered the ${name.toLowerCase()} table's requests with its own errors`,
        perOperation(t, 'SystemErrors'), 1);
    }

    const [settlementQueue, settlementDlq] = queueWithDlq('Settlement', SETTLEMENT_CONSUMER_TIMEOUT,
      SETTLEMENT_MAX_RECEIVE_COUNT);
    alarm('SettlementDlqNotEmpty', 'Settlement messages failed repeatedly and wait on the DLQ',
      settlementDlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }), 1);
    alarm('SettlementFallingBehind', 'The oldest settlement message (gift or due order) is waiting too long',
      settlementQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5) }),
      SETTLEMENT_MAX_AGE.toSeconds(), cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD);

    // FIFO: one message group per creator, so one creator's payouts run one at a time, in order.
    const [payoutQueue, payoutDlq] = queueWithDlq('Payout', PAYOUT_CONSUMER_TIMEOUT, PAYOUT_MAX_RECEIVE_COUNT, true);
    alarm('PayoutDlqNotEmpty', 'Payout messages failed repeatedly and wait on the DLQ; their payouts stay processing',
      payoutDlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }), 1);
    alarm('PayoutsStuckInProcessing', 'A payout has waited too long for the provider (requested or processing)',
      payoutQueue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5) }),
      PAYOUT_MAX_AGE.toSeconds(), cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD);

    const payoutProvider = new CfnParameter(this, 'PayoutProvider', {
      type: 'String',
      allowedValues: ['stripe', 'http', 'sandbox'],
      description: 'Where payouts and refunds go: stripe (PayoutApiKey = a Stripe secret key; Connect transfers and refunds), http (the same calls to PayoutApiUrl) or sandbox (moves no money; test stages only). No default on purpose',
    });
    const testStage = new CfnParameter(this, 'TestStage', {
      type: 'String',
      default: 'false',
      allowedValues: ['true', 'false'],
      description: 'true for a stage that moves no real money: only such a stage may use the sandbox provider',
    });
    // CloudFormation checks rules before it creates anything: a stage that pays people cannot
    // start with a provider that marks payouts paid without moving money.
    new CfnRule(this, 'SandboxOnlyOnTestStages', {
      ruleCondition: Fn.conditionEquals(testStage.valueAsString, 'false'),
      assertions: [{
        assert: Fn.conditionNot(Fn.conditionEquals(payoutProvider.valueAsString, 'sandbox')),
        assertDescription: 'PayoutProvider=sandbox moves no money: only a test stage (TestStage=true) may use it',
      }],
    });
    const payoutApiUrl = new CfnParameter(this, 'PayoutApiUrl', {
      type: 'String',
      default: '',
      description: 'Base URL of the Stripe-compatible API (http provider; stripe uses https://api.stripe.com)',
    });
    // Secrets live in Secrets Manager, never in a function's environment (which anyone with
    // lambda:GetFunctionConfiguration reads): a function holds the secret's ARN, reads the value
    // at cold start and again after SECRET_CACHE_SECONDS, so `put-secret-value` rotates it with
    // no redeploy, and the version before (AWSPREVIOUS) is still accepted for
    // SECRET_ROTATION_OVERLAP_SECONDS. Each is generated at creation; scripts/deploy puts the
    // values a deployment supplies (docs/deploying.md).
    const secret = (id: string, description: string) => new secretsmanager.Secret(this, id, {
      description,
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy: KEPT,
    });
    const payoutApiKey = secret('PayoutApiKey',
      'The payout provider\'s API key (a Stripe secret key, sk_…): put by scripts/deploy');
    const webhookSecret = secret('WebhookSecret',
      'HMAC secret shared with the payment provider (Livepay-Signature header); generated unless scripts/deploy puts one');
    const stripeWebhookSecret = secret('StripeWebhookSecret',
      'The Stripe endpoint secret (whsec_…) of POST /v1/webhooks/stripe, then the Connect endpoint\'s after a space when it posts to the same URL; until put by scripts/deploy every Stripe delivery is refused');
    // Signs statement cursors, which carry running balances the next page starts from.
    const statementCursorKey = secret('StatementCursorKey', 'HMAC key of the statement cursors (generated; rotate freely)');
    const stripeLivemode = new CfnParameter(this, 'StripeLivemode', {
      type: 'String',
      default: 'false',
      allowedValues: ['true', 'false'],
      description: 'Whether the Stripe account is live (events of the other mode are refused)',
    });
    // A test stage pays nobody for real, so it must take no real money either.
    new CfnRule(this, 'TestStagesTakeNoLiveMoney', {
      ruleCondition: Fn.conditionEquals(testStage.valueAsString, 'true'),
      assertions: [{
        assert: Fn.conditionEquals(stripeLivemode.valueAsString, 'false'),
        assertDescription: 'A test stage (TestStage=true) may pay out through the sandbox: it must not take live Stripe payments (StripeLivemode=false)',
      }],
    });

    const architecture = props.architecture === 'x86_64' ? lambda.Architecture.X86_64 : lambda.Architecture.ARM_64;
    const tables = {
      LEDGER_TABLE: ledger.tableName,
      COMMERCE_TABLE: commerce.tableName,
      IDEMPOTENCY_TABLE: idempotency.tableName,
      LEDGER_SWEEP_INDEX,
      LEDGER_OPEN_ORDERS_INDEX,
      LEDGER_SENDER_GIFTS_INDEX,
      COMMERCE_BOARDS_INDEX,
    };

    const makeFunction = (spec: FunctionSpec, environment: Record<string, string>, timeout = HTTP_FUNCTION_TIMEOUT) => {
      // Opening the AWS connections in init spares the first request that work, and costs init the
      // same work: worth it where a person waits on the first request (HTTP), not for queue and
      // schedule functions (docs/performance.md, "Measuring cold starts").
      const warmUp = spec.routes.length > 0;
      const fn = new lambda.Function(this, logicalName(spec.binary), {
        description: spec.description,
        runtime: lambda.Runtime.PROVIDED_AL2023,
        handler: 'bootstrap',
        architecture,
        memorySize: 256,
        timeout,
        code: functionCode(this, props, spec.binary),
        environment: { RUST_LOG: 'info', WARM_UP_CONNECTIONS: String(warmUp), ...environment },
        logGroup: new logs.LogGroup(this, `${logicalName(spec.binary)}Logs`, {
          retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
          removalPolicy: KEPT,
        }),
        loggingFormat: lambda.LoggingFormat.JSON,
      });
      if (warmUp) {
        // The warm-up opens the DynamoDB connection with this call, which reads no data.
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:DescribeEndpoints'], resources: ['*'] }));
      }
      // The local stack maps template resources back to cargo-lambda binaries through this.
      (fn.node.defaultChild as lambda.CfnFunction).addMetadata('livepay:binary', spec.binary);
      return fn;
    };

    const spec = (binary: string) => FUNCTIONS.find((f) => f.binary === binary)!;

    // Least privilege: each function gets exactly the item actions its code issues.
    // TransactWriteItems is authorized per item action (Put/Update/ConditionCheck).
    const sendGift = makeFunction(spec('send-gift'), {
      ...tables, SETTLEMENT_QUEUE_URL: settlementQueue.queueUrl,
    });
    ledger.grant(sendGift, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    // The stream is read (a container remembers it briefly), never checked per gift.
    commerce.grant(sendGift, 'dynamodb:GetItem');
    idempotency.grant(sendGift, 'dynamodb:GetItem', 'dynamodb:PutItem');
    settlementQueue.grantSendMessages(sendGift);

    const walletApi = makeFunction(spec('wallet-api'), tables);
    ledger.grant(walletApi, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    idempotency.grant(walletApi, 'dynamodb:GetItem', 'dynamodb:PutItem');

    const streamsApi = makeFunction(spec('streams-api'), tables);
    // BatchGetItem: a match side's shard totals; the ledger's sweep index: whether every gift of
    // a match's window has settled (its final result).
    commerce.grant(streamsApi, 'dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query');
    ledger.grant(streamsApi, 'dynamodb:Query');
    idempotency.grant(streamsApi, 'dynamodb:GetItem', 'dynamodb:PutItem');

    const creatorsApi = makeFunction(spec('creators-api'), {
      ...tables, PAYOUT_QUEUE_URL: payoutQueue.queueUrl, STATEMENT_CURSOR_KEY_SECRET_ARN: statementCursorKey.secretArn,
    });
    statementCursorKey.grantRead(creatorsApi);
    ledger.grant(creatorsApi, 'dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    commerce.grant(creatorsApi, 'dynamodb:Query');
    idempotency.grant(creatorsApi, 'dynamodb:GetItem', 'dynamodb:PutItem');
    payoutQueue.grantSendMessages(creatorsApi);

    const placeOrder = makeFunction(spec('place-order'), tables);
    // Products and their stock shards are read in batches, the order's stream with one read.
    commerce.grant(placeOrder, 'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem');
    ledger.grant(placeOrder, 'dynamodb:PutItem');
    idempotency.grant(placeOrder, 'dynamodb:GetItem', 'dynamodb:PutItem');

    const shopApi = makeFunction(spec('shop-api'), { ...tables, PAYOUT_QUEUE_URL: payoutQueue.queueUrl });
    commerce.grant(shopApi, 'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    ledger.grant(shopApi, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query');
    idempotency.grant(shopApi, 'dynamodb:GetItem', 'dynamodb:PutItem');
    // A refund goes to the payout executor's queue as soon as it is committed.
    payoutQueue.grantSendMessages(shopApi);

    const settlePayouts = makeFunction(spec('settle-payouts'), tables, SETTLEMENT_CONSUMER_TIMEOUT);
    ledger.grant(settlePayouts, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    // Settlement reads each stream of a batch to enforce its end (domain::streams).
    commerce.grant(settlePayouts, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    settlePayouts.addEventSource(new eventSources.SqsEventSource(settlementQueue, {
      batchSize: SETTLEMENT_BATCH_SIZE,
      maxBatchingWindow: SETTLEMENT_BATCHING_WINDOW,
      reportBatchItemFailures: true,
      maxConcurrency: SETTLEMENT_MAX_CONCURRENCY,
    }));
    alarm('SettlementConsumerFailing', 'settle-payouts keeps failing: gifts and due orders do not settle',
      settlePayouts.metricErrors({ period: Duration.minutes(5) }), 3);

    // A scheduled run EventBridge could not deliver waits here for a person (docs/runbook.md).
    const scheduleDlq = new sqs.Queue(this, 'ScheduleDlq', {
      retentionPeriod: Duration.days(14),
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      removalPolicy: KEPT,
    });
    alarm('ScheduledRunsUndelivered', 'A scheduled run (sweep or weekly payouts) could not be delivered and waits on the DLQ',
      scheduleDlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }), 1);
    const scheduled = (fn: lambda.Function, maxEventAge: Duration) => new targets.LambdaFunction(fn, {
      retryAttempts: SCHEDULE_RETRY_ATTEMPTS,
      maxEventAge,
      deadLetterQueue: scheduleDlq,
    });

    const sweepSettlements = makeFunction(spec('sweep-settlements'), {
      ...tables, SETTLEMENT_QUEUE_URL: settlementQueue.queueUrl, PAYOUT_QUEUE_URL: payoutQueue.queueUrl,
    }, SWEEP_TIMEOUT);
    // The sweep cannot overlap itself: one instance at most, so a minute's event that finds the
    // last sweep still running (its timeout is 120 s) is throttled, and Lambda holds it back
    // until the max event age below, then drops it; the next minute's sweep does its work.
    (sweepSettlements.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = 1;
    ledger.grant(sweepSettlements, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem');
    commerce.grant(sweepSettlements, 'dynamodb:GetItem', 'dynamodb:UpdateItem');
    settlementQueue.grantSendMessages(sweepSettlements);
    payoutQueue.grantSendMessages(sweepSettlements);
    alarm('SweepFailing', 'sweep-settlements keeps failing: orders do not expire or complete',
      sweepSettlements.metricErrors({ period: Duration.minutes(5) }), 3);
    new events.Rule(this, 'SweepSchedule', {
      description: 'Runs sweep-settlements: stranded gifts, due holds, unpaid and due orders',
      schedule: events.Schedule.rate(SWEEP_SCHEDULE),
      // A sweep older than the next one is worth nothing: the next one does its work.
      targets: [scheduled(sweepSettlements, SWEEP_SCHEDULE)],
    });
    // Nor is Lambda's retry of a failed sweep, which would run beside the next ones.
    sweepSettlements.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: SWEEP_SCHEDULE });

    const executePayouts = makeFunction(spec('execute-payouts'), {
      ...tables,
      PAYOUT_PROVIDER: payoutProvider.valueAsString,
      PAYOUT_API_URL: payoutApiUrl.valueAsString,
      PAYOUT_API_KEY_SECRET_ARN: payoutApiKey.secretArn,
      LIVEPAY_TEST_STAGE: testStage.valueAsString,
    }, PAYOUT_CONSUMER_TIMEOUT);
    payoutApiKey.grantRead(executePayouts);
    ledger.grant(executePayouts, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    executePayouts.addEventSource(new eventSources.SqsEventSource(payoutQueue, {
      batchSize: PAYOUT_BATCH_SIZE,
      reportBatchItemFailures: true,
      maxConcurrency: PAYOUT_MAX_CONCURRENCY,
    }));
    alarm('PayoutExecutorFailing', 'execute-payouts keeps failing: payouts and refunds wait in processing',
      executePayouts.metricErrors({ period: Duration.minutes(5) }), 3);

    // The weekly run fans out: the weekly event sends one piece per shard of the payout list
    // onto this queue, and each piece, consumed by the same function, sends the piece after it.
    const [payoutRunQueue, payoutRunDlq] = queueWithDlq('PayoutRun', PAYOUT_RUN_TIMEOUT, PAYOUT_RUN_MAX_RECEIVE_COUNT);
    alarm('PayoutRunDlqNotEmpty', 'A piece of the weekly payout run failed repeatedly: its payees\' payouts were not requested',
      payoutRunDlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }), 1);
    const schedulePayouts = makeFunction(spec('schedule-payouts'), {
      ...tables, PAYOUT_QUEUE_URL: payoutQueue.queueUrl, PAYOUT_RUN_QUEUE_URL: payoutRunQueue.queueUrl,
    }, PAYOUT_RUN_TIMEOUT);
    ledger.grant(schedulePayouts, 'dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    payoutQueue.grantSendMessages(schedulePayouts);
    payoutRunQueue.grantSendMessages(schedulePayouts);
    schedulePayouts.addEventSource(new eventSources.SqsEventSource(payoutRunQueue, {
      batchSize: 1,
      reportBatchItemFailures: true,
      maxConcurrency: PAYOUT_RUN_MAX_CONCURRENCY,
    }));
    new events.Rule(this, 'PayoutSchedule', {
      description: 'Runs schedule-payouts: a payout for every creator and seller with the minimum available',
      schedule: events.Schedule.rate(PAYOUT_SCHEDULE),
      targets: [scheduled(schedulePayouts, Duration.hours(6))],
    });
    // A weekly run that failed after Lambda's retries is parked on the same DLQ.
    schedulePayouts.configureAsyncInvoke({ retryAttempts: 2, onFailure: new destinations.SqsDestination(scheduleDlq) });
    alarm('PayoutScheduleFailing', 'schedule-payouts failed: this week\'s payouts were not all requested',
      schedulePayouts.metricErrors({ period: Duration.hours(1) }), 1);

    const paymentsWebhook = makeFunction(spec('payments-webhook'), {
      ...tables, LIVEPAY_WEBHOOK_SECRET_ARN: webhookSecret.secretArn, PAYOUT_QUEUE_URL: payoutQueue.queueUrl,
      LIVEPAY_STRIPE_WEBHOOK_SECRET_ARN: stripeWebhookSecret.secretArn,
      LIVEPAY_STRIPE_LIVEMODE: stripeLivemode.valueAsString,
    });
    // A purchase checks in its transaction that it was not charged back first (ConditionCheck);
    // a chargeback finds the buyer's gifts through the keys-only sender_gifts index and reads
    // them in one batch; an order chargeback returns the stock of an order not yet completed.
    ledger.grant(paymentsWebhook, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem',
      'dynamodb:ConditionCheckItem', 'dynamodb:Query', 'dynamodb:BatchGetItem');
    commerce.grant(paymentsWebhook, 'dynamodb:UpdateItem');
    webhookSecret.grantRead(paymentsWebhook);
    stripeWebhookSecret.grantRead(paymentsWebhook);
    // A payment owed back is refunded through the payout executor's queue.
    payoutQueue.grantSendMessages(paymentsWebhook);

    const byBinary: Record<string, lambda.Function> = {
      'send-gift': sendGift, 'wallet-api': walletApi, 'streams-api': streamsApi, 'payments-webhook': paymentsWebhook,
      'creators-api': creatorsApi, 'place-order': placeOrder, 'shop-api': shopApi,
    };

    const api = new apigw.HttpApi(this, 'HttpApi', {
      description: 'livepay v1 HTTP API',
      createDefaultStage: true,
    });
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: KEPT,
    });
    const stage = api.defaultStage!.node.defaultChild as apigw.CfnStage;
    stage.defaultRouteSettings = { throttlingRateLimit: API_RATE_LIMIT, throttlingBurstLimit: API_BURST_LIMIT };
    // The webhooks take no token: a tighter limit keeps a flood of forged deliveries from
    // spending the whole API's rate on signature checks. (An untyped map: CloudFormation's names.)
    stage.routeSettings = Object.fromEntries(FUNCTIONS.flatMap((f) => f.routes)
      .filter((r) => r.access !== 'jwt')
      .map((r) => [r.routeKey, { ThrottlingRateLimit: WEBHOOK_RATE_LIMIT, ThrottlingBurstLimit: WEBHOOK_BURST_LIMIT }]));
    stage.accessLogSettings = {
      destinationArn: accessLogs.logGroupArn,
      format: JSON.stringify({
        requestId: '$context.requestId', routeKey: '$context.routeKey', status: '$context.status',
        latencyMs: '$context.responseLatency', integrationError: '$context.integrationErrorMessage',
        time: '$context.requestTime',
      }),
    };
    const jwtAuthorizer = new authorizers.HttpJwtAuthorizer('JwtAuthorizer', props.jwtIssuer, {
      jwtAudience: [props.jwtAudience],
      identitySource: ['$request.header.Authorization'],
    });
    const routes: apigw.HttpRoute[] = [];
    for (const fnSpec of FUNCTIONS.filter((f) => f.routes.length > 0)) {
      const integration = new integrations.HttpLambdaIntegration(`${logicalName(fnSpec.binary)}Integration`, byBinary[fnSpec.binary]);
      for (const route of fnSpec.routes) {
        const [method, routePath] = route.routeKey.split(' ');
        const added = api.addRoutes({
          path: routePath,
          methods: [method as apigw.HttpMethod],
          integration,
          authorizer: route.access === 'jwt' ? jwtAuthorizer : new apigw.HttpNoneAuthorizer(),
        });
        if (route.access === 'signed-webhook') added.forEach(acceptSignedWebhookRoute);
        routes.push(...added);
      }
    }

    // The stage's route settings name routes: CloudFormation must create them first.
    api.defaultStage!.node.addDependency(...routes);

    addObservability(this, {
      functions: {
        ...byBinary, 'settle-payouts': settlePayouts, 'sweep-settlements': sweepSettlements,
        'execute-payouts': executePayouts, 'schedule-payouts': schedulePayouts,
      },
      api, settlementQueue, settlementDlq, payoutQueue, payoutDlq, alarm,
    });

    acknowledgeAccepted(this, sweepSettlements, scheduleDlq);

    new CfnOutput(this, 'ApiUrl', { value: api.apiEndpoint });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarmTopic.topicArn });
    new CfnOutput(this, 'SettlementQueueUrl', { value: settlementQueue.queueUrl });
    new CfnOutput(this, 'PayoutQueueUrl', { value: payoutQueue.queueUrl });
    // Where scripts/deploy puts the secrets a deployment supplies.
    new CfnOutput(this, 'WebhookSecretArn', { value: webhookSecret.secretArn });
    new CfnOutput(this, 'StripeWebhookSecretArn', { value: stripeWebhookSecret.secretArn });
    new CfnOutput(this, 'PayoutApiKeyArn', { value: payoutApiKey.secretArn });
  }
}


/** `send-gift` → `SendGift`: a stable CloudFormation logical id per binary. */
export function logicalName(binary: string): string {
  return binary.split('-').map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

function functionCode(scope: Construct, props: LivepayStackProps, binary: string): lambda.Code {
  const zip = path.join(props.lambdaArtifacts, binary, 'bootstrap.zip');
  if (fs.existsSync(zip)) {
    if (props.forDeployment) {
      // A zip built for the other architecture deploys and then fails every invocation.
      const machine = bootstrapMachine(zip);
      if (machine !== ELF_MACHINE[props.architecture]) {
        throw new Error(`${zip} holds no ${props.architecture} bootstrap (ELF machine ${machine ?? 'unreadable'}): `
          + `build it with scripts/build-lambdas${props.architecture === 'arm64' ? ' --arm64' : ''}`);
      }
    }
    return lambda.Code.fromAsset(zip);
  }
  if (props.forDeployment) {
    throw new Error(`${zip} not found: a deployment ships every function's build (scripts/deploy builds them)`);
  }
  // Synth and infra tests run without a Rust build: a placeholder stands in.
  Annotations.of(scope).addWarningV2('livepay:missing-artifact',
    `${zip} not found: run scripts/build-lambdas before deploying; using a placeholder for ${binary}`);
  return lambda.Code.fromAsset(path.join(__dirname, '..', 'placeholder'));
}

/** The ELF machine of the `bootstrap` inside a Lambda zip (stored or deflated), if it has one. */
export function bootstrapMachine(zipPath: string): number | undefined {
  const buf = fs.readFileSync(zipPath);
  // The end-of-central-directory record: within the last 64 KiB (its comment) + 22 bytes.
  let end = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65_557); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { end = i; break; }
  }
  if (end < 0) return undefined;
  let entry = buf.readUInt32LE(end + 16);
  for (let n = buf.readUInt16LE(end + 10); n > 0; n--) {
    if (buf.readUInt32LE(entry) !== 0x02014b50) return undefined;
    const method = buf.readUInt16LE(entry + 10);
    const size = buf.readUInt32LE(entry + 20);
    const [nameLength, extraLength, commentLength] = [28, 30, 32].map((o) => buf.readUInt16LE(entry + o));
    const name = buf.toString('utf8', entry + 46, entry + 46 + nameLength);
    if (name === 'bootstrap') {
      const local = buf.readUInt32LE(entry + 42);
      const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
      const data = buf.subarray(start, start + size);
      const elf = method === 0 ? data : method === 8 ? zlib.inflateRawSync(data) : undefined;
      if (!elf || elf.length < 20 || elf.readUInt32BE(0) !== 0x7f454c46) return undefined;
      return elf.readUInt16LE(18);
    }
    entry += 46 + nameLength + extraLength + commentLength;
  }
  return undefined;
}
