// The gateway's CDK stack; infra/template.yaml (SAM) describes the same system, and
// infra/tests/consistency.py checks that the two agree.
import * as path from 'node:path';
import {
  Aws, CfnCondition, CfnOutput, CfnParameter, Duration, Fn, RemovalPolicy, SecretValue, Stack,
  StackProps, Tags, Validations,
} from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secrets from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';
import { CHANNELS, Channel } from './channels';

const MANIFEST = path.join(__dirname, '..', '..', '..', 'Cargo.toml');
const NAMESPACE = 'ChannelGateway';
const SIGNATURE_REASONS = ['signature_invalid', 'signature_missing', 'timestamp_stale', 'not_configured'];

export class GatewayStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    const publicBaseUrl = new CfnParameter(this, 'PublicBaseUrl', {
      type: 'String', default: '',
      description: 'Public base URL providers call, without the channel, when a custom domain fronts the API. Empty: the execute-api URL.',
    });
    const retentionDays = new CfnParameter(this, 'RetentionDays', {
      type: 'Number', default: 365, minValue: 0,
      description: 'Stored messages expire (DynamoDB TTL) after this many days; 0 keeps them.',
    });
    const logRetentionDays = new CfnParameter(this, 'LogRetentionDays', {
      type: 'Number', default: 30,
      allowedValues: ['1', '3', '5', '7', '14', '30', '60', '90', '120', '150', '180', '365', '400', '545', '731', '1827', '3653'],
    });
    const alarmTopicArn = new CfnParameter(this, 'AlarmTopicArn', {
      type: 'String', default: '', description: 'SNS topic the alarms notify (empty for none).',
    });
    const rejectedThreshold = new CfnParameter(this, 'RejectedSignatureThreshold', {
      type: 'Number', default: 25, description: 'Rejected signatures per channel in 5 minutes that raise the alarm.',
    });
    const hasPublicBaseUrl = new CfnCondition(this, 'HasPublicBaseUrl', {
      expression: Fn.conditionNot(Fn.conditionEquals(publicBaseUrl.valueAsString, '')),
    });
    const hasAlarmTopic = new CfnCondition(this, 'HasAlarmTopic', {
      expression: Fn.conditionNot(Fn.conditionEquals(alarmTopicArn.valueAsString, '')),
    });
    const alarmActions = Fn.conditionIf(hasAlarmTopic.logicalId, [alarmTopicArn.valueAsString], Aws.NO_VALUE);
    const notify = (alarm: cw.Alarm) => {
      (alarm.node.defaultChild as cw.CfnAlarm).alarmActions = alarmActions as unknown as string[];
      Validations.of(alarm).acknowledge({
        id: 'CloudFormation-Validate::W1030',
        reason: 'The topic is used only when AlarmTopicArn is set (condition HasAlarmTopic).',
      });
    };
    const logRetention = (scope: Construct, id: string) => {
      const group = new logs.LogGroup(scope, id, { removalPolicy: RemovalPolicy.RETAIN });
      (group.node.defaultChild as logs.CfnLogGroup).retentionInDays = logRetentionDays.valueAsNumber;
      return group;
    };

    // ---------------------------------------------------------------- shared
    const table = new dynamodb.Table(this, 'MessagesTable', {
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: 'expires_at',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    table.addGlobalSecondaryIndex({
      indexName: 'by-customer',
      partitionKey: { name: 'customer_key', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'timeline', type: dynamodb.AttributeType.STRING },
    });
    // Messages waiting for publication, one partition per conversation in arrival order, written
    // in the same transaction as the message; its stream feeds the publisher. No TTL: an
    // unpublished record must never vanish on its own.
    const outbox = new dynamodb.Table(this, 'OutboxTable', {
      partitionKey: { name: 'conversation', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'seq', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // The parts of messages that arrive in pieces (real-time transcript utterances), one item
    // each, and the markers of their assembly; they expire on their own.
    const parts = new dynamodb.Table(this, 'PartsTable', {
      partitionKey: { name: 'group', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'part', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: 'expires_at',
    });

    // Claim checks, inline attachments and oversize raw bodies; expires like the table's items.
    const hasRetention = new CfnCondition(this, 'HasRetention', {
      expression: Fn.conditionNot(Fn.conditionEquals(retentionDays.valueAsNumber, 0)),
    });
    const blobs = new s3.Bucket(this, 'BlobsBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    (blobs.node.defaultChild as s3.CfnBucket).lifecycleConfiguration = {
      rules: [
        { id: 'abort-incomplete-uploads', status: 'Enabled', abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } },
        {
          id: 'expire-with-the-table',
          status: Fn.conditionIf(hasRetention.logicalId, 'Enabled', 'Disabled').toString(),
          expirationInDays: Fn.conditionIf(hasRetention.logicalId, retentionDays.valueAsNumber, 1) as unknown as number,
        },
      ],
    };
    Validations.of(blobs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Only the gateway functions write here, under per-channel prefixes; CloudTrail data events are the audit trail for consumers\' reads.',
    });

    const api = new apigw.HttpApi(this, 'HttpApi', { createDefaultStage: false });
    new apigw.HttpStage(this, 'HttpApiStage', {
      httpApi: api,
      autoDeploy: true,
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(logRetention(this, 'HttpApiAccessLogs')),
        format: apigateway.AccessLogFormat.custom(JSON.stringify({
          requestId: '$context.requestId', routeKey: '$context.routeKey', status: '$context.status',
          latency: '$context.responseLatency', integrationError: '$context.integrationErrorMessage',
        })),
      },
    });
    const apiUrl = Fn.sub('https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}', { Api: api.apiId });
    const baseUrl = (suffix: string) => Fn.conditionIf(
      hasPublicBaseUrl.logicalId,
      Fn.join('', [publicBaseUrl.valueAsString, suffix]),
      Fn.join('', [apiUrl, suffix]),
    ).toString();

    const redriveQueues: { channel: Channel; queue: sqs.Queue }[] = [];

    // ---------------------------------------------------------------- per channel
    for (const channel of CHANNELS) {
      const scope = new Construct(this, channel.id);
      const memory = new CfnParameter(this, `${channel.id}MemorySize`, { type: 'Number', default: 256 });
      const timeout = new CfnParameter(this, `${channel.id}Timeout`, { type: 'Number', default: 10 });
      const concurrency = new CfnParameter(this, `${channel.id}ReservedConcurrency`, {
        type: 'Number', default: 50,
        description: `Most concurrent ${channel.name} invocations; also isolates the other channels from its load.`,
      });

      const secret = new secrets.Secret(scope, 'Secret', {
        secretName: `${Aws.STACK_NAME}/${channel.name}`,
        description: `${channel.name} provider keys, JSON keyed by provider (see README). Created empty; the operator fills it.`,
        secretStringValue: SecretValue.unsafePlainText('{}'),
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: 'Provider keys are issued by the providers and rotated with them (current and previous keys are both accepted); Secrets Manager cannot rotate them.',
      });

      const deadLetters = new sqs.Queue(scope, 'DeadLetterQueue', {
        fifo: true,
        queueName: `${Aws.STACK_NAME}-${channel.name}-dlq.fifo`,
        retentionPeriod: Duration.days(14),
        enforceSSL: true,
      });
      const queue = new sqs.Queue(scope, 'Queue', {
        fifo: true,
        queueName: `${Aws.STACK_NAME}-${channel.name}.fifo`,
        contentBasedDeduplication: false,
        deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
        fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
        retentionPeriod: Duration.days(14),
        visibilityTimeout: Duration.seconds(60),
        enforceSSL: true,
        deadLetterQueue: { queue: deadLetters, maxReceiveCount: 5 },
      });
      redriveQueues.push({ channel, queue });

      const fn = new RustFunction(scope, 'Function', {
        manifestPath: MANIFEST,
        binaryName: 'gateway',
        architecture: lambda.Architecture.ARM_64,
        description: channel.description,
        memorySize: memory.valueAsNumber,
        timeout: Duration.seconds(timeout.valueAsNumber),
        reservedConcurrentExecutions: concurrency.valueAsNumber,
        tracing: lambda.Tracing.ACTIVE,
        logGroup: logRetention(scope, 'LogGroup'),
        environment: {
          CHANNEL: channel.name,
          TABLE_NAME: table.tableName,
          OUTBOX_TABLE_NAME: outbox.tableName,
          SECRET_ID: secret.secretArn,
          PUBLIC_BASE_URL: baseUrl(`/${channel.name}`),
          RETENTION_DAYS: retentionDays.valueAsString,
          BUCKET_NAME: blobs.bucketName,
          // Where its providers keep parts (the registry's grants say whether they do).
          ...(channel.grants.some((g) => g.resource === 'parts') ? { PARTS_TABLE_NAME: parts.tableName } : {}),
          ...Object.fromEntries((channel.settings ?? []).map((s) => [s.env, new CfnParameter(this, s.parameter, {
            type: 'String', default: s.default, description: s.description,
          }).valueAsString])),
        },
      });
      Tags.of(fn).add('function', channel.name);
      // What the registry derives from the pipeline and the providers' state.
      const granted = {
        table: [table.tableArn],
        outbox: [outbox.tableArn],
        parts: [parts.tableArn],
        secret: [secret.secretArn],
        objects: [blobs.arnForObjects(`${channel.name}/*`)],
        intake: [blobs.arnForObjects(`${channel.name}/intake/*`)],
        listing: [blobs.bucketArn],
      };
      for (const grant of channel.grants) {
        fn.addToRolePolicy(new iam.PolicyStatement({
          actions: grant.actions,
          resources: granted[grant.resource],
          // A listing of the channel's own intake only.
          conditions: grant.resource === 'listing' ? { StringLike: { 's3:prefix': [`${channel.name}/intake/*`] } } : undefined,
        }));
      }
      const bucketId = Stack.of(this).getLogicalId(blobs.node.defaultChild as s3.CfnBucket);
      Validations.of(fn).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${channel.name}/*]`,
        reason: 'Object keys are message ids, unknown in advance; the grant is PutObject under the channel\'s own prefix only.',
      });
      Validations.of(fn).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${channel.name}/intake/*]`,
        reason: 'Kept requests are named by arrival time and digest, unknown in advance; the grant is read and delete of the channel\'s own intake only.',
      });
      // The scheduled run, every minute: the replay of the requests kept while the store was down.
      new events.Rule(scope, 'Schedule', {
        schedule: events.Schedule.rate(Duration.minutes(1)),
        targets: [new targets.LambdaFunction(fn, { event: events.RuleTargetInput.fromObject({ run: 'schedule' }) })],
      });
      acknowledgeLambdaBasics(fn);

      const routes = api.addRoutes({
        path: `/${channel.name}/{provider}`,
        methods: channel.methods.map((m) => m as apigw.HttpMethod),
        integration: new HttpLambdaIntegration(`${channel.id}Integration`, fn),
      });
      for (const route of routes) {
        Validations.of(route).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason: 'Providers cannot send IAM or JWT credentials: every request is authenticated by its provider signature, verified in the function on the raw bytes.',
        });
      }

      const alarm = (id: string, description: string, metric: cw.IMetric, threshold: number) => {
        const a = new cw.Alarm(scope, id, {
          alarmDescription: description, metric, threshold, evaluationPeriods: 1,
          comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cw.TreatMissingData.NOT_BREACHING,
        });
        notify(a);
        return a;
      };
      alarm('DeadLetterAlarm', `${channel.title} messages a consumer could not process are in the dead-letter queue.`,
        deadLetters.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(5) }), 0);
      alarm('ErrorsAlarm', `The ${channel.title} function failed invocations.`,
        fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }), 0);
      alarm('ThrottlesAlarm', `The ${channel.title} function hit its reserved concurrency; providers see 429/5xx and retry.`,
        fn.metricThrottles({ statistic: 'Sum', period: Duration.minutes(5) }), 0);
      const rejected = new cw.MathExpression({
        expression: 'invalid + missing + stale + unconfigured',
        label: 'Rejected signatures',
        period: Duration.minutes(5),
        usingMetrics: Object.fromEntries(
          ['invalid', 'missing', 'stale', 'unconfigured'].map((key, i) => [key, new cw.Metric({
            namespace: NAMESPACE, metricName: 'Rejected', statistic: 'Sum', period: Duration.minutes(5),
            dimensionsMap: { channel: channel.name, reason: SIGNATURE_REASONS[i] },
          })]),
        ),
      });
      // One of the channel's own metrics (dimension `channel`).
      const channelMetric = (metricName: string, statistic: string, minutes: number) => new cw.Metric({
        namespace: NAMESPACE, metricName, statistic, period: Duration.minutes(minutes),
        dimensionsMap: { channel: channel.name },
      });
      // An age reported every minute: above `threshold` seconds for `periods` minutes, or missing
      // (what reports it is not running), alarms.
      const ageAlarm = (id: string, description: string, metricName: string, threshold: number, periods: number) => {
        const a = new cw.Alarm(scope, id, {
          alarmDescription: description, metric: channelMetric(metricName, 'Maximum', 1),
          threshold, evaluationPeriods: periods,
          comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: cw.TreatMissingData.BREACHING,
        });
        notify(a);
      };
      // Emitted by the sweep every minute for every channel.
      ageAlarm('OutboxAgeAlarm', `A ${channel.title} message has waited more than 3 minutes for its queue (publisher behind or failing, SQS unavailable), or the sweep is not reporting.`,
        'OutboxOldestAge', 180, 3);
      // Emitted by the channel function's replay every minute.
      ageAlarm('IntakeAgeAlarm', `A ${channel.title} request kept while the store was down has waited more than 5 minutes for its replay (the store still failing, a kept request the replay cannot finish), or the replay is not reporting.`,
        'IntakeOldestAge', 300, 5);
      alarm('OrphanedAlarm', `A ${channel.title} session whose closing event never came (a Twilio real-time transcription without its stop event) was assembled from what arrived; the event was lost upstream.`,
        channelMetric('Orphaned', 'Sum', 5), 0);
      alarm('IntakeRefusedAlarm', `A ${channel.title} request kept while the store was down was refused by its replay; it is under ${channel.name}/intake-refused/ in the bucket.`,
        channelMetric('IntakeRefused', 'Sum', 5), 0);
      alarm('QuarantinedAlarm', `A ${channel.title} message SQS refuses for good is quarantined in the outbox (see the runbook in the README).`,
        channelMetric('OutboxQuarantined', 'Maximum', 5), 0);
      alarm('UnstorableAlarm', `A ${channel.title} message the store refuses for good (too large, a key too long); its request is kept under ${channel.name}/unstorable/ in the bucket, or it was answered 422.`,
        new cw.MathExpression({
          expression: 'kept + refused',
          label: 'Unstorable messages',
          period: Duration.minutes(5),
          usingMetrics: {
            kept: new cw.Metric({
              namespace: NAMESPACE, metricName: 'Unstorable', statistic: 'Sum', period: Duration.minutes(5),
              dimensionsMap: { channel: channel.name },
            }),
            refused: new cw.Metric({
              namespace: NAMESPACE, metricName: 'Rejected', statistic: 'Sum', period: Duration.minutes(5),
              dimensionsMap: { channel: channel.name, reason: 'unstorable' },
            }),
          },
        }), 0);
      alarm('UnavailableAlarm', `${channel.title} webhooks answered 5xx (storage, secrets or a provider API failing); providers that do not retry lose them.`,
        new cw.MathExpression({
          expression: 'storage + secrets + providerapi',
          label: '5xx answers',
          period: Duration.minutes(5),
          usingMetrics: Object.fromEntries(
            [['storage', 'storage_failed'], ['secrets', 'secrets_unavailable'], ['providerapi', 'provider_api_failed']].map(([key, reason]) => [key, new cw.Metric({
              namespace: NAMESPACE, metricName: 'Rejected', statistic: 'Sum', period: Duration.minutes(5),
              dimensionsMap: { channel: channel.name, reason },
            })]),
          ),
        }), 0);
      const signatures = alarm('RejectedSignaturesAlarm', `A spike of ${channel.title} webhooks with missing, invalid or stale signatures.`, rejected, 0);
      (signatures.node.defaultChild as cw.CfnAlarm).threshold = rejectedThreshold.valueAsNumber;

      const metric = (name: string, statistic = 'Sum') => new cw.Metric({
        namespace: NAMESPACE, metricName: name, statistic, period: Duration.minutes(1),
        dimensionsMap: { channel: channel.name },
      });
      new cw.Dashboard(scope, 'Dashboard', {
        dashboardName: `${Aws.STACK_NAME}-${channel.name}`,
        widgets: [
          [
            new cw.GraphWidget({ title: `${channel.title} webhooks`, left: ['Accepted', 'Duplicates', 'Rejected', 'Published', 'Quarantined'].map((m) => metric(m)) }),
            new cw.GraphWidget({ title: `${channel.title} handler latency (ms)`, left: [metric('Latency', 'p50'), metric('Latency', 'p99'), metric('PublishLatency', 'p99')] }),
          ],
          [
            new cw.GraphWidget({ title: `${channel.title} function`, left: [fn.metricInvocations(), fn.metricErrors(), fn.metricThrottles()] }),
            new cw.GraphWidget({
              title: `${channel.title} queues`,
              left: [queue.metricApproximateNumberOfMessagesVisible(), deadLetters.metricApproximateNumberOfMessagesVisible(), queue.metricApproximateAgeOfOldestMessage()],
            }),
          ],
        ],
      });

      for (const provider of channel.providers) {
        const title = provider[0].toUpperCase() + provider.slice(1);
        new CfnOutput(this, `${channel.id}${title}WebhookUrl`, { value: baseUrl(`/${channel.name}/${provider}`) });
      }
      new CfnOutput(this, `${channel.id}QueueUrl`, { value: queue.queueUrl });
      new CfnOutput(this, `${channel.id}QueueArn`, { value: queue.queueArn });
      new CfnOutput(this, `${channel.id}DeadLetterQueueUrl`, { value: deadLetters.queueUrl });
      new CfnOutput(this, `${channel.id}SecretArn`, {
        description: 'Fill with `aws secretsmanager put-secret-value --secret-id <arn> --secret-string file://secret.json`.',
        value: secret.secretArn,
      });
    }

    const queueVariables = Object.fromEntries(redriveQueues.map(({ channel, queue }) => [`QUEUE_URL_${channel.name.toUpperCase()}`, queue.queueUrl]));
    const sendToQueues = new iam.PolicyStatement({
      actions: ['sqs:SendMessage'], resources: redriveQueues.map(({ queue }) => queue.queueArn),
    });

    // ---------------------------------------------------------------- publisher
    // Tails the outbox's stream: each shard's records in order, a failed record retried (and
    // everything after it in its shard), a failing batch halved, retries bounded; what is given
    // up is reported to the failures queue and stays in the outbox for the sweep.
    const publisherFailures = new sqs.Queue(this, 'PublisherFailuresQueue', {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    Validations.of(publisherFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself where the stream reports what it gave up (the records stay in the outbox, the sweep publishes them).',
    });
    const publisher = new RustFunction(this, 'PublisherFunction', {
      manifestPath: MANIFEST,
      binaryName: 'publisher',
      architecture: lambda.Architecture.ARM_64,
      description: 'Publishes each stored message to its channel\'s FIFO queue, in order per conversation.',
      memorySize: 256,
      timeout: Duration.seconds(60),
      tracing: lambda.Tracing.ACTIVE,
      logGroup: logRetention(this, 'PublisherLogGroup'),
      environment: { OUTBOX_TABLE_NAME: outbox.tableName, ...queueVariables },
    });
    Tags.of(publisher).add('function', 'publisher');
    publisher.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:DeleteItem', 'dynamodb:UpdateItem'], resources: [outbox.tableArn] }));
    publisher.addToRolePolicy(sendToQueues);
    publisher.addEventSource(new sources.DynamoEventSource(outbox, {
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: 100,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      retryAttempts: 10,
      maxRecordAge: Duration.hours(1),
      parallelizationFactor: 1,
      filters: [lambda.FilterCriteria.filter({ eventName: lambda.FilterRule.isEqual('INSERT') })],
      onFailure: new sources.SqsDlq(publisherFailures),
    }));
    acknowledgeLambdaBasics(publisher);
    Validations.of(publisher).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'dynamodb:ListStreams takes no resource ARN (the event source mapping\'s read grant); X-Ray takes none either.',
    });

    // ---------------------------------------------------------------- sweep
    // The backstop: publishes what the stream could not deliver (older than 15 minutes), each
    // conversation in order, and reports the outbox's oldest age and quarantine every run.
    const redrive = new RustFunction(this, 'RedriveFunction', {
      manifestPath: MANIFEST,
      binaryName: 'redrive',
      architecture: lambda.Architecture.ARM_64,
      description: 'Publishes the outbox records the stream could not deliver; reports the outbox\'s age.',
      memorySize: 256,
      timeout: Duration.seconds(60),
      reservedConcurrentExecutions: 1,
      tracing: lambda.Tracing.ACTIVE,
      logGroup: logRetention(this, 'RedriveLogGroup'),
      environment: { OUTBOX_TABLE_NAME: outbox.tableName, SWEEP_MIN_AGE_SECS: '900', ...queueVariables },
    });
    Tags.of(redrive).add('function', 'redrive');
    redrive.addToRolePolicy(new iam.PolicyStatement({
      actions: ['dynamodb:Scan', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem'], resources: [outbox.tableArn],
    }));
    redrive.addToRolePolicy(sendToQueues);
    acknowledgeLambdaBasics(redrive);
    new events.Rule(this, 'RedriveSchedule', {
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(redrive)],
    });

    const shared = (id: string, description: string, metric: cw.IMetric, threshold: number, period = 1) => {
      const a = new cw.Alarm(this, id, {
        alarmDescription: description, metric, threshold, evaluationPeriods: period,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      });
      notify(a);
    };
    shared('PublisherErrorsAlarm', 'The publisher function failed (crashed or timed out); the stream retries its batch.',
      publisher.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }), 0);
    shared('PublisherIteratorAgeAlarm', 'The publisher is more than 3 minutes behind the outbox\'s stream (SQS failing, or the publisher stuck).',
      publisher.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(1) }), 180000, 3);
    shared('PublisherGaveUpAlarm', 'The stream gave up on a batch of the outbox (its records wait for the sweep).',
      publisherFailures.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(5) }), 0);
    shared('RedriveErrorsAlarm', 'The sweep failed (crashed, timed out or could not read the outbox).',
      redrive.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }), 0);

    new CfnOutput(this, 'HttpApiUrl', { value: apiUrl });
    new CfnOutput(this, 'MessagesTableName', { value: table.tableName });
    new CfnOutput(this, 'OutboxTableName', {
      description: 'Messages not yet on their queue; quarantined ones carry `quarantined` (the reason).',
      value: outbox.tableName,
    });
    new CfnOutput(this, 'PublisherFailuresQueueUrl', { value: publisherFailures.queueUrl });
    new CfnOutput(this, 'BlobsBucketName', {
      description: 'Claim-checked messages (<channel>/messages/), e-mail attachments and oversize raw bodies.',
      value: blobs.bucketName,
    });
  }
}

/** The managed basic-execution policy and X-Ray's wildcard are what SAM attaches too. */
function acknowledgeLambdaBasics(fn: lambda.Function) {
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason: 'Writes only to CloudWatch Logs; the same managed policy SAM attaches to every function.',
  });
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'X-Ray tracing (PutTraceSegments, PutTelemetryRecords) takes no resource ARN.',
  });
}
