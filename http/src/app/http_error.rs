//! [`HttpError`]: a failure that has a precise HTTP status, returned by body readers and
//! usable by handlers with `?` (a handler returning `Result<_, HttpError>` answers with it).

use std::borrow::Cow;
use std::fmt;

use crate::app::response::{IntoResponse, Response};

/// An error that becomes a response with `status` and a plain-text `message`.
///
/// ```
/// use spindle_http::{HttpError, IntoResponse};
/// let e = HttpError::new(422, "field `name` is missing");
/// assert_eq!(e.into_response().status(), 422);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The status to answer with.
    status: u16,
    /// A human-readable explanation, sent as the body.
    message: Cow<'static, str>,
}

impl HttpError {
    /// An error with `status` and `message`.
    pub fn new(status: u16, message: impl Into<Cow<'static, str>>) -> HttpError {
        HttpError {
            status,
            message: message.into(),
        }
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut body = self.message.into_owned();
        body.push('\n');
        Response::text(body).with_status(self.status)
    }
}

impl From<crate::error::ParseError> for HttpError {
    fn from(e: crate::error::ParseError) -> HttpError {
        HttpError::new(e.status(), e.reason())
    }
}
