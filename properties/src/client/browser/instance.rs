//! One client instance in Chromium: a worker of the suite's page. Every call carries the id
//! the host hands out next, and every answer the import calls the client made, which are
//! replayed into this instance's [`MockHost`] by the same code wasmi's imports run.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::{CALL_TIME_LIMIT, Chromium, LinkError, SETUP_LIMIT};
use crate::client::mock_host::{MockHost, TextRead};
use crate::client::runtime::{Call, ClientError};

/// A client running in a worker of the suite's page.
#[derive(Debug)]
pub struct BrowserInstance {
    chromium: Arc<Chromium>,
    worker: u64,
    host: MockHost,
    memory_len: usize,
    /// Why the instance can no longer be called (its worker was ended).
    ended: Option<String>,
    /// Whether Chromium itself went away (not the client's doing).
    lost: bool,
}

impl BrowserInstance {
    /// Starts the worker and instantiates module `module` in it (its start function runs).
    pub(super) fn start(
        chromium: Arc<Chromium>,
        module: u64,
        worker: u64,
    ) -> Result<Self, ClientError> {
        let mut instance = Self {
            chromium,
            worker,
            host: MockHost::new(),
            memory_len: 0,
            ended: None,
            lost: false,
        };
        let answer = instance
            .ask(
                "spawn",
                json!({"module": module.to_string(), "nextNode": 0}),
                SETUP_LIMIT,
            )
            .map_err(|e| {
                ClientError::Runtime(instance.chromium.unanswered("starting a worker", &e))
            })?;
        instance.take(&answer).map_err(ClientError::Instantiate)?;
        if let Some(error) = answer.get("error").and_then(Value::as_str) {
            return Err(ClientError::Instantiate(format!("Chromium: {error}")));
        }
        Ok(instance)
    }

    fn ask(&self, op: &str, fields: Value, limit: std::time::Duration) -> Result<Value, LinkError> {
        let mut request = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        request.insert("op".into(), json!(op));
        request.insert("worker".into(), json!(self.worker));
        let answer = self.chromium.link().ask(request, limit)?;
        if answer.get("gone").is_some() {
            return Err(LinkError::Closed);
        }
        Ok(answer)
    }

    /// Replays the answer's import calls into the host and keeps its memory size.
    fn take(&mut self, answer: &Value) -> Result<(), String> {
        if let Some(len) = answer.get("memory").and_then(Value::as_u64) {
            self.memory_len = usize::try_from(len).unwrap_or(usize::MAX);
        }
        let records = answer
            .get("records")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for record in records {
            replay(&mut self.host, record)
                .ok_or_else(|| format!("the suite's page sent an unreadable record {record}"))?;
        }
        Ok(())
    }

    /// Calls export `name` with `args`: its value (`None` for an export that returns
    /// nothing), a trap, or [`Call::OutOfTime`].
    pub(crate) fn call(&mut self, name: &str, args: &[i32]) -> Call<Option<i32>> {
        if let Some(why) = &self.ended {
            return if self.lost {
                Call::Lost(why.clone())
            } else {
                Call::Trapped(why.clone())
            };
        }
        let fields = json!({"name": name, "args": args, "nextNode": self.host.last_node()});
        match self.ask("call", fields, CALL_TIME_LIMIT) {
            Ok(answer) => {
                if let Err(why) = self.take(&answer) {
                    return Call::Trapped(why);
                }
                if let Some(trap) = answer.get("trap").and_then(Value::as_str) {
                    return Call::Trapped(trap.to_owned());
                }
                match answer.get("result") {
                    Some(Value::Null) | None => Call::Returned(None),
                    Some(value) => match value.as_i64().and_then(|v| i32::try_from(v).ok()) {
                        Some(v) => Call::Returned(Some(v)),
                        None => Call::Trapped(format!("{name} returned {value}, not an i32")),
                    },
                }
            }
            Err(LinkError::TimedOut) => {
                self.end();
                self.ended = Some(format!(
                    "the instance was ended: an earlier call did not return within {} s",
                    CALL_TIME_LIMIT.as_secs()
                ));
                Call::OutOfTime(CALL_TIME_LIMIT)
            }
            Err(e @ LinkError::Closed) => {
                let why = self.chromium.unanswered(&format!("calling {name}"), &e);
                self.ended = Some(why.clone());
                self.lost = true;
                Call::Lost(why)
            }
        }
    }

