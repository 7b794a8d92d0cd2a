//! `serve`: the agent desk. A read-only HTTP server (axum on tokio) over a finished
//! run's output: the lookup index, the golden records and the attention list.
//!
//! - `GET /api/lookup?q=…` (or `phone=`, `email=`, `serial=`, `case=`, `name=`, `id=`;
//!   `limit=` 1–20): the best customers first, as `lookup` ranks them, each with its
//!   golden record, every case of every system (newest first) and its attention flags.
//! - `GET /api/customer/{golden_id}`: one customer; an ID merged away is followed.
//! - `GET /api/attention?page=N`: the attention list, worst first.
//! - `GET /`, `/?q=…`, `/customer/{golden_id}`, `/attention`: the same as pages for a
//!   support agent (server-rendered, auto-escaped templates, no script or style from
//!   elsewhere).
//!
//! Requests are answered on tokio's blocking pool (the index and row files are read
//! synchronously). The request log names the route, never the query or the customer.
//! With a token, every request must carry it (`Authorization: Bearer …`, or the cookie
//! the page sets after `/?token=…`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::attention::Flag;
use crate::lookup::{looks_like_golden_id, Answer, Lookup, QueryKind};

/// Longest query value accepted, in bytes (a phone, an e-mail or a name is far shorter).
pub const MAX_QUERY_BYTES: usize = 512;
/// Most customers one lookup returns.
pub const MAX_LIMIT: usize = 20;
/// Customers per page of the attention list.
pub const ATTENTION_PAGE: usize = 100;
/// Name of the cookie that carries the token for the pages.
const TOKEN_COOKIE: &str = "idresolve_token";

/// What the desk serves.
pub struct Desk {
    lookup: Lookup,
    templates: minijinja::Environment<'static>,
    token: Option<String>,
    log: bool,
    run: String,
    /// Customers on the attention list.
    pub attention_customers: usize,
}

impl Desk {
    /// Opens a run's output for serving. `token`: required on every request when set;
    /// `log`: one line per request on stderr (route, status, time; no query).
    pub fn open(out: &std::path::Path, token: Option<String>, log: bool) -> crate::Result<Desk> {
        let lookup = Lookup::open(out)?;
        let mut templates = minijinja::Environment::new();
        for (name, source) in TEMPLATES {
            templates
                .add_template(name, source)
                .map_err(|e| crate::Error::input(name, e.to_string()))?;
        }
        let attention_customers = lookup.attention_customers();
        Ok(Desk {
            attention_customers,
            lookup,
            templates,
            token: token.filter(|t| !t.is_empty()),
            log,
            run: out.display().to_string(),
        })
    }
}

const TEMPLATES: [(&str, &str); 4] = [
    ("base.html", include_str!("desk/base.html")),
    ("search.html", include_str!("desk/search.html")),
    ("card.html", include_str!("desk/card.html")),
    ("attention.html", include_str!("desk/attention.html")),
];

/// The desk's routes, with the token check and the request log.
pub fn router(desk: Arc<Desk>) -> Router {
    Router::new()
        .route("/", get(page_search))
        .route("/customer/{id}", get(page_customer))
        .route("/attention", get(page_attention))
        .route("/api/lookup", get(api_lookup))
        .route("/api/customer/{id}", get(api_customer))
        .route("/api/attention", get(api_attention))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(desk.clone(), guard))
        .with_state(desk)
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
pub async fn serve(listener: tokio::net::TcpListener, desk: Arc<Desk>) -> std::io::Result<()> {
    axum::serve(listener, router(desk))
        .with_graceful_shutdown(shutdown())
        .await
}

async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}

