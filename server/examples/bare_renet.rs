//! The peer baseline for the load test: a bare renet + renet_netcode
//! server that does nothing but move datagrams of the load test's sizes at
//! its rate — each tick `OUT` bytes unreliable to every client and `IN`
//! bytes back from each, `CLIENTS` clients on loopback with secure connect
//! tokens, the engine's socket receive buffer, no game, no interest
//! management, no snapshots — and the CPU its server thread spends per
//! client-tick (the time it ran, from `/proc/thread-self/schedstat`).
//! `scripts/loadtest.sh --baseline` runs it beside the engine in one
//! sitting and prints the ratio; every cost figure in BENCHMARKS.md
//! carries it.
//!
//! ```sh
//! cargo run --release -p tickforge-server --example bare_renet -- \
//!     [--clients 200] [--seconds 30] [--rate 30] [--out 500] [--in 40]
//! ```
//!
//! With `TICKFORGE_PIN` set, the server thread runs on core 0 and the
//! clients' on core 1 (as the load test pins the server and its bots).
//! Prints one JSON line (`"scenario": "bare_renet"`) on stdout.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;
use renet::{ConnectionConfig, DefaultChannel, RenetClient, RenetServer};
use renet_netcode::{
    ClientAuthentication, ConnectToken, NetcodeClientTransport, NetcodeServerTransport, ServerAuthentication,
    ServerConfig,
};

/// The bare transport's load.
#[derive(Debug, Clone, Copy, Parser)]
struct Args {
    /// Clients to connect.
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Seconds to measure, once all are connected.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Ticks a second (server and clients).
    #[arg(long, default_value_t = 30)]
    rate: u32,
    /// Bytes to each client per tick (one unreliable message).
    #[arg(long = "out", default_value_t = 500)]
    out_bytes: usize,
    /// Bytes from each client per tick (one unreliable message).
    #[arg(long = "in", default_value_t = 40)]
    in_bytes: usize,
    /// Ignored: what `cargo bench` passes.
    #[arg(long, hide = true)]
    bench: bool,
}

const PROTOCOL_ID: u64 = 0x7469_636b_6261_7265;
/// Clients that start connecting each tick.
const RAMP_PER_TICK: usize = 10;
/// How long the clients get to connect.
const CONNECT_LIMIT: Duration = Duration::from_secs(30);

/// What the server thread measured.
struct Measured {
    cpu: Duration,
    ticks: u64,
    client_ticks: u64,
    received: u64,
}

fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// This thread's CPU time: the time it ran on a CPU (user and system),
/// from `/proc/thread-self/schedstat`, in nanoseconds.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|ns| ns.parse().ok()))
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Puts this thread on `core` when `TICKFORGE_PIN` is set (`taskset` on
/// its thread id, as the load test pins the server's process).
fn pin(core: usize) {
    if std::env::var_os("TICKFORGE_PIN").is_none() {
        return;
    }
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let Some(tid) = tid else {
        eprintln!("bare_renet: no thread id to pin");
        return;
    };
    let pinned = std::process::Command::new("taskset")
        .args(["-p", "-c", &core.to_string(), &tid])
        .stdout(std::process::Stdio::null())
        .status();
    if !pinned.is_ok_and(|s| s.success()) {
        eprintln!("bare_renet: cannot pin thread {tid} to core {core}");
    }
}

/// Sleeps until `next`, then moves it on by `period` (without a backlog).
fn pace(next: &mut Instant, period: Duration) {
    let now = Instant::now();
    if *next > now {
        std::thread::sleep(*next - now);
    }
    *next += period;
    if *next + period < Instant::now() {
        *next = Instant::now();
    }
}

/// The server: until `stop`, each tick reads every client's messages and
/// sends each one `out_bytes`; measures its own CPU from `measure` on.
fn serve(
    mut server: RenetServer,
    mut transport: NetcodeServerTransport,
    args: Args,
    measure: &AtomicBool,
    stop: &AtomicBool,
) -> Measured {
    pin(0);
    let period = Duration::from_secs(1) / args.rate;
    let payload = renet::Bytes::from(vec![0xa5u8; args.out_bytes]);
    let mut last = Instant::now();
    let mut next = last;
    let mut from: Option<Duration> = None;
    let (mut ticks, mut client_ticks, mut received) = (0u64, 0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let dt = now - last;
        last = now;
        server.update(dt);
        if let Err(e) = transport.update(dt, &mut server) {
            eprintln!("bare_renet: server transport: {e}");
        }
        let mut count = 0u64;
        let mut got = 0u64;
        for client in server.clients_id() {
            while server.receive_message(client, DefaultChannel::Unreliable).is_some() {
                got += 1;
            }
            server.send_message(client, DefaultChannel::Unreliable, payload.clone());
            count += 1;
        }
        transport.send_packets(&mut server);
        if from.is_none() && measure.load(Ordering::Relaxed) {
            from = Some(thread_cpu());
        } else if from.is_some() {
            ticks += 1;
            client_ticks += count;
            received += got;
        }
        pace(&mut next, period);
    }
    let cpu = from.map_or(Duration::ZERO, |from| thread_cpu().saturating_sub(from));
    Measured { cpu, ticks, client_ticks, received }
}

/// One client and its transport.
struct Client {
    renet: RenetClient,
    transport: NetcodeClientTransport,
}

fn clients(args: Args, server: SocketAddr, private_key: &[u8; 32]) -> Result<Vec<Client>> {
    (0..args.clients)
        .map(|i| {
            let token = ConnectToken::generate(
                since_epoch(),
                PROTOCOL_ID,
                600,
                i as u64 + 1,
                15,
                vec![server],
                None,
                private_key,
            )?;
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            let transport = NetcodeClientTransport::new(
                since_epoch(),
                ClientAuthentication::Secure { connect_token: token },
                socket,
            )?;
            Ok(Client { renet: RenetClient::new(ConnectionConfig::default()), transport })
        })
        .collect()
}

/// Every client for one tick: reads, sends `message` once connected.
fn play(clients: &mut [Client], dt: Duration, message: &renet::Bytes) -> usize {
    let mut connected = 0;
    for client in clients.iter_mut() {
        client.renet.update(dt);
        if client.transport.update(dt, &mut client.renet).is_err() {
            continue;
        }
        if client.renet.is_connected() {
            connected += 1;
            while client.renet.receive_message(DefaultChannel::Unreliable).is_some() {}
            client.renet.send_message(DefaultChannel::Unreliable, message.clone());
        }
        let _ = client.transport.send_packets(&mut client.renet);
    }
    connected
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.clients == 0 || args.rate == 0 || args.seconds == 0 {
        bail!("--clients, --rate and --seconds must be at least 1");
    }
    let private_key: [u8; 32] = renet_netcode::generate_random_bytes();
    let socket = UdpSocket::bind("127.0.0.1:0").context("binding the server socket")?;
    // The engine's receive buffer: a tick's datagrams from 200 clients
    // arrive together, and the system's default (~200 kB) holds ~128.
    socket2::SockRef::from(&socket)
        .set_recv_buffer_size(tickforge_server::UDP_RECV_BUFFER)
        .context("sizing the server's receive buffer")?;
    let addr = socket.local_addr()?;
    let config = ServerConfig {
        current_time: since_epoch(),
        max_clients: args.clients,
        protocol_id: PROTOCOL_ID,
        public_addresses: vec![addr],
        authentication: ServerAuthentication::Secure { private_key },
    };
    let transport = NetcodeServerTransport::new(config, socket).context("starting the server transport")?;
    let server = RenetServer::new(ConnectionConfig::default());
    let measure = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let serving = {
        let (measure, stop) = (Arc::clone(&measure), Arc::clone(&stop));
        std::thread::spawn(move || serve(server, transport, args, &measure, &stop))
    };

    pin(1);
    let mut clients = clients(args, addr, &private_key)?;
    let message = renet::Bytes::from(vec![0x5au8; args.in_bytes]);
    let period = Duration::from_secs(1) / args.rate;
    let started = Instant::now();
    let mut last = started;
    let mut next = started;
    let mut connected;
    let mut active = 0;
    let mut measuring: Option<(Instant, Duration)> = None;
    loop {
        let now = Instant::now();
        let dt = now - last;
        last = now;
        // A ramp, as the load test's bots log in over seconds, rather
        // than every connection request in one burst.
        active = (active + RAMP_PER_TICK).min(clients.len());
        connected = play(&mut clients[..active], dt, &message);
        match measuring {
            None if connected == args.clients => {
                measuring = Some((Instant::now(), thread_cpu()));
                measure.store(true, Ordering::Relaxed);
            }
            None if started.elapsed() > CONNECT_LIMIT => break,
            Some((from, _)) if from.elapsed() >= Duration::from_secs(args.seconds) => break,
            _ => {}
        }
        pace(&mut next, period);
    }
    stop.store(true, Ordering::Relaxed);
    let measured = serving.join().map_err(|_| anyhow::anyhow!("the server thread panicked"))?;
    let Some((from, clients_cpu_from)) = measuring else {
        let mut why: Vec<String> = clients
            .iter()
            .filter(|c| !c.renet.is_connected())
            .map(|c| format!("{:?} / {:?}", c.transport.disconnect_reason(), c.renet.disconnect_reason()))
            .collect();
        why.sort();
        why.dedup();
        bail!("only {connected} of {} clients connected within {CONNECT_LIMIT:?} ({})", args.clients, why.join(", "));
    };
    let window = from.elapsed().as_secs_f64();
    let clients_cpu = thread_cpu().saturating_sub(clients_cpu_from).as_secs_f64();
    let per_client_tick = |cpu: f64, n: u64| if n == 0 { 0.0 } else { cpu * 1e6 / n as f64 };
    let report = serde_json::json!({
        "scenario": "bare_renet",
        "clients": args.clients,
        "connected": connected,
        "rate_hz": args.rate,
        "out_bytes": args.out_bytes,
        "in_bytes": args.in_bytes,
        "window_s": (window * 10.0).round() / 10.0,
        "server_ticks": measured.ticks,
        "messages_received": measured.received,
        "server_cpu_percent": (measured.cpu.as_secs_f64() * 1000.0 / window).round() / 10.0,
        "server_cpu_us_per_client_tick":
            (per_client_tick(measured.cpu.as_secs_f64(), measured.client_ticks) * 10.0).round() / 10.0,
        "clients_cpu_us_per_client_tick":
            (per_client_tick(clients_cpu, measured.ticks * args.clients as u64) * 10.0).round() / 10.0,
    });
    println!("{report}");
    Ok(())
}
