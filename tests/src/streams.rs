//! The outbox stream read locally as Lambda's event source mapping reads it in AWS: DynamoDB
//! Local's Streams API (DescribeStream, GetShardIterator, GetRecords), parent shards before
//! their children, inserts only (the mapping's filter), batches handed to the publisher's own
//! handler as the JSON event Lambda would send, partial-batch failures retried from the failed record, a failing invocation
//! bisected, retries bounded and then the batch skipped (left to the sweep), as the on-failure
//! destination would be told. Checkpoints are kept in a file per stream, so separate runs and
//! test processes do not deliver a record twice.

use async_trait::async_trait;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine;
use gateway_shared::outbox::{Outbox, Queues};
use gateway_shared::telemetry::MetricSink;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;

/// Most records per invocation (the event source mapping's `BatchSize` in the templates).
pub const BATCH_SIZE: i32 = 100;
/// Empty pages followed before a pass leaves a shard.
const EMPTY_PAGES: usize = 5;
/// Retries of a failing batch before it is skipped (`MaximumRetryAttempts`).
pub const MAX_RETRIES: u32 = 10;

/// The function the batches go to (port): the publisher's handler in-process, or a test's
/// stand-in that fails the way a crashed or timed-out function does.
#[async_trait]
pub trait Invoke: Send + Sync {
    /// The function's answer (the partial-batch response), or its failure.
    async fn invoke(&self, event: Value) -> Result<Value, String>;
}

/// The publisher's handler, called with the event as Lambda would send it.
pub struct Publisher<'a> {
    pub outbox: &'a dyn Outbox,
    pub queues: &'a dyn Queues,
    pub metrics: &'a dyn MetricSink,
    pub clock: &'a (dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync),
}

#[async_trait]
impl Invoke for Publisher<'_> {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        let event = serde_json::from_value(event).map_err(|e| e.to_string())?;
        let response = gateway_shared::stream::handle(
            event,
            self.outbox,
            self.queues,
            self.metrics,
            (self.clock)(),
        )
        .await;
        serde_json::to_value(response).map_err(|e| e.to_string())
    }
}

/// What one pass over the stream did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// Records handed to the function (retries counted again).
    pub delivered: usize,
    pub invocations: usize,
    /// Batches reported failed or whose invocation failed (each retried later).
    pub failures: usize,
    /// Records skipped after their retries ran out (the sweep's from then on).
    pub skipped: usize,
}

/// One stream's reader.
pub struct StreamReader {
    streams: aws_sdk_dynamodbstreams::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    retries: HashMap<String, u32>,
}

impl StreamReader {
    pub fn new(sdk: &aws_config::SdkConfig, table: &str) -> Self {
        Self::via(sdk, table, None)
    }

    /// A reader whose stream reads go to `endpoint` (a recording proxy: in AWS the event
    /// source reads the stream with the function's role). Finding the stream (DescribeTable)
    /// is the event source's configuration, not the function's, so it goes direct.
    pub fn via(sdk: &aws_config::SdkConfig, table: &str, endpoint: Option<&str>) -> Self {
        let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(sdk);
        if let Some(endpoint) = endpoint {
            streams = streams.endpoint_url(endpoint);
        }
        StreamReader {
            streams: aws_sdk_dynamodbstreams::Client::from_conf(streams.build()),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            table: table.to_string(),
            retries: HashMap::new(),
        }
    }

