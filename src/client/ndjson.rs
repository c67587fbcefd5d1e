//! Reading a streamed NDJSON body (the bulk listing's export): batches of parsed lines, read as
//! they arrive, so memory holds one batch and one network chunk whatever the body's size.
//!
//! The whole-body cap of paged answers does not apply (a million connections is a legitimate
//! stream); instead a line is capped, a stream that stalls is given up after the idle timeout,
//! and the caller's row budget counts every batch.

use std::time::Duration;

use futures::Stream;
use serde::de::DeserializeOwned;

use super::error::ClientError;

/// The longest line accepted: far more than any connection, small enough to never matter.
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// The parsed lines of `response`, `batch` at a time (the last batch may be shorter). Each read
/// waits at most `idle`; a transfer cut short is an error, never a short listing.
pub(super) fn batches<T: DeserializeOwned>(
    response: reqwest::Response,
    batch: usize,
    idle: Duration,
) -> impl Stream<Item = Result<Vec<T>, ClientError>> {
    let reader = Reader { response, pending: Vec::new(), consumed: 0, ended: false, line: 0 };
    futures::stream::try_unfold(Some(reader), move |reader| async move {
        let Some(mut reader) = reader else { return Ok(None) };
        let mut items = Vec::with_capacity(batch);
        loop {
            while items.len() < batch {
                let unread = &reader.pending[reader.consumed..];
                let Some(end) = unread.iter().position(|byte| *byte == b'\n') else { break };
                let line = &unread[..end];
                reader.consumed += end + 1;
                reader.line += 1;
                if let Some(item) = parse(line, reader.line)? {
                    items.push(item);
                }
            }
            if items.len() == batch {
                return Ok(Some((items, Some(reader))));
            }
            if reader.ended {
                let rest = std::mem::take(&mut reader.pending);
                if let Some(item) = parse(&rest[reader.consumed..], reader.line + 1)? {
                    items.push(item);
                }
                return Ok((!items.is_empty()).then_some((items, None)));
            }
            reader.read_chunk(idle).await?;
        }
    })
}

struct Reader {
    response: reqwest::Response,
    /// Bytes received and not yet parsed start at `consumed`.
    pending: Vec<u8>,
    consumed: usize,
    ended: bool,
    /// Lines parsed so far, for error messages.
    line: usize,
}

impl Reader {
    async fn read_chunk(&mut self, idle: Duration) -> Result<(), ClientError> {
        self.pending.drain(..self.consumed);
        self.consumed = 0;
        if self.pending.len() > MAX_LINE_BYTES {
            return Err(ClientError::InvalidResponse(format!(
                "a line of the stream from {} is longer than {} KiB; stopped reading",
                self.response.url().path(),
                MAX_LINE_BYTES / 1024
            )));
        }
        match tokio::time::timeout(idle, self.response.chunk()).await {
            Err(_) => Err(ClientError::Unreachable(format!(
                "the stream from {} stalled for {}s",
                self.response.url().path(),
                idle.as_secs()
            ))),
            Ok(Err(error)) => Err(ClientError::from_transport(error)),
            Ok(Ok(None)) => {
                self.ended = true;
                Ok(())
            }
            Ok(Ok(Some(chunk))) => {
                self.pending.extend_from_slice(&chunk);
                Ok(())
            }
        }
    }
}

/// One line; `None` for a blank one.
fn parse<T: DeserializeOwned>(line: &[u8], number: usize) -> Result<Option<T>, ClientError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(line)
        .map(Some)
        .map_err(|error| ClientError::InvalidResponse(format!("line {number} of the stream: {error}")))
}
