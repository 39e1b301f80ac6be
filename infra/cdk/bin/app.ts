#!/usr/bin/env node
// The CDK app: one GatewayStack, checked against cdk-nag's AwsSolutions rules at synth time.
// CDK_SKIP_BUNDLING=1 synthesises without building the Rust functions (CI, offline checks).
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { GatewayStack } from '../lib/gateway-stack';

const app = new App();
if (process.env.CDK_SKIP_BUNDLING === '1') {
  // Overrides the CLI's own setting, which asks for every stack to be bundled.
  app.node.setContext('aws:cdk:bundling-stacks', []);
}
new GatewayStack(app, process.env.GATEWAY_STACK_NAME ?? 'channel-gateway', {
  description: 'channel-gateway: customer-contact webhooks into one schema, per-channel SQS FIFO queues',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
