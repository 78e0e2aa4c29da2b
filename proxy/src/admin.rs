//! The admin HTTP endpoint: `GET /metrics` (Prometheus text format) and `GET /healthz` (200 once a shard map is
//! loaded).

use crate::frontend::Context;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves admin requests until the process ends.
pub async fn serve(listener: TcpListener, ctx: Arc<Context>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(handle(&ctx, req)) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = tokio::time::timeout(std::time::Duration::from_secs(30), conn).await {
                tracing::debug!(error = %e, "admin connection timed out");
            }
        });
    }
}

fn handle(ctx: &Context, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, body: String, ctype: &'static str| {
        Response::builder()
            .status(status)
            .header("content-type", ctype)
            .body(Full::new(Bytes::from(body)))
            .expect("static response parts are valid")
    };
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => {
            ctx.metrics.sync_plan_cache(ctx.plans.stats());
            text(StatusCode::OK, ctx.metrics.render(), "text/plain; version=0.0.4")
        }
        (&Method::GET, "/healthz") => {
            let map = ctx.map.load();
            if map.keyspaces.is_empty() {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no shard map loaded\n".into(),
                    "text/plain",
                )
            } else {
                text(
                    StatusCode::OK,
                    format!("ok: shard map version {}\n", map.version),
                    "text/plain",
                )
            }
        }
        (_, "/metrics" | "/healthz") => text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n".into(), "text/plain"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try GET /metrics or GET /healthz\n".into(),
            "text/plain",
        ),
    }
}
