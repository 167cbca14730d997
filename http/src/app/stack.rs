//! What a request goes through inside an [`App`](crate::App): the middleware chain, then the
//! router. The pieces the app and the middleware share live here, so both import them and
//! neither imports the other: the [`Middleware`] trait, [`Next`] (the rest of the chain), the
//! `Stack` both walk, and the slot a handler puts its response future in.
//!
//! Invariant: a [`Next`] is used at most once (`run` takes it by value), so each layer calls
//! the rest of the chain at most once per request.

use std::fmt;
use std::future::{ready, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use spindle::future::FutureSlot;

use crate::app::request::Request;
use crate::app::response::Response;
use crate::app::router::{Lookup, Router};
use crate::metrics::{publish_route, UNMATCHED_ROUTE};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a handler puts the future of its response: one per connection, so that consecutive
/// requests to the same route reuse one allocation (see [`FutureSlot`]).
pub(crate) type ResponseSlot = FutureSlot<'static, Response>;

/// A type-erased handler: takes the request and puts the future of its response in the slot.
pub(crate) type Handler = Arc<dyn Fn(Request, &mut ResponseSlot) + Send + Sync>;

/// Which route a dispatched request took, for the HTTP metrics: the route's index in the
/// app's metrics (`Recorder::route_index`; [`UNMATCHED_ROUTE`] when no handler answers).
/// Whoever waits for the response keeps one and reads it once the response is ready.
#[derive(Debug, Default)]
pub(crate) struct Routed {
    /// The index, when the router ran at dispatch (an app without middleware).
    now: u32,
    /// Behind middleware the router runs inside the chain's future, and leaves the index
    /// here when it does (it stays [`UNMATCHED_ROUTE`] if a middleware answers by itself).
    /// `None` for an app without middleware.
    later: Option<Arc<AtomicU32>>,
}

impl Routed {
    /// The route found at dispatch.
    #[inline]
    pub(crate) fn set_now(&mut self, index: u32) {
        self.now = index;
    }

    /// A place for the router behind middleware to leave the route in.
    pub(crate) fn later(&mut self) -> Arc<AtomicU32> {
        let cell = Arc::new(AtomicU32::new(UNMATCHED_ROUTE));
        self.later = Some(cell.clone());
        cell
    }

    /// The route's index (call it once the response is ready); ready for the next request.
    #[inline]
    pub(crate) fn take(&mut self) -> u32 {
        match self.later.take() {
            None => self.now,
            // Relaxed: the router stored it while the chain's future ran; that future's
            // response reached the reader through the same task (or a channel to it), which
            // already orders the store before this load.
            Some(cell) => cell.load(Ordering::Relaxed),
        }
    }
}

/// What the router finds for a request: the handler, and who it is for the metrics.
#[derive(Clone)]
pub(crate) struct Route {
    /// The handler.
    pub(crate) handler: Handler,
    /// The route template's index in the app's metrics (`crate::metrics`).
    pub(crate) index: u32,
    /// `"GET /users/{id}"`: what the connection task says it is running while the handler
    /// runs (`crate::metrics::publish_route`). Made once per route when the app is built and
    /// leaked, so it can be handed out as `&'static str`: one small string per route per app.
    pub(crate) label: &'static str,
}

/// What a request goes through: the middleware chain, then the router.
#[derive(Clone, Default)]
pub(crate) struct Stack {
    /// Handlers by method and path pattern.
    pub(crate) router: Router<Route>,
    /// Middleware, outermost (first added) first.
    pub(crate) middleware: Vec<Arc<dyn Middleware>>,
}

impl Stack {
    /// The innermost step: routes `req` and puts its handler's future in `slot`, or the
    /// answer 404 / 405 / OPTIONS. Returns the route's index for the metrics.
    #[inline]
    pub(crate) fn route(&self, mut req: Request, slot: &mut ResponseSlot) -> u32 {
        let response = match self.router.lookup_bytes(req.method_str(), req.path_bytes()) {
            Lookup::Found { value, params } => {
                if !params.is_empty() {
                    req.set_params(params);
                }
                publish_route(Some(value.label));
                (value.handler)(req, slot);
                return value.index;
            }
            Lookup::NotFound => Response::text("Not Found\n").with_status(404),
            Lookup::MethodNotAllowed { allow } => Response::text("Method Not Allowed\n")
                .with_status(405)
                .with_header("allow", allow),
            Lookup::Options { allow } => Response::new(204).with_header("allow", allow),
            Lookup::NotImplemented => Response::text("Not Implemented\n").with_status(501),
        };
        slot.set(ready(response));
        UNMATCHED_ROUTE
    }
}

/// Code that runs around every request.
///
/// `call` returns a boxed future that may borrow `self` (its configuration, a semaphore).
/// Write one as a type when it has state or options; for a quick one, see [`from_fn`](crate::from_fn).
/// Routing happens at the end of the chain, so path parameters ([`Request::param`]) are not
/// set yet while a middleware looks at the request.
///
/// ```
/// use spindle_http::{App, BoxFuture, Middleware, Next, Request, Response};
///
/// /// Refuses requests without an `x-api-key` header.
/// struct RequireKey;
///
/// impl Middleware for RequireKey {
///     fn call<'a>(&'a self, req: Request, next: Next) -> BoxFuture<'a, Response> {
///         Box::pin(async move {
///             if req.header("x-api-key").is_none() {
///                 return Response::text("missing key\n").with_status(401);
///             }
///             next.run(req).await
///         })
///     }
/// }
///
/// let app = App::new().middleware(RequireKey).get("/", |_req: Request| async { "hi" });
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles `req`, usually by calling `next.run(req)` somewhere inside.
    fn call<'a>(&'a self, req: Request, next: Next) -> BoxFuture<'a, Response>;
}

