//! Cluster mode at start: nodes.conf loaded (or a new node ID written), the bus port bound
//! (`cluster-port`, else the client port + 10000), and the bus thread started on it; then,
//! once the server's state exists, the hooks through which the cluster drives it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::listen::{bind_addresses, single_listener};
use crate::config::Config;
use crate::state::ServerState;

/// Starts this server as a cluster node listening for clients on `port`; `picked` is true when
/// the port was picked by the kernel (`--port 0`). Err: why the node cannot start.
pub(super) fn start_cluster(config: &Config, port: u16, picked: bool) -> Result<(), String> {
    let file = config.get("cluster-config-file");
    let mut path = PathBuf::from(config.get("dir")).join(file);
    // Fixed now: a later CONFIG SET dir does not move nodes.conf.
    if let Ok(absolute) = std::path::absolute(&path) {
        path = absolute;
    }
    crate::cluster::open(path, crate::cluster::Settings::from_config(config))?;
    let asked = config.int("cluster-port") as u32;
    let bus = if asked != 0 {
        asked
    } else {
        u32::from(port) + crate::cluster::PORT_INCR
    };
    let bind = |bus: u16| -> Result<(Vec<std::net::TcpListener>, u16), String> {
        let mut listeners = Vec::new();
        let mut bus = bus;
        for (ip, optional) in bind_addresses(config)? {
            match single_listener(SocketAddr::new(ip, bus)) {
                Ok(listener) => {
                    bus = listener.local_addr().map_err(|e| e.to_string())?.port();
                    listeners.push(listener);
                }
                Err(_) if optional => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        if listeners.is_empty() {
            return Err(
                "No bind address is configured, but it is required for the Cluster bus.".into(),
            );
        }
        Ok((listeners, bus))
    };
    let failed = || format!("Failed listening on port {bus} (cluster), aborting.");
    let bound = if bus > 65535 {
        // A port the kernel picked may be too high for the usual distance: the bus takes a
        // port of its own then; a configured port must fit, as Redis requires.
        if !picked {
            return Err("Redis port number too high. Cluster communication port is 10,000 port numbers higher than your Redis port. Your Redis port number must be 55535 or less.".into());
        }
        bind(0)
    } else {
        match bind(bus as u16) {
            Err(_) if picked && asked == 0 => bind(0),
            other => other,
        }
    };
    let (listeners, bus) = bound.map_err(|e| {
        tracing::warn!("{e}");
        failed()
    })?;
    tracing::info!("Cluster bus listening on port {bus}");
    crate::cluster::bus::set_publish_sink(crate::command::pubsub::deliver_from_bus);
    crate::cluster::set_offset_source(|| {
        use crate::command::replication as repl;
        let offset = if repl::replica::is_replica() {
            repl::OFFSET.load(std::sync::atomic::Ordering::SeqCst)
        } else {
            repl::master::stream_offset()
        };
        offset.max(0) as u64
    });
    crate::cluster::start_serving(port, bus);
    crate::cluster::bus::start(listeners).map_err(|e| format!("cluster bus thread: {e}"))
}

/// Lets the cluster drive this server: its replication (a replica follows its master, a
/// promoted replica serves as a master) and the pause of writes of a manual failover.
pub(super) fn connect_cluster(server: &Arc<ServerState>) {
    let server = server.clone();
    crate::cluster::set_hooks(crate::cluster::Hooks {
        follow: Box::new(move |wanted| {
            use crate::command::replication::replica;
            match wanted {
                Some((host, port)) => {
                    let master = replica::Master { host, port };
                    if !replica::is_replica() || replica::master().as_ref() != Some(&master) {
                        replica::set_master(&server, master, true);
                    }
                }
                None => replica::unset_master(&server),
            }
        }),
        data_age: crate::command::replication::replica::data_age_ms,
        pause_writes: |until| {
            use crate::command::pause::{self, PauseKind, PausePurpose};
            match until {
                Some(end) => pause::pause(PausePurpose::Failover, PauseKind::Write, end),
                None => pause::unpause(PausePurpose::Failover),
            }
        },
    });
}
