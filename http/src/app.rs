//! STUB (interface only; the helper that owns `app.rs`, `router.rs`, `middleware.rs`,
//! `extract.rs` replaces it): the application: routes, handlers, middleware.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::request::Request;
use crate::response::{IntoResponse, Response};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A type-erased async handler.
type Handler = Arc<dyn Fn(Request) -> BoxFuture<'static, Response> + Send + Sync>;

/// The application: a router of handlers plus middleware.
#[derive(Default)]
pub struct App {
    /// (method, path, handler)
    routes: Vec<(String, String, Handler)>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("routes", &self.routes.len())
            .finish()
    }
}

impl App {
    /// An app with no routes.
    pub fn new() -> App {
        App::default()
    }

    /// Routes `GET path` to an async handler.
    pub fn get<H, Fut, R>(self, path: &str, handler: H) -> App
    where
        H: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        self.route("GET", path, handler)
    }

    /// Routes `POST path` to an async handler.
    pub fn post<H, Fut, R>(self, path: &str, handler: H) -> App
    where
        H: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        self.route("POST", path, handler)
    }

    /// Routes `method path` to an async handler.
    pub fn route<H, Fut, R>(mut self, method: &str, path: &str, handler: H) -> App
    where
        H: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        let h: Handler = Arc::new(move |req| {
            let fut = handler(req);
            Box::pin(async move { fut.await.into_response() })
        });
        self.routes.push((method.to_string(), path.to_string(), h));
        self
    }

    /// Routes, handles and answers one request (exact path match in this stub).
    pub(crate) fn dispatch(&self, req: Request) -> BoxFuture<'_, Response> {
        let found = self.routes.iter().find(|(m, p, _)| {
            (m == req.method_str() || (m == "GET" && req.method_str() == "HEAD")) && p == req.path()
        });
        match found {
            Some((_, _, h)) => h(req),
            None => Box::pin(async { Response::text("Not Found\n").with_status(404) }),
        }
    }
}