/// The rest of the middleware chain, ending in the router; a middleware runs it with
/// [`Next::run`] (Starlette's `call_next`).
///
/// It owns a reference to the app's stack rather than borrowing it, so an `async move`
/// closure can hold it: that is what makes [`from_fn`](crate::from_fn) work with plain closures.
pub struct Next {
    /// The app's middleware and router.
    stack: Arc<Stack>,
    /// The middleware to run next. INVARIANT: `index <= stack.middleware.len()`; equal means
    /// that only the router is left.
    index: usize,
    /// Where the router leaves the request's route index for the metrics (see [`Routed`]).
    route: Arc<AtomicU32>,
}

impl Next {
    /// The whole chain of `stack`, from its outermost middleware; the router will leave the
    /// request's route index in `route`.
    pub(crate) fn start(stack: Arc<Stack>, route: Arc<AtomicU32>) -> Next {
        Next {
            stack,
            index: 0,
            route,
        }
    }

    /// Runs the rest of the chain and the handler on `req`; resolves to the response.
    pub fn run(self, req: Request) -> BoxFuture<'static, Response> {
        let Next {
            stack,
            index,
            route,
        } = self;
        if index >= stack.middleware.len() {
            // The router puts the handler's future in a slot; here it becomes a plain box.
            let mut slot = ResponseSlot::new();
            // Relaxed: read by whoever gets the response, after it (see `Routed::take`).
            route.store(stack.route(req, &mut slot), Ordering::Relaxed);
            return Box::pin(async move { slot.wait().await.unwrap_or_else(internal_error) });
        }
        Box::pin(async move {
            let next = Next {
                stack: stack.clone(),
                index: index + 1,
                route,
            };
            stack.middleware[index].call(req, next).await
        })
    }
}

impl fmt::Debug for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("index", &self.index)
            .field("layers", &self.stack.middleware.len())
            .finish()
    }
}

/// The 500 answer for a handler that panicked or left no future behind: the one response the
/// server makes up when application code failed (used by the connection, the middleware chain
/// and blocking handlers alike).
pub(crate) fn internal_error() -> Response {
    Response::text("Internal Server Error\n").with_status(500)
}