/// Compares two strings in time that depends only on their lengths.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The token check, security headers and the request log.
async fn guard(State(desk): State<Arc<Desk>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "(no route)".into());
    let mut response = match &desk.token {
        Some(token) => {
            let bearer = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|t| same_secret(t.trim(), token));
            let cookie = request
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|c| c.trim().split_once('='))
                .any(|(k, v)| k == TOKEN_COOKIE && same_secret(v, token));
            let given = query_pairs(request.uri().query().unwrap_or(""))
                .ok()
                .and_then(|p| p.into_iter().find(|(k, _)| k == "token"))
                .map(|(_, v)| v);
            if bearer || cookie {
                next.run(request).await
            } else if given.as_deref().is_some_and(|t| same_secret(t, token)) {
                // A page opened with ?token=: keep it in a cookie and drop it from the URL.
                let mut r = Redirect::to(request.uri().path()).into_response();
                let cookie = format!("{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                r
            } else {
                error(
                    StatusCode::UNAUTHORIZED,
                    "a token is required: send `Authorization: Bearer TOKEN`, or open /?token=TOKEN once",
                )
            }
        }
        None => next.run(request).await,
    };
    let h = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if desk.log {
        eprintln!(
            "{method} {route} {} {:.1} ms",
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    response
}

/// A JSON error body with its status.
fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such page")
}

/// Decodes a query string strictly: `+` is a space, `%XX` bytes must make UTF-8.
fn query_pairs(raw: &str) -> Result<Vec<(String, String)>, String> {
    let decode = |s: &str| -> Result<String, String> {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| "the query is not valid UTF-8".to_string())
    };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// A validated lookup request.
struct Ask {
    kind: QueryKind,
    text: String,
    /// `id=` or a query that is a golden ID.
    by_id: bool,
    limit: usize,
}

/// The parameters of a request: at most one query, a limit and a page.
struct Params {
    ask: Option<Ask>,
    page: usize,
}

fn params(raw: Option<&str>) -> Result<Params, String> {
    let pairs = query_pairs(raw.unwrap_or(""))?;
    let mut found: Option<(QueryKind, String, bool)> = None;
    let mut limit = 5;
    let mut page = 1;
    for (k, v) in pairs {
        let kind = match k.as_str() {
            "q" => Some((QueryKind::Any, false)),
            "phone" => Some((QueryKind::Phone, false)),
            "email" => Some((QueryKind::Email, false)),
            "serial" => Some((QueryKind::Serial, false)),
            "case" => Some((QueryKind::Case, false)),
            "name" => Some((QueryKind::Name, false)),
            "id" => Some((QueryKind::Any, true)),
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| format!("limit must be a number from 1 to {MAX_LIMIT}"))?;
                None
            }
            "page" => {
                page = v
                    .parse::<usize>()
                    .ok()
                    .filter(|p| (1..=1_000_000).contains(p))
                    .ok_or("page must be a number from 1")?;
                None
            }
            "token" => None,
            other => {
                return Err(format!(
                    "unknown parameter `{}`; use q, phone, email, serial, case, name, id, limit or page",
                    other.chars().take(40).collect::<String>()
                ))
            }
        };
        if let Some((kind, by_id)) = kind {
            if v.len() > MAX_QUERY_BYTES {
                return Err(format!("the query is longer than {MAX_QUERY_BYTES} bytes"));
            }
            if found.is_some() {
                return Err("give one of q, phone, email, serial, case, name or id".into());
            }
            found = Some((kind, v, by_id));
        }
    }
    let ask = match found {
        None => None,
        Some((_, text, _)) if text.trim().is_empty() => return Err("the query is empty".into()),
        Some((kind, text, by_id)) => Some(Ask {
            kind,
            by_id: by_id || (kind == QueryKind::Any && looks_like_golden_id(&text)),
            text: text.trim().to_string(),
            limit,
        }),
    };
    Ok(Params { ask, page })
}

/// One customer as the API and the pages show it.
fn customer_json(a: &Answer) -> Value {
    let g = &a.golden;
    // Newest first; records without a date last.
    let mut records: Vec<&crate::lookup::RecordView> = a.records.iter().collect();
    records.sort_by(|x, y| match (x.date.is_empty(), y.date.is_empty()) {
        (false, false) => y.date.cmp(&x.date),
        (a, b) => a.cmp(&b),
    });
    let cases: Vec<Value> = records
        .iter()
        .map(|r| {
            let all: Vec<&str> = r.cases.split(';').filter(|c| !c.is_empty()).collect();
            let own = if all.contains(&r.record_id.as_str()) || all.is_empty() {
                r.record_id.as_str()
            } else {
                all[0]
            };
            json!({
                "source": r.source,
                "case": own,
                "refs": all.iter().filter(|c| **c != own).collect::<Vec<_>>(),
                "date": r.date,
                "record_id": r.record_id,
                "text": r.note,
                "name": r.name,
                "phone": r.phone,
                "email": r.email,
                "serials": r.serials,
                "address": r.address,
            })
        })
        .collect();
    let mut v = json!({
        "golden_id": g.golden_id,
        "name": g.name,
        "confidence": (a.confidence * 1000.0).round() / 1000.0,
        "golden": g,
        "cases": cases,
        "attention": a.attention,
    });
    if !a.overrides.is_empty() {
        v["overrides"] = json!(a.overrides);
    }
    if let Some(s) = &a.id_status {
        v["id_status"] = json!(s);
    }
    v
}

