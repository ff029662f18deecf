//! The HTTP API (`vigil serve`): read-only access to finished runs and partner packages, with
//! need-to-know built in.
//!
//! Every route but `/health` and `/openapi.json` needs `Authorization: Bearer <token>` (see
//! [`vigil_share::access`]). What a caller may read is decided in one place,
//! [`vigil_share::access::decide`], for every resource, and listings show only what a read would
//! serve:
//!
//! - analysts and headquarters read run outputs up to their clearance; above it they get 403;
//! - partners learn nothing of the runs (404, as for something that does not exist) and read
//!   only their own packages, only while their agreement is in force (else 403).
//!
//! Names in the URL (job, run, table, chart, package, file) are checked before they touch the
//! disk (ASCII letters, digits, `.`, `_`, `-`, no leading dot), and only files a manifest lists
//! are served, after their sha256 is checked against it. Requests are limited per token (and
//! failed attempts per address), each takes at most the configured time, bodies are refused,
//! and every request is logged with its token's id, never the token.

mod guard;
mod openapi;
mod store;
mod table;

pub use openapi::document as openapi_document;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Extension, Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::{Run, Store};
use table::TableQuery;
use vigil_core::error::EngineError;
use vigil_core::{Classification, VERSION};
use vigil_share::access::{Caller, Decision, Resource, Role, decide};

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The runs folder (`OUT` of `OUT/<job>/<run id>`).
    pub runs: PathBuf,
    /// The partner packages folder.
    pub exports: PathBuf,
    /// The folder of agreement files (TOML), which say whether a partner's agreement is in
    /// force today.
    pub agreements: PathBuf,
    /// The token file (hashes only).
    pub tokens: PathBuf,
    /// Requests per second each token may make, on average.
    pub rate_per_second: u32,
    /// Requests a token may make at once before the rate applies.
    pub burst: u32,
    /// The longest a request may take before it is answered 503.
    pub timeout: Duration,
    /// Failed authentications allowed per client address and second (burst: four times as
    /// many), so guessing tokens is slow and floods cannot fill the log.
    pub failures_per_second: u32,
    /// The largest page of a table (`limit`).
    pub max_page: usize,
    /// Bytes of files and tables kept in memory.
    pub cache_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            runs: PathBuf::from("runs"),
            exports: PathBuf::from("exports"),
            agreements: PathBuf::from("agreements"),
            tokens: PathBuf::from("tokens.toml"),
            rate_per_second: 50,
            burst: 100,
            timeout: Duration::from_secs(30),
            failures_per_second: 5,
            max_page: 10_000,
            cache_bytes: 512 << 20,
        }
    }
}

/// The service's shared state.
pub(crate) struct AppState {
    config: ApiConfig,
    tokens: guard::Tokens,
    store: Store,
    limiter: DefaultKeyedRateLimiter<String>,
    failures: DefaultKeyedRateLimiter<IpAddr>,
}

/// An error answer: a status and a JSON body `{"error": …, "status": …}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the caller.
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: String) -> ApiError {
        ApiError { status, message }
    }

    /// 404, the same for what does not exist and for what the caller may not know exists.
    pub(crate) fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "no such resource".into())
    }

    pub(crate) fn bad_request(message: String) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn internal(message: String) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError::internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.message, "status": self.status.as_u16()});
        (self.status, Json(body)).into_response()
    }
}

/// Marks a response with the classification of what it holds.
pub(crate) fn mark(headers: &mut HeaderMap, classification: Classification) {
    headers.insert(
        "x-vigil-classification",
        HeaderValue::from_static(classification.as_str()),
    );
}

/// Allows, refuses (403, saying why) or hides (404) `what`.
fn allow(
    caller: &Caller,
    resource: &Resource<'_>,
    what: &str,
    why: impl FnOnce() -> String,
) -> Result<(), ApiError> {
    match decide(caller, resource) {
        Decision::Allow => Ok(()),
        Decision::Hidden => Err(ApiError::not_found()),
        Decision::Forbidden => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "token {} ({}) may not read {what}: {}",
                caller.id,
                describe(caller),
                why()
            ),
        )),
    }
}

/// The caller's role and clearance, for messages.
fn describe(caller: &Caller) -> String {
    match (&caller.role, caller.clearance) {
        (Role::Partner(_), _) | (_, None) => caller.role.to_string(),
        (role, Some(c)) => format!("{role}, cleared to {c}"),
    }
}

/// Whether `caller` may read an output at `level`; 403/404 otherwise.
fn allow_level(caller: &Caller, level: Classification, what: &str) -> Result<(), ApiError> {
    allow(caller, &Resource::RunOutput(level), what, || {
        format!("it is {level}")
    })
}

