//! What stands in front of every handler: the access log and safety headers (all routes), and
//! authentication with per-token rate limits (every route but `/health` and `/openapi.json`).

use super::{ApiError, AppState};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};
use vigil_core::error::EngineError;
use vigil_share::access::{Caller, TokenFile};

/// Longest request target (path and query) served; longer ones get 414.
pub(crate) const MAX_URI: usize = 4096;

/// The token file, read again whenever it changes on disk, so `vigil token new` and revocations
/// take effect without a restart. A file that no longer parses locks everyone out (fail closed)
/// and says so in the log.
pub(crate) struct Tokens {
    path: PathBuf,
    current: RwLock<(Option<SystemTime>, Option<TokenFile>)>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Tokens {
    /// Reads the token file; at start-up a broken file is an error.
    pub fn load(path: &Path) -> Result<Tokens, EngineError> {
        let stamp = modified(path);
        let file = TokenFile::load(path)?;
        if file.token.is_empty() {
            tracing::warn!(
                "{} holds no token: every request will be refused until one is added with `vigil token new`",
                path.display()
            );
        }
        Ok(Tokens {
            path: path.to_path_buf(),
            current: RwLock::new((stamp, Some(file))),
        })
    }

    /// The caller `token` stands for.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let stamp = modified(&self.path);
        if let Ok(cur) = self.current.read()
            && cur.0 == stamp
        {
            return cur.1.as_ref()?.authenticate(token);
        }
        let file = match TokenFile::load(&self.path) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!("token file changed and is now unreadable; refusing every token: {e}");
                None
            }
        };
        let caller = file.as_ref().and_then(|f| f.authenticate(token));
        if let Ok(mut cur) = self.current.write() {
            *cur = (stamp, file);
        }
        caller
    }
}

/// The id of the token that made a request, for the access log (never the token itself).
#[derive(Clone)]
pub(crate) struct TokenId(pub String);

/// 429 with `Retry-After`.
fn too_many(wait: std::time::Duration, who: &str) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("rate limit of {who} reached: retry in {secs} s"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Authenticates `Authorization: Bearer <token>` and applies the token's rate limit. Failed
/// attempts are limited per client address, so guessing is slow and floods cannot fill the log.
pub(crate) async fn authenticate(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let caller = presented.as_deref().and_then(|t| st.tokens.authenticate(t));
    let Some(caller) = caller else {
        let ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(ip) = ip
            && let Err(not_until) = st.failures.check_key(&ip)
        {
            return too_many(
                not_until.wait_time_from(DefaultClock::default().now()),
                "failed attempts from this address",
            );
        }
        let mut r = ApiError::new(
            StatusCode::UNAUTHORIZED,
            match presented {
                None => "send an API token: Authorization: Bearer <token> (see `vigil token new`)",
                Some(_) => "the token is not valid (unknown, revoked or altered)",
            }
            .into(),
        )
        .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"vigil\""),
        );
        // The part of a presented token that names it, for the log: never the secret.
        if let Some(id) = presented
            .as_deref()
            .and_then(|t| t.strip_prefix("vgl_"))
            .and_then(|t| t.split_once('_'))
            .map(|(id, _)| id)
            .filter(|id| id.len() <= 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            r.extensions_mut().insert(TokenId(format!("rejected:{id}")));
        }
        return r;
    };
    if let Err(not_until) = st.limiter.check_key(&caller.id) {
        let mut r = too_many(
            not_until.wait_time_from(DefaultClock::default().now()),
            &format!("token {}", caller.id),
        );
        r.extensions_mut().insert(TokenId(caller.id.clone()));
        return r;
    }
    let id = caller.id.clone();
    req.extensions_mut().insert(caller);
    let mut r = next.run(req).await;
    r.extensions_mut().insert(TokenId(id));
    r
}

/// The access log (one structured line per request: method, target, status, time, size, token
/// id, client address) and headers every response carries: no caching of sensitive data, no
/// content sniffing, no referrer.
pub(crate) async fn access_log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "-".to_string(), |c| c.0.ip().to_string());
    let mut r = if target.len() > MAX_URI {
        ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("the request target is longer than {MAX_URI} characters"),
        )
        .into_response()
    } else {
        next.run(req).await
    };
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let bytes = axum::body::HttpBody::size_hint(r.body())
        .exact()
        .map_or_else(|| "-".to_string(), |n| n.to_string());
    let token = r
        .extensions()
        .get::<TokenId>()
        .map_or("-", |t| t.0.as_str())
        .to_string();
    tracing::info!(
        target: "vigil::access",
        method = %method,
        target_path = %target,
        status = r.status().as_u16(),
        ms = (start.elapsed().as_secs_f64() * 100_000.0).round() / 100.0,
        bytes = %bytes,
        token = %token,
        remote = %remote,
        "request"
    );
    r
}