    /// Writes `bytes` at `ptr` of the client's memory.
    pub(crate) fn write(&mut self, ptr: i32, bytes: &[u8]) -> Result<(), ClientError> {
        let outside = || ClientError::OutOfBounds {
            ptr: ptr as u64,
            len: bytes.len() as u64,
        };
        if ptr < 0 {
            return Err(outside());
        }
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        let answer = self.memory_op("write", json!({"ptr": ptr, "data": data}))?;
        if answer.get("outside").is_some() {
            return Err(outside());
        }
        Ok(())
    }

    /// Reads `len` bytes at `ptr` of the client's memory.
    pub(crate) fn read(&mut self, ptr: i32, len: usize) -> Result<Vec<u8>, ClientError> {
        let outside = || ClientError::OutOfBounds {
            ptr: ptr as u64,
            len: len as u64,
        };
        if ptr < 0 {
            return Err(outside());
        }
        let answer = self.memory_op("read", json!({"ptr": ptr, "len": len}))?;
        if answer.get("outside").is_some() {
            return Err(outside());
        }
        answer
            .get("data")
            .and_then(Value::as_str)
            .and_then(|data| base64::engine::general_purpose::STANDARD.decode(data).ok())
            .ok_or_else(|| ClientError::Runtime("the suite's page sent no bytes".into()))
    }

    fn memory_op(&mut self, op: &str, fields: Value) -> Result<Value, ClientError> {
        if let Some(why) = &self.ended {
            return Err(ClientError::Instantiate(why.clone()));
        }
        let answer = self.ask(op, fields, super::SETUP_LIMIT).map_err(|e| {
            ClientError::Instantiate(self.chromium.unanswered("using the client's memory", &e))
        })?;
        if let Some(len) = answer.get("memory").and_then(Value::as_u64) {
            self.memory_len = usize::try_from(len).unwrap_or(usize::MAX);
        }
        Ok(answer)
    }

    /// The memory's length after the last call.
    pub(crate) fn memory_len(&self) -> usize {
        self.memory_len
    }

    /// The host.
    pub(crate) fn host(&self) -> &MockHost {
        &self.host
    }

    /// The host, to define templates or clear it.
    pub(crate) fn host_mut(&mut self) -> &mut MockHost {
        &mut self.host
    }

    /// Ends the worker (an instance nobody can call again).
    fn end(&self) {
        let mut request = Map::new();
        request.insert("op".into(), json!("end"));
        request.insert("worker".into(), json!(self.worker));
        self.chromium.link().tell(request);
    }
}

impl Drop for BrowserInstance {
    fn drop(&mut self) {
        if self.ended.is_none() {
            self.end();
        }
    }
}

/// Replays one recorded import call into `host`, or `None` when the record is not one the
/// page writes.
fn replay(host: &mut MockHost, record: &Value) -> Option<()> {
    let fields = record.as_array()?;
    let int =
        |i: usize| -> Option<i32> { fields.get(i)?.as_i64().and_then(|v| i32::try_from(v).ok()) };
    let text = |i: usize| -> Option<TextRead> {
        let read = fields.get(i)?;
        match (read.get("ok"), read.get("err")) {
            (Some(Value::String(text)), _) => Some(Ok(text.clone())),
            (_, Some(Value::String(why))) => Some(Err(why.clone())),
            _ => None,
        }
    };
    match fields.first()?.as_str()? {
        "clone" => {
            host.clone_template(int(1)?);
        }
        "cache" => host.import_cache_template(int(1)?, text(2)?),
        "append" => host.import_append(int(1)?, int(2)?),
        "remove" => host.import_remove(int(1)?),
        "text" => host.import_set_text(int(1)?, text(2)?),
        "attr" => host.import_set_attr(int(1)?, text(2)?, text(3)?),
        "class" => host.import_toggle_class(int(1)?, text(2)?, int(3)?),
        "listen" => host.import_listen(int(1)?, int(2)?, int(3)?),
        "log" => host.import_log(int(1)?),
        _ => return None,
    }
    Some(())
}
