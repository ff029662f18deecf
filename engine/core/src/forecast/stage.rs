//! The forecasting stage of a job: builds the models a spec names, backtests them on every
//! region, chooses a model per region, forecasts, and turns it all into tables.

use crate::data::region::country_of;
use crate::data::series::{Fallback, RegionSeries};
use crate::error::EngineError;
use crate::forecast::catalogue::{Model, baselines};
use crate::forecast::choice::{Choice, argmin_of, eligible, selected_scores};
use crate::forecast::global::{FeatureCache, backtest_global, first_training_period, forecast_global};
use crate::forecast::local::{LocalPart, local_part, run_settings};
use crate::forecast::pooled::PooledOptions;
use vigil_models::ensemble::{ENSEMBLE, MemberForecast, MemberRows, Target, backtest_ensemble, combine};
use vigil_models::metrics::{ModelScores, Skill, exceedance, msle_by_series, skill, summarise};
use vigil_models::{
    Backtest, BacktestSettings, Forecast, Forecaster, GlobalModel, Naive, RegionForecast, forecast_panel,
};

/// The forecasting stage's results.
pub struct ForecastStage {
    /// The raw backtest.
    pub backtest: Backtest,
    /// Scores per model × horizon and overall, plus the honestly scored [`SELECTED`] choice.
    pub summary: Vec<ModelScores>,
    /// Skill against the best baseline.
    pub skill: Vec<Skill>,
    /// The model chosen for each region.
    pub choices: Vec<Choice>,
    /// Forecasts of every model (in the order of `backtest.models`) for every region.
    pub forecasts: Vec<Vec<RegionForecast>>,
    /// `events[m][r][h − 1]`: probabilities of the event thresholds for model `m`, region `r`
    /// (from the predictive distribution where the model has one, else from its quantiles).
    pub events: Vec<Vec<Vec<[f64; 2]>>>,
    /// The event thresholds.
    pub thresholds: [f64; 2],
    /// The fitted global models of the final forecast, per horizon (not a model whose final
    /// fit failed: naive stands in for it in `forecasts`, and `fallbacks` says why).
    pub global_models: Vec<(String, Vec<GlobalModel>)>,
    /// The ensemble's final weights, `(point, distribution)` per horizon, each over
    /// `backtest.models`.
    pub ensemble_weights: Vec<(Vec<f64>, Vec<f64>)>,
    /// Fits that fell back (final forecasts only; backtest fallbacks are in the backtest).
    pub fallbacks: Vec<Fallback>,
}

impl ForecastStage {
    /// The model whose forecast is published for region `r` (a position in `backtest.models`):
    /// the ensemble when the stage ran it, else the region's chosen model. The one publication
    /// rule: the `published` column of forecasts.parquet, the charts, the alerts and the report
    /// all follow it. (A spec check refuses an ensemble of fewer than two members, so a job that
    /// names the ensemble always runs it.)
    pub fn published_model(&self, r: usize) -> usize {
        let models = &self.backtest.models;
        models.iter().position(|m| m == ENSEMBLE).unwrap_or_else(|| {
            models
                .iter()
                .position(|m| *m == self.choices[r].model)
                .unwrap_or(0)
        })
    }
}

/// Backtests `models` (and the pooled models of `pooled`) on every region, chooses per
/// region, and forecasts `horizon` periods after the end of each series with every model.
pub fn run_forecasts(
    series: &[RegionSeries],
    models: &[Box<dyn Forecaster>],
    settings: &BacktestSettings,
    pooled: &PooledOptions,
) -> Result<ForecastStage, EngineError> {
    let all: Vec<usize> = (0..series.len()).collect();
    let local = local_part(series, &all, models, settings, pooled)?;
    finish_forecasts(series, models, settings, pooled, local)
}