/// What a lookup found: customers best first, or why there are none.
struct Found {
    customers: Vec<Value>,
    /// For a golden ID: what became of it.
    note: Option<String>,
}

fn find(desk: &Desk, ask: &Ask, full: bool) -> crate::Result<Found> {
    if ask.by_id {
        let (status, answer) = desk.lookup.by_golden_id(&ask.text)?;
        return Ok(Found {
            customers: answer.iter().map(customer_json).collect(),
            note: status.note(&ask.text),
        });
    }
    let answers = desk.lookup.query(ask.kind, &ask.text, ask.limit, full)?;
    Ok(Found {
        customers: answers.iter().map(customer_json).collect(),
        note: None,
    })
}

/// Runs blocking lookup work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
        Err(_) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the lookup failed",
        )),
    }
}

async fn api_lookup(State(desk): State<Arc<Desk>>, RawQuery(raw): RawQuery) -> Response {
    let ask = match params(raw.as_deref()) {
        Ok(Params { ask: Some(a), .. }) => a,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "give a query: q, phone, email, serial, case, name or id",
            )
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let query = ask.text.clone();
    let found = match blocking(move || find(&desk, &ask, true)).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut body = json!({ "query": query, "customers": found.customers });
    if let Some(note) = found.note {
        body["note"] = json!(note);
    }
    Json(body).into_response()
}

async fn api_customer(State(desk): State<Arc<Desk>>, Path(id): Path<String>) -> Response {
    if !looks_like_golden_id(&id) || id.len() > 32 {
        return error(StatusCode::NOT_FOUND, "not a golden ID");
    }
    let ask = Ask {
        kind: QueryKind::Any,
        text: id,
        by_id: true,
        limit: 1,
    };
    match blocking(move || find(&desk, &ask, true)).await {
        Ok(found) => match found.customers.into_iter().next() {
            Some(c) => Json(c).into_response(),
            None => error(
                StatusCode::NOT_FOUND,
                &found.note.unwrap_or_else(|| "no such customer".into()),
            ),
        },
        Err(r) => r,
    }
}

/// One customer's rows of the attention list, with the customer's name.
fn attention_groups(desk: &Desk, page: usize) -> crate::Result<(Vec<Value>, usize)> {
    let groups: Vec<&[Flag]> = desk
        .lookup
        .attention()
        .chunk_by(|a, b| a.golden_id == b.golden_id)
        .collect();
    let total = groups.len();
    let shown = groups
        .iter()
        .skip((page - 1) * ATTENTION_PAGE)
        .take(ATTENTION_PAGE)
        .map(|flags| {
            let id = &flags[0].golden_id;
            let name = desk.lookup.name_of(id)?.unwrap_or_default();
            Ok(json!({ "golden_id": id, "name": name, "flags": flags }))
        })
        .collect::<crate::Result<Vec<Value>>>()?;
    Ok((shown, total))
}

async fn api_attention(State(desk): State<Arc<Desk>>, RawQuery(raw): RawQuery) -> Response {
    let page = match params(raw.as_deref()) {
        Ok(Params { ask: None, page }) => page,
        Ok(_) => return error(StatusCode::BAD_REQUEST, "the attention list takes page="),
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    match blocking(move || attention_groups(&desk, page)).await {
        Ok((customers, total)) => Json(json!({
            "customers": customers,
            "total": total,
            "page": page,
            "per_page": ATTENTION_PAGE,
        }))
        .into_response(),
        Err(r) => r,
    }
}

/// Renders a page; a template error is a 500 with a plain message.
fn render(desk: &Desk, name: &str, status: StatusCode, mut ctx: Value) -> Response {
    ctx["run"] = json!(desk.run);
    ctx["attention_total"] = json!(desk.attention_customers);
    let page = desk
        .templates
        .get_template(name)
        .and_then(|t| t.render(&ctx));
    match page {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("page could not be rendered: {e}"),
        )
            .into_response(),
    }
}

