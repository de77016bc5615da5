//! `tickforge-client`: log in over HTTP, play over UDP, in a window or headless.

use std::process::ExitCode;
use std::time::Duration;

use tickforge_client::bots::{self, BotsConfig};
use tickforge_client::games::{self, ClientGame, DEFAULT_GAME, WithGame};
use tickforge_client::headless;
use tickforge_client::login::Login;
use tickforge_client::moves::{Cheat, Mover, Moves};
use tickforge_client::playback;
use tickforge_client::session::{self, GameSession, LoginOptions};

/// Tickforge client.
///
/// Every flag can also come from its environment variable (shown below)
/// or from the --config file: a flag wins over its variable, which wins
/// over the file, which wins over the default.
// No `Debug`: the arguments hold the password.
#[derive(clap::Parser)]
#[command(name = "tickforge-client", version)]
struct Args {
    /// Auth API base URL.
    #[arg(long, default_value = "http://127.0.0.1:7000")]
    server: String,
    /// Account name.
    #[arg(long, default_value = "player")]
    user: String,
    /// Password (or set TICKFORGE_PASSWORD). Bots default to "bot-password".
    #[arg(long, env = "TICKFORGE_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Create the account first if it does not exist.
    #[arg(long)]
    register: bool,
    /// The game to play: arena or skirmish (default: the one the server
    /// places the player in; bots: arena).
    #[arg(long)]
    game: Option<String>,
    /// PEM CA certificate to trust for an https:// server (e.g. a self-signed one).
    #[arg(long)]
    ca_cert: Option<std::path::PathBuf>,
    /// No window: scripted movement and JSON stats on stdout.
    #[arg(long)]
    headless: bool,
    /// Headless movement pattern: random, circle, line, diagonal or idle.
    #[arg(long, default_value = "random")]
    moves: Moves,
    /// Misbehave on purpose (headless): speed:FACTOR, teleport, nan or flood.
    #[arg(long)]
    cheat: Option<Cheat>,
    /// Headless: numbered chat lines to send per second (receivers check their order).
    #[arg(long, default_value_t = 0.0)]
    chat_rate: f32,
    /// Headless run time in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Play over UDP, or over WebSocket as the browser page does.
    #[arg(long, value_enum, default_value = "udp")]
    transport: tickforge_client::net::TransportKind,
    /// Run N bots in this process (headless): accounts `--bot-prefix` + index,
    /// registered if missing; per-second aggregate JSON and a summary.
    #[arg(long, value_name = "N")]
    bots: Option<usize>,
    /// Account name prefix of bots.
    #[arg(long, default_value = "bot")]
    bot_prefix: String,
    /// Bots: parallel logins.
    #[arg(long, default_value_t = 8)]
    login_threads: usize,
    /// Bots: threads playing them (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Play a replay file instead of connecting (graphical, or per-second
    /// JSON with --headless).
    #[arg(long, value_name = "FILE")]
    replay: Option<std::path::PathBuf>,
    /// Replay: first tick to play.
    #[arg(long, value_name = "TICK")]
    from: Option<u32>,
    /// Replay: last tick to play.
    #[arg(long, value_name = "TICK")]
    to: Option<u32>,
    /// Log lines as human text or as one JSON object each (`RUST_LOG` filters either).
    #[arg(long, value_enum, default_value = "text")]
    log_format: tickforge_cli::LogFormat,
}

