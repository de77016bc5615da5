//! Many real clients in one process, for load tests: each bot has its own
//! account (registered if missing), its own UDP socket and session. Login
//! threads bring bots in (waiting out `503 Retry-After`), worker threads
//! play them, and once a second the aggregate is printed as one JSON line;
//! a summary line ends the run.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::chatcheck::ChatCheck;
use crate::login::AuthClient;
use crate::moves::{Mover, Moves};
use tickforge_client_core::game::ClientGame;
use tickforge_shared::sim::Vec2;

use crate::session::{GameSession, LoginOptions};

/// What the bots do.
#[derive(Debug, Clone)]
pub struct BotsConfig {
    /// Auth API base URL.
    pub server_url: String,
    /// PEM CA certificate to trust for https.
    pub ca_cert: Option<Vec<u8>>,
    /// Account names are this prefix and the bot's index.
    pub prefix: String,
    /// Password of every bot account.
    pub password: String,
    /// How many bots.
    pub count: usize,
    /// Movement pattern.
    pub moves: Moves,
    /// Numbered chat lines each bot sends per second.
    pub chat_rate: f32,
    /// How long the run lasts, from the start (logins included).
    pub duration: Duration,
    /// Parallel logins.
    pub login_threads: usize,
    /// Threads playing the bots.
    pub workers: usize,
    /// UDP, or WebSocket as browsers play.
    pub transport: crate::net::TransportKind,
    /// The game the bots play (`None`: the server's default).
    pub game: Option<String>,
}

/// One bot's figures, refreshed once a second by its worker.
#[derive(Debug, Clone, Default)]
struct Sample {
    connected: bool,
    rtt_ms: f64,
    snapshots: u64,
    entities: usize,
    bytes_in_per_s: f64,
    bytes_out_per_s: f64,
    mispredictions: u64,
    chat_sent: u64,
    chat_received: u64,
    chat_out_of_order: u64,
    reliable_received: u64,
    traffic: Traffic,
    reconnects: u32,
    transfers: u32,
    transfer_mismatches: u32,
    longest_outage_ms: f64,
    longest_rewind_ms: f64,
    longest_transfer_pause_ms: f64,
    ended: Option<String>,
}

/// A bot's datagrams over its whole run (every connection it had), and
/// the inputs it sent (one per server tick it played).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Traffic {
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Inputs sent.
    pub inputs: u64,
    /// The current connection's counts when last looked at.
    #[serde(skip)]
    seen: (u64, u64),
}

impl Traffic {
    /// Adds what the connection counted since the last look (a new
    /// connection counts from zero again).
    fn observe(&mut self, datagrams_in: u64, datagrams_out: u64) {
        let since = |now: u64, before: u64| if now >= before { now - before } else { now };
        self.datagrams_in += since(datagrams_in, self.seen.0);
        self.datagrams_out += since(datagrams_out, self.seen.1);
        self.seen = (datagrams_in, datagrams_out);
    }

    fn sum<'a>(all: impl Iterator<Item = &'a Traffic>) -> Traffic {
        all.fold(Traffic::default(), |t, s| Traffic {
            datagrams_in: t.datagrams_in + s.datagrams_in,
            datagrams_out: t.datagrams_out + s.datagrams_out,
            inputs: t.inputs + s.inputs,
            seen: (0, 0),
        })
    }
}

/// The per-second aggregate line.
#[derive(Debug, Clone, Serialize)]
pub struct BotsSecond {
    /// Seconds since the start.
    pub t: u64,
    /// Bots connected now.
    pub connected: usize,
    /// Logins done so far.
    pub logins: usize,
    /// Round-trip time over connected bots: median.
    pub rtt_p50_ms: f64,
    /// Round-trip time over connected bots: 99th percentile.
    pub rtt_p99_ms: f64,
    /// Snapshots received in the last second, median over connected bots.
    pub snapshots_per_s_p50: f64,
    /// Entities in view, median over connected bots.
    pub entities_p50: f64,
    /// Mean bytes received per connected bot per second.
    pub bytes_in_per_client: f64,
    /// Mean bytes sent per connected bot per second.
    pub bytes_out_per_client: f64,
    /// Own-avatar mispredictions so far, all bots.
    pub mispredictions: u64,
    /// Reliable messages (chat, notices, roster) received so far, all bots.
    pub reliable_received: u64,
    /// Datagrams and inputs so far, all bots.
    pub traffic: Traffic,
}

