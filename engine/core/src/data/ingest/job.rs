//! Every input of a job ingested a chunk at a time, with the accepted incidents streamed into
//! the run folder and summed for the panels.

use super::file::*;
use super::schema::*;
use crate::data::mapping::SchemaMapping;
use crate::data::quality::InputQuality;
use crate::error::EngineError;
use polars::prelude::*;
use std::path::Path;

/// One input of a job, as [`ingest_job`] takes it.
pub struct JobInput<'a> {
    /// The source file.
    pub path: &'a Path,
    /// Its schema mapping.
    pub mapping: &'a SchemaMapping,
    /// As-of, extract date and label.
    pub options: IngestOptions,
}

/// What [`ingest_job`] gives.
pub struct IngestedJob {
    /// The accepted incidents of every input, summed by geography, category and period (see
    /// [`crate::data::panel::aggregate_incidents`]): every panel of the run is built from this.
    pub aggregated: DataFrame,
    /// Rejected rows of every input.
    pub quarantine: DataFrame,
    /// One quality report per input.
    pub quality: Vec<InputQuality>,
    /// Accepted incidents written.
    pub accepted: u64,
}

/// Rows checked at a time by [`ingest_job`]: memory stays bounded whatever an input's size.
pub const CHUNK_ROWS: usize = 1 << 20;

/// Ingests a job's inputs in chunks ([`ingest_chunked`]): the accepted incidents are written to
/// `incidents` (when given) as they come, input after input in source order, with the canonical
/// columns and every input's extras (nulls where an input has none), and kept in memory only as
/// their aggregate at `frequency`. So a run's memory grows with regions × periods, not with
/// incidents.
pub fn ingest_job(
    inputs: &[JobInput<'_>],
    frequency: crate::Frequency,
    chunk_rows: usize,
    mut incidents: Option<crate::output::TableWriter>,
) -> Result<IngestedJob, EngineError> {
    // Each chunk is folded into one running sum keyed by codes of its text keys: memory stays
    // near the size of the final aggregate however many chunks there are. Summing a chunk and
    // writing it each take about as long as reading and checking it, so each runs on a thread
    // of its own, one chunk behind; a chunk is handed over only once the one before is done, so
    // no checked chunk waits in between.
    let mut quarantine = Vec::new();
    let mut quality = Vec::new();
    let (produced, summed, written) = std::thread::scope(|scope| {
        let (to_sum, sum_rx) = std::sync::mpsc::sync_channel::<DataFrame>(0);
        let (to_write, write_rx) = std::sync::mpsc::sync_channel::<DataFrame>(0);
        let summer = scope.spawn(move || -> Result<_, EngineError> {
            let mut sum = crate::data::panel::AggregateSum::new();
            let busy = each_chunk(sum_rx, |chunk| sum.add(&chunk, frequency))?;
            tracing::debug!("ingest: summing {busy:.1} s ({} cells)", sum.len());
            Ok(sum)
        });
        let writer = scope.spawn(move || -> Result<_, EngineError> {
            let busy = each_chunk(write_rx, |chunk| match incidents.as_mut() {
                Some(w) => w.write(&chunk),
                None => Ok(()),
            })?;
            tracing::debug!("ingest: writing the incidents {busy:.1} s");
            Ok(incidents)
        });
        let produced = inputs.iter().try_for_each(|input| -> Result<(), EngineError> {
            // A send fails only once a consumer has stopped on an error, which is the one
            // reported.
            let stopped = |_| EngineError::Invalid {
                context: format!("ingesting {}", input.path.display()),
                message: "the summing or writing of the incidents stopped".into(),
            };
            let (q, report) = ingest_chunked(
                input.path,
                input.mapping,
                &input.options,
                chunk_rows,
                &mut |chunk| {
                    to_sum.send(chunk.clone()).map_err(stopped)?;
                    to_write.send(chunk).map_err(stopped)
                },
            )?;
            quarantine.push(q);
            quality.push(report);
            Ok(())
        });
        drop((to_sum, to_write));
        (produced, join(summer), join(writer))
    });
    // A consumer's own error first: a failed send only says that one stopped.
    let sum = summed?;
    let incidents = written?;
    produced?;
    let accepted = quality.iter().map(|q| q.rows_accepted).sum();
    if let Some(w) = incidents {
        w.finish()?;
    }
    // In the order the cells first occurred: every use of the aggregate is independent of it.
    let aggregated = sum.finish()?;
    Ok(IngestedJob {
        aggregated,
        quarantine: combine(quarantine)?,
        quality,
        accepted,
    })
}

/// Calls `f` on every chunk `rx` receives until the sender is dropped; returns the seconds
/// spent in `f` (not waiting for chunks), for the debug log.
pub(super) fn each_chunk(
    rx: std::sync::mpsc::Receiver<DataFrame>,
    mut f: impl FnMut(DataFrame) -> Result<(), EngineError>,
) -> Result<f64, EngineError> {
    let mut busy = 0.0;
    for chunk in rx {
        let t = std::time::Instant::now();
        f(chunk)?;
        busy += t.elapsed().as_secs_f64();
    }
    Ok(busy)
}

/// The result of a scoped thread; its panic, if it panicked, goes on.
pub(super) fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The columns of the incidents table of a job with these inputs: the canonical ones, then each
/// input's extras (in mapping order, first input first) with the type its source gives them.
pub fn incidents_schema(inputs: &[JobInput<'_>]) -> Result<Schema, EngineError> {
    let mut schema: Schema = canonical_schema()
        .into_iter()
        .map(|(n, t)| (PlSmallStr::from(n), t))
        .collect();
    for input in inputs {
        let source = crate::data::read::source_schema(input.path, input.mapping.csv.separator_byte())?;
        for extra in &input.mapping.extras {
            if schema.get(extra.as_str()).is_none() {
                let dtype = source.get(extra.as_str()).cloned().unwrap_or(DataType::String);
                schema.insert(extra.as_str().into(), dtype);
            }
        }
    }
    Ok(schema)
}
