//! Hand-over to Kinesis Data Firehose: many NDJSON lines packed into each record (Firehose bills
//! every record rounded up to 5 KB), calls within the service limits, and partial failures resent
//! record by record (never the whole batch, which would duplicate the records that went through),
//! with full-jitter backoff that stops before the Lambda deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::error::{IngestError as Error, Result};

/// Largest record Firehose takes (1,000 KiB, before base64).
pub const MAX_RECORD_BYTES: usize = 1_000 * 1024;
/// Most records in one `PutRecordBatch` call.
pub const MAX_RECORDS_PER_CALL: usize = 500;
/// Most bytes in one `PutRecordBatch` call.
pub const MAX_BYTES_PER_CALL: usize = 4 * 1024 * 1024;

/// Packs NDJSON lines into as few records as the size limit allows, in order.
#[derive(Debug)]
pub struct RecordPacker {
    max_record_bytes: usize,
    records: Vec<Vec<u8>>,
    current: Vec<u8>,
    lines: usize,
}

impl Default for RecordPacker {
    fn default() -> RecordPacker {
        RecordPacker::with_max_record_bytes(MAX_RECORD_BYTES)
    }
}

impl RecordPacker {
    pub fn with_max_record_bytes(max_record_bytes: usize) -> RecordPacker {
        RecordPacker {
            max_record_bytes,
            records: Vec::new(),
            current: Vec::new(),
            lines: 0,
        }
    }

    /// Adds one line (without its newline). A line longer than a record on its own is the
    /// caller's bug: ingest caps event and quarantine sizes far below it.
    pub fn push_line(&mut self, line: &[u8]) {
        debug_assert!(
            line.len() < self.max_record_bytes,
            "line of {} bytes cannot fit a record",
            line.len()
        );
        if !self.current.is_empty() && self.current.len() + line.len() + 1 > self.max_record_bytes {
            self.records.push(std::mem::take(&mut self.current));
        }
        self.current.extend_from_slice(line);
        self.current.push(b'\n');
        self.lines += 1;
    }

    /// Room for about `bytes` of lines in the first record, so a batch's lines are not copied
    /// again each time the record grows.
    pub fn reserve(&mut self, bytes: usize) {
        self.current.reserve(bytes.min(self.max_record_bytes));
    }

    pub fn lines(&self) -> usize {
        self.lines
    }

    pub fn finish(mut self) -> Vec<Vec<u8>> {
        if !self.current.is_empty() {
            self.records.push(self.current);
        }
        self.records
    }
}

/// Groups record indexes into calls of at most 500 records and 4 MiB.
pub fn plan_calls(pending: &[usize], records: &[Vec<u8>]) -> Vec<Vec<usize>> {
    let mut calls = Vec::new();
    let mut call = Vec::new();
    let mut bytes = 0;
    for &i in pending {
        let size = records[i].len();
        if !call.is_empty()
            && (call.len() == MAX_RECORDS_PER_CALL || bytes + size > MAX_BYTES_PER_CALL)
        {
            calls.push(std::mem::take(&mut call));
            bytes = 0;
        }
        call.push(i);
        bytes += size;
    }
    if !call.is_empty() {
        calls.push(call);
    }
    calls
}

/// A whole call that failed.
#[derive(Debug, Clone)]
pub struct CallFailure {
    /// Throttling, service errors and timeouts are worth a retry; a missing stream is not.
    pub retryable: bool,
    pub message: String,
}

/// Where records go: Firehose in production, a mock in tests.
pub trait RecordSink: Send + Sync {
    /// Puts `records` into `stream`; on success returns one entry per record, `Some(error code)`
    /// for each record Firehose did not take.
    fn put_record_batch(
        &self,
        stream: &str,
        records: Vec<Vec<u8>>,
    ) -> impl Future<Output = std::result::Result<Vec<Option<String>>, CallFailure>> + Send;
}

/// A borrowed sink is a sink, so a caller can keep the sink and inspect it.
impl<T: RecordSink + ?Sized> RecordSink for &T {
    fn put_record_batch(
        &self,
        stream: &str,
        records: Vec<Vec<u8>>,
    ) -> impl Future<Output = std::result::Result<Vec<Option<String>>, CallFailure>> + Send {
        (**self).put_record_batch(stream, records)
    }
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Time kept free before the deadline, to answer the client.
    pub safety_margin: Duration,
    /// What a client is told to wait when the hand-over failed.
    pub retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
            safety_margin: Duration::from_millis(500),
            retry_after: Duration::from_secs(5),
        }
    }
}

/// What one delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub records: usize,
    pub calls: usize,
    /// Records sent again after a failure.
    pub retried_records: usize,
}

