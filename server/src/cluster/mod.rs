//! The cluster view of one app server: who it is in the registry (id,
//! colour, capacity, build) and its heartbeat — a registry row upserted
//! through the store once a second from the tick loop (never waiting:
//! the row goes through the tick's outbox), `starting` when bound, `ready`
//! while it ticks, `stopped` after a clean shutdown. A row whose heartbeat
//! is older than [`DEAD_AFTER_MS`] belongs to a dead server.

pub mod handoff;
pub mod orders;

use std::net::SocketAddr;

use bevy_ecs::prelude::*;

use crate::api::Game;
use crate::game::players::PlayersSet;
use crate::game::roster::Roster;
use crate::net::token::TokenIssuer;
use crate::shutdown::Shutdown;
use crate::store::{ServerRow, ServerState, StoreCommand, StoreOutbox, StoreSet};
use crate::tick::{Phase, TickInfo};

/// The cluster's sets inside the phases.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterSet {
    /// The cluster's orders applied ([`Phase::Admit`], between the players' spawns and lingering).
    Orders,
    /// Handoffs of a draining server ([`Phase::Admit`], after lingering).
    Handoff,
    /// The registry heartbeat ([`Phase::Persist`], after the players' save, before the store's flush).
    Heartbeat,
}

/// Installs the registration, the order poll, the drain and their systems
/// for game `G`. `tokens` seal transfer tokens; `shutdown` ends a drained server.
pub fn install<G: Game>(
    world: &mut World,
    schedule: &mut Schedule,
    registration: Registration,
    tokens: TokenIssuer,
    shutdown: Shutdown,
) {
    world.insert_resource(registration);
    world.init_resource::<orders::Orders>();
    world.insert_resource(handoff::Drain::new(tokens, shutdown));
    schedule
        .configure_sets(ClusterSet::Orders.in_set(Phase::Admit).after(PlayersSet::Spawn).before(PlayersSet::Linger));
    schedule.configure_sets(ClusterSet::Handoff.in_set(Phase::Admit).after(PlayersSet::Linger));
    schedule
        .configure_sets(ClusterSet::Heartbeat.in_set(Phase::Persist).after(PlayersSet::Save).before(StoreSet::Flush));
    schedule.add_systems((
        orders::apply_orders.in_set(ClusterSet::Orders),
        handoff::hand_over::<G>.in_set(ClusterSet::Handoff),
        heartbeat.in_set(ClusterSet::Heartbeat),
    ));
}

/// A registry row older than this (by the database's clock) is dead (the
/// store's rule, which its placement and order queries apply).
pub use crate::store::DEAD_AFTER_MS;

/// The build string app servers register: the crate version.
pub const BUILD: &str = env!("CARGO_PKG_VERSION");

/// What one process does in a deployment (`--role`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything in one process: auth API, world, admin (the default, on
    /// embedded SQLite or any database).
    #[default]
    All,
    /// The auth API and the director, the cluster's admin surface; no world.
    Auth,
    /// The world (tick loop, UDP) and its own admin/metrics; no auth API.
    App,
}

impl Role {
    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Auth => "auth",
            Role::App => "app",
        }
    }

    /// Whether this role runs the tick loop.
    pub fn runs_world(self) -> bool {
        self != Role::Auth
    }

    /// Whether this role serves the auth API (`/v1/*`).
    pub fn serves_auth(self) -> bool {
        self != Role::App
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Role::All),
            "auth" => Ok(Role::Auth),
            "app" => Ok(Role::App),
            other => Err(format!("unknown role '{other}' (expected all, auth or app)")),
        }
    }
}

/// Deployment colour (blue-green): which cluster a server belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Colour {
    /// The default cluster.
    #[default]
    Blue,
    /// The other one.
    Green,
}

impl Colour {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Green => "green",
        }
    }
}

impl std::str::FromStr for Colour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "blue" => Ok(Colour::Blue),
            "green" => Ok(Colour::Green),
            other => Err(format!("unknown colour '{other}' (expected blue or green)")),
        }
    }
}

/// The default server id: derived from the public game address, so it is
/// stable across restarts of the same server.
pub fn default_server_id(public_addr: SocketAddr) -> String {
    format!("app-{public_addr}")
}

/// This server's registry identity (a resource of the tick loop).
#[derive(Debug, Clone, Resource)]
pub struct Registration {
    /// The row as last heartbeat, players and state aside.
    pub row: ServerRow,
}

impl Registration {
    /// The row with `players` and `state` filled in.
    pub fn row(&self, players: u32, state: ServerState) -> ServerRow {
        ServerRow { players, state, ..self.row.clone() }
    }
}

/// Once a second, the heartbeat: this server `ready` (or `draining`), with
/// its players; `/readyz` says the same from the first tick on.
pub fn heartbeat(
    tick: Res<TickInfo>,
    registration: Res<Registration>,
    drain: Res<handoff::Drain>,
    roster: Res<Roster>,
    readiness: Res<crate::readiness::Readiness>,
    mut outbox: ResMut<StoreOutbox>,
) {
    let ready = if drain.draining { crate::readiness::Ready::Draining } else { crate::readiness::Ready::Ready };
    readiness.set(ready);
    let per_second = (1.0 / tick.dt).round().max(1.0) as u64;
    if tick.tick.is_multiple_of(per_second) {
        let state = if drain.draining { ServerState::Draining } else { ServerState::Ready };
        outbox.push(StoreCommand::Heartbeat(registration.row(roster.len() as u32, state)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_ids() {
        assert_eq!("green".parse::<Colour>(), Ok(Colour::Green));
        assert!("red".parse::<Colour>().is_err());
        assert_eq!(Colour::default().as_str(), "blue");
        assert_eq!(default_server_id("127.0.0.1:7001".parse().unwrap()), "app-127.0.0.1:7001");
    }
}
