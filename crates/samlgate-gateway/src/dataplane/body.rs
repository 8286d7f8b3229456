//! The response body of the data plane: a page the gateway wrote itself, or
//! a backend's body streamed through with an idle timeout.
//!
//! An enum rather than a boxed trait object: this is built for every
//! response, and the two cases are all there is.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::Sleep;

/// Why a streamed body stopped. hyper ends the client's connection
/// without a proper end of message on any body error, so a client never
/// takes a cut-off page for a complete one.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The backend failed mid-body.
    #[error("the backend's body failed: {0}")]
    Upstream(#[from] hyper::Error),
    /// The backend sent nothing for the read timeout.
    #[error("the backend sent no body data for {0:?}")]
    Idle(Duration),
}

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// A complete body (pages, redirects); None once sent or when empty.
    Full(Option<Bytes>),
    /// A backend's body.
    Upstream(UpstreamBody),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Body::Full(None)
    }

    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Body::Full((!bytes.is_empty()).then_some(bytes))
    }
}

/// A backend's body with an idle timeout between frames, as a proxy's read
/// timeout: a backend that sends its head and then nothing must not hold
/// a client connection forever. The timer is made only when a read has to
/// wait, so a body that is already there costs none.
#[derive(Debug)]
pub struct UpstreamBody {
    inner: Incoming,
    idle: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    /// The timer runs for the current wait (reset after each frame).
    armed: bool,
}

impl UpstreamBody {
    /// Streams `inner`, failing when it is silent for `idle`.
    pub fn new(inner: Incoming, idle: Duration) -> Self {
        UpstreamBody {
            inner,
            idle,
            timer: None,
            armed: false,
        }
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Upstream(body) => {
                match Pin::new(&mut body.inner).poll_frame(cx) {
                    Poll::Ready(frame) => {
                        body.armed = false;
                        return Poll::Ready(frame.map(|f| f.map_err(BodyError::from)));
                    }
                    Poll::Pending => {}
                }
                let idle = body.idle;
                let timer = match &mut body.timer {
                    Some(timer) => {
                        if !body.armed {
                            timer.as_mut().reset(tokio::time::Instant::now() + idle);
                        }
                        timer
                    }
                    None => body.timer.insert(Box::pin(tokio::time::sleep(idle))),
                };
                body.armed = true;
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::Idle(idle)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(bytes) => bytes.is_none(),
            Body::Upstream(body) => body.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Upstream(body) => body.inner.size_hint(),
        }
    }
}

/// The body of a request sent to a backend: the client's, streamed, or
/// none (a retried GET).
#[derive(Debug)]
pub enum RequestBody {
    /// The client's body.
    Incoming(Incoming),
    /// No body.
    Empty,
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Incoming(body) => Pin::new(body).poll_frame(cx),
            RequestBody::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Incoming(body) => body.is_end_stream(),
            RequestBody::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Incoming(body) => body.size_hint(),
            RequestBody::Empty => SizeHint::with_exact(0),
        }
    }
}
