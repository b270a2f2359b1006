// What an operator watches: the functions' embedded-metric-format metrics (shared/src/telemetry.rs
// writes them; the names below are the same), alarms on the business signals, and one dashboard.
import { Duration, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** The EMF namespace and metric names of `livepay::telemetry`. */
export const METRIC_NAMESPACE = 'livepay';
export const METRICS = {
  giftsSent: 'GiftsSent',
  coinsSpent: 'CoinsSpent',
  giftsSettled: 'GiftsSettled',
  settlementLag: 'SettlementLagSeconds',
  payoutsRequested: 'PayoutsRequested',
  payoutsPaid: 'PayoutsPaid',
  payoutsFailed: 'PayoutsFailed',
  coldStarts: 'ColdStarts',
  sweepItemsSkipped: 'SweepItemsSkipped',
} as const;

/** A settled gift should reach its creator's balance within this (the batching window is 2 s). */
export const SETTLEMENT_LAG_ALARM = Duration.minutes(5);
/** Failed payouts in an hour that mean the provider or the accounts need a look. */
export const PAYOUT_FAILURES_ALARM = 5;

export interface ObservabilityProps {
  readonly functions: Record<string, lambda.Function>;
  readonly api: apigw.HttpApi;
  readonly settlementQueue: sqs.IQueue;
  readonly settlementDlq: sqs.IQueue;
  readonly payoutQueue: sqs.IQueue;
  readonly payoutDlq: sqs.IQueue;
  /** The stack's alarm factory: one evaluation period, missing data healthy, runbook link. */
  readonly alarm: (id: string, description: string, metric: cloudwatch.IMetric, threshold: number) => cloudwatch.Alarm;
}

const minute = Duration.minutes(1);
/** Metrics one alarm's math expression may use (CloudWatch's limit). */
const ALARM_MATH_METRICS = 10;

/** A livepay metric of one function (the EMF documents carry a `function` dimension). */
export const livepayMetric = (name: string, fn: string, statistic = 'Sum', period = minute) =>
  new cloudwatch.Metric({ namespace: METRIC_NAMESPACE, metricName: name, dimensionsMap: { function: fn }, statistic, period });

export function addObservability(scope: Construct, props: ObservabilityProps): cloudwatch.Dashboard {
  const { functions, api, alarm } = props;
  // Gifts are settled by the queue consumer and, for stranded ones, by the sweeper.
  const settlers = ['settle-payouts', 'sweep-settlements'];

  const lag = livepayMetric(METRICS.settlementLag, 'settle-payouts', 'Maximum', Duration.minutes(5));
  alarm('SettlementLagHigh', 'Gifts wait too long between being sent and reaching the creator\'s balance',
    lag, SETTLEMENT_LAG_ALARM.toSeconds());
  alarm('PayoutsFailing', 'The payout provider refused several payouts for good within the hour',
    livepayMetric(METRICS.payoutsFailed, 'execute-payouts', 'Sum', Duration.hours(1)), PAYOUT_FAILURES_ALARM);
  alarm('ApiServerErrors', 'The HTTP API answered 5xx: a function failed on something a client cannot fix',
    api.metricServerError({ period: Duration.minutes(5) }), 5);
  alarm('SweepItemsUnreadable', 'The sweeper skipped items it cannot read: each one\'s key is in its log; a person must look',
    livepayMetric(METRICS.sweepItemsSkipped, 'sweep-settlements', 'Sum', Duration.hours(1)), 1);
  // This stack's functions only (Lambda's all-functions metric would page every stage for any
  // function in the account), less the sweeper, which is throttled on purpose: its reserved
  // concurrency of 1 keeps a run from overlapping the next. An alarm's math takes at most 10
  // metrics, so more functions than that are watched by a second alarm, and so on.
  const throttled = Object.entries(functions).filter(([binary]) => binary !== 'sweep-settlements');
  for (let i = 0; i < throttled.length; i += ALARM_MATH_METRICS) {
    const group = throttled.slice(i, i + ALARM_MATH_METRICS);
    const usingMetrics = Object.fromEntries(group.map(([, fn], j) =>
      [`t${j}`, fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' })]));
    alarm(i === 0 ? 'FunctionsThrottled' : `FunctionsThrottled${i / ALARM_MATH_METRICS + 1}`,
      `Lambda throttled ${group.map(([binary]) => binary).join(', ')}: raise reserved or account concurrency`,
      new cloudwatch.MathExpression({ expression: Object.keys(usingMetrics).join(' + '), usingMetrics, period: Duration.minutes(5) }), 1);
  }

  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', {
    // One per stage: a fixed name would keep a second stage out of the account.
    dashboardName: `livepay-${Stack.of(scope).stackName}`,
    defaultInterval: Duration.hours(3),
  });
  const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = [], width = 8) =>
    new cloudwatch.GraphWidget({ title, left, right, width, height: 6 });
  const perFunction = (make: (fn: lambda.Function) => cloudwatch.IMetric) =>
    Object.entries(functions).map(([binary, fn]) => {
      const m = make(fn) as cloudwatch.Metric;
      return m.with({ label: binary });
    });

  dashboard.addWidgets(
    graph('Gifts per minute: sent and settled', [
      livepayMetric(METRICS.giftsSent, 'send-gift').with({ label: 'sent' }),
      ...settlers.map((f) => livepayMetric(METRICS.giftsSettled, f).with({ label: `settled (${f})` })),
    ], [livepayMetric(METRICS.coinsSpent, 'send-gift').with({ label: 'coins spent' })]),
    graph('Settlement lag (s) and queue', [
      livepayMetric(METRICS.settlementLag, 'settle-payouts', 'Maximum').with({ label: 'lag max' }),
      livepayMetric(METRICS.settlementLag, 'settle-payouts', 'p50').with({ label: 'lag p50' }),
      props.settlementQueue.metricApproximateAgeOfOldestMessage({ period: minute, label: 'oldest message age' }),
    ], [props.settlementQueue.metricApproximateNumberOfMessagesVisible({ period: minute, label: 'messages waiting' })]),
    graph('Dead-letter queues and unreadable sweep items', [
      props.settlementDlq.metricApproximateNumberOfMessagesVisible({ period: minute, label: 'settlement DLQ' }),
      props.payoutDlq.metricApproximateNumberOfMessagesVisible({ period: minute, label: 'payout DLQ' }),
    ], [livepayMetric(METRICS.sweepItemsSkipped, 'sweep-settlements').with({ label: 'sweep items skipped' })]),
  );
  dashboard.addWidgets(
    graph('Payouts', [
      livepayMetric(METRICS.payoutsRequested, 'creators-api', 'Sum', Duration.hours(1)).with({ label: 'requested' }),
      livepayMetric(METRICS.payoutsPaid, 'execute-payouts', 'Sum', Duration.hours(1)).with({ label: 'paid' }),
      livepayMetric(METRICS.payoutsFailed, 'execute-payouts', 'Sum', Duration.hours(1)).with({ label: 'failed' }),
    ], [props.payoutQueue.metricApproximateAgeOfOldestMessage({ period: minute, label: 'oldest payout message age' })]),
    graph('HTTP API', [
      api.metricCount({ period: minute, label: 'requests' }),
    ], [
      api.metricClientError({ period: minute, label: '4xx' }),
      api.metricServerError({ period: minute, label: '5xx' }),
    ]),
    graph('HTTP API latency (ms)', [
      api.metricLatency({ period: minute, statistic: 'p50', label: 'p50' }),
      api.metricLatency({ period: minute, statistic: 'p99', label: 'p99' }),
    ]),
  );
  dashboard.addWidgets(
    graph('Function duration p99 (ms)', perFunction((fn) => fn.metricDuration({ period: minute, statistic: 'p99' })), [], 12),
    graph('Function errors and throttles', perFunction((fn) => fn.metricErrors({ period: minute })),
      perFunction((fn) => fn.metricThrottles({ period: minute })), 12),
  );
  dashboard.addWidgets(
    graph('Cold starts', Object.keys(functions).map((f) => livepayMetric(METRICS.coldStarts, f).with({ label: f })), [], 12),
    graph('Concurrent executions', perFunction((fn) => fn.metric('ConcurrentExecutions', { period: minute, statistic: 'Maximum' })), [], 12),
  );
  return dashboard;
}
