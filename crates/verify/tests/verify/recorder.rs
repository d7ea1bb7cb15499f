//! A `metrics` recorder for this test binary: it keeps every counter and gauge by name
//! and labels, so tests can read what the verifier reported. Tests tell their metrics
//! apart by the `issuer` label (each has its own port).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString,
    Unit,
};

#[derive(Default)]
pub struct Values {
    counters: Mutex<HashMap<String, Arc<Count>>>,
    gauges: Mutex<HashMap<String, Arc<Level>>>,
}

#[derive(Default)]
struct Count(AtomicU64);

impl CounterFn for Count {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Level(Mutex<f64>);

impl GaugeFn for Level {
    fn increment(&self, value: f64) {
        *self.0.lock().unwrap() += value;
    }
    fn decrement(&self, value: f64) {
        *self.0.lock().unwrap() -= value;
    }
    fn set(&self, value: f64) {
        *self.0.lock().unwrap() = value;
    }
}

/// `name{k="v",…}` with the labels sorted.
fn id(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={:?}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

struct Shared(Arc<Values>);

impl Recorder for Shared {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut map = self.0.counters.lock().unwrap();
        Counter::from_arc(map.entry(id(key)).or_default().clone())
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut map = self.0.gauges.lock().unwrap();
        Gauge::from_arc(map.entry(id(key)).or_default().clone())
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// The process's recorder, installed on first use.
pub fn values() -> Arc<Values> {
    static VALUES: OnceLock<Arc<Values>> = OnceLock::new();
    VALUES
        .get_or_init(|| {
            let values = Arc::new(Values::default());
            metrics::set_global_recorder(Shared(values.clone()))
                .expect("no other recorder in this test binary");
            values
        })
        .clone()
}

impl Values {
    /// A counter's value (0 if never incremented). `labels` as `k="v"`, sorted.
    pub fn counter(&self, name: &str, labels: &str) -> u64 {
        let key = format!("{name}{{{labels}}}");
        self.counters
            .lock()
            .unwrap()
            .get(&key)
            .map_or(0, |c| c.0.load(Ordering::SeqCst))
    }

    /// A gauge's value, if ever set.
    pub fn gauge(&self, name: &str, labels: &str) -> Option<f64> {
        let key = format!("{name}{{{labels}}}");
        self.gauges
            .lock()
            .unwrap()
            .get(&key)
            .map(|g| *g.0.lock().unwrap())
    }
}
