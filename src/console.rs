//! The audit console: the web page at [`PATH`] that auditors, the Board and companies use in a
//! browser (console/static; its design is in ADR 13). Its files are built into the binary and
//! served on the gRPC port, beside the Connect JSON surface the page calls: no separate web
//! server, nothing fetched from elsewhere.
//!
//! The page trusts the server for nothing it verifies: it checks checkpoints and inclusion proofs
//! itself (console/static/verify.js), so the headers here only keep other origins' scripts out
//! (a strict content security policy) and the files fresh (no caching beyond revalidation: a new
//! server serves its own page).

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, StatusCode};
use tonic::body::Body;

/// Where the console is served.
pub const PATH: &str = "/console/";

#[derive(rust_embed::Embed)]
#[folder = "console/static"]
struct Files;

/// The content security policy of every console file: the page's own scripts, styles and calls
/// only; no inline script, no frame, no form posted elsewhere.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The answer to a GET (or HEAD) of `path` when it is the console's (or `/`, which leads there);
/// `None` for every other request.
pub fn serve(method: &Method, path: &str) -> Option<http::Response<Body>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    if path == "/" || path == "/console" {
        return Some(
            http::Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(LOCATION, PATH)
                .body(Body::empty())
                .expect("a static redirect is a valid response"),
        );
    }
    let name = path.strip_prefix(PATH)?;
    let name = if name.is_empty() { "index.html" } else { name };
    let Some(file) = Files::get(name) else {
        return Some(
            http::Response::builder()
                .status(StatusCode::NOT_FOUND)
                .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(Body::new(http_body_util::Full::new(Bytes::from(format!(
                    "the console has no file {name}\n"
                )))))
                .expect("a static answer is a valid response"),
        );
    };
    let mime = file.metadata.mimetype();
    let content_type = if mime.starts_with("text/") || mime.ends_with("javascript") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::new(http_body_util::Full::new(Bytes::from(
            file.data.into_owned(),
        )))
    };
    let mut response = http::Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("content-security-policy", HeaderValue::from_static(POLICY));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_console_is_built_in() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/console/static");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("console/static")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut built: Vec<String> = Files::iter().map(|f| f.into_owned()).collect();
        built.sort();
        assert_eq!(built, on_disk);
        assert!(built.contains(&"index.html".to_owned()));
    }

    #[test]
    fn the_root_leads_to_the_console_and_other_paths_pass_by() {
        let r = serve(&Method::GET, "/").expect("served");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], PATH);
        assert!(serve(&Method::POST, "/console/").is_none());
        assert!(serve(&Method::GET, "/kcn.ledger.v1.AuditService/GetEvents").is_none());
        let missing = serve(&Method::GET, "/console/nothing.js").expect("answered");
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let index = serve(&Method::GET, "/console/").expect("served");
        assert_eq!(index.status(), StatusCode::OK);
        assert!(
            index.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
}