/// Everything after the local models: the global models' backtest and forecasts (fitted on
/// all regions), the ensemble, scores, choices and the final forecasts of every model.
pub fn finish_forecasts(
    series: &[RegionSeries],
    models: &[Box<dyn Forecaster>],
    settings: &BacktestSettings,
    pooled: &PooledOptions,
    local: LocalPart,
) -> Result<ForecastStage, EngineError> {
    let thresholds = pooled.settings.events;
    let fallback = Naive;
    let members_of = |bt: &Backtest| -> Vec<usize> {
        (0..bt.models.len())
            .filter(|m| bt.models[*m].parse::<Model>().map_or(true, Model::joins_ensemble))
            .collect()
    };
    let n = series.first().map_or(0, |s| s.y.len());
    let run_settings = &run_settings(settings, pooled, n);
    if local.regions.len() != series.len() {
        return Err(EngineError::Invalid {
            context: "forecasting".into(),
            message: format!(
                "the local models cover {} of {} regions: merge every shard first",
                local.regions.len(),
                series.len()
            ),
        });
    }
    let mut bt = local.backtest;
    // room for the pooled models' rows, when the local part came without it (merged shards)
    bt.rows
        .reserve_exact(bt.rows.len() / bt.models.len().max(1) * pooled.appended_models());
    let groups: Vec<String> = series.iter().map(|s| country_of(&s.region_id)).collect();
    let mut cache = (!pooled.global.is_empty()).then(|| FeatureCache::new(series, &groups));
    // The global models' final fits on all data are made now, from the backtest's last fits,
    // so that the feature cache (every region × month's features: 437 MB at 10,000 regions × 240 months)
    // and the fits' designs are gone before the ensemble's rows and the scores are made.
    // A final fit that fails (the hurdle with too few months with events in its window, say)
    // does not end the run: as at a backtest origin, naive stands in for that model in every
    // region, and each region's fallback is recorded with the reason.
    let mut global_final: Vec<Result<crate::forecast::global::GlobalForecast, String>> = Vec::new();
    if let Some(cache) = &mut cache {
        let clock = std::time::Instant::now();
        let global_starts = backtest_global(
            series,
            cache,
            &pooled.global,
            &mut bt,
            run_settings,
            &pooled.settings,
        )?;
        tracing::info!(
            "backtest: {} global models, one fit per origin and horizon, in {:.1} s",
            pooled.global.len(),
            clock.elapsed().as_secs_f64()
        );
        // the final fits read the `window` periods that end `h` before the last one, and the
        // last one itself (where they forecast from): nothing older
        cache.forget_before(first_training_period(
            n.saturating_sub(1),
            settings.horizon,
            pooled.settings.window,
        ));
        for (ki, kind) in pooled.global.iter().enumerate() {
            let fitted = forecast_global(
                series,
                cache,
                *kind,
                settings.horizon,
                &settings.probs,
                &pooled.settings,
                global_starts.get(ki).map_or(&[], Vec::as_slice),
            );
            global_final.push(fitted.map_err(|e| {
                tracing::warn!(
                    "{e}; the {} forecast stands in for {} in every region",
                    fallback.name(),
                    kind.name()
                );
                e.to_string()
            }));
        }
    }
    drop(cache);
    let members = members_of(&bt);
    let with_ensemble = pooled.ensemble && members.len() > 1;
    let mut ensemble_weights = Vec::new();
    let mut platt = [None, None];
    if with_ensemble {
        let clock = std::time::Instant::now();
        backtest_ensemble(&mut bt, &members, thresholds).map_err(|e| EngineError::Model {
            context: "backtesting the ensemble".into(),
            source: e,
        })?;
        tracing::info!(
            "backtest: ensemble of {} members, weights learned per origin, in {:.1} s",
            members.len(),
            clock.elapsed().as_secs_f64()
        );
        if pooled.platt {
            let ensemble = bt.models.len() - 1;
            platt = vigil_models::calibration::recalibrate(&mut bt, ensemble, thresholds);
        }
        let index = MemberRows::new(&bt, &members);
        ensemble_weights = (1..=settings.horizon)
            .map(|h| {
                (
                    index.weights(h, None, Target::Point),
                    index.weights(h, None, Target::Distribution),
                )
            })
            .collect();
    }
    if let Some(first) = settings.cutoffs(n).ok().and_then(|c| c.first().copied()) {
        bt.rows.retain(|r| r.cutoff as usize >= first);
        // offer the dropped warm-up rows' space back (a third of the rows in the monthly job);
        // the allocator may keep a block shrunk by less than half where it is (mimalloc does)
        bt.rows.shrink_to_fit();
        bt.fallbacks.retain(|f| f.cutoff >= first);
    }
    let mut summary = summarise(&bt, thresholds);
    let sk = skill(&summary, &baselines());
    summary.extend(selected_scores(&bt, series.len(), settings.horizon, thresholds));

    let per_series = msle_by_series(&bt, series.len());
    let naive = bt.models.iter().position(|m| m == "naive");
    let eligible = eligible(&bt.models);
    let choices = series
        .iter()
        .zip(&per_series)
        .map(|(s, scores)| {
            let best = argmin_of(scores, &eligible).unwrap_or(0);
            Choice {
                region_id: s.region_id.clone(),
                model: bt.models[best].clone(),
                msle: scores[best],
                naive_msle: naive.map_or(f64::NAN, |n| scores[n]),
            }
        })
        .collect();

    let mut forecasts = Vec::new();
    let mut events = Vec::new();
    let mut fallbacks = Vec::new();
    let quantile_events = |got: &[RegionForecast]| -> Vec<Vec<[f64; 2]>> {
        got.iter()
            .map(|r| {
                (0..r.forecast.horizon())
                    .map(|k| {
                        let q = r.forecast.quantiles_at(k);
                        [
                            exceedance(&q, &settings.probs, thresholds[0]),
                            exceedance(&q, &settings.probs, thresholds[1]),
                        ]
                    })
                    .collect()
            })
            .collect()
    };
    // the regions where `fallback` stood in for `model`, with the reason each forecast carries
    let fell_back = |model: &str, got: &[RegionForecast]| -> Vec<Fallback> {
        got.iter()
            .filter_map(|r| {
                Some(Fallback {
                    region_id: series[r.index].region_id.clone(),
                    model: model.to_string(),
                    used: fallback.name().to_string(),
                    reason: r.fell_back.clone()?,
                })
            })
            .collect()
    };
    for (m, got) in models.iter().zip(local.forecasts) {
        fallbacks.extend(fell_back(m.name(), &got));
        events.push(quantile_events(&got));
        forecasts.push(got);
    }
    let mut global_models = Vec::new();
    for (kind, g) in pooled.global.iter().zip(global_final) {
        match g {
            Ok(g) => {
                forecasts.push(g.forecasts);
                events.push(g.events);
                global_models.push((kind.name().to_string(), g.models));
            }
            Err(why) => {
                let got = standing_in(series, kind.name(), &fallback, settings, &why)?;
                fallbacks.extend(fell_back(kind.name(), &got));
                events.push(quantile_events(&got));
                forecasts.push(got);
            }
        }
    }
    if with_ensemble {
        let (f, mut e) = ensemble_forecasts(&forecasts, &events, &members, &ensemble_weights);
        for p in e.iter_mut().flatten() {
            for (v, fit) in p.iter_mut().zip(&platt) {
                if let Some(fit) = fit {
                    *v = fit.apply(*v);
                }
            }
        }
        forecasts.push(f);
        events.push(e);
    }
    Ok(ForecastStage {
        backtest: bt,
        summary,
        skill: sk,
        choices,
        forecasts,
        events,
        thresholds,
        global_models,
        ensemble_weights,
        fallbacks,
    })
}

