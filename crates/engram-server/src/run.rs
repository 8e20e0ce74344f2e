//! Running the server: open the engine, bind, serve until a signal.

use crate::auth::Role;
use crate::auth::keys::KeyStore;
use crate::config::ServerConfig;
use crate::conn_limit::Limited;
use crate::routes::{AppState, router};
use crate::tls::{ClientAddr, TlsListener};
use engram::{Engine, EngineConfig};
use std::io;
use std::sync::Arc;
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
    let tls = config.tls.as_ref().map(|(cert, key)| crate::tls::server_config(cert, key)).transpose()?;
    let keys = open_keys(&config, &engine).map_err(|e| io::Error::other(e.to_string()))?;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    engine.set_serving_address(&addr.to_string()).map_err(|e| io::Error::other(e.to_string()))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("engram listening on {scheme}://{addr} (data directory: {})", config.data_dir.display());
    let state = AppState::new(engine.clone(), Arc::new(keys), config.limits);
    match tls {
        Some(tls) => {
            let app = router(state).into_make_service_with_connect_info::<ClientAddr>();
            let listener = Limited::new(TlsListener::new(listener, tls)?, config.limits.connections);
            axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
        }
        None => serve_on(listener, state, shutdown_signal()).await?,
    }
    tokio::task::spawn_blocking(move || engine.close()).await.map_err(io::Error::other)
}

/// The data directory's keys; on first start (no admin key stored or
/// configured) creates an admin key and prints it once. Writes the local
/// CLI's key to `cli.key`.
fn open_keys(config: &ServerConfig, engine: &Engine) -> engram::Result<KeyStore> {
    let keys = KeyStore::open(&config.data_dir, config.admin_key.as_deref())?;
    // Keys stored before keys recorded their space's id.
    keys.bind_unbound(|name| match engine.space(name) {
        Ok(space) => Ok(Some(space.id())),
        Err(e) if e.kind() == engram::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    })?;
    if !keys.has_admin() {
        let (record, token) = keys.create("admin", None, Role::Admin, None)?;
        println!("created admin API key {} (shown once; store it now): {token}", record.id);
    }
    keys.write_cli_key(&config.data_dir)?;
    Ok(keys)
}

/// Serves on a bound listener until `shutdown` completes; in-flight
/// requests finish first.
pub async fn serve_on(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let connections = state.limits.connections;
    let app = router(state).into_make_service_with_connect_info::<ClientAddr>();
    axum::serve(Limited::new(listener, connections), app).with_graceful_shutdown(shutdown).await
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