fn main() -> ExitCode {
    let args: Args = tickforge_cli::parse("TICKFORGE_CLIENT_");
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tickforge_cli::logging::init(args.log_format, "warn", std::io::stderr, ansi);
    let ca_cert = match args.ca_cert.as_ref().map(std::fs::read).transpose() {
        Ok(pem) => pem,
        Err(e) => {
            eprintln!("tickforge-client: cannot read --ca-cert: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Ok(duration) = Duration::try_from_secs_f64(args.duration.max(0.0)) else {
        eprintln!("tickforge-client: --duration must be a number of seconds");
        return ExitCode::FAILURE;
    };
    if let Some(path) = &args.replay {
        return play_replay(path, &args);
    }
    if let Some(count) = args.bots {
        let config = BotsConfig {
            server_url: args.server.clone(),
            ca_cert,
            prefix: args.bot_prefix.clone(),
            password: args.password.clone().unwrap_or_else(|| "bot-password".into()),
            count,
            moves: args.moves,
            chat_rate: args.chat_rate.clamp(0.0, 100.0),
            duration,
            login_threads: args.login_threads.clamp(1, 256),
            workers: args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            transport: args.transport,
            game: args.game.clone(),
        };
        let game = config.game.clone().unwrap_or_else(|| DEFAULT_GAME.to_owned());
        return games::with_game(&game, Bots(config)).unwrap_or_else(|e| {
            eprintln!("tickforge-client: {e}");
            ExitCode::FAILURE
        });
    }
    if let Some(game) = &args.game
        && let Err(e) = games::with_game(game, Known)
    {
        eprintln!("tickforge-client: {e}");
        return ExitCode::FAILURE;
    }
    let Some(password) = args.password.clone() else {
        eprintln!("tickforge-client: --password (or TICKFORGE_PASSWORD) is required");
        return ExitCode::FAILURE;
    };
    let options = LoginOptions {
        server_url: args.server.clone(),
        username: args.user.clone(),
        password,
        register: args.register,
        ca_cert,
        game: args.game.clone(),
    };
    let login = match session::login(&options) {
        Ok(login) => login,
        Err(e) => return failed(&e, args.headless),
    };
    // The game asked for, else the one the server placed the player in.
    let game = args.game.clone().or_else(|| login.game.clone()).unwrap_or_else(|| DEFAULT_GAME.to_owned());
    let play = Play { args: &args, options: &options, login: &login, duration };
    games::with_game(&game, play).unwrap_or_else(|e| {
        eprintln!("tickforge-client: {e}");
        ExitCode::FAILURE
    })
}

/// Says why the client could not start (and, headless, prints the summary line scripts expect).
fn failed(e: &session::SessionError, headless: bool) -> ExitCode {
    eprintln!("tickforge-client: {e}");
    if headless {
        println!("{}", serde_json::to_string(&headless::failed(e)).unwrap_or_default());
    }
    ExitCode::FAILURE
}

/// Checks a game name is known (before logging in for it).
struct Known;

impl WithGame for Known {
    type Output = ();
    fn run<G: ClientGame>(self) {}
}

/// The load bots of a game.
struct Bots(BotsConfig);

impl WithGame for Bots {
    type Output = ExitCode;
    fn run<G: ClientGame>(self) -> ExitCode {
        let summary = bots::run::<G>(&self.0, &mut std::io::stdout());
        println!("{}", serde_json::to_string(&summary).unwrap_or_default());
        if summary.logins > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }
}

/// One player of a game, in the window or headless, from its login.
struct Play<'a> {
    args: &'a Args,
    options: &'a LoginOptions,
    login: &'a Login,
    duration: Duration,
}

impl WithGame for Play<'_> {
    type Output = ExitCode;
    fn run<G: ClientGame>(self) -> ExitCode {
        let Play { args, options, login, duration } = self;
        let session = GameSession::<G>::from_login(options, args.transport, login)
            .and_then(|mut s| s.wait_connected(Duration::from_secs(10)).map(|()| s));
        match session {
            Ok(session) => play(session, args, duration),
            Err(e) => failed(&e, args.headless),
        }
    }
}

/// Plays `session` headless or in the window.
fn play<G: ClientGame>(mut session: GameSession<G>, args: &Args, duration: Duration) -> ExitCode {
    if args.headless {
        let seed =
            args.user.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let mut mover = Mover::new(args.moves, seed);
        let behaviour = headless::Behaviour { cheat: args.cheat, chat_rate: args.chat_rate.clamp(0.0, 100.0) };
        let summary = headless::run(&mut session, &mut mover, behaviour, duration, &mut std::io::stdout());
        session.disconnect();
        println!("{}", serde_json::to_string(&summary).unwrap_or_default());
        if summary.ok() {
            ExitCode::SUCCESS
        } else {
            eprintln!(
                "tickforge-client: run failed: {}",
                summary.error.as_deref().unwrap_or("connected but received no snapshots")
            );
            ExitCode::FAILURE
        }
    } else {
        run_graphical(session, &args.user)
    }
}

fn play_replay(path: &std::path::Path, args: &Args) -> ExitCode {
    let mut replay = match playback::open(path) {
        Ok(replay) => replay,
        Err(e) => {
            eprintln!("tickforge-client: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    if let Some(damage) = replay.damage() {
        eprintln!("tickforge-client: {}: plays up to the damage: {damage}", path.display());
    }
    if args.headless {
        return match playback::headless(&mut replay, args.from, args.to, &mut std::io::stdout()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tickforge-client: {}: {e}", path.display());
                ExitCode::FAILURE
            }
        };
    }
    let game = replay.header.game.clone();
    games::with_game(&game, ReplayWindow { replay, path, from: args.from }).unwrap_or_else(|e| {
        eprintln!("tickforge-client: {}: {e}", path.display());
        ExitCode::FAILURE
    })
}

/// A replay's window, for the game it recorded.
struct ReplayWindow<'a> {
    replay: playback::ReplayFile,
    path: &'a std::path::Path,
    from: Option<u32>,
}

impl WithGame for ReplayWindow<'_> {
    type Output = ExitCode;

    #[cfg(feature = "graphics")]
    fn run<G: ClientGame>(self) -> ExitCode {
        let title = format!("Tickforge replay — {}", self.path.display());
        tickforge_client::replay_view::run::<G>(self.replay, self.from, title);
        ExitCode::SUCCESS
    }

    #[cfg(not(feature = "graphics"))]
    fn run<G: ClientGame>(self) -> ExitCode {
        eprintln!("tickforge-client: built without the `graphics` feature; use --headless");
        ExitCode::FAILURE
    }
}

#[cfg(feature = "graphics")]
fn run_graphical<G: ClientGame>(session: GameSession<G>, user: &str) -> ExitCode {
    tickforge_client::render::run(session, format!("Tickforge — {user}"));
    ExitCode::SUCCESS
}

#[cfg(not(feature = "graphics"))]
fn run_graphical<G: ClientGame>(_session: GameSession<G>, _user: &str) -> ExitCode {
    eprintln!("tickforge-client: built without the `graphics` feature; use --headless");
    ExitCode::FAILURE
}