/// `fallback`'s forecast of every region in place of the model `name`, whose final fit failed
/// for the reason `why`: labelled as `name`'s, with `fell_back` set, as a local model's
/// forecast is where its fit fails.
fn standing_in(
    series: &[RegionSeries],
    name: &str,
    fallback: &dyn Forecaster,
    settings: &BacktestSettings,
    why: &str,
) -> Result<Vec<RegionForecast>, EngineError> {
    let ys: Vec<&[f64]> = series.iter().map(|s| s.y.as_slice()).collect();
    let mut got =
        forecast_panel(&ys, fallback, fallback, settings.horizon, &settings.probs).map_err(|e| {
            EngineError::Model {
                context: format!("the {} forecast in place of {name}", fallback.name()),
                source: e,
            }
        })?;
    for r in &mut got {
        r.model = name.to_string();
        r.fell_back = Some(why.to_string());
    }
    Ok(got)
}

/// The ensemble's final forecast of every region from its members' forecasts.
fn ensemble_forecasts(
    forecasts: &[Vec<RegionForecast>],
    events: &[Vec<Vec<[f64; 2]>>],
    members: &[usize],
    weights: &[(Vec<f64>, Vec<f64>)],
) -> (Vec<RegionForecast>, Vec<Vec<[f64; 2]>>) {
    let regions = forecasts.first().map_or(0, Vec::len);
    let horizon = weights.len();
    let probs = forecasts
        .first()
        .and_then(|f| f.first())
        .map(|r| r.forecast.probs.clone())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(regions);
    let mut out_events = Vec::with_capacity(regions);
    for r in 0..regions {
        let mut mean = Vec::with_capacity(horizon);
        let mut quantiles = vec![Vec::with_capacity(horizon); probs.len()];
        let mut ev = Vec::with_capacity(horizon);
        for k in 0..horizon {
            let qs: Vec<Vec<f64>> = members
                .iter()
                .map(|m| forecasts[*m][r].forecast.quantiles_at(k))
                .collect();
            let parts: Vec<MemberForecast<'_>> = members
                .iter()
                .zip(&qs)
                .map(|(m, q)| MemberForecast {
                    mean: forecasts[*m][r].forecast.mean[k],
                    quantiles: q,
                    events: events[*m][r][k],
                })
                .collect();
            let wp: Vec<f64> = members.iter().map(|m| weights[k].0[*m]).collect();
            let wd: Vec<f64> = members.iter().map(|m| weights[k].1[*m]).collect();
            let (m, q, e) = combine(&parts, &wp, &wd);
            mean.push(m);
            for (j, v) in q.into_iter().enumerate() {
                quantiles[j].push(v);
            }
            ev.push(e);
        }
        let used: Vec<String> = members
            .iter()
            .filter(|m| weights.iter().any(|(p, d)| p[**m] > 0.0 || d[**m] > 0.0))
            .map(|m| forecasts[*m][r].model.clone())
            .collect();
        out.push(RegionForecast {
            index: r,
            model: ENSEMBLE.to_string(),
            forecast: Forecast {
                mean,
                probs: probs.clone(),
                quantiles,
                source: vigil_models::QuantileSource::Native,
            },
            detail: format!("weighted: {}", used.join(", ")),
            fell_back: None,
        });
        out_events.push(ev);
    }
    (out, out_events)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::forecast::catalogue::ModelSettings;
    use crate::forecast::global::GlobalSettings;
    use crate::forecast::local::merge_local_parts;
    use crate::forecast::tables::{backtest_frame, write_backtest, write_backtest_in_chunks};
    use polars::prelude::ParquetReader;
    use polars::prelude::SerReader;
    use vigil_models::GlobalKind;

    /// Models as the monthly job builds them, at a test's scale (horizon 3).
    fn small_models(names: &[&str]) -> Vec<Box<dyn Forecaster>> {
        let ms = ModelSettings {
            season: 12,
            horizon: 3,
            conformal_windows: 6,
            window: 12,
            tsb_alphas: (0.1, 0.1),
        };
        names
            .iter()
            .map(|m| m.parse::<Model>().unwrap().build(&ms).unwrap().unwrap())
            .collect()
    }

    /// A monthly backtest of `origins` origins, step 1, horizon 3, the job's quantiles.
    fn small_settings(origins: usize) -> BacktestSettings {
        BacktestSettings {
            origins,
            step: 1,
            horizon: 3,
            probs: vigil_models::DEFAULT_PROBS.to_vec(),
            season: 12,
        }
    }

    #[test]
    fn shard_parts_merge_into_exactly_the_single_process_part_and_gaps_are_refused() {
        use crate::data::series::monthly_series;
        use crate::forecast::shard::Shard;
        let series: Vec<RegionSeries> = (0..9)
            .map(|r| {
                let y = (0..60)
                    .map(|t| f64::from(((t * (r + 3) + r * 7) % 11) as u32) * f64::from(r as u32 % 3))
                    .collect();
                monthly_series(&format!("r{r}"), y)
            })
            .collect();
        let models = small_models(&["naive", "window_mean", "tsb", "auto_ets"]);
        let settings = small_settings(4);
        // With the ensemble's warm-up origins, as the monthly job runs.
        let pooled = PooledOptions {
            ensemble: true,
            warmup: 2,
            ..PooledOptions::local_only()
        };
        let all: Vec<usize> = (0..series.len()).collect();
        let whole = local_part(&series, &all, &models, &settings, &pooled).unwrap();
        let parts: Vec<LocalPart> = (0..4)
            .rev()
            .map(|i| {
                let s = Shard { index: i, count: 4 };
                local_part(&series, &s.regions(series.len()), &models, &settings, &pooled).unwrap()
            })
            .collect();
        let merged = merge_local_parts(&series, parts.clone()).unwrap();
        assert!(
            merged == whole,
            "merged parts differ from the single-process part"
        );
        // Bit for bit through the part file's encoding.
        let bytes = rmp_serde::to_vec(&whole).unwrap();
        let back: LocalPart = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(rmp_serde::to_vec(&back).unwrap(), bytes);

        let missing = merge_local_parts(&series, parts[1..].to_vec())
            .unwrap_err()
            .to_string();
        assert!(missing.contains("in no part"), "{missing}");
        let mut twice = parts.clone();
        twice.push(parts[0].clone());
        let err = merge_local_parts(&series, twice).unwrap_err().to_string();
        assert!(err.contains("in two parts"), "{err}");
        let mut other = series.clone();
        other[4].region_id = "elsewhere".into();
        let err = merge_local_parts(&other, parts).unwrap_err().to_string();
        assert!(err.contains("which the panel does not"), "{err}");
    }

    #[test]
    fn a_global_model_whose_final_fit_fails_falls_back_to_naive_and_says_why() {
        use crate::data::series::monthly_series;
        // Events in the first two years only: the final fit's window, the last year, has no
        // month with events, so the hurdle's count part has no rows to be fitted on.
        let series: Vec<RegionSeries> = (0..6)
            .map(|r| {
                let y = (0..48)
                    .map(|t| {
                        if t < 24 {
                            f64::from(((t * (r + 2)) % 5) as u32 + 1)
                        } else {
                            0.0
                        }
                    })
                    .collect();
                monthly_series(&format!("{}/r{r}", r % 2), y)
            })
            .collect();
        let models = small_models(&["naive", "window_mean"]);
        let pooled = PooledOptions {
            global: vec![GlobalKind::Hurdle],
            settings: GlobalSettings {
                window: 12,
                l2: 1.0,
                events: vigil_models::metrics::EVENTS,
            },
            ensemble: true,
            ..PooledOptions::local_only()
        };
        let fc = run_forecasts(&series, &models, &small_settings(3), &pooled).unwrap();
        let at = |name: &str| fc.backtest.models.iter().position(|m| m == name).unwrap();
        let (hurdle, naive) = (at("hurdle"), at("naive"));
        assert!(fc.global_models.is_empty(), "no fitted hurdle to save");
        assert_eq!(fc.fallbacks.len(), series.len(), "one fallback per region");
        for (f, s) in fc.fallbacks.iter().zip(&series) {
            assert_eq!(
                (f.region_id.as_str(), f.model.as_str(), f.used.as_str()),
                (s.region_id.as_str(), "hurdle", "naive")
            );
            assert!(f.reason.contains("fitting hurdle on all data"), "{}", f.reason);
        }
        assert_eq!(fc.forecasts[hurdle].len(), series.len());
        for (h, n) in fc.forecasts[hurdle].iter().zip(&fc.forecasts[naive]) {
            assert_eq!((h.model.as_str(), &h.forecast), ("hurdle", &n.forecast));
            assert_eq!(
                h.fell_back.as_deref(),
                Some(fc.fallbacks[h.index].reason.as_str())
            );
        }
        assert_eq!(fc.events[hurdle], fc.events[naive]);
        // the ensemble still forecasts every region, from its members as they stand
        assert_eq!(fc.forecasts[at("ensemble")].len(), series.len());
    }

    #[test]
    fn the_backtest_written_in_slices_is_the_whole_table() {
        use crate::data::series::monthly_series;
        let series: Vec<RegionSeries> = (0..5)
            .map(|r| {
                let y = (0..48).map(|t| f64::from(((t * (r + 2)) % 7) as u32)).collect();
                monthly_series(&format!("r{r}"), y)
            })
            .collect();
        let models = small_models(&["naive", "window_mean"]);
        let settings = small_settings(3);
        let fc = run_forecasts(&series, &models, &settings, &PooledOptions::local_only()).unwrap();
        let whole = backtest_frame(&series, &fc.backtest).unwrap();
        assert_eq!(whole.height(), 5 * 3 * 3 * 2);
        let dir = tempfile::tempdir().unwrap();
        let read = |p: &std::path::Path| {
            ParquetReader::new(std::fs::File::open(p).unwrap())
                .finish()
                .unwrap()
        };
        // slices that do not divide the rows, and one slice for everything
        for chunk in [7, 1 << 20] {
            let path = dir.path().join(format!("bt-{chunk}.parquet"));
            let stamp = (crate::Classification::Confidential, "run-1");
            let n = write_backtest_in_chunks(&path, &series, &fc.backtest, stamp, chunk).unwrap();
            assert_eq!(n, whole.height() as u64);
            assert!(read(&path).equals_missing(&whole), "slices of {chunk} rows");
        }
        // no rows: still the table's columns
        let mut empty = fc.backtest.clone();
        empty.rows.clear();
        let path = dir.path().join("empty.parquet");
        let n = write_backtest(
            &path,
            &series,
            &empty,
            (crate::Classification::Confidential, "run-1"),
        )
        .unwrap();
        assert_eq!(n, 0);
        let back = read(&path);
        assert_eq!(back.height(), 0);
        assert_eq!(back.schema(), whole.schema());
    }
}