/// Run `run` of `job` if the caller may read it. Partners are told nothing of runs.
fn readable_run(st: &AppState, caller: &Caller, job: &str, run: &str) -> Result<Run, ApiError> {
    if matches!(caller.role, Role::Partner(_)) {
        return Err(ApiError::not_found());
    }
    let r = st.store.run(job, run)?;
    allow_level(
        caller,
        r.manifest.classification,
        &format!("run {}", r.manifest.run_id),
    )?;
    Ok(r)
}

/// Runs `f` on the blocking pool (file reads, parquet, filters), off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("request task failed: {e}")))?
}

/// A file's bytes as a response, with its media type and classification.
fn file_response(bytes: &[u8], file: &str, classification: Option<Classification>) -> Response {
    let media = match file.rsplit('.').next().unwrap_or("") {
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "md" => "text/markdown; charset=utf-8",
        "parquet" => "application/vnd.apache.parquet",
        _ => "application/octet-stream",
    };
    let mut r = bytes.to_vec().into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if media.starts_with("text/html") || media == "image/svg+xml" {
        // The report and charts are self-contained: nothing may be fetched or run.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"),
        );
    }
    if let Some(c) = classification {
        mark(h, c);
    }
    r
}

/// A run as listed.
fn run_summary(r: &Run) -> Value {
    let m = &r.manifest;
    let base = format!("/v1/jobs/{}/runs/{}", r.job, m.run_id);
    json!({
        "job": r.job,
        "run_id": m.run_id,
        "as_of": m.as_of,
        "status": m.status,
        "classification": m.classification,
        "created_at": m.created_at,
        "engine_version": m.engine_version,
        "latest": r.latest,
        "links": {
            "manifest": base,
            "tables": format!("{base}/tables"),
            "charts": format!("{base}/charts"),
            "report": format!("{base}/report"),
        },
    })
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": VERSION}))
}

async fn openapi() -> Json<Value> {
    Json(openapi::document())
}

async fn list_jobs(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let mut jobs = Vec::new();
        if !matches!(caller.role, Role::Partner(_)) {
            for job in st.store.jobs() {
                let runs: Vec<Run> = st
                    .store
                    .runs(&job)?
                    .into_iter()
                    .filter(|r| {
                        decide(&caller, &Resource::RunOutput(r.manifest.classification)) == Decision::Allow
                    })
                    .collect();
                let Some(newest) = runs.last() else { continue };
                jobs.push(json!({
                    "job": job,
                    "runs": runs.len(),
                    "newest_run": newest.manifest.run_id,
                    "latest": runs.iter().find(|r| r.latest).map(|r| &r.manifest.run_id),
                    "links": {"runs": format!("/v1/jobs/{job}/runs")},
                }));
            }
        }
        Ok(Json(json!({ "jobs": jobs })))
    })
    .await
}

async fn list_runs(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    UrlPath(job): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        if matches!(caller.role, Role::Partner(_)) {
            return Err(ApiError::not_found());
        }
        let runs: Vec<Value> = st
            .store
            .runs(&job)?
            .iter()
            .filter(|r| decide(&caller, &Resource::RunOutput(r.manifest.classification)) == Decision::Allow)
            .map(run_summary)
            .collect();
        Ok(Json(json!({ "job": job, "runs": runs })))
    })
    .await
}

async fn run_manifest(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    UrlPath((job, run)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let r = readable_run(&st, &caller, &job, &run)?;
        let mut resp = Json(&*r.manifest).into_response();
        mark(resp.headers_mut(), r.manifest.classification);
        Ok(resp)
    })
    .await
}

/// The entries of a run's table or chart listing the caller may read: each output's name (under
/// `key`), file, rows, bytes, classification, description and link; the others are left out.
fn listing<'a>(
    caller: &Caller,
    key: &str,
    base: &str,
    outputs: impl Iterator<Item = (&'a str, &'a vigil_core::output::OutputRecord)>,
) -> Vec<Value> {
    outputs
        .filter(|(_, o)| decide(caller, &Resource::RunOutput(o.classification)) == Decision::Allow)
        .map(|(name, o)| {
            let mut entry = json!({
                "file": o.file,
                "rows": o.rows,
                "bytes": o.bytes,
                "classification": o.classification,
                "description": o.description,
                "link": format!("{base}/{name}"),
            });
            entry[key] = json!(name);
            entry
        })
        .collect()
}

