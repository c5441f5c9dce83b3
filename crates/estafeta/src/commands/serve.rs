//! `estafeta serve`: set up TLS and bind every listener (`estafeta_server::Server::bind`),
//! give up root (see `privileges`), open the store, start the servers and delivery
//! (`Bound::start`), serve until SIGINT or SIGTERM, then stop (`RunningServer::stop`:
//! stop accepting, let sessions and delivery finish, close the store) — all within
//! `stop::STOP_DEADLINE`, after which the process exits anyway.

use estafeta_server::Server;

use crate::failure::{CommandResult, Failure};
use crate::settings::Settings;
use crate::stop;

pub async fn run(settings: Settings) -> CommandResult {
    let config = &settings.config;
    let identity = crate::privileges::plan(config)?;
    match &settings.origin {
        Some(p) => tracing::info!(file = %p.display(), "configuration loaded"),
        None => tracing::info!("no configuration file: built-in defaults in use"),
    }
    if config.listeners.is_empty() {
        return Err(Failure::new(
            "the configuration has no [[listener]]: nothing to serve",
        ));
    }
    let data_dir = settings.prepare_data_dir()?;
    crate::privileges::check_modes(data_dir, config);
    // TLS keys read and ports bound: nothing more needs root
    let bound = Server::bind(config).await.map_err(Failure::new)?;
    crate::privileges::assume(&identity, data_dir)?;
    // one server per data directory; `restore` waits for it to stop
    let mut lock = crate::data_lock::take(data_dir, "starting another")?;
    let store = settings.open_store().await?;
    tracing::info!(engine = store.engine_name(), data_dir = %data_dir.display(), "store open");

    // Watch signals before saying "ready", so that a stop request is never missed.
    let mut stop_request = stop::watch()?;
    let server = bound.start(store).await.map_err(Failure::new)?;
    let smtp: Vec<_> = (server.listeners().iter())
        .filter(|(l, _)| l.protocol == estafeta_config::Protocol::Smtp && !l.proxy_protocol)
        .map(|(_, at)| *at)
        .collect();
    lock.announce_smtp(&smtp);
    tracing::info!(hostname = %config.hostname, "estafeta ready");

    let which = match stop_request.wait_for(Option::is_some).await {
        Ok(which) => which.unwrap_or("SIGTERM"),
        Err(_) => "SIGTERM",
    };
    tracing::info!(signal = which, "stopping: no new connections");
    server.stop().await;
    tracing::info!("stopped");
    Ok(())
}
