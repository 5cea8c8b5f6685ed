//! The accept loop: every connection served by hyper with the router, each request carrying the
//! peer's address, until asked to stop; then connections finish what they are answering.
//!
//! It replaces `axum::serve` for one setting that `axum::serve` does not expose: HTTP/1
//! half-close. Without it, hyper reads the socket again while a request is being answered, to
//! notice a client that went away; that read needs a fresh 8 KB buffer for every request,
//! because the request still holds the bytes of the one before, and the allocation crosses
//! threads in the allocator (BENCHMARKS.md, ninth round). With it, a request in progress runs to
//! its end even when the client has gone: writes are decided by the tenant actor anyway once
//! asked.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use std::convert::Infallible;

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use hyper::server::conn::http1::Builder;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// How long to wait before accepting again after an error that is not the connection's own
/// (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What `serve` serves: the HTTP application (`majlis_http::app`).
pub trait App:
    tower::Service<
        Request<Body>,
        Response = Response<Self::Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
    type Body: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> App for S
where
    S: tower::Service<Request<Body>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    type Body = B;
}

/// Serves `app` on `listener` until `stop` completes, then waits for every open connection to
/// finish the requests it is answering.
pub async fn serve(listener: TcpListener, app: impl App, stop: impl Future<Output = ()>) {
    let mut builder = Builder::new();
    builder.half_close(true);
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stop => break,
        };
        match accepted {
            Ok((stream, peer)) => connection(&builder, &graceful, &app, stream, peer),
            Err(err) if is_connection_error(&err) => {}
            Err(err) => {
                tracing::error!(error = %err, "accepting a connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Starts serving one connection on its own task.
fn connection(
    builder: &Builder,
    graceful: &GracefulShutdown,
    app: &impl App,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let service = app.clone().map_request(
        move |mut request: axum::extract::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.map(axum::body::Body::new)
        },
    );
    let served = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    let served = graceful.watch(served);
    tokio::spawn(async move {
        if let Err(err) = served.await {
            tracing::trace!(error = %err, %peer, "connection ended with an error");
        }
    });
}

/// Errors of one connection that went away before it was accepted; the next accept is fine.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
