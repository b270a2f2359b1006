/**
 * The cdk-nag findings (AwsSolutionsChecks, ServerlessChecks) this stack accepts, each with the
 * reason, acknowledged on the narrowest construct that carries it so that a new resource with
 * the same gap is still reported. infra/test/nag.test.ts runs both packs and fails on anything
 * not acknowledged here; docs/template-checks.md lists them.
 */
import { CfnElement, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';

const accept = (scope: IConstruct, id: string, reason: string) => Validations.of(scope).acknowledge({ id, reason });

/** A webhook route takes no token: the provider cannot send one; the function checks its HMAC signature. */
export function acceptSignedWebhookRoute(route: apigw.HttpRoute) {
  accept(route, 'AwsSolutions-APIG4',
    'A payment provider\'s webhook carries no JWT: the function verifies its HMAC signature (Livepay-Signature, '
    + 'Stripe-Signature) against the secret before reading the body, and the route has its own tighter rate limit');
}

/** Every finding of the whole stack that is accepted by design. */
export function acknowledgeAccepted(stack: Stack, sweepSettlements: lambda.Function, scheduleDlq: sqs.Queue) {
  const all = stack.node.findAll();
  for (const c of all) {
    if (c instanceof secretsmanager.Secret) {
      accept(c, 'AwsSolutions-SMG4',
        'The values are issued outside AWS (the provider\'s API key and webhook secrets) or are a signing key any '
        + 'new value of which is valid: they are rotated with put-secret-value (scripts/deploy, docs/deploying.md), '
        + 'read again within SECRET_CACHE_SECONDS, the previous version accepted for the overlap; a rotation '
        + 'Lambda could not obtain a new provider key');
    }
    if (c instanceof lambda.Function) {
      accept(c, 'Serverless-LambdaDLQ',
        'Nothing is lost without a function DLQ: HTTP functions are invoked synchronously (the client sees the error), '
        + 'queue consumers\' failed messages move to their queue\'s redrive DLQ, and scheduled events go to the '
        + 'schedule DLQ (EventBridge target dead-letter queue and the weekly run\'s on-failure destination)');
      accept(c, 'Serverless-LambdaTracing',
        'X-Ray is not used: every log line carries the request id and business id, and each function has error, '
        + 'throttle and duration metrics on the dashboard and alarms');
      if (c.role) {
        accept(c.role, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          'AWSLambdaBasicExecutionRole grants only logs:CreateLogGroup, CreateLogStream and PutLogEvents, what every '
          + 'function needs to write its logs; every data permission is an inline grant on named resources');
      }
    }
    if (c instanceof iam.Policy) {
      const statements = c.document.toJSON()?.Statement ?? [];
      if (statements.some((s: any) => s.Action === 'dynamodb:DescribeEndpoints' && s.Resource === '*')) {
        accept(c, 'AwsSolutions-IAM5[Resource::*]',
          'dynamodb:DescribeEndpoints supports no resource-level permission (its resource must be *) and reads no data: '
          + 'the HTTP functions call it to open their DynamoDB connection during init');
      }
      for (const table of all.filter((t): t is dynamodb.Table => t instanceof dynamodb.Table)) {
        const id = stack.getLogicalId(table.node.defaultChild as CfnElement);
        accept(c, `AwsSolutions-IAM5[Resource::<${id}.Arn>/index/*]`,
          'A grant on a table covers its own global secondary indexes (the sweep, open-order, sender and leaderboard '
          + 'indexes the functions query), no other table\'s');
      }
    }
    if (c instanceof sqs.Queue && c.node.id.endsWith('Dlq')) {
      accept(c, 'Serverless-SQSRedrivePolicy',
        'A dead-letter queue is the end of the line: its messages wait for a person (alarmed when not empty, '
        + 'docs/runbook.md), kept 14 days');
    }
    if (c instanceof lambda.EventSourceMapping) {
      accept(c, 'Serverless-LambdaEventSourceMappingDestination',
        'An SQS event source has no on-failure destination (those are for streams and Kafka): a message that keeps '
        + 'failing moves to the queue\'s redrive DLQ after its maximum receives, which alarms');
    }
    if (c instanceof sns.Subscription) {
      accept(c, 'Serverless-SNSRedrivePolicy',
        'The alarm e-mail subscription: SNS retries e-mail delivery itself, and an alarm that reached nobody is still '
        + 'in ALARM on CloudWatch and the dashboard; a DLQ for it would be a queue nobody reads');
    }
  }
  accept(scheduleDlq, 'AwsSolutions-SQS3',
    'This queue is a dead-letter queue (the schedule targets\' and the weekly run\'s), which cdk-nag does not see because '
    + 'no queue names it in a redrive policy');
  const sweepAsync = sweepSettlements.node.tryFindChild('EventInvokeConfig');
  if (sweepAsync) {
    accept(sweepAsync, 'Serverless-LambdaAsyncFailureDestination',
      'A failed sweep is not kept: the next minute\'s sweep does the same work from the ledger, and repeated failures '
      + 'alarm (SweepFailing)');
  }
}
