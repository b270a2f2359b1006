// cdk-nag's AwsSolutions and Serverless packs over the stack: every finding is fixed or
// acknowledged with its reason (lib/nag.ts), so anything new fails here.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { LivepayStack } from '../lib/livepay-stack';

type Violation = { ruleName: string; severity: string; violatingConstructs: { constructPath: string }[] };

/** Each pack's unacknowledged findings, as `severity rule at path`. */
const findings = () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'livepay-nag-'));
  const app = new App({ outdir });
  new LivepayStack(app, 'Test', {
    architecture: 'x86_64', jwtIssuer: 'https://issuer.example', jwtAudience: 'livepay', lambdaArtifacts: '/nonexistent',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  try {
    app.synth();
  } catch (e) {
    // A finding fails the synth; the report below says which.
    if (!fs.existsSync(path.join(outdir, 'validation-report.json'))) throw e;
  }
  const report = path.join(outdir, 'validation-report.json');
  const reports = fs.existsSync(report) ? JSON.parse(fs.readFileSync(report, 'utf8')).pluginReports : [];
  fs.rmSync(outdir, { recursive: true, force: true });
  return reports.flatMap((r: { pluginName: string; violations: Violation[] }) => r.violations.flatMap((v) =>
    v.violatingConstructs.map((c) => `${v.severity} ${v.ruleName} at ${c.constructPath}`)));
};

test('cdk-nag AwsSolutions and Serverless checks: no finding that is not fixed or acknowledged with its reason', () => {
  assert.deepEqual(findings(), []);
});
