//! `nexo serve` (an adapter over `nexo::api`): a read-only web board of
//! the repository's runs, on
//! 127.0.0.1 by default. Every request reads `.nexo/` afresh, so changes
//! written after the server started show up on the next load (the pages
//! reload themselves every few seconds). Only GET and HEAD are served;
//! pages use no external asset or script, every value is escaped by the
//! templates, and a strict Content-Security-Policy goes with each answer.
//! Requests naming another host are refused, so a web page elsewhere
//! cannot reach the board through DNS rebinding.

mod pages;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use nexo::api::{Nexo, Options};
use nexo::core::error::{Error, ErrorKind, Result};

/// What every page is rendered with.
struct Board {
    repo: PathBuf,
    options: Options,
    /// The host names a request may use: this server's address, and
    /// `localhost` for a loopback one.
    hosts: Vec<String>,
}

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Serves the board until interrupted. The first line printed is the URL.
pub fn serve(repo: PathBuf, options: Options, host: IpAddr, port: u16) -> Result<()> {
    // Fail before listening if the repository is not usable.
    Nexo::discover(&repo, options.clone())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start the web runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(host, port))
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot listen on {host}:{port}: {e}"),
                )
                .with_hint("choose another port with --port (0 picks a free one)")
            })?;
        let addr = listener.local_addr().map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot read the bound address: {e}"))
        })?;
        let url = match addr.ip() {
            IpAddr::V6(ip) => format!("http://[{ip}]:{}/", addr.port()),
            IpAddr::V4(ip) => format!("http://{ip}:{}/", addr.port()),
        };
        outln!("{url}");
        eprintln!(
            "nexo: serving the runs of {} read-only; Ctrl-C stops",
            repo.display()
        );
        let mut hosts = vec![
            url.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
        ];
        if addr.ip().is_loopback() {
            hosts.push(format!("localhost:{}", addr.port()));
        }
        let board = Arc::new(Board {
            repo,
            options,
            hosts,
        });
        axum::serve(listener, router(board))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("the web server stopped: {e}")))
    })
}

fn router(board: Arc<Board>) -> Router {
    Router::new()
        .route("/", get(board_page))
        .route("/runs/{id}", get(run_page))
        .route("/style.css", get(style))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(middleware::from_fn_with_state(board.clone(), guard))
        .with_state(board)
}

/// Refuses what the board never does (anything but GET and HEAD) and
/// requests for another host; adds the security headers to every answer.
async fn guard(State(board): State<Arc<Board>>, req: Request, next: Next) -> Response {
    let host_ok = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| board.hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h)));
    let mut res = if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = (
            StatusCode::METHOD_NOT_ALLOWED,
            "the board is read-only: only GET\n",
        )
            .into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    } else if !host_ok {
        (StatusCode::MISDIRECTED_REQUEST, "unknown host\n").into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn board_page(State(board): State<Arc<Board>>) -> Response {
    render(move || board.nexo().and_then(|n| pages::board(&n))).await
}

async fn run_page(State(board): State<Arc<Board>>, UrlPath(id): UrlPath<String>) -> Response {
    render(move || {
        nexo::trace::pause_point("render-run");
        board.nexo().and_then(|n| pages::run(&n, &id))
    })
    .await
}

/// Renders a page on tokio's blocking pool: reading `.nexo/` is file I/O
/// and folding, so on the one runtime thread a slow read would stall
/// every other request (the stylesheet included). Each request waits only
/// for its own page.
async fn render(work: impl FnOnce() -> Result<String> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => page(result),
        Err(e) => page(Err(Error::new(
            ErrorKind::Io,
            format!("rendering the page failed: {e}"),
        ))),
    }
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../templates/style.css"),
    )
}

impl Board {
    /// The repository as it is now: every request reads it afresh.
    fn nexo(&self) -> Result<Nexo> {
        Nexo::discover(&self.repo, self.options.clone())
    }
}

/// A rendered page, or the error as a page with its status.
fn page(result: Result<String>) -> Response {
    match result {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            let status = match e.kind {
                ErrorKind::NotFound | ErrorKind::Invalid | ErrorKind::Ambiguous => {
                    StatusCode::NOT_FOUND
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, format!("{}\n", e.full())).into_response()
        }
    }
}
