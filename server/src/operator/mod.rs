//! Operator orders in the tick: the tick loop's half of the admin surface.
//! It applies operator commands (replay recording) and publishes traffic
//! totals and the per-player table, both without blocking; [`live`] holds
//! what it shares with the admin API.

pub mod live;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bevy_ecs::prelude::*;
use crossbeam_channel::Receiver;

use crate::game::components::{Avatar, Conduct};
use crate::net::NetServer;
use crate::record::{RecordSet, Recorder};
use crate::tick::{Phase, SharedMetrics, TickInfo};
use live::{AdminCommand, LiveStats, PlayerRow};

/// Commands from the admin API, drained each tick.
#[derive(Debug, Resource)]
pub struct AdminInbox(pub Receiver<AdminCommand>);

/// Where per-player figures are published.
#[derive(Debug, Clone, Resource)]
pub struct Live(pub Arc<LiveStats>);

/// The operator's sets inside the phases.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatorSet {
    /// Operator commands applied ([`Phase::Admit`]).
    Commands,
    /// Figures published ([`Phase::Persist`], before the recorder takes the tick's broadcasts).
    Publish,
}

/// Installs the command inbox, the published figures and their systems.
pub fn install(world: &mut World, schedule: &mut Schedule, commands: Receiver<AdminCommand>, live: Arc<LiveStats>) {
    world.insert_resource(AdminInbox(commands));
    world.insert_resource(Live(live));
    schedule.configure_sets(OperatorSet::Commands.in_set(Phase::Admit));
    schedule.configure_sets(OperatorSet::Publish.in_set(Phase::Persist).before(RecordSet::Record));
    schedule.add_systems((apply_commands.in_set(OperatorSet::Commands), publish.in_set(OperatorSet::Publish)));
}

/// Applies queued operator commands.
pub fn apply_commands(inbox: Res<AdminInbox>, tick: Res<TickInfo>, mut recorder: ResMut<Recorder>) {
    while let Ok(command) = inbox.0.try_recv() {
        match command {
            AdminCommand::RecordStart { path, reply } => {
                let rate = (1.0 / tick.dt).round() as u16;
                let started = recorder.start(path.clone(), rate).map_err(|e| e.to_string());
                if started.is_ok() {
                    tracing::info!(path = %path.display(), "recording a replay (operator)");
                }
                let _ = reply.send(started);
            }
            AdminCommand::RecordStop { reply } => {
                let _ = reply.send(recorder.stop());
            }
        }
    }
}

/// Once a second: traffic totals and the per-player table.
pub fn publish(
    tick: Res<TickInfo>,
    net: Res<NetServer>,
    live: Res<Live>,
    metrics: Res<SharedMetrics>,
    avatars: Query<(&Avatar, &Conduct)>,
    mut rows: Local<Vec<PlayerRow>>,
) {
    let per_second = (1.0 / tick.dt).round().max(1.0) as u64;
    if !tick.tick.is_multiple_of(per_second) {
        return;
    }
    rows.clear();
    let (mut bytes_in, mut bytes_out) = (0.0, 0.0);
    let mut flags = 0u64;
    for (avatar, conduct) in &avatars {
        flags += u64::from(conduct.flags());
        let stats = net.link_stats(avatar.client);
        let (rtt_ms, packet_loss, bytes_in_per_s, bytes_out_per_s) =
            stats.map_or((0.0, 0.0, 0.0, 0.0), |s| (s.rtt_ms, s.packet_loss, s.bytes_in_per_s, s.bytes_out_per_s));
        bytes_in += bytes_in_per_s;
        bytes_out += bytes_out_per_s;
        rows.push(PlayerRow {
            account_id: avatar.account_id,
            username: avatar.name.clone(),
            address: net.client_addr(avatar.client).map(|a| a.to_string()),
            rtt_ms: (rtt_ms * 10.0).round() / 10.0,
            packet_loss,
            bytes_in_per_s: bytes_in_per_s.round(),
            bytes_out_per_s: bytes_out_per_s.round(),
            connected_since: avatar.connected_at_ms / 1000,
            flags: conduct.flags(),
        });
    }
    metrics.0.bytes_in_per_s.store(bytes_in as u64, Ordering::Relaxed);
    metrics.0.bytes_out_per_s.store(bytes_out as u64, Ordering::Relaxed);
    metrics.0.malformed.store(net.malformed_total(), Ordering::Relaxed);
    metrics.0.out_of_phase.store(net.out_of_phase_total(), Ordering::Relaxed);
    metrics.0.reliable_sent.store(net.reliable_sent_total(), Ordering::Relaxed);
    metrics.0.player_flags.store(flags, Ordering::Relaxed);
    let transport = net.transport_stats();
    metrics.0.bad_datagrams.store(transport.bad_datagrams, Ordering::Relaxed);
    metrics.0.bad_payloads.store(transport.bad_payloads, Ordering::Relaxed);
    metrics.0.over_budget.store(transport.over_budget, Ordering::Relaxed);
    metrics.0.datagrams_in.store(transport.received.datagrams, Ordering::Relaxed);
    metrics.0.datagram_bytes_in.store(transport.received.bytes, Ordering::Relaxed);
    metrics.0.datagrams_out.store(transport.sent.datagrams, Ordering::Relaxed);
    metrics.0.datagram_bytes_out.store(transport.sent.bytes, Ordering::Relaxed);
    metrics.0.ws_players.store(net.ws_players() as u64, Ordering::Relaxed);
    for (counter, value) in metrics.0.handshake_refused.iter().zip(transport.handshake_refused) {
        counter.store(value, Ordering::Relaxed);
    }
    metrics.0.connections_replaced.store(transport.replaced, Ordering::Relaxed);
    live.0.try_publish(&mut rows);
}
