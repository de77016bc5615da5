//! The transport in the tick: [`NetSet::Receive`] reads the socket into the
//! [`Inbox`] in [`Phase::Receive`]; [`NetSet::Flush`] sends what the tick
//! queued in [`Phase::Send`]. Later phases read the inbox and queue
//! messages through [`NetServer`].

use bevy_ecs::prelude::*;

use super::{NetEvent, NetServer};
use crate::tick::{Phase, TickInfo};

/// The transport's sets inside the phases.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetSet {
    /// Read the socket (in [`Phase::Receive`]).
    Receive,
    /// Send everything queued (in [`Phase::Send`]).
    Flush,
}

/// This tick's network events, filled in `Receive`, read by later phases.
#[derive(Debug, Default, Resource)]
pub struct Inbox {
    /// Events in arrival order.
    pub events: Vec<NetEvent>,
}

fn receive(
    tick: Res<TickInfo>,
    mut net: ResMut<NetServer>,
    mut inbox: ResMut<Inbox>,
    mut last: Local<Option<std::time::Duration>>,
) {
    inbox.events.clear();
    // Real time since the last receive: netcode's timeouts and token expiry
    // must follow the clock even when ticks were skipped.
    let dt = last.map_or(std::time::Duration::ZERO, |prev| tick.elapsed.saturating_sub(prev));
    *last = Some(tick.elapsed);
    if let Err(error) = net.receive(dt, &mut inbox.events) {
        tracing::error!(%error, "network receive failed");
    }
}

fn flush(mut net: ResMut<NetServer>) {
    net.flush();
}

/// Puts `net` and its inbox in the world and its systems in the phases.
pub fn install(world: &mut World, schedule: &mut Schedule, net: NetServer) {
    world.insert_resource(net);
    world.init_resource::<Inbox>();
    schedule.add_systems((
        receive.in_set(NetSet::Receive).in_set(Phase::Receive),
        flush.in_set(NetSet::Flush).in_set(Phase::Send),
    ));
}