async fn list_tables(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    UrlPath((job, run)): UrlPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let r = readable_run(&st, &caller, &job, &run)?;
        let base = format!("/v1/jobs/{job}/runs/{}/tables", r.manifest.run_id);
        let tables = listing(
            &caller,
            "table",
            &base,
            table::tables().filter_map(|(name, file)| Some((name, r.output(file).ok()?))),
        );
        Ok(Json(json!({ "run_id": r.manifest.run_id, "tables": tables })))
    })
    .await
}

async fn read_table(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    UrlPath((job, run, name)): UrlPath<(String, String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    blocking(move || {
        let r = readable_run(&st, &caller, &job, &run)?;
        let file = table::table_file(&name).ok_or_else(ApiError::not_found)?;
        let rec = r.output(file)?;
        allow_level(&caller, rec.classification, &format!("table {name}"))?;
        let q = TableQuery::parse(&pairs, &table::PARAMS, st.config.max_page)?;
        let format = table::negotiate(q.format.as_deref(), &headers)?;
        let df = st.store.frame(&r, rec)?;
        let rows = q.filter(&name, &df)?;
        let total = rows.height();
        let mut page = rows.slice(i64::try_from(q.offset.min(total)).unwrap_or(i64::MAX), q.limit);
        let path = format!("/v1/jobs/{job}/runs/{run}/tables/{name}");
        table::render(
            &mut page,
            format,
            &table::PageMeta {
                job: &job,
                run_id: &r.manifest.run_id,
                table: &name,
                classification: rec.classification,
                total,
                query: &q,
                path: &path,
                pairs: &pairs,
            },
        )
    })
    .await
}

async fn list_charts(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    UrlPath((job, run)): UrlPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let r = readable_run(&st, &caller, &job, &run)?;
        let base = format!("/v1/jobs/{job}/runs/{}/charts", r.manifest.run_id);
        let charts = listing(
            &caller,
            "chart",
            &base,
            r.manifest
                .outputs
                .iter()
                .filter_map(|o| Some((o.file.strip_prefix("charts/")?, o))),
        );
        Ok(Json(json!({ "run_id": r.manifest.run_id, "charts": charts })))
    })
    .await
}

async fn read_chart(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    UrlPath((job, run, chart)): UrlPath<(String, String, String)>,
) -> Result<Response, ApiError> {
    blocking(move || {
        if !store::valid_name(&chart) {
            return Err(ApiError::not_found());
        }
        let r = readable_run(&st, &caller, &job, &run)?;
        let rec = r.output(&format!("charts/{chart}"))?;
        allow_level(&caller, rec.classification, &format!("chart {chart}"))?;
        let bytes = st.store.bytes(&r, rec)?;
        Ok(file_response(&bytes, &chart, Some(rec.classification)))
    })
    .await
}

async fn read_report(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    UrlPath((job, run)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let r = readable_run(&st, &caller, &job, &run)?;
        let rec = r.output(vigil_core::output::REPORT)?;
        allow_level(&caller, rec.classification, "the report")?;
        let bytes = st.store.bytes(&r, rec)?;
        Ok(file_response(&bytes, &rec.file, Some(rec.classification)))
    })
    .await
}

/// Whether `caller` may read `package` today.
fn allow_package(st: &AppState, caller: &Caller, package: &store::Package) -> Result<(), ApiError> {
    let partner = package.manifest.partner.as_str();
    // Only the package's own partner needs its agreement checked; the rest are refused by role.
    let validity = match &caller.role {
        Role::Partner(me) if me == partner => {
            st.store.agreement_valid(partner, chrono::Utc::now().date_naive())
        }
        _ => Ok(()),
    };
    allow(
        caller,
        &Resource::Package {
            partner,
            agreement_valid: validity.is_ok(),
        },
        &format!("package {}", package.name),
        || match validity {
            Err(why) => format!("{why}; packages are served only while an agreement is in force"),
            Ok(()) => "packages are for their partner; read the run they came from".into(),
        },
    )
}

async fn list_packages(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let packages: Vec<Value> = match &caller.role {
            Role::Partner(_) => st
                .store
                .packages()
                .into_iter()
                .filter(|p| allow_package(&st, &caller, p).is_ok())
                .map(|p| {
                    json!({
                        "package": p.name,
                        "partner": p.manifest.partner,
                        "run_id": p.manifest.run_id,
                        "created_at": p.manifest.created_at,
                        "level": p.manifest.level,
                        "time_step": p.manifest.time_step,
                        "files": p.manifest.files.iter().map(|(f, _)| f).collect::<Vec<_>>(),
                        "link": format!("/v1/exports/{}", p.name),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(Json(json!({ "packages": packages })))
    })
    .await
}

async fn package_manifest(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let p = st.store.package(&name)?;
        allow_package(&st, &caller, &p)?;
        Ok(Json(&*p.manifest).into_response())
    })
    .await
}

async fn package_file(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    UrlPath((name, file)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let p = st.store.package(&name)?;
        allow_package(&st, &caller, &p)?;
        if !store::valid_name(&file) {
            return Err(ApiError::not_found());
        }
        let bytes = st.store.package_file(&p, &file)?;
        Ok(file_response(&bytes, &file, None))
    })
    .await
}

