// Assertions on the synthesised stack (Rust bundling skipped) and cdk-nag's AwsSolutions rules.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CHANNELS } from '../lib/channels';
import { GatewayStack } from '../lib/gateway-stack';

function synth() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new GatewayStack(app, 'gateway');
  return { app, stack, template: Template.fromStack(stack) };
}

type Resources = Record<string, { Properties: any }>;

function functionByBinary(template: Template, binary: string): [string, any] {
  const fns = template.findResources('AWS::Lambda::Function', {
    Properties: { Tags: Match.arrayWith([{ Key: 'function', Value: binary }]) },
  }) as Resources;
  const entries = Object.entries(fns);
  assert.equal(entries.length, 1, `one ${binary} function`);
  return [entries[0][0], entries[0][1].Properties];
}

function roleStatements(template: Template, fnProps: any): any[] {
  const role = fnProps.Role['Fn::GetAtt'][0];
  const policies = template.findResources('AWS::IAM::Policy') as Resources;
  return Object.values(policies)
    .filter((p) => p.Properties.Roles.some((r: any) => r.Ref === role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

test('cdk-nag AwsSolutions finds nothing that is not acknowledged with a reason', () => {
  // Not through synth(): Template.fromStack synthesises once, and a later app.synth() would
  // return that assembly without running the plugin.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new GatewayStack(app, 'gateway');
  const report = new AwsSolutionsChecks().validateScope(stack);
  assert.deepEqual(report.violations.map((v) => v.ruleName), []);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  // Synthesis throws on any unacknowledged violation, errors and warnings alike.
  assert.doesNotThrow(() => app.synth());
});

test('cdk-nag would catch a regression (the rules are really applied)', () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new GatewayStack(app, 'gateway');
  const { Queue } = require('aws-cdk-lib/aws-sqs');
  new Queue(stack, 'UnencryptedInsecureQueue', { enforceSSL: false });
  const report = new AwsSolutionsChecks().validateScope(stack);
  assert.ok(report.violations.some((v) => v.ruleName.includes('SQS')), 'an insecure queue is reported');
});

for (const channel of CHANNELS) {
  test(`${channel.name}: function, routes, queue, dead-letter queue, secret, alarms, dashboard`, () => {
    const { template } = synth();
    const [, fn] = functionByBinary(template, channel.name);
    assert.equal(fn.Runtime, 'provided.al2023');
    assert.equal(fn.Environment.Variables.CHANNEL, channel.name);
    assert.deepEqual(fn.Architectures, ['arm64']);
    assert.deepEqual(fn.MemorySize, { Ref: `${channel.id}MemorySize` });
    assert.deepEqual(fn.Timeout, { Ref: `${channel.id}Timeout` });
    assert.deepEqual(fn.ReservedConcurrentExecutions, { Ref: `${channel.id}ReservedConcurrency` });
    assert.deepEqual(
      Object.keys(fn.Environment.Variables).sort(),
      ['BUCKET_NAME', 'CHANNEL', 'OUTBOX_TABLE_NAME', 'PUBLIC_BASE_URL', 'RETENTION_DAYS', 'SECRET_ID', 'TABLE_NAME',
        ...(channel.settings ?? []).map((s) => s.env),
        ...(channel.grants.some((g) => g.resource === 'parts') ? ['PARTS_TABLE_NAME'] : [])].sort(),
    );
    for (const method of channel.methods) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: `${method} /${channel.name}/{provider}` });
    }
    template.hasResourceProperties('AWS::SQS::Queue', {
      FifoQueue: true,
      ContentBasedDeduplication: false,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      QueueName: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, `-${channel.name}.fifo`]] },
      RedrivePolicy: { maxReceiveCount: 5, deadLetterTargetArn: Match.anyValue() },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      FifoQueue: true,
      QueueName: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, `-${channel.name}-dlq.fifo`]] },
    });
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, `/${channel.name}`]] },
      SecretString: '{}',
    });
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm') as Resources)
      .map((a) => a.Properties.MetricName ?? a.Properties.Metrics?.find((m: any) => m.Expression)?.Expression);
    for (const metric of ['ApproximateNumberOfMessagesVisible', 'Errors', 'Throttles', 'invalid + missing + stale + unconfigured',
      'OutboxOldestAge', 'OutboxQuarantined', 'storage + secrets + providerapi', 'IteratorAge', 'kept + refused',
      'IntakeOldestAge', 'IntakeRefused', 'Orphaned']) {
      assert.ok(alarms.includes(metric), `alarm on ${metric}`);
    }
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardName: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, `-${channel.name}`]] },
    });
    for (const provider of channel.providers) {
      const title = provider[0].toUpperCase() + provider.slice(1);
      template.hasOutput(`${channel.id}${title}WebhookUrl`, {});
    }
    template.hasOutput(`${channel.id}QueueUrl`, {});
    template.hasOutput(`${channel.id}QueueArn`, {});
  });

  test(`${channel.name}: least privilege (the registry's grants: its secret and objects, the table and outbox writes it makes; no queue)`, () => {
    const { template } = synth();
    const [, fn] = functionByBinary(template, channel.name);
    const granted = roleStatements(template, fn)
      .filter((s) => !String(s.Action).startsWith('xray:'))
      .map((s) => [[s.Action].flat(), JSON.stringify(s.Resource)]);
    const [secret] = Object.keys(template.findResources('AWS::SecretsManager::Secret', {
      Properties: { Name: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, `/${channel.name}`]] } },
    }));
    const [table] = Object.keys(template.findResources('AWS::DynamoDB::Table', {
      Properties: { KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }] },
    }));
    const [outbox] = Object.keys(template.findResources('AWS::DynamoDB::Table', {
      Properties: { StreamSpecification: { StreamViewType: 'NEW_IMAGE' } },
    }));
    const [parts] = Object.keys(template.findResources('AWS::DynamoDB::Table', {
      Properties: { KeySchema: [{ AttributeName: 'group', KeyType: 'HASH' }, { AttributeName: 'part', KeyType: 'RANGE' }] },
    }));
    const [bucket] = Object.keys(template.findResources('AWS::S3::Bucket'));
    const resource = {
      table: { 'Fn::GetAtt': [table, 'Arn'] },
      outbox: { 'Fn::GetAtt': [outbox, 'Arn'] },
      parts: { 'Fn::GetAtt': [parts, 'Arn'] },
      secret: { Ref: secret },
      objects: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, `/${channel.name}/*`]] },
      intake: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, `/${channel.name}/intake/*`]] },
      listing: { 'Fn::GetAtt': [bucket, 'Arn'] },
    };
    assert.deepEqual(granted, channel.grants.map((g) => [g.actions, JSON.stringify(resource[g.resource])]));
    assert.ok(channel.grants.length >= 4, 'table, outbox, secret and objects');
    assert.ok(!granted.some(([actions]) => [actions].flat().some((a) => String(a).startsWith('sqs:'))), 'publication is not the channel function\'s');
  });
}