/// The final line.
#[derive(Debug, Clone, Serialize)]
pub struct BotsSummary {
    /// Always true: marks the summary line.
    pub summary: bool,
    /// Bots asked for.
    pub bots: usize,
    /// Most bots connected at once.
    pub connected_peak: usize,
    /// Bots connected when the run ended.
    pub connected_at_end: usize,
    /// Successful logins (with connection).
    pub logins: usize,
    /// Logins per second while logging in.
    pub logins_per_s: f64,
    /// Seconds from the start until the last login finished.
    pub login_phase_s: f64,
    /// Failed logins or connections, by error.
    pub login_errors: BTreeMap<String, u64>,
    /// Sessions that ended before the run did, by reason.
    pub ended_early: BTreeMap<String, u64>,
    /// Round-trip time over all per-second samples of connected bots.
    pub rtt_p50_ms: f64,
    /// 99th percentile of the same.
    pub rtt_p99_ms: f64,
    /// Snapshots per second per bot, median over all samples.
    pub snapshots_per_s_p50: f64,
    /// Entities in view, median over all samples.
    pub entities_p50: f64,
    /// Mean bytes received per connected bot per second.
    pub bytes_in_per_client: f64,
    /// Mean bytes sent per connected bot per second.
    pub bytes_out_per_client: f64,
    /// Own-avatar mispredictions, all bots.
    pub mispredictions: u64,
    /// Numbered chat lines sent.
    pub chat_sent: u64,
    /// Numbered chat lines received, all bots.
    pub chat_received: u64,
    /// Lines received out of order or after a gap.
    pub chat_out_of_order: u64,
    /// Reliable messages (chat, notices, roster) received, all bots.
    pub reliable_messages_received: u64,
    /// Times bots lost their connection and came back by themselves, all bots.
    pub reconnects: u64,
    /// The longest time any bot was without the world after a loss, in ms.
    pub longest_outage_ms: f64,
    /// Per bot that came back after a loss, its longest outage: median, in ms.
    pub outage_p50_ms: f64,
    /// The same, 99th percentile.
    pub outage_p99_ms: f64,
    /// The most play a loss took back from any bot (the age of the state it
    /// came back to, relative to the last it saw), in ms.
    pub longest_rewind_ms: f64,
    /// Times draining servers moved bots to another server, all bots.
    pub transfers: u64,
    /// Moves after which a bot's own avatar did not start exactly (position
    /// and velocity) where the old server froze it, all bots.
    pub transfer_mismatches: u64,
    /// Per bot that moved, its longest pause during a move (last snapshot
    /// on the old server to the first on the new): median, in ms.
    pub transfer_pause_p50_ms: f64,
    /// The same, 99th percentile.
    pub transfer_pause_p99_ms: f64,
    /// The same, the longest.
    pub transfer_pause_max_ms: f64,
    /// The same, every one (ms, in order), for the rollout chart
    /// (`scripts/plot.sh`).
    pub transfer_pauses_ms: Vec<f64>,
    /// Seconds run.
    pub duration_s: f64,
}

/// The `q` quantile (0–1) of `values` (sorted in place); 0 when empty.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    (values[index] * 10.0).round() / 10.0
}

/// State shared by the threads.
struct Shared {
    samples: Mutex<Vec<Sample>>,
    logins: AtomicUsize,
    login_errors: Mutex<BTreeMap<String, u64>>,
    last_login: Mutex<Option<Instant>>,
}

/// A bot being played.
struct Bot<G: ClientGame> {
    index: usize,
    session: GameSession<G>,
    mover: Mover,
    /// What its game's bot policy remembers.
    brain: G::Bot,
    chat: ChatCheck,
    next_tick: Instant,
    started: Instant,
    ended: Option<String>,
    traffic: Traffic,
    /// The socket watched for readiness (its fd, and the session's moves
    /// and reconnects when it was registered).
    watched: Option<(std::os::fd::RawFd, u32, u32)>,
}

