//! Narrow loopback servers for one edge case each: a handler answers every request, and
//! every request (method, path, query, headers, body) is recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;

/// One request a narrow server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    /// Everything the client sent, as one text (to search for a secret).
    pub fn all_text(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!(
            "{} {}?{}\n{}\n{}",
            self.method,
            self.path,
            self.query,
            headers.join("\n"),
            self.body
        )
    }
}

type Handler = Arc<dyn Fn(&Seen, &str) -> Response + Send + Sync>;

/// A running narrow server; dropping it stops it.
pub struct Narrow {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Narrow {
    /// Listens on `127.0.0.1:0` and answers with `handler(request, base_url)`.
    pub async fn start(
        handler: impl Fn(&Seen, &str) -> Response + Send + Sync + 'static,
    ) -> Narrow {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::on(listener, handler)
    }

    /// Answers on an already bound loopback listener.
    pub fn on(
        listener: tokio::net::TcpListener,
        handler: impl Fn(&Seen, &str) -> Response + Send + Sync + 'static,
    ) -> Narrow {
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let handler: Handler = Arc::new(handler);
        let log = seen.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (handler, log, base) = (handler.clone(), log.clone(), base.clone());
                async move {
                    let s = Seen {
                        method: method.to_string(),
                        path: uri.path().to_owned(),
                        query: uri.query().unwrap_or_default().to_owned(),
                        headers: headers
                            .iter()
                            .map(|(k, v)| {
                                (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into())
                            })
                            .collect(),
                        body: String::from_utf8_lossy(&body).into(),
                    };
                    log.lock().unwrap().push(s.clone());
                    handler(&s, &base)
                }
            },
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Narrow { addr, seen, task }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Narrow {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A JSON answer.
pub fn json(status: u16, body: serde_json::Value) -> Response {
    json_text(status, body.to_string())
}

/// A JSON answer written as given: for bodies serde_json would write otherwise (the
/// escapes of another platform's encoder).
pub fn json_text(status: u16, body: String) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// A redirect to `location`.
pub fn redirect(status: u16, location: &str) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("location", location)
        .body(Body::empty())
        .unwrap()
}

/// The catch-all answer: 500 naming the request nobody expected.
pub fn unexpected(s: &Seen) -> Response {
    json(
        500,
        serde_json::json!({ "error": format!("narrow server: unexpected request {} {}", s.method, s.path) }),
    )
}