test('shared: table with its index, TTL and point-in-time recovery; the outbox, its stream and publisher; the sweep every minute', () => {
  const { template } = synth();
  template.hasResourceProperties('AWS::DynamoDB::Table', {
    BillingMode: 'PAY_PER_REQUEST',
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
    GlobalSecondaryIndexes: [Match.objectLike({ IndexName: 'by-customer' })],
  });
  template.hasResourceProperties('AWS::DynamoDB::Table', {
    KeySchema: [{ AttributeName: 'conversation', KeyType: 'HASH' }, { AttributeName: 'seq', KeyType: 'RANGE' }],
    StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
  });
  template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    StartingPosition: 'TRIM_HORIZON',
    BisectBatchOnFunctionError: true,
    FunctionResponseTypes: ['ReportBatchItemFailures'],
    MaximumRetryAttempts: 10,
    MaximumRecordAgeInSeconds: 3600,
    FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ eventName: ['INSERT'] }) }] },
    DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
  });
  const queues = ['OUTBOX_TABLE_NAME', ...CHANNELS.map((c) => `QUEUE_URL_${c.name.toUpperCase()}`)];
  const [, publisher] = functionByBinary(template, 'publisher');
  assert.deepEqual(Object.keys(publisher.Environment.Variables).sort(), queues.sort());
  const [, redrive] = functionByBinary(template, 'redrive');
  assert.deepEqual(
    Object.keys(redrive.Environment.Variables).sort(),
    [...queues, 'SWEEP_MIN_AGE_SECS'].sort(),
  );
  template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
  template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
    StageName: '$default',
    AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.anyValue() },
  });
});

test('shared: the claim-check bucket is private, encrypted, SSL-only and expires with the table', () => {
  const { template } = synth();
  template.hasResourceProperties('AWS::S3::Bucket', {
    BucketEncryption: {
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    },
    PublicAccessBlockConfiguration: {
      BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true,
    },
    LifecycleConfiguration: {
      Rules: Match.arrayWith([
        Match.objectLike({ Id: 'expire-with-the-table', ExpirationInDays: { 'Fn::If': ['HasRetention', { Ref: 'RetentionDays' }, 1] } }),
      ]),
    },
  });
  template.hasResourceProperties('AWS::S3::BucketPolicy', {
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      ]),
    },
  });
  template.hasOutput('BlobsBucketName', {});
});
