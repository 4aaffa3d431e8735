//! The dashboard's static files, embedded in the binary from `dashboard/`.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

#[derive(rust_embed::Embed)]
#[folder = "dashboard/"]
struct Dashboard;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn serve(path: &str) -> Response {
    match Dashboard::get(path) {
        Some(file) => {
            let mut resp = file.data.into_owned().into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(path)),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            h.insert("x-frame-options", HeaderValue::from_static("DENY"));
            h.insert(
                "content-security-policy",
                HeaderValue::from_static(
                    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
                ),
            );
            resp
        }
        None => crate::Error::NotFound(format!("dashboard file {path}")).into_response(),
    }
}

/// `GET /` and `GET /dashboard/`: the single-page dashboard.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /dashboard/{*path}`.
pub async fn file(Path(path): Path<String>) -> Response {
    if path
        .split('/')
        .any(|seg| seg == ".." || seg.is_empty() && path.len() > 1)
    {
        return (StatusCode::FORBIDDEN, "forbidden").into_response();
    }
    serve(&path)
}
