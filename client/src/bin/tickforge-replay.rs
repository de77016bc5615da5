//! `tickforge-replay`: inspect replay files.
//!
//! - `info FILE`: header, duration, ticks, players, size (JSON);
//! - `verify FILE`: reads every frame, checks checksums, every
//!   reconstructed state and every delta chain against the keyframe it
//!   reaches; exit 0, or 1 with the first bad offset;
//! - `export FILE --format jsonl [--from TICK] [--to TICK]`: one JSON line per tick.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tickforge_client::playback;

/// Inspect Tickforge replay files.
#[derive(Parser)]
#[command(name = "tickforge-replay", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Header, duration, ticks, players and size, as JSON.
    Info {
        /// The replay file.
        file: PathBuf,
    },
    /// Reads and checks every frame; exit 1 at the first damage.
    Verify {
        /// The replay file.
        file: PathBuf,
    },
    /// One line per tick.
    Export {
        /// The replay file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
        /// First tick.
        #[arg(long)]
        from: Option<u32>,
        /// Last tick.
        #[arg(long)]
        to: Option<u32>,
    },
}

/// Export formats.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// One JSON object per line.
    Jsonl,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let file = match &args.command {
        Command::Info { file } | Command::Verify { file } | Command::Export { file, .. } => file.clone(),
    };
    let mut replay = match playback::open(&file) {
        Ok(replay) => replay,
        Err(e) => {
            eprintln!("tickforge-replay: {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let result = match args.command {
        Command::Info { .. } => {
            let size = std::fs::metadata(&file).map_or(0, |m| m.len());
            playback::info(&mut replay, size).map(|info| {
                // A reader that stops early (`| head`) is not an error.
                let _ = writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&info).unwrap_or_default());
            })
        }
        Command::Verify { .. } => playback::verify(&mut replay).map(|frames| {
            let _ = writeln!(
                std::io::stdout(),
                "ok: {frames} frames, ticks {}..={}, {} keyframes",
                replay.first_tick(),
                replay.last_tick(),
                replay.keyframes().len()
            );
        }),
        Command::Export { from, to, format: Format::Jsonl, .. } => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let done = playback::export(&mut replay, from, to, &mut out).map(|_| ());
            let _ = out.flush();
            done
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickforge-replay: {}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}
