//! Running the server: open the engine, bind, serve until a signal.

use crate::config::ServerConfig;
use crate::routes::router;
use engram::{Engine, EngineConfig};
use std::io;
use tokio::net::TcpListener;

/// Opens the data directory and serves until SIGINT or SIGTERM; in-flight
/// requests finish before it returns.
pub async fn serve(config: ServerConfig) -> io::Result<()> {
    let mut ec = EngineConfig::dir(&config.data_dir);
    ec.holder_command = "engram serve".into();
    if let Some(t) = config.index_save_interval {
        ec.index_save_interval = t;
    }
    let engine = tokio::task::spawn_blocking(move || Engine::open(ec)).await.map_err(io::Error::other)?;
    let engine = engine.map_err(|e| io::Error::other(e.to_string()))?;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    engine.set_serving_address(&addr.to_string()).map_err(|e| io::Error::other(e.to_string()))?;
    println!("engram listening on http://{addr} (data directory: {})", config.data_dir.display());
    serve_on(listener, engine.clone(), shutdown_signal()).await?;
    tokio::task::spawn_blocking(move || engine.close()).await.map_err(io::Error::other)
}

/// Serves `engine` on a bound listener until `shutdown` completes.
pub async fn serve_on(
    listener: TcpListener,
    engine: Engine,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router(engine)).with_graceful_shutdown(shutdown).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
