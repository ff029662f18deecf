//! Shared pieces of vigil's benchmarks: seeded synthetic monthly count series, seeded synthetic
//! incident events ([`synth`], behind `vigil synth`), and a process CPU clock.

pub mod synth;

pub use vigil_models::rng::SplitMix64;

/// `n` synthetic monthly series of length `len`: a level between 5 and 200, a trend, a yearly
/// cycle and noise, rounded to non-negative counts; about one series in five is intermittent.
pub fn synthetic_series(n: usize, len: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let level = 5.0 + 195.0 * rng.uniform();
            let trend = (rng.uniform() - 0.5) * level / len as f64;
            let amp = 0.4 * level * rng.uniform();
            let phase = std::f64::consts::TAU * rng.uniform();
            let intermittent = rng.uniform() < 0.2;
            (0..len)
                .map(|t| {
                    let season = amp * (std::f64::consts::TAU * t as f64 / 12.0 + phase).sin();
                    let mean = level + trend * t as f64 + season;
                    let v = (mean + mean.abs().sqrt() * 2.0 * rng.normal()).max(0.0).round();
                    if intermittent && rng.uniform() < 0.7 {
                        0.0
                    } else {
                        v
                    }
                })
                .collect()
        })
        .collect()
}

/// CPU time (user + system) used by this process so far, all threads, in seconds; `None`
/// where `/proc/self/stat` is unavailable (not Linux). Resolution is one clock tick (10 ms at
/// the usual 100 Hz), ample for runs of several seconds.
pub fn process_cpu_seconds() -> Option<f64> {
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}