fn seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Logs in `name` (registering if missing), waiting out busy answers. The
/// session remembers how, so a bot comes back by itself after a loss.
fn login<G: ClientGame>(config: &BotsConfig, name: &str) -> Result<GameSession<G>, String> {
    let options = LoginOptions {
        server_url: config.server_url.clone(),
        username: name.to_owned(),
        password: config.password.clone(),
        register: true,
        ca_cert: config.ca_cert.clone(),
        game: config.game.clone(),
    };
    let mut session = GameSession::<G>::login_over(&options, config.transport).map_err(|e| e.to_string())?;
    session.wait_connected(Duration::from_secs(10)).map_err(|e| e.to_string())?;
    Ok(session)
}

fn login_thread<G: ClientGame>(
    config: &BotsConfig,
    next: &AtomicUsize,
    shared: &Shared,
    workers: &[mpsc::Sender<Bot<G>>],
    deadline: Instant,
) {
    // A bad CA file fails every login the same way: say so once.
    if let Some(pem) = &config.ca_cert
        && let Err(e) = AuthClient::with_ca_pem(&config.server_url, pem)
    {
        *shared.login_errors.lock().unwrap_or_else(|p| p.into_inner()).entry(e.to_string()).or_default() += 1;
        return;
    }
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= config.count || Instant::now() >= deadline {
            return;
        }
        let name = format!("{}{index}", config.prefix);
        match login::<G>(config, &name) {
            Ok(session) => {
                shared.logins.fetch_add(1, Ordering::Relaxed);
                *shared.last_login.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                let now = Instant::now();
                let bot = Bot {
                    index,
                    session,
                    mover: Mover::new(config.moves, seed(&name)),
                    brain: G::Bot::default(),
                    chat: ChatCheck::new(),
                    next_tick: now,
                    started: now,
                    ended: None,
                    traffic: Traffic::default(),
                    watched: None,
                };
                let _ = workers[index % workers.len()].send(bot);
            }
            Err(error) => {
                tracing::debug!(bot = %name, %error, "bot login failed");
                *shared.login_errors.lock().unwrap_or_else(|p| p.into_inner()).entry(error).or_default() += 1;
            }
        }
    }
}

fn publish<G: ClientGame>(bots: &mut [Bot<G>], shared: &Shared) {
    let mut samples = shared.samples.lock().unwrap_or_else(|p| p.into_inner());
    for bot in bots {
        let s = &bot.session;
        let conn = s.connection();
        bot.traffic.observe(conn.datagrams_in.0, conn.datagrams_out.0);
        samples[bot.index] = Sample {
            connected: bot.ended.is_none() && s.is_connected(),
            rtt_ms: s.rtt_ms(),
            snapshots: s.snapshots_total(),
            entities: s.world.entities.len(),
            bytes_in_per_s: s.bytes_in_per_s(),
            bytes_out_per_s: s.bytes_out_per_s(),
            mispredictions: s.predictor.mispredictions,
            chat_sent: bot.chat.sent,
            chat_received: bot.chat.received,
            chat_out_of_order: bot.chat.out_of_order,
            reliable_received: s.reliable_received(),
            traffic: bot.traffic,
            reconnects: s.reconnects,
            transfers: s.transfers,
            transfer_mismatches: s.transfer_mismatches,
            longest_outage_ms: s.longest_outage.as_secs_f64() * 1000.0,
            longest_rewind_ms: s.longest_rewind.as_secs_f64() * 1000.0,
            longest_transfer_pause_ms: s.longest_transfer_pause.as_secs_f64() * 1000.0,
            ended: bot.ended.clone(),
        };
    }
}

/// Longest a worker sleeps between looks at its bots.
const MAX_WAIT: Duration = Duration::from_millis(5);

