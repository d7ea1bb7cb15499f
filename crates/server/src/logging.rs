//! Log set-up: human-readable lines by default, JSON on request; the level comes from
//! `RUST_LOG` (default `info`). Nothing in the code base logs a password, a token or a
//! token hash; requests are logged by route template only.

use std::fmt;
use std::io::IsTerminal;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::LogFormat;

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.with_ansi(false).event_format(JsonLines).try_init(),
    };
}

/// One JSON object per event: `timestamp`, `level`, the event's fields in their order,
/// `target` — the shape of tracing-subscriber's flattened JSON, except that a list
/// (a field logged with `?` whose text is a JSON array, such as a `Vec<String>`) is a
/// JSON array, not a string holding one.
#[derive(Debug, Clone, Copy)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = JsonObject::default();
        let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
        line.push("timestamp", Value::String(now.to_string()));
        line.push("level", Value::String(meta.level().to_string()));
        event.record(&mut line);
        line.push("target", Value::String(meta.target().to_string()));
        writeln!(writer, "{}}}", line.text)
    }
}

/// An object being written, members in the order they come.
#[derive(Default)]
struct JsonObject {
    text: String,
}

impl JsonObject {
    fn push(&mut self, name: &str, value: Value) {
        self.text.push(if self.text.is_empty() { '{' } else { ',' });
        self.text
            .push_str(&Value::String(name.to_string()).to_string());
        self.text.push(':');
        self.text.push_str(&value.to_string());
    }
}

impl Visit for JsonObject {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        let value = if field.name() != "message" && text.starts_with('[') && text.ends_with(']') {
            // `Debug` of a list of strings or numbers is JSON already.
            serde_json::from_str::<Vec<Value>>(&text).map_or(Value::String(text), Value::Array)
        } else {
            Value::String(text)
        };
        self.push(field.name(), value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field.name(), Value::String(value.to_string()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field.name(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field.name(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field.name(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field.name(), Value::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field.name(), Value::String(value.to_string()));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_keep_the_field_order_and_write_lists_as_arrays() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let environments = vec!["sandbox".to_string(), "production".to_string()];
            let ports = [1, 2];
            tracing::warn!(target: "audit", event = "x", n = 3, ok = true, environments = ?environments,
                ports = ?ports, note = "[not a list", "said \"it\"");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["event"], "x");
        assert_eq!(v["n"], 3);
        assert_eq!(v["ok"], true);
        assert_eq!(
            v["environments"],
            serde_json::json!(["sandbox", "production"])
        );
        assert_eq!(v["ports"], serde_json::json!([1, 2]));
        assert_eq!(v["note"], "[not a list");
        assert_eq!(v["message"], "said \"it\"");
        assert_eq!(v["target"], "audit");
        assert!(
            text.starts_with("{\"timestamp\":") && text.trim().ends_with("\"target\":\"audit\"}")
        );
    }
}
