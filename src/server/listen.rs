//! The TCP listeners: `threads` SO_REUSEPORT sockets per `bind` address, and moving them at
//! run time (CONFIG SET port / bind, as Redis 7.0): the new sockets are bound first (a
//! failure leaves the old ones serving), handed to every thread, then the old ones are shut
//! down, which ends their accept loops (they close the sockets as they leave).

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::config::Config;

/// One thread's TCP listeners, as it receives them (at start and after each rebind).
pub(super) type ListenerSet = Vec<TcpListener>;

fn listen_socket(addr: SocketAddr, backlog: i32) -> std::io::Result<TcpListener> {
    bound(addr, backlog, true)
}

/// A blocking listener of its own on `addr` (the metrics endpoint): IPv6 only on an IPv6
/// address, so `* -::*` binds both families on one port, as Redis binds them.
pub(super) fn single_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = bound(addr, 128, false)?;
    listener.set_nonblocking(false)?;
    Ok(listener)
}

fn bound(addr: SocketAddr, backlog: i32, shared: bool) -> std::io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(SockProtocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if shared {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The `bind` addresses: as in Redis, `*` is every IPv4 address, `::*` every IPv6 one, and
/// an address written `-addr` is optional (true: skipped when the machine lacks it).
pub(super) fn bind_addresses(config: &Config) -> Result<Vec<(IpAddr, bool)>, String> {
    config
        .get("bind")
        .split_whitespace()
        .map(|text| {
            let optional = text.starts_with('-');
            let text = text.trim_start_matches('-');
            let ip: IpAddr = match text {
                "*" => IpAddr::from([0u8; 4]),
                "::*" => IpAddr::from([0u16; 8]),
                _ => text
                    .parse()
                    .map_err(|_| format!("invalid bind address '{text}'"))?,
            };
            Ok((ip, optional))
        })
        .collect()
}

/// Binds `threads` listeners per bind address on `port`; with port 0 the first picks the
/// port and the rest share it. An empty `bind` binds nothing (the unix socket may serve).
pub(super) fn bind_all(
    config: &Config,
    threads: usize,
    mut port: u16,
) -> Result<(Vec<ListenerSet>, u16), String> {
    let backlog = config.int("tcp-backlog").clamp(0, i32::MAX as i64) as i32;
    let mut per_thread: Vec<ListenerSet> = (0..threads).map(|_| Vec::new()).collect();
    for (ip, optional) in bind_addresses(config)? {
        for listeners in per_thread.iter_mut() {
            let listener = match listen_socket(SocketAddr::new(ip, port), backlog) {
                Ok(listener) => listener,
                Err(e)
                    if optional
                        && matches!(
                            e.raw_os_error(),
                            Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT)
                        ) =>
                {
                    tracing::warn!("Skipping optional bind address {ip}: {e}");
                    break;
                }
                Err(e) => return Err(format!("could not bind {ip}:{port}: {e}")),
            };
            if port == 0 {
                port = listener.local_addr().map_err(|e| e.to_string())?.port();
            }
            listeners.push(listener);
        }
    }
    Ok((per_thread, port))
}

/// Whether `fd` is still a listening socket: an accept that fails on one that is not was
/// retired by a rebind, and its loop ends.
pub(super) fn still_listening(fd: RawFd) -> bool {
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is the accept loop's own listener, open while the loop runs; `on` and
    // `len` are valid for the call and sized as SO_ACCEPTCONN's int.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut on as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && on != 0
}

/// The threads' listener inboxes and the descriptors of the listeners in service.
pub(super) struct Listeners {
    inboxes: Vec<UnboundedSender<ListenerSet>>,
    /// Every listener handed out and not yet shut down. A listener's accept loop closes it
    /// only once it stopped listening, which only `rebind` causes (after removing it here),
    /// so every descriptor listed is open.
    live: Mutex<Vec<RawFd>>,
}

impl Listeners {
    /// Hands each thread its first listeners; returns the receivers the threads serve.
    pub(super) fn start(
        sets: Vec<ListenerSet>,
    ) -> (Listeners, Vec<UnboundedReceiver<ListenerSet>>) {
        let live = sets.iter().flatten().map(|l| l.as_raw_fd()).collect();
        let (inboxes, receivers): (Vec<_>, Vec<_>) = sets
            .into_iter()
            .map(|set| {
                let (tx, rx) = unbounded_channel();
                let _ = tx.send(set);
                (tx, rx)
            })
            .unzip();
        let listeners = Listeners {
            inboxes,
            live: Mutex::new(live),
        };
        (listeners, receivers)
    }

    /// Binds the listeners `config` asks for (on `fallback` when its port is 0) and moves
    /// every thread to them; Ok is the port bound.
    pub(super) fn rebind(&self, config: &Config, fallback: u16) -> Result<u16, String> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let port = match config.int("port") {
            0 => fallback,
            p => p as u16,
        };
        let (sets, port) = bind_all(config, self.inboxes.len(), port).inspect_err(|e| {
            tracing::warn!("{e}");
        })?;
        for fd in live.drain(..) {
            // SAFETY: `fd` is open (see `live`); shutting a listener down makes its pending
            // and later accepts fail, and its loop then closes it.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
        *live = sets.iter().flatten().map(|l| l.as_raw_fd()).collect();
        for (inbox, set) in self.inboxes.iter().zip(sets) {
            let _ = inbox.send(set);
        }
        Ok(port)
    }
}
