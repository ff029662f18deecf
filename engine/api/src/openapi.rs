//! The OpenAPI 3.1 document of the API, served at `/openapi.json`. Its paths are the router's
//! own list ([`super::routes`]); each path's description is looked up here, and a test checks
//! that none is missing and that every documented path answers on a live server.

use super::table::{DEFAULT_LIMIT, tables};
use serde_json::{Value, json};

/// A path parameter.
fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$"}})
}

/// A query parameter.
fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// An error response.
fn error(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// A JSON response.
fn ok_json(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"type": "object"}}}})
}

/// The parameters, summary and answers of `path`, or `None` for a path with no description.
fn operation(path: &str) -> Option<Value> {
    let job = path_param("job", "job name (the spec's job.name)");
    let run = path_param("run", "run id, or `latest`");
    let (summary, description, params, ok): (&str, &str, Vec<Value>, Value) = match path {
        "/health" => (
            "Liveness",
            "Answers 200 while the service runs; needs no token.",
            vec![],
            ok_json("`{\"status\": \"ok\", \"version\": …}`"),
        ),
        "/openapi.json" => (
            "This document",
            "The OpenAPI description of the API; needs no token.",
            vec![],
            ok_json("OpenAPI 3.1"),
        ),
        "/v1/jobs" => (
            "Jobs with runs the caller may read",
            "Each job with at least one complete run the caller may read: how many, the newest, and which is `latest`. Partners get an empty list.",
            vec![],
            ok_json("`{\"jobs\": [{job, runs, newest_run, latest, links}]}`"),
        ),
        "/v1/jobs/{job}/runs" => (
            "Runs of a job",
            "The complete runs of the job the caller may read, oldest first, with as-of date, status and classification.",
            vec![job],
            ok_json(
                "`{\"job\", \"runs\": [{run_id, as_of, status, classification, created_at, engine_version, latest, links}]}`",
            ),
        ),
        "/v1/jobs/{job}/runs/{run}" => (
            "A run's manifest",
            "The run's manifest.json: inputs with sha256, job spec hash, code version, every output with sha256, rows and classification, timings, warnings.",
            vec![job, run],
            ok_json("the manifest"),
        ),
        "/v1/jobs/{job}/runs/{run}/tables" => (
            "Tables of a run",
            "The tables the API serves for this run, with rows, classification and description.",
            vec![job, run],
            ok_json("`{\"run_id\", \"tables\": [{table, file, rows, classification, description, link}]}`"),
        ),
        "/v1/jobs/{job}/runs/{run}/tables/{table}" => (
            "Rows of a table, filtered and paged",
            "Rows of one output table. Filters apply to the columns a table has (a filter on a column it lacks is a 400 naming its columns): `region` (exact region id, repeatable), `country` (country code), `level`, `from`/`to` (inclusive, on `ds`, `step_start` or `window_end`), `horizon`, `model`. Pages: `limit` and `offset`; the `Link` header and `next` field give the next page, `X-Total-Count` the rows after filtering. Format: `?format=json|csv|parquet` or the `Accept` header (JSON by default; Parquet carries `vigil.classification` in its key-value metadata).",
            vec![
                job,
                run,
                json!({"name": "table", "in": "path", "required": true, "description": "the table",
                       "schema": {"type": "string", "enum": tables().map(|(n, _)| n).collect::<Vec<_>>()}}),
                query_param(
                    "region",
                    "exact region id; repeat for several",
                    json!({"type": "string"}),
                ),
                query_param(
                    "country",
                    "country code (GED: Gleditsch-Ward number)",
                    json!({"type": "string"}),
                ),
                query_param(
                    "level",
                    "region level",
                    json!({"type": "string", "enum": ["country", "admin1", "admin2", "grid"]}),
                ),
                query_param(
                    "from",
                    "first period, YYYY-MM-DD or YYYY-MM",
                    json!({"type": "string"}),
                ),
                query_param(
                    "to",
                    "last period, YYYY-MM-DD or YYYY-MM",
                    json!({"type": "string"}),
                ),
                query_param(
                    "horizon",
                    "forecast horizon (periods ahead)",
                    json!({"type": "integer", "minimum": 1}),
                ),
                query_param("model", "model name", json!({"type": "string"})),
                query_param(
                    "limit",
                    "rows per page",
                    json!({"type": "integer", "minimum": 1, "default": DEFAULT_LIMIT}),
                ),
                query_param(
                    "offset",
                    "rows to skip",
                    json!({"type": "integer", "minimum": 0, "default": 0}),
                ),
                query_param(
                    "format",
                    "response format (overrides Accept)",
                    json!({"type": "string", "enum": ["json", "csv", "parquet"]}),
                ),
            ],
            json!({"description": "a page of rows",
                   "headers": {
                       "X-Vigil-Classification": {"schema": {"type": "string"}},
                       "X-Total-Count": {"schema": {"type": "integer"}},
                       "Link": {"schema": {"type": "string"}, "description": "the next page, rel=\"next\""}},
                   "content": {
                       "application/json": {"schema": {"type": "object"}},
                       "text/csv": {"schema": {"type": "string"}},
                       "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}}}),
        ),
        "/v1/jobs/{job}/runs/{run}/charts" => (
            "Charts of a run",
            "The run's charts (SVG and PNG) the caller may read.",
            vec![job, run],
            ok_json("`{\"run_id\", \"charts\": [{chart, bytes, classification, description, link}]}`"),
        ),
        "/v1/jobs/{job}/runs/{run}/charts/{chart}" => (
            "One chart",
            "An SVG or PNG chart, marked with its classification.",
            vec![job, run, path_param("chart", "chart file name, e.g. heatmap.svg")],
            json!({"description": "the chart",
                   "content": {"image/svg+xml": {"schema": {"type": "string"}},
                               "image/png": {"schema": {"type": "string", "format": "binary"}}}}),
        ),
        "/v1/jobs/{job}/runs/{run}/report" => (
            "The run's report",
            "report.html: one self-contained page (inline SVG and CSS), classification banner top and bottom.",
            vec![job, run],
            json!({"description": "the report", "content": {"text/html": {"schema": {"type": "string"}}}}),
        ),
        "/v1/exports" => (
            "Partner packages",
            "For a partner token: its own packages while its agreement is in force. Other roles get an empty list.",
            vec![],
            ok_json(
                "`{\"packages\": [{package, partner, run_id, created_at, level, time_step, files, link}]}`",
            ),
        ),
        "/v1/exports/{package}" => (
            "A package's manifest",
            "The package manifest: partner, purpose, agreement and run hashes, level, time step, k, files with sha256, privacy.",
            vec![path_param("package", "package folder name, <partner>-<run id>")],
            ok_json("the package manifest"),
        ),
        "/v1/exports/{package}/files/{file}" => (
            "A file of a package",
            "A file the package manifest lists (a suppressed table as Parquet, README.md) or manifest.json.",
            vec![
                path_param("package", "package folder name"),
                path_param("file", "file name, as in the package manifest"),
            ],
            json!({"description": "the file",
                   "content": {"application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
                               "text/markdown": {"schema": {"type": "string"}}}}),
        ),
        _ => return None,
    };
    let mut responses = json!({"200": ok});
    if !path.starts_with("/v1/") {
        return Some(json!({"get": {"summary": summary, "description": description,
                                   "parameters": params, "security": [], "responses": responses}}));
    }
    let r = responses.as_object_mut()?;
    r.insert(
        "400".into(),
        error("a name or parameter is not valid; the message names each problem"),
    );
    r.insert(
        "401".into(),
        error("no token, or a token that is unknown, revoked or altered"),
    );
    r.insert(
        "403".into(),
        error("the token's role or clearance does not allow it, or the partner's agreement is not in force"),
    );
    r.insert(
        "404".into(),
        error("no such resource, or one the caller may not know exists"),
    );
    r.insert("429".into(), error("rate limit reached; see Retry-After"));
    Some(json!({"get": {"summary": summary, "description": description,
                        "parameters": params, "responses": responses}}))
}

/// The document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for path in super::paths() {
        paths.insert(path.to_string(), operation(path).unwrap_or(Value::Null));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "vigil API",
            "version": vigil_core::VERSION,
            "description": "Read-only access to vigil's runs (trends, forecasts, alerts, hot spots, backtest metrics, charts, reports) and partner packages. Every /v1 request needs `Authorization: Bearer <token>` (made with `vigil token new`); each role sees only what its clearance or agreement allows. Every data response carries `X-Vigil-Classification`.",
        },
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "vgl_<id>_<secret>"}},
            "schemas": {"Error": {"type": "object", "required": ["error", "status"],
                                  "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}}},
        },
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_described() {
        for path in super::super::paths() {
            assert!(super::operation(path).is_some(), "{path} has no description");
        }
        let doc = super::document();
        assert_eq!(
            doc["paths"].as_object().map(|p| p.len()),
            Some(super::super::paths().len())
        );
    }
}
