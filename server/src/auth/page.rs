//! `/play/`: the browser client's files (the build of `web/`), served by
//! the auth API so the page, its API and its origin are one. A file is
//! sent gzipped when a `.gz` beside it exists and the browser takes gzip.
//! Without a build, `/play/` answers a page that says how to make one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// What `/play/` answers when the page is not built.
const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Tickforge: page not built</title>
<body style=\"font:16px sans-serif;background:#12141c;color:#ddd;padding:2em\">
<h1>The browser client is not built</h1>
<p>This server serves the page from <code>{dir}</code>, which has no <code>index.html</code>.
Build it from the checkout with</p>
<pre>scripts/build-web.sh</pre>
<p>(or run <code>scripts/demo.sh</code>, which builds it and starts everything), then reload.</p>
</body>";

/// The directory the page is served from.
#[derive(Debug, Clone)]
pub struct PageDir(pub Arc<PathBuf>);

/// The routes of the page.
pub fn routes<S: Clone + Send + Sync + 'static>(dir: PathBuf) -> Router<S> {
    let dir = PageDir(Arc::new(dir));
    Router::new()
        .route("/play", get(|| async { Redirect::permanent("/play/") }))
        .route("/play/", get(index))
        .route("/play/{file}", get(file))
        .with_state(dir)
}

/// The content type a page file is sent with.
fn content_type(name: &str) -> Option<&'static str> {
    let ext = Path::new(name).extension()?.to_str()?;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => return None,
    })
}

/// A file name the page may ask for: one plain name, no path.
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

async fn index(State(dir): State<PageDir>, headers: HeaderMap) -> Response {
    match send(&dir, "index.html", &headers).await {
        Some(response) => response,
        None => {
            let body = NOT_BUILT.replace("{dir}", &dir.0.display().to_string());
            (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body)
                .into_response()
        }
    }
}

async fn file(State(dir): State<PageDir>, UrlPath(name): UrlPath<String>, headers: HeaderMap) -> Response {
    if !plain(&name) || content_type(&name).is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    send(&dir, &name, &headers).await.unwrap_or_else(|| StatusCode::NOT_FOUND.into_response())
}

/// The file `name` of the page, gzipped if it can be; `None` if missing.
async fn send(dir: &PageDir, name: &str, headers: &HeaderMap) -> Option<Response> {
    let kind = content_type(name)?;
    let gzip_ok = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("gzip")));
    let path = dir.0.join(name);
    let gz = dir.0.join(format!("{name}.gz"));
    let (body, gzipped) = match gzip_ok {
        true => match tokio::fs::read(&gz).await {
            Ok(body) => (body, true),
            Err(_) => (tokio::fs::read(&path).await.ok()?, false),
        },
        false => (tokio::fs::read(&path).await.ok()?, false),
    };
    let mut response = ([(header::CONTENT_TYPE, kind)], body).into_response();
    let headers = response.headers_mut();
    // The build changes the files in place: browsers check each time.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_of_known_kinds_are_served() {
        assert!(plain("tickforge_web_bg.wasm") && content_type("tickforge_web_bg.wasm").is_some());
        assert!(plain("play.js") && content_type("play.js").is_some());
        assert!(!plain("../secret.key"));
        assert!(!plain(".env"));
        assert!(!plain("a/b.js"));
        assert!(!plain(""));
        assert_eq!(content_type("private.key"), None);
        assert_eq!(content_type("tickforge.db"), None);
    }
}