async fn page_search(State(desk): State<Arc<Desk>>, RawQuery(raw): RawQuery) -> Response {
    // An empty search box is the start page, not a mistake.
    let blank = query_pairs(raw.as_deref().unwrap_or(""))
        .is_ok_and(|p| p.iter().all(|(k, v)| k == "q" && v.trim().is_empty()));
    if blank {
        return render(&desk, "search.html", StatusCode::OK, json!({ "q": "" }));
    }
    let ask = match params(raw.as_deref()) {
        Ok(Params { ask: Some(a), .. }) => a,
        Ok(_) => return render(&desk, "search.html", StatusCode::OK, json!({ "q": "" })),
        Err(e) => {
            return render(
                &desk,
                "search.html",
                StatusCode::BAD_REQUEST,
                json!({ "q": "", "problem": e }),
            )
        }
    };
    let q = ask.text.clone();
    let d = desk.clone();
    match blocking(move || find(&d, &ask, false)).await {
        Ok(found) => render(
            &desk,
            "card.html",
            StatusCode::OK,
            json!({ "q": q, "customers": found.customers, "note": found.note }),
        ),
        Err(r) => r,
    }
}

async fn page_customer(State(desk): State<Arc<Desk>>, Path(id): Path<String>) -> Response {
    if !looks_like_golden_id(&id) || id.len() > 32 {
        return render(
            &desk,
            "search.html",
            StatusCode::NOT_FOUND,
            json!({ "q": "", "problem": "not a golden ID" }),
        );
    }
    let ask = Ask {
        kind: QueryKind::Any,
        text: id.clone(),
        by_id: true,
        limit: 1,
    };
    let d = desk.clone();
    match blocking(move || find(&d, &ask, true)).await {
        Ok(found) => {
            let status = if found.customers.is_empty() {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
            render(
                &desk,
                "card.html",
                status,
                json!({ "q": id, "customers": found.customers, "note": found.note }),
            )
        }
        Err(r) => r,
    }
}

async fn page_attention(State(desk): State<Arc<Desk>>, RawQuery(raw): RawQuery) -> Response {
    let page = match params(raw.as_deref()) {
        Ok(Params { ask: None, page }) => page,
        _ => {
            return render(
                &desk,
                "search.html",
                StatusCode::BAD_REQUEST,
                json!({ "q": "", "problem": "the attention list takes page=" }),
            )
        }
    };
    let d = desk.clone();
    match blocking(move || attention_groups(&d, page)).await {
        Ok((customers, total)) => {
            let pages = total.div_ceil(ATTENTION_PAGE).max(1);
            render(
                &desk,
                "attention.html",
                StatusCode::OK,
                json!({
                    "q": "",
                    "customers": customers,
                    "total": total,
                    "page": page,
                    "pages": pages,
                }),
            )
        }
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_strictly() {
        assert_eq!(
            query_pairs("q=%28555%29+123-4567&limit=3").unwrap(),
            vec![
                ("q".to_string(), "(555) 123-4567".to_string()),
                ("limit".to_string(), "3".to_string())
            ]
        );
        assert!(query_pairs("q=%FF%FE").is_err());
        let a = params(Some("q=G0000012")).unwrap().ask.unwrap();
        assert!(a.by_id);
        assert!(params(Some("q=+")).is_err());
        assert!(params(Some("q=a&phone=b")).is_err());
        assert!(params(Some("x=1")).is_err());
        assert!(params(Some(&format!("q={}", "a".repeat(600)))).is_err());
        assert!(params(Some("limit=0&q=a")).is_err());
        assert!(params(None).unwrap().ask.is_none());
        assert_eq!(params(Some("page=3")).unwrap().page, 3);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
