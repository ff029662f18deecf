//! Progress of a long backtest stage in the log.

/// Progress of a long backtest stage in the log: a line a minute at most, so that a
/// scheduler's log shows the stage moving (over an hour at 50,000 regions) without a line per
/// step at small sizes. Shared by threads (the global models' chains report in parallel).
pub(crate) struct StageProgress {
    stage: &'static str,
    units: &'static str,
    clock: std::time::Instant,
    logged: std::sync::Mutex<std::time::Duration>,
}

impl StageProgress {
    /// Starts the stage's clock.
    pub(crate) fn start(stage: &'static str, units: &'static str) -> StageProgress {
        StageProgress {
            stage,
            units,
            clock: std::time::Instant::now(),
            logged: std::sync::Mutex::new(std::time::Duration::ZERO),
        }
    }

    /// `done` of `all` units are done: logs a line if the last was a minute ago (or none yet
    /// and the stage has run a minute) and the stage is not finished. A thread that finds
    /// another logging skips its line.
    pub(crate) fn report(&self, done: usize, all: usize) {
        let elapsed = self.clock.elapsed();
        if let Ok(mut logged) = self.logged.try_lock()
            && done < all
            && elapsed >= *logged + std::time::Duration::from_secs(60)
        {
            *logged = elapsed;
            let line = progress_line(self.stage, done, all, self.units, elapsed.as_secs_f64());
            tracing::info!("{line}");
        }
    }
}

/// A progress line for a stage `done` of `all` `units` (regions, fits) into it after `elapsed`
/// seconds, with the time left if the rest goes at the same pace.
fn progress_line(stage: &str, done: usize, all: usize, units: &str, elapsed: f64) -> String {
    let left = elapsed * (all - done.min(all)) as f64 / done.max(1) as f64;
    format!(
        "backtest: {stage}, {done} of {all} {units} in {}, about {} left",
        minutes(elapsed),
        minutes(left)
    )
}

/// Seconds as "42 s" under two minutes, else as whole minutes ("17 min").
fn minutes(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else {
        format!("{:.0} min", seconds / 60.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    #[test]
    fn progress_lines_say_how_far_and_how_long_is_left() {
        // (done, all, units, elapsed s) and the line; the last two: nothing done yet, or more
        // than all, never divide by zero nor go negative
        let cases = [
            (
                12_288,
                49_344,
                "regions",
                1_020.0,
                "local models, 12288 of 49344 regions in 17 min, about 51 min left",
            ),
            (
                512,
                2_048,
                "regions",
                30.0,
                "local models, 512 of 2048 regions in 30 s, about 90 s left",
            ),
            (
                0,
                10,
                "fits",
                5.0,
                "local models, 0 of 10 fits in 5 s, about 50 s left",
            ),
            (
                11,
                10,
                "fits",
                5.0,
                "local models, 11 of 10 fits in 5 s, about 0 s left",
            ),
        ];
        for (done, all, units, elapsed, line) in cases {
            assert_eq!(
                progress_line("local models", done, all, units, elapsed),
                format!("backtest: {line}")
            );
        }
    }
}