    /// Reads every shard up to its end once, handing batches to `function`; a shard whose
    /// batch failed stops there for this pass (the next pass retries it, in order).
    pub async fn pass(&mut self, function: &dyn Invoke) -> Result<Pass, String> {
        let arn = self
            .dynamodb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| format!("{} has no stream", self.table))?;
        let mut checkpoints = Checkpoints::load(&arn);
        let mut pass = Pass::default();
        for shard in self.shards(&arn).await? {
            self.read_shard(&arn, &shard, &mut checkpoints, function, &mut pass)
                .await?;
        }
        checkpoints.save();
        Ok(pass)
    }

    /// Passes until one fails nothing (everything written so far is delivered), at most `max`.
    pub async fn drain(&mut self, function: &dyn Invoke, max: usize) -> Result<Pass, String> {
        let mut total = Pass::default();
        for _ in 0..max {
            let pass = self.pass(function).await?;
            total.delivered += pass.delivered;
            total.invocations += pass.invocations;
            total.failures += pass.failures;
            total.skipped += pass.skipped;
            if pass.failures == 0 {
                break;
            }
        }
        Ok(total)
    }

    /// The shards, parents before their children (the order the event source reads them).
    async fn shards(&self, arn: &str) -> Result<Vec<String>, String> {
        let mut shards = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .streams
                .describe_stream()
                .stream_arn(arn)
                .set_exclusive_start_shard_id(start)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let description = out.stream_description.ok_or("no stream description")?;
            for shard in description.shards() {
                shards.push((
                    shard.shard_id().unwrap_or_default().to_string(),
                    shard.parent_shard_id().map(str::to_string),
                ));
            }
            start = description.last_evaluated_shard_id;
            if start.is_none() {
                break;
            }
        }
        let mut ordered: Vec<String> = Vec::new();
        while ordered.len() < shards.len() {
            let before = ordered.len();
            for (id, parent) in &shards {
                let parent_done = parent
                    .as_ref()
                    .is_none_or(|p| ordered.contains(p) || !shards.iter().any(|(s, _)| s == p));
                if !ordered.contains(id) && parent_done {
                    ordered.push(id.clone());
                }
            }
            if ordered.len() == before {
                break;
            }
        }
        Ok(ordered)
    }

    async fn read_shard(
        &mut self,
        arn: &str,
        shard: &str,
        checkpoints: &mut Checkpoints,
        function: &dyn Invoke,
        pass: &mut Pass,
    ) -> Result<(), String> {
        let mut iterator = self.iterator(arn, shard, checkpoints.get(shard)).await?;
        // A page can be empty before the end of what was written (DynamoDB Streams says so, and
        // DynamoDB Local does it): the reader follows a few empty pages before it stops.
        let mut empty_pages = 0;
        while let Some(current) = iterator {
            let out = self
                .streams
                .get_records()
                .shard_iterator(current)
                .limit(BATCH_SIZE)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let records = out.records.unwrap_or_default();
            if records.is_empty() {
                empty_pages += 1;
                if empty_pages > EMPTY_PAGES {
                    return Ok(());
                }
                iterator = out.next_shard_iterator;
                continue;
            }
            empty_pages = 0;
            // The mapping's filter (`eventName` INSERT): removals and quarantine marks are
            // never handed to the function, only passed over.
            let inserts: Vec<Record> = records
                .iter()
                .filter(|r| r.event_name().is_some_and(|n| n.as_str() == "INSERT"))
                .cloned()
                .collect();
            let delivered = if inserts.is_empty() {
                Delivered::All
            } else {
                self.deliver(arn, &inserts, function, pass).await
            };
            match delivered {
                Delivered::All => {
                    checkpoints.set(shard, last_sequence(&records));
                    iterator = out.next_shard_iterator;
                }
                Delivered::UpTo(done) => {
                    // Everything before the failed record is done; the rest waits, in order.
                    if done > 0 {
                        checkpoints.set(shard, sequence(&inserts[done - 1]));
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn iterator(
        &self,
        arn: &str,
        shard: &str,
        after: Option<String>,
    ) -> Result<Option<String>, String> {
        let request = self
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard);
        let request = match after {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        Ok(request
            .send()
            .await
            .map_err(|e| e.to_string())?
            .shard_iterator)
    }

    /// Hands `records` to the function, bisecting a batch whose invocation fails. Returns how
    /// many leading records are done (published, or skipped once their retries ran out).
    async fn deliver(
        &mut self,
        arn: &str,
        records: &[Record],
        function: &dyn Invoke,
        pass: &mut Pass,
    ) -> Delivered {
        pass.invocations += 1;
        pass.delivered += records.len();
        let failed_at = match function.invoke(event(arn, records)).await {
            Ok(response) => response["batchItemFailures"]
                .as_array()
                .and_then(|failures| {
                    failures
                        .iter()
                        .filter_map(|f| f["itemIdentifier"].as_str())
                        .filter_map(|id| records.iter().position(|r| sequence(r) == id))
                        .min()
                }),
            Err(error) => {
                tracing_error(&error);
                if records.len() > 1 {
                    // Bisect: each half on its own, the first half first.
                    let half = records.len() / 2;
                    return match Box::pin(self.deliver(arn, &records[..half], function, pass)).await
                    {
                        Delivered::All => {
                            match Box::pin(self.deliver(arn, &records[half..], function, pass))
                                .await
                            {
                                Delivered::All => Delivered::All,
                                Delivered::UpTo(n) => Delivered::UpTo(half + n),
                            }
                        }
                        partial => partial,
                    };
                }
                Some(0)
            }
        };
        let Some(failed) = failed_at else {
            return Delivered::All;
        };
        pass.failures += 1;
        let key = sequence(&records[failed]);
        let tries = self.retries.entry(key.clone()).or_insert(0);
        *tries += 1;
        if *tries > MAX_RETRIES {
            // What the on-failure destination is told: this batch is given up; its records stay
            // in the outbox for the sweep.
            pass.skipped += records.len() - failed;
            self.retries.remove(&key);
            return Delivered::All;
        }
        Delivered::UpTo(failed)
    }
}

enum Delivered {
    All,
    UpTo(usize),
}

fn tracing_error(error: &str) {
    eprintln!("stream reader: the function failed ({error}); the batch is bisected and retried");
}

fn sequence(record: &Record) -> String {
    record
        .dynamodb()
        .and_then(|d| d.sequence_number())
        .unwrap_or_default()
        .to_string()
}

fn last_sequence(records: &[Record]) -> String {
    records.last().map(sequence).unwrap_or_default()
}

/// The event Lambda's event source mapping sends for `records` of the stream `arn`.
pub fn event(arn: &str, records: &[Record]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            let change = r.dynamodb();
            let image = |i: Option<&HashMap<String, AttributeValue>>| {
                i.map(|i| {
                    i.iter()
                        .map(|(k, v)| (k.clone(), attribute(v)))
                        .collect::<serde_json::Map<_, _>>()
                })
            };
            json!({
                "eventID": r.event_id(),
                "eventName": r.event_name().map(|n| n.as_str()),
                "eventVersion": r.event_version(),
                "eventSource": "aws:dynamodb",
                "awsRegion": r.aws_region().unwrap_or("us-east-1"),
                "eventSourceARN": arn,
                "dynamodb": {
                    "ApproximateCreationDateTime": change
                        .and_then(|c| c.approximate_creation_date_time())
                        .map(|t| t.secs() as f64),
                    "Keys": image(change.and_then(|c| c.keys.as_ref())),
                    "NewImage": image(change.and_then(|c| c.new_image.as_ref())),
                    "SequenceNumber": change.and_then(|c| c.sequence_number()),
                    "SizeBytes": change.and_then(|c| c.size_bytes()).unwrap_or(0),
                    "StreamViewType": change
                        .and_then(|c| c.stream_view_type())
                        .map(|v| v.as_str()),
                },
            })
        })
        .collect();
    json!({ "Records": records })
}

/// An attribute value in DynamoDB's JSON form, as stream events carry it.
fn attribute(value: &AttributeValue) -> Value {
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => json!({ "BS": v.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(attribute).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({
            "M": m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect::<serde_json::Map<_, _>>()
        }),
        _ => json!({ "NULL": true }),
    }
}

/// The last sequence number done per shard of one stream, in a file.
struct Checkpoints {
    path: PathBuf,
    shards: HashMap<String, String>,
}

impl Checkpoints {
    fn load(arn: &str) -> Self {
        let dir = std::env::var_os("GATEWAY_STREAM_CHECKPOINTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("gateway-stream-checkpoints"));
        let _ = std::fs::create_dir_all(&dir);
        let name: String = arn
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = dir.join(name);
        let shards = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_once(' '))
            .map(|(shard, seq)| (shard.to_string(), seq.to_string()))
            .collect();
        Checkpoints { path, shards }
    }

    fn get(&self, shard: &str) -> Option<String> {
        self.shards.get(shard).cloned()
    }

    fn set(&mut self, shard: &str, sequence: String) {
        self.shards.insert(shard.to_string(), sequence);
    }

    fn save(&self) {
        let text: String = self
            .shards
            .iter()
            .map(|(shard, seq)| format!("{shard} {seq}\n"))
            .collect();
        let _ = std::fs::write(&self.path, text);
    }
}