/// Watches the socket under `bot`'s connection (again after a move or a
/// reconnect: a new connection is a new socket) for readiness.
fn watch<G: ClientGame>(poll: &mio::Poll, token: usize, bot: &mut Bot<G>) {
    let fd = bot.session.connection().transport().raw_fd();
    let generation = (fd, bot.session.transfers, bot.session.reconnects);
    if bot.watched == Some(generation) {
        return;
    }
    let registry = poll.registry();
    let (source, token, interest) = (&mut mio::unix::SourceFd(&fd), mio::Token(token), mio::Interest::READABLE);
    let watched = match registry.register(source, token, interest) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => registry.reregister(source, token, interest),
        other => other,
    };
    match watched {
        Ok(()) => bot.watched = Some(generation),
        // Still played: its tick reads the socket anyway.
        Err(e) => tracing::debug!(bot = bot.index, error = %e, "cannot watch the bot's socket"),
    }
}

/// Plays one bot: reads what arrived, and on its tick sends its input.
fn play<G: ClientGame>(config: &BotsConfig, bot: &mut Bot<G>, now: Instant) {
    if let Err(e) = bot.session.update() {
        bot.ended = Some(e.to_string());
        return;
    }
    for (from, text) in bot.session.world.chat_new.drain(..) {
        bot.chat.observe(&from, &text);
    }
    if now >= bot.next_tick {
        let tick_rate = bot.session.world.tick_rate.max(1);
        let (x, y) = bot.mover.next(tick_rate);
        if let Some(line) = bot.chat.due(bot.started.elapsed().as_secs_f32(), config.chat_rate) {
            bot.session.send_chat(&line);
        }
        let input = G::bot(&mut bot.brain, Vec2::new(x, y), &bot.session.world);
        bot.session.send(input);
        bot.traffic.inputs += 1;
        let dt = Duration::from_secs(1) / u32::from(tick_rate);
        bot.next_tick = (bot.next_tick + dt).max(now);
    }
}