/// A route of the API: its path (axum and OpenAPI share the `{param}` syntax), whether it is
/// open without a token, and its handler.
pub(crate) struct Route {
    /// The path.
    pub path: &'static str,
    /// Open without a token.
    pub public: bool,
    handler: MethodRouter<Arc<AppState>>,
}

/// Every route; the router and the OpenAPI document are both made from this list.
pub(crate) fn routes() -> Vec<Route> {
    let r = |path, public, handler| Route {
        path,
        public,
        handler,
    };
    vec![
        r("/health", true, get(health)),
        r("/openapi.json", true, get(openapi)),
        r("/v1/jobs", false, get(list_jobs)),
        r("/v1/jobs/{job}/runs", false, get(list_runs)),
        r("/v1/jobs/{job}/runs/{run}", false, get(run_manifest)),
        r("/v1/jobs/{job}/runs/{run}/tables", false, get(list_tables)),
        r("/v1/jobs/{job}/runs/{run}/tables/{table}", false, get(read_table)),
        r("/v1/jobs/{job}/runs/{run}/charts", false, get(list_charts)),
        r("/v1/jobs/{job}/runs/{run}/charts/{chart}", false, get(read_chart)),
        r("/v1/jobs/{job}/runs/{run}/report", false, get(read_report)),
        r("/v1/exports", false, get(list_packages)),
        r("/v1/exports/{package}", false, get(package_manifest)),
        r("/v1/exports/{package}/files/{file}", false, get(package_file)),
    ]
}

/// The paths the API serves (for tests and the OpenAPI document).
pub fn paths() -> Vec<&'static str> {
    routes().iter().map(|r| r.path).collect()
}

/// The service as a router, ready to serve.
pub fn router(config: ApiConfig) -> Result<Router, EngineError> {
    let invalid = |m: &str| EngineError::Invalid {
        context: "vigil serve".into(),
        message: m.into(),
    };
    let rate = NonZeroU32::new(config.rate_per_second).ok_or_else(|| invalid("--rate must be at least 1"))?;
    let burst = NonZeroU32::new(config.burst).ok_or_else(|| invalid("--burst must be at least 1"))?;
    if config.max_page == 0 {
        return Err(invalid("--max-page must be at least 1"));
    }
    if !config.runs.is_dir() {
        return Err(invalid(&format!(
            "the runs folder {} does not exist (pass --runs, e.g. the --out of your jobs)",
            config.runs.display()
        )));
    }
    let failures = NonZeroU32::new(config.failures_per_second)
        .ok_or_else(|| invalid("--failed-auth-rate must be at least 1"))?;
    let state = Arc::new(AppState {
        tokens: guard::Tokens::load(&config.tokens)?,
        store: Store::new(
            &config.runs,
            &config.exports,
            &config.agreements,
            config.cache_bytes,
        ),
        limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        failures: RateLimiter::keyed(
            Quota::per_second(failures)
                .allow_burst(failures.saturating_mul(NonZeroU32::MIN.saturating_add(3))),
        ),
        config: config.clone(),
    });
    let mut open = Router::new();
    let mut closed = Router::new();
    for route in routes() {
        if route.public {
            open = open.route(route.path, route.handler);
        } else {
            closed = closed.route(route.path, route.handler);
        }
    }
    let closed = closed.route_layer(axum::middleware::from_fn_with_state(
        Arc::clone(&state),
        guard::authenticate,
    ));
    // Forget rate-limit state of idle tokens and addresses now and then.
    let sweeper = Arc::downgrade(&state);
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(st) = sweeper.upgrade() else { break };
                st.limiter.retain_recent();
                st.failures.retain_recent();
            }
        });
    }
    Ok(open
        .merge(closed)
        .fallback(|| async { ApiError::not_found() })
        .with_state(state)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(1024))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.timeout,
        ))
        .layer(axum::middleware::from_fn(guard::access_log)))
}

/// Serves the API on `listener` until `shutdown` completes; requests under way are finished
/// first (graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: ApiConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), EngineError> {
    let app = router(config)?;
    let addr = listener
        .local_addr()
        .map_err(|e| EngineError::io(std::path::Path::new("listener"), e))?;
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| EngineError::io(std::path::Path::new(&addr.to_string()), e))
}
