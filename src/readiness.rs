//! Readiness: the proxy is ready once every proxy listener accepts connections (listeners start
//! with the services, or arrive later from an upgraded process), and stops being ready as soon
//! as shutdown begins, so load balancers drain it first. `/readyz` on the admin listener reports
//! it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::engine::Engine;

/// How often the listeners are probed until they all accept.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);

/// The address to connect to for a listen address: wildcard binds are probed on loopback.
fn probe_target(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port())
        }
        _ => listen,
    }
}

/// Whether every listen address accepts connections on a socket of this process: another
/// process listening on a port this one has not bound yet (Pingora keeps retrying a taken
/// address) must not make the proxy look ready.
async fn all_accept(addrs: &[SocketAddr]) -> bool {
    let owned = owned_listeners();
    for a in addrs {
        if owned.as_ref().is_some_and(|own| !own.contains(a)) {
            return false;
        }
        if tokio::net::TcpStream::connect(probe_target(*a))
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

/// The TCP addresses this process listens on, from `/proc` (Linux): the inodes of the sockets
/// among its open files, matched against the listening sockets in `/proc/net/tcp{,6}`. `None`
/// where `/proc` cannot tell (no such files, or no listening socket at all: the admin listener
/// is always one).
fn owned_listeners() -> Option<std::collections::HashSet<SocketAddr>> {
    let mut inodes = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|t| t.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    let mut owned = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            owned.extend(listening(&text, &inodes));
        }
    }
    (!owned.is_empty()).then_some(owned)
}

/// The local addresses of the listening sockets (state `0A`) in a `/proc/net/tcp` or `tcp6`
/// table whose inode is one of `inodes`.
fn listening<'a>(
    table: &'a str,
    inodes: &'a std::collections::HashSet<String>,
) -> impl Iterator<Item = SocketAddr> + 'a {
    table.lines().skip(1).filter_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
        if *state != "0A" || !inodes.contains(*inode) {
            return None;
        }
        proc_address(local)
    })
}

/// An address as `/proc/net/tcp{,6}` prints it: the IP as 32-bit words in host byte order, in
/// hex, then `:` and the port in hex.
fn proc_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| {
        ip.get(i * 8..i * 8 + 8)
            .and_then(|w| u32::from_str_radix(w, 16).ok())
            .map(u32::to_ne_bytes)
    };
    let ip: IpAddr = match ip.len() {
        8 => Ipv4Addr::from(word(0)?).into(),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?);
            }
            Ipv6Addr::from(bytes).into()
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The background service that marks the engine ready and, at shutdown, not ready.
#[derive(Debug)]
pub struct Readiness {
    engine: Arc<Engine>,
}

impl Readiness {
    /// Readiness tracking for an engine.
    pub fn new(engine: Arc<Engine>) -> Self {
        Readiness { engine }
    }
}

#[async_trait]
impl BackgroundService for Readiness {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let server = &self.engine.config.server;
        let mut addrs: Vec<SocketAddr> = server.listen.clone();
        addrs.extend(server.tls.iter().map(|t| t.listen));
        let probe = async {
            while !all_accept(&addrs).await {
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
            self.engine.set_ready(true);
            tracing::info!("listeners up: ready");
            std::future::pending::<()>().await;
        };
        tokio::select! {
            _ = shutdown.changed() => {}
            () = probe => {}
        }
        self.engine.set_ready(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_process_listening_sockets_count() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F92 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1
   3: 00000000:1F93 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4244 1 0000000000000000 100 0 0 10 0
";
        let inodes = ["4242", "4243", "4244"].map(str::to_owned).into();
        let found: Vec<SocketAddr> = listening(table, &inodes).collect();
        assert_eq!(
            found,
            ["127.0.0.1:8080", "0.0.0.0:8083"].map(|a| a.parse().unwrap())
        );
        let v6 = "  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1
";
        let inodes = ["99"].map(str::to_owned).into();
        let found: Vec<SocketAddr> = listening(v6, &inodes).collect();
        assert_eq!(found, ["[::1]:8080".parse().unwrap()]);
    }

    #[test]
    fn this_process_listeners_are_found_by_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let Some(own) = owned_listeners() else {
            eprintln!("SKIPPED: /proc does not list this process's sockets here");
            return;
        };
        assert!(own.contains(&addr), "{addr} not in {own:?}");
        let other_ip = SocketAddr::new(Ipv4Addr::new(127, 0, 0, 2).into(), addr.port());
        assert!(!own.contains(&other_ip));
    }

    #[tokio::test]
    async fn a_port_another_process_listens_on_is_not_ready() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = listener.local_addr().unwrap();
        assert!(all_accept(&[ours]).await);
        // A listener in another process: this one can connect to it but does not own it.
        let listen = "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\n\
                      print(s.getsockname()[1],flush=True)\ntime.sleep(30)";
        let Ok(mut other) = std::process::Command::new("python3")
            .args(["-c", listen])
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            eprintln!("SKIPPED: python3 is needed to hold a port in another process");
            return;
        };
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(other.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port: u16 = line.trim().parse().unwrap();
        let theirs = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(std::net::TcpStream::connect(theirs).is_ok());
        let ready = all_accept(&[theirs]).await;
        let _ = other.kill();
        let _ = other.wait();
        assert!(
            !ready,
            "a port held by another process made the proxy look ready"
        );
    }
}
