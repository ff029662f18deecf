//! Progress on a terminal, plain line logs elsewhere.
//!
//! When stderr is a terminal and logs are text, a run shows one progress bar over its stages
//! (with the stage in progress and the elapsed time) and the log lines scroll above it. Under a
//! scheduler, in a pipe or with `--log-format json`, there is no bar: the line logs (one per
//! stage, with timings) are the progress.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether runs may draw a bar (set once by `main`).
static ENABLED: AtomicBool = AtomicBool::new(false);
/// The bar being drawn, if any.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Allows progress bars (call when stderr is a terminal and logs are text).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// The stages of a run, in order, and what the bar says while each is under way.
const STAGES: [(&str, &str); 10] = [
    ("ingest", "reading and checking the inputs"),
    ("panel", "building the region × period panel"),
    (
        "backtest_and_forecast",
        "backtesting and forecasting (the long part)",
    ),
    ("reconcile", "reconciling levels"),
    ("trends", "trends, seasonality, change points"),
    ("hotspots", "hot spots"),
    ("alerts", "alerts"),
    ("change", "change at every level"),
    ("charts", "charts"),
    ("report", "report and manifest"),
];

/// A run's progress: a bar on a terminal, nothing otherwise.
pub struct Progress;

impl Progress {
    /// Starts the bar if bars are enabled.
    pub fn start() -> Progress {
        if ENABLED.load(Ordering::Relaxed) {
            let bar = ProgressBar::with_draw_target(Some(STAGES.len() as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:24} {pos}/{len} stages · {msg}",
            ) {
                bar.set_style(style);
            }
            bar.set_message(STAGES[0].1);
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            if let Ok(mut slot) = BAR.lock() {
                *slot = Some(bar);
            }
        }
        Progress
    }

    /// Stage `name` is done: the bar moves on to the next one.
    pub fn done(&self, name: &str) {
        let Ok(slot) = BAR.lock() else { return };
        if let Some(bar) = slot.as_ref()
            && let Some(i) = STAGES.iter().position(|(n, _)| *n == name)
        {
            bar.set_position(i as u64 + 1);
            if let Some((_, next)) = STAGES.get(i + 1) {
                bar.set_message(*next);
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Ok(mut slot) = BAR.lock()
            && let Some(bar) = slot.take()
        {
            bar.finish_and_clear();
        }
    }
}

/// stderr for log lines, drawn above the bar when there is one.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
