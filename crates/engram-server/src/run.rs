//! Running the server: open the engine, bind, serve until a signal.

use crate::auth::Role;
use crate::auth::keys::{CLI_KEY_NAME, KeyStore};
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
    // Engine work never runs on the async runtime's threads (see `work_pool.rs`).
    let opened = {
        let config = config.clone();
        crate::work_pool::run(move || {
            let engine = open_engine(&config)?;
            let keys = open_keys(&config, &engine)?;
            Ok::<_, engram::Error>((engine, keys))
        })
        .await
        .map_err(io::Error::other)?
    };
    let (engine, keys) = opened.map_err(|e| io::Error::other(e.to_string()))?;
    // Before the listening line: whoever starts the server may stop reading
    // its output once it has seen that line.
    let objects = open_objects(&config)?;
    let tls = config.tls.as_ref().map(|(cert, key)| crate::tls::server_config(cert, key)).transpose()?;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    engine.set_serving_address(&addr.to_string()).map_err(|e| io::Error::other(e.to_string()))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!(
        "engram listening on {scheme}://{addr} (data directory: {}; objects in the {} store)",
        config.data_dir.display(),
        objects.service.store().kind()
    );
    let audit_key = crate::audit_key::load(&config.data_dir, config.audit_key_file.as_deref())
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut state = AppState::new(engine.clone(), Arc::new(keys), config.limits)
        .with_webhooks(config.webhooks.clone())
        .with_objects(objects)
        .with_audit_key(audit_key);
    if let Some(url) = &config.redis {
        let shared = crate::shared_rate::SharedRate::connect(url, "engram").map_err(io::Error::other)?;
        state = state.with_shared_rates(shared);
    }
    match tls {
        Some(tls) => {
            // Stops (when dropped) after the last request is served.
            let _webhooks = crate::webhooks::dispatch::start(state.engine.clone(), state.webhooks.clone());
            let _collector = start_collector(&state);
            let stopping = state.stopping.clone();
            let app = router(state).into_make_service_with_connect_info::<ClientAddr>();
            let listener = Limited::new(TlsListener::new(listener, tls)?, config.limits.connections);
            let shutdown = async move {
                shutdown_signal().await;
                stopping.stop();
            };
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
        }
        None => serve_on(listener, state, shutdown_signal()).await?,
    }
    crate::work_pool::run(move || engine.close()).await.map_err(io::Error::other)
}

/// The object store the configuration names (`objects/` in the data
/// directory by default).
fn open_objects(config: &ServerConfig) -> io::Result<crate::routes::ObjectSettings> {
    let store = match &config.objects {
        Some(url) => engram_objects::open_store(url),
        None => {
            if config.database.is_some() {
                tracing::warn!(
                    "objects are kept in this server's data directory; servers sharing a database need a shared store (--objects s3://… or az://…)"
                );
            }
            engram_objects::open_dir(&config.data_dir.join("objects"))
        }
    }
    .map_err(|e| io::Error::other(e.to_string()))?;
    let service =
        engram_objects::Objects::new(store, config.objects_grace).with_longest_upload(config.objects_transfer_timeout);
    let mut settings = crate::routes::ObjectSettings::new(service);
    settings.collect_every = config.objects_collect_every;
    settings.transfer_timeout = config.objects_transfer_timeout;
    Ok(settings)
}

/// The engine on the embedded SQLite database in the data directory, or on
/// the PostgreSQL database the configuration names (the data directory
/// then holds only this server's search index files).
fn open_engine(config: &ServerConfig) -> engram::Result<Engine> {
    let save = |ec: &mut EngineConfig| {
        if let Some(t) = config.index_save_interval {
            ec.index_save_interval = t;
        }
        ec.embedders = config.embedders.clone();
    };
    let Some(url) = &config.database else {
        let mut ec = EngineConfig::dir(&config.data_dir);
        ec.holder_command = "engram serve".into();
        save(&mut ec);
        return Engine::open(ec);
    };
    engram::durable_dir(&config.data_dir)?;
    let mut opts = engram_postgres::PostgresOptions::new(url.as_str());
    opts.replica_url = config.database_replica.clone();
    let backend = engram_postgres::PostgresBackend::open(opts)?;
    let mut ec = EngineConfig { search_index_dir: Some(config.data_dir.join("search")), ..EngineConfig::memory() };
    save(&mut ec);
    Engine::with_backend(Arc::new(backend), Arc::new(engram::SystemClock), ec)
}

/// The server's keys: in the data directory (embedded), or in the database
/// shared by every server on it. On first start (no admin key stored or
/// configured) creates an admin key and prints it once. Writes the local
/// CLI's key to `cli.key`.
fn open_keys(config: &ServerConfig, engine: &Engine) -> engram::Result<KeyStore> {
    let keys = match &config.database {
        None => KeyStore::open(&config.data_dir, config.admin_key.as_deref())?,
        Some(_) => KeyStore::shared(engine, config.admin_key.as_deref())?,
    };
    // Keys stored before keys recorded their space's id.
    keys.bind_unbound(|name| engine.space_id(name))?;
    if !keys.has_admin()? {
        let (record, token) = keys.create("admin", None, Role::Admin, None)?;
        println!("created admin API key {} (shown once; store it now): {token}", record.id);
    }
    // Each server of a shared database keeps its own CLI key.
    let cli_name = match &config.database {
        None => CLI_KEY_NAME.to_owned(),
        Some(_) => {
            let dir = std::fs::canonicalize(&config.data_dir)
                .map_err(|e| engram::Error::internal(format!("{}: {e}", config.data_dir.display())))?;
            format!("{CLI_KEY_NAME}@{}", dir.display())
        }
    };
    keys.write_cli_key(&config.data_dir, &cli_name)?;
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
    // Stops (when dropped) after the last request is served.
    let _webhooks = crate::webhooks::dispatch::start(state.engine.clone(), state.webhooks.clone());
    let _collector = start_collector(&state);
    let stopping = state.stopping.clone();
    let shutdown = async move {
        shutdown.await;
        // Feed streams end now instead of holding the shutdown open.
        stopping.stop();
    };
    let app = router(state).into_make_service_with_connect_info::<ClientAddr>();
    axum::serve(Limited::new(listener, connections), app).with_graceful_shutdown(shutdown).await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
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

/// Runs the object collector until the returned guard is dropped.
pub(crate) fn start_collector(state: &AppState) -> AbortOnDrop {
    let collector = engram_objects::Collector::with_stats(state.objects.collected.clone());
    let (engine, objects) = (state.engine.clone(), state.objects.service.clone());
    let run = collector.run(engine, objects, state.objects.collect_every);
    AbortOnDrop(tokio::spawn(engram::with_actor_async(engram::Actor::engine("objects-collector"), run)))
}

/// Stops a background task when dropped.
pub(crate) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
