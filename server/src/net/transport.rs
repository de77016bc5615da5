//! The UDP socket driver: datagrams in and out of the netcode.io layer
//! (renetcode's `NetcodeServer`), with the [`super::guard`] checks in front
//! of every dependency and a per-tick receive budget.
//!
//! Each receive reads at most [`RECV_PACKETS`] datagrams and [`RECV_BYTES`]
//! bytes in total, and at most [`RECV_PACKETS_PER_ADDR`] from any one
//! address, so a flood cannot stretch a tick; the rest waits in the socket
//! buffer (and is dropped by the kernel if it overflows).

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use renet::RenetServer;
use renetcode::{NETCODE_MAX_PACKET_BYTES, NETCODE_USER_DATA_BYTES, NetcodeServer, ServerConfig, ServerResult};

use super::guard;

/// Most datagrams read per tick.
pub const RECV_PACKETS: usize = 4096;
/// Most bytes read per tick.
pub const RECV_BYTES: usize = 4 * 1024 * 1024;
/// Most datagrams read per tick from one address.
pub const RECV_PACKETS_PER_ADDR: u32 = 64;

/// What the driver refused or cut short, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TransportStats {
    /// Datagrams refused by the header check.
    pub bad_datagrams: u64,
    /// Decrypted payloads refused by the payload check.
    pub bad_payloads: u64,
    /// Datagrams skipped because their sender used up its share of a tick.
    pub over_budget: u64,
}

/// A payload the guard refused, and whose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offence {
    /// The connection it came from.
    pub client_id: u64,
    /// Why.
    pub refusal: guard::Refusal,
}

/// Owns the socket and the netcode server.
pub struct Transport {
    socket: UdpSocket,
    netcode: NetcodeServer,
    buffer: Box<[u8; NETCODE_MAX_PACKET_BYTES]>,
    per_addr: HashMap<SocketAddr, u32>,
    stats: TransportStats,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl Transport {
    /// Wraps a bound socket.
    pub fn new(config: ServerConfig, socket: UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        Ok(Self {
            socket,
            netcode: NetcodeServer::new(config),
            buffer: Box::new([0; NETCODE_MAX_PACKET_BYTES]),
            per_addr: HashMap::new(),
            stats: TransportStats::default(),
        })
    }

    /// Refusal counters so far.
    pub fn stats(&self) -> TransportStats {
        self.stats
    }

    /// The token user data of a connected client.
    pub fn user_data(&self, client_id: u64) -> Option<[u8; NETCODE_USER_DATA_BYTES]> {
        self.netcode.user_data(client_id)
    }

    /// A connected client's address.
    pub fn client_addr(&self, client_id: u64) -> Option<SocketAddr> {
        self.netcode.client_addr(client_id)
    }

    /// Advances time, reads this tick's share of the socket, and feeds
    /// renet. Payloads the guard refuses are returned as offences.
    pub fn update(&mut self, dt: Duration, renet: &mut RenetServer, offences: &mut Vec<Offence>) -> io::Result<()> {
        self.netcode.update(dt);
        self.per_addr.clear();
        let (mut packets, mut bytes) = (0usize, 0usize);
        while packets < RECV_PACKETS && bytes < RECV_BYTES {
            let (len, addr) = match self.socket.recv_from(&mut self.buffer[..]) {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionReset) => continue,
                Err(e) => return Err(e),
            };
            packets += 1;
            bytes += len;
            let seen = self.per_addr.entry(addr).or_insert(0);
            *seen += 1;
            if *seen > RECV_PACKETS_PER_ADDR {
                self.stats.over_budget += 1;
                continue;
            }
            let datagram = &mut self.buffer[..len];
            if guard::datagram(datagram).is_err() {
                self.stats.bad_datagrams += 1;
                continue;
            }
            let result = self.netcode.process_packet(addr, datagram);
            handle(result, &self.socket, renet, &mut self.stats, offences);
        }
        for client_id in self.netcode.clients_id() {
            let result = self.netcode.update_client(client_id);
            handle(result, &self.socket, renet, &mut self.stats, offences);
        }
        for client_id in renet.disconnections_id() {
            let result = self.netcode.disconnect(client_id);
            handle(result, &self.socket, renet, &mut self.stats, offences);
        }
        Ok(())
    }

    /// Encrypts and sends everything renet has queued.
    pub fn send(&mut self, renet: &mut RenetServer) {
        for client_id in renet.clients_id() {
            let Ok(packets) = renet.get_packets_to_send(client_id) else { continue };
            for packet in packets {
                match self.netcode.generate_payload_packet(client_id, &packet) {
                    Ok((addr, datagram)) => {
                        if let Err(e) = self.socket.send_to(datagram, addr) {
                            tracing::debug!(client = client_id, error = %e, "send failed");
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(client = client_id, error = %e, "cannot seal payload");
                        break;
                    }
                }
            }
        }
    }

    /// Sends every client a disconnect packet now and forgets them.
    pub fn disconnect_all(&mut self, renet: &mut RenetServer) {
        let mut offences = Vec::new();
        for client_id in self.netcode.clients_id() {
            let result = self.netcode.disconnect(client_id);
            handle(result, &self.socket, renet, &mut self.stats, &mut offences);
        }
    }
}

fn handle(
    result: ServerResult<'_, '_>,
    socket: &UdpSocket,
    renet: &mut RenetServer,
    stats: &mut TransportStats,
    offences: &mut Vec<Offence>,
) {
    let send = |bytes: &[u8], addr: SocketAddr| {
        if let Err(e) = socket.send_to(bytes, addr) {
            tracing::debug!(%addr, error = %e, "send failed");
        }
    };
    match result {
        ServerResult::None => {}
        ServerResult::PacketToSend { payload, addr } => send(payload, addr),
        ServerResult::Payload { client_id, payload } => match guard::payload(payload) {
            Ok(()) => {
                let _ = renet.process_packet_from(payload, client_id);
            }
            Err(refusal) => {
                stats.bad_payloads += 1;
                offences.push(Offence { client_id, refusal });
            }
        },
        ServerResult::ClientConnected { client_id, payload, addr, .. } => {
            renet.add_connection(client_id);
            send(payload, addr);
        }
        ServerResult::ClientDisconnected { client_id, addr, payload } => {
            renet.remove_connection(client_id);
            if let Some(payload) = payload {
                send(payload, addr);
            }
        }
    }
}