/// Delivers every record or fails with `Error::DeliveryFailed` before `deadline`.
pub async fn deliver<S: RecordSink>(
    sink: &S,
    stream: &str,
    records: Vec<Vec<u8>>,
    deadline: Instant,
    policy: &RetryPolicy,
) -> Result<DeliveryReport> {
    let mut report = DeliveryReport {
        records: records.len(),
        ..DeliveryReport::default()
    };
    let mut pending: Vec<usize> = (0..records.len()).collect();
    let mut attempt: u32 = 0;
    let stop_at = deadline
        .checked_sub(policy.safety_margin)
        .unwrap_or(deadline);
    let fail = |pending: usize, reason: String| Error::DeliveryFailed {
        stream: stream.to_string(),
        pending,
        reason,
        retry_after: policy.retry_after,
    };
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut last_reason = String::new();
        for call in plan_calls(&pending, &records) {
            let batch: Vec<Vec<u8>> = call.iter().map(|&i| records[i].clone()).collect();
            report.calls += 1;
            match tokio::time::timeout_at(stop_at, sink.put_record_batch(stream, batch)).await {
                Ok(Ok(codes)) => {
                    for (k, &i) in call.iter().enumerate() {
                        // A response without an entry for a record did not confirm it.
                        let code = codes
                            .get(k)
                            .cloned()
                            .unwrap_or_else(|| Some("MissingResponse".into()));
                        if let Some(code) = code {
                            last_reason = format!("record failed with {code}");
                            failed.push(i);
                        }
                    }
                }
                Ok(Err(failure)) if failure.retryable => {
                    last_reason = failure.message;
                    failed.extend_from_slice(&call);
                }
                Ok(Err(failure)) => {
                    tracing::error!(message = "Delivery stream refused the call.", stream, error = %failure.message);
                    return Err(fail(pending.len(), failure.message));
                }
                Err(_) => {
                    last_reason = "timed out before the deadline".into();
                    failed.extend_from_slice(&call);
                }
            }
        }
        if failed.is_empty() {
            break;
        }
        attempt += 1;
        let ceiling = policy
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(policy.max_delay);
        let delay = ceiling.mul_f64(fastrand::f64());
        tracing::warn!(message = "Firehose did not take every record; resending the failed ones.", stream, failed = failed.len(), attempt, delay_ms = delay.as_millis() as u64, reason = %last_reason);
        if Instant::now() + delay >= stop_at {
            return Err(fail(
                failed.len(),
                format!("{last_reason}; gave up before the deadline after {attempt} attempts"),
            ));
        }
        tokio::time::sleep(delay).await;
        report.retried_records += failed.len();
        pending = failed;
    }
    Ok(report)
}

impl RecordSink for aws_sdk_firehose::Client {
    async fn put_record_batch(
        &self,
        stream: &str,
        records: Vec<Vec<u8>>,
    ) -> std::result::Result<Vec<Option<String>>, CallFailure> {
        use aws_sdk_firehose::error::SdkError;
        use aws_sdk_firehose::operation::put_record_batch::PutRecordBatchError;
        use aws_sdk_firehose::primitives::Blob;
        use aws_sdk_firehose::types::Record;

        let records = records
            .into_iter()
            .map(|data| Record::builder().data(Blob::new(data)).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| CallFailure {
                retryable: false,
                message: e.to_string(),
            })?;
        match self
            .put_record_batch()
            .delivery_stream_name(stream)
            .set_records(Some(records))
            .send()
            .await
        {
            Ok(out) => Ok(out
                .request_responses
                .into_iter()
                .map(|r| r.error_code)
                .collect()),
            Err(err) => {
                let retryable = match &err {
                    SdkError::ServiceError(e) => {
                        matches!(e.err(), PutRecordBatchError::ServiceUnavailableException(_))
                            || e.raw().status().as_u16() >= 500
                            || e.raw().status().as_u16() == 429
                    }
                    SdkError::TimeoutError(_)
                    | SdkError::DispatchFailure(_)
                    | SdkError::ResponseError(_) => true,
                    _ => false,
                };
                Err(CallFailure {
                    retryable,
                    message: aws_sdk_firehose::error::DisplayErrorContext(&err).to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_lines_fill_the_fewest_records() {
        let mut packer = RecordPacker::default();
        let line = vec![b'x'; 399];
        for _ in 0..10_000 {
            packer.push_line(&line);
        }
        let records = packer.finish();
        // 10,000 lines of 400 bytes with newlines = 4,000,000 bytes; 1,024,000 bytes a record.
        assert_eq!(records.len(), 4_000_000usize.div_ceil(MAX_RECORD_BYTES));
        assert!(records.iter().all(|r| r.len() <= MAX_RECORD_BYTES));
        assert_eq!(records.iter().map(|r| r.len()).sum::<usize>(), 4_000_000);
    }

    #[test]
    fn a_line_never_straddles_two_records() {
        let mut packer = RecordPacker::with_max_record_bytes(10);
        for line in [&b"aaaa"[..], b"bbbb", b"cc", b"dddddd"] {
            packer.push_line(line);
        }
        assert_eq!(
            packer.finish(),
            [b"aaaa\nbbbb\n".to_vec(), b"cc\ndddddd\n".to_vec()]
        );
    }

    #[test]
    fn calls_respect_the_record_and_byte_limits() {
        let small: Vec<Vec<u8>> = vec![vec![0; 10]; 1_201];
        let pending: Vec<usize> = (0..small.len()).collect();
        let calls = plan_calls(&pending, &small);
        assert_eq!(
            calls.iter().map(Vec::len).collect::<Vec<_>>(),
            [500, 500, 201]
        );

        let big: Vec<Vec<u8>> = vec![vec![0; MAX_RECORD_BYTES]; 9];
        let pending: Vec<usize> = (0..big.len()).collect();
        let calls = plan_calls(&pending, &big);
        assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 1]);
        for call in calls {
            assert!(call.iter().map(|&i| big[i].len()).sum::<usize>() <= MAX_BYTES_PER_CALL);
        }
    }
}