/// Plays the bots it is given until `deadline`: like a real client, each
/// reads its socket as soon as something arrives (the worker waits on all
/// its sockets at once) and sends an input every server tick; a bot is
/// not polled in between.
fn worker<G: ClientGame>(config: &BotsConfig, inbox: &mpsc::Receiver<Bot<G>>, shared: &Shared, deadline: Instant) {
    let mut bots: Vec<Bot<G>> = Vec::new();
    let mut next_publish = Instant::now();
    let mut poll = match mio::Poll::new() {
        Ok(poll) => Some(poll),
        Err(e) => {
            tracing::warn!(error = %e, "no readiness polling: bots are polled every millisecond");
            None
        }
    };
    let mut events = mio::Events::with_capacity(1024);
    let mut ready: Vec<bool> = Vec::new();
    while Instant::now() < deadline {
        while let Ok(bot) = inbox.try_recv() {
            bots.push(bot);
        }
        ready.resize(bots.len(), true);
        let now = Instant::now();
        for (i, bot) in bots.iter_mut().enumerate().filter(|(_, b)| b.ended.is_none()) {
            if poll.is_none() || ready[i] || now >= bot.next_tick {
                ready[i] = false;
                play(config, bot, now);
                if let Some(poll) = &poll {
                    watch(poll, i, bot);
                }
            }
        }
        if now >= next_publish {
            publish(&mut bots, shared);
            next_publish += Duration::from_millis(500);
        }
        let next = bots.iter().filter(|b| b.ended.is_none()).map(|b| b.next_tick).min().unwrap_or(now + MAX_WAIT);
        let wait = next.saturating_duration_since(Instant::now()).min(MAX_WAIT);
        match &mut poll {
            Some(poll) => {
                if let Err(e) = poll.poll(&mut events, Some(wait)) {
                    tracing::debug!(error = %e, "poll failed");
                    std::thread::sleep(Duration::from_millis(1));
                }
                for event in &events {
                    if let Some(flag) = ready.get_mut(event.token().0) {
                        *flag = true;
                    }
                }
            }
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    publish(&mut bots, shared);
    for bot in &mut bots {
        bot.session.disconnect();
    }
}

/// Runs the bots of game `G` (each playing as [`ClientGame::bot`] says),
/// printing a JSON line a second to `out`; returns the summary.
pub fn run<G: ClientGame>(config: &BotsConfig, out: &mut impl Write) -> BotsSummary {
    let start = Instant::now();
    let deadline = start + config.duration;
    let shared = Shared {
        samples: Mutex::new(vec![Sample::default(); config.count]),
        logins: AtomicUsize::new(0),
        login_errors: Mutex::new(BTreeMap::new()),
        last_login: Mutex::new(None),
    };
    let next = AtomicUsize::new(0);
    let mut summary = BotsSummary {
        summary: true,
        bots: config.count,
        connected_peak: 0,
        connected_at_end: 0,
        logins: 0,
        logins_per_s: 0.0,
        login_phase_s: 0.0,
        login_errors: BTreeMap::new(),
        ended_early: BTreeMap::new(),
        rtt_p50_ms: 0.0,
        rtt_p99_ms: 0.0,
        snapshots_per_s_p50: 0.0,
        entities_p50: 0.0,
        bytes_in_per_client: 0.0,
        bytes_out_per_client: 0.0,
        mispredictions: 0,
        chat_sent: 0,
        chat_received: 0,
        chat_out_of_order: 0,
        reliable_messages_received: 0,
        reconnects: 0,
        longest_outage_ms: 0.0,
        outage_p50_ms: 0.0,
        outage_p99_ms: 0.0,
        longest_rewind_ms: 0.0,
        transfers: 0,
        transfer_mismatches: 0,
        transfer_pause_p50_ms: 0.0,
        transfer_pause_p99_ms: 0.0,
        transfer_pause_max_ms: 0.0,
        transfer_pauses_ms: Vec::new(),
        duration_s: 0.0,
    };
    let (mut all_rtt, mut all_snapshots, mut all_entities) = (Vec::new(), Vec::new(), Vec::new());
    let (mut bytes_in_sum, mut bytes_out_sum, mut bytes_samples) = (0.0, 0.0, 0usize);
    std::thread::scope(|scope| {
        let mut senders = Vec::new();
        for _ in 0..config.workers.max(1) {
            let (tx, rx) = mpsc::channel();
            senders.push(tx);
            let shared = &shared;
            scope.spawn(move || worker::<G>(config, &rx, shared, deadline));
        }
        for _ in 0..config.login_threads.max(1) {
            let (shared, next, senders) = (&shared, &next, senders.clone());
            scope.spawn(move || login_thread::<G>(config, next, shared, &senders, deadline));
        }
        drop(senders);
        let mut previous: Vec<u64> = vec![0; config.count];
        let mut next_report = start + Duration::from_secs(1);
        while Instant::now() < deadline {
            std::thread::sleep(next_report.saturating_duration_since(Instant::now()).min(deadline - start));
            if Instant::now() >= deadline {
                break;
            }
            let samples = shared.samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let live: Vec<(usize, &Sample)> = samples.iter().enumerate().filter(|(_, s)| s.connected).collect();
            let mut rtt: Vec<f64> = live.iter().map(|(_, s)| s.rtt_ms).collect();
            let mut snaps: Vec<f64> = live
                .iter()
                .filter(|(i, _)| previous[*i] > 0)
                .map(|(i, s)| s.snapshots.saturating_sub(previous[*i]) as f64)
                .collect();
            let mut entities: Vec<f64> = live.iter().map(|(_, s)| s.entities as f64).collect();
            let n = live.len().max(1) as f64;
            let bytes_in: f64 = live.iter().map(|(_, s)| s.bytes_in_per_s).sum();
            let bytes_out: f64 = live.iter().map(|(_, s)| s.bytes_out_per_s).sum();
            // A bot's first second after joining has a partial count.
            for (i, s) in samples.iter().enumerate() {
                if s.connected && previous[i] > 0 {
                    all_snapshots.push(s.snapshots.saturating_sub(previous[i]) as f64);
                }
                previous[i] = s.snapshots;
            }
            all_rtt.extend_from_slice(&rtt);
            all_entities.extend_from_slice(&entities);
            bytes_in_sum += bytes_in;
            bytes_out_sum += bytes_out;
            bytes_samples += live.len();
            summary.connected_peak = summary.connected_peak.max(live.len());
            let line = BotsSecond {
                t: start.elapsed().as_secs_f64().round() as u64,
                connected: live.len(),
                logins: shared.logins.load(Ordering::Relaxed),
                rtt_p50_ms: quantile(&mut rtt, 0.5),
                rtt_p99_ms: quantile(&mut rtt, 0.99),
                snapshots_per_s_p50: quantile(&mut snaps, 0.5),
                entities_p50: quantile(&mut entities, 0.5),
                bytes_in_per_client: (bytes_in / n).round(),
                bytes_out_per_client: (bytes_out / n).round(),
                mispredictions: samples.iter().map(|s| s.mispredictions).sum(),
                reliable_received: samples.iter().map(|s| s.reliable_received).sum(),
                traffic: Traffic::sum(samples.iter().map(|s| &s.traffic)),
            };
            let _ = writeln!(out, "{}", serde_json::to_string(&line).unwrap_or_default());
            let _ = out.flush();
            next_report += Duration::from_secs(1);
        }
    });
    let samples = shared.samples.into_inner().unwrap_or_else(|p| p.into_inner());
    summary.connected_at_end = samples.iter().filter(|s| s.connected).count();
    summary.logins = shared.logins.load(Ordering::Relaxed);
    summary.login_errors = shared.login_errors.into_inner().unwrap_or_else(|p| p.into_inner());
    let last_login = shared.last_login.into_inner().unwrap_or_else(|p| p.into_inner());
    summary.login_phase_s = last_login.map_or(0.0, |t| ((t - start).as_secs_f64() * 100.0).round() / 100.0);
    if summary.login_phase_s > 0.0 {
        summary.logins_per_s = ((summary.logins as f64 / summary.login_phase_s) * 10.0).round() / 10.0;
    }
    for s in &samples {
        if let Some(reason) = &s.ended {
            *summary.ended_early.entry(reason.clone()).or_default() += 1;
        }
    }
    summary.rtt_p50_ms = quantile(&mut all_rtt, 0.5);
    summary.rtt_p99_ms = quantile(&mut all_rtt, 0.99);
    summary.snapshots_per_s_p50 = quantile(&mut all_snapshots, 0.5);
    summary.entities_p50 = quantile(&mut all_entities, 0.5);
    let samples_n = bytes_samples.max(1) as f64;
    summary.bytes_in_per_client = (bytes_in_sum / samples_n).round();
    summary.bytes_out_per_client = (bytes_out_sum / samples_n).round();
    summary.mispredictions = samples.iter().map(|s| s.mispredictions).sum();
    summary.chat_sent = samples.iter().map(|s| s.chat_sent).sum();
    summary.chat_received = samples.iter().map(|s| s.chat_received).sum();
    summary.chat_out_of_order = samples.iter().map(|s| s.chat_out_of_order).sum();
    summary.reliable_messages_received = samples.iter().map(|s| s.reliable_received).sum();
    summary.reconnects = samples.iter().map(|s| u64::from(s.reconnects)).sum();
    summary.longest_outage_ms = samples.iter().map(|s| s.longest_outage_ms.round()).fold(0.0, f64::max);
    let mut outages: Vec<f64> = samples.iter().filter(|s| s.reconnects > 0).map(|s| s.longest_outage_ms).collect();
    summary.outage_p50_ms = quantile(&mut outages, 0.5);
    summary.outage_p99_ms = quantile(&mut outages, 0.99);
    summary.longest_rewind_ms = samples.iter().map(|s| s.longest_rewind_ms.round()).fold(0.0, f64::max);
    summary.transfers = samples.iter().map(|s| u64::from(s.transfers)).sum();
    summary.transfer_mismatches = samples.iter().map(|s| u64::from(s.transfer_mismatches)).sum();
    let mut pauses: Vec<f64> =
        samples.iter().filter(|s| s.transfers > 0).map(|s| s.longest_transfer_pause_ms).collect();
    summary.transfer_pause_p50_ms = quantile(&mut pauses, 0.5);
    summary.transfer_pause_p99_ms = quantile(&mut pauses, 0.99);
    summary.transfer_pause_max_ms = quantile(&mut pauses, 1.0);
    summary.transfer_pauses_ms = pauses.iter().map(|p| (p * 10.0).round() / 10.0).collect();
    summary.duration_s = (start.elapsed().as_secs_f64() * 100.0).round() / 100.0;
    summary
}
