import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { LivepayStack } from '../lib/livepay-stack';

const app = new App();
const ctx = (key: string): string => {
  const value = app.node.tryGetContext(`livepay:${key}`);
  if (typeof value !== 'string' || value === '') throw new Error(`missing context livepay:${key} (cdk.json)`);
  return value;
};
const architecture = ctx('architecture');
if (architecture !== 'arm64' && architecture !== 'x86_64') {
  throw new Error(`livepay:architecture must be arm64 or x86_64, not ${architecture}`);
}

// Days the functions' and the API's logs are kept; one of CloudWatch's retention values.
const retentionDays = app.node.tryGetContext('livepay:logRetentionDays');
const logRetention = retentionDays === undefined ? undefined : Number(retentionDays);
if (logRetention !== undefined && !Object.values(RetentionDays).includes(logRetention)) {
  throw new Error(`livepay:logRetentionDays must be one of CloudWatch's retention values, not ${retentionDays}`);
}

// A stage (`-c livepay:stage=prod`) is a stack of its own, `Livepay-<stage>`, so stages share an
// account; without one the stack is `Livepay` (the local stack reads its template by that name).
const stage = app.node.tryGetContext('livepay:stage');
if (stage !== undefined && !/^[A-Za-z][A-Za-z0-9-]{0,30}$/.test(String(stage))) {
  throw new Error(`livepay:stage must be letters, digits and dashes, starting with a letter, not ${stage}`);
}

new LivepayStack(app, stage === undefined ? 'Livepay' : `Livepay-${stage}`, {
  architecture,
  // scripts/deploy: every zip present and built for the architecture, a real issuer.
  forDeployment: app.node.tryGetContext('livepay:deploy') === 'true',
  logRetention,
  jwtIssuer: ctx('jwtIssuer'),
  jwtAudience: ctx('jwtAudience'),
  lambdaArtifacts: process.env.LIVEPAY_LAMBDA_ARTIFACTS ?? path.join(__dirname, '..', '..', 'target', 'lambda'),
});
