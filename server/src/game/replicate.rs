//! Snapshot building: per client, only what is near, only what changed
//! since the snapshot it acknowledged, within a bandwidth budget.
//!
//! Each snapshot tick:
//! 1. every replicated entity goes into a dense grid (cells of half the
//!    view radius);
//! 2. the grid is asked once per cell for what the clients standing in
//!    it may see, and each client's candidate set (the entities within its
//!    view radius) is picked out of that; the baseline is the newest
//!    acknowledged set still in the client's history (none: a full
//!    snapshot);
//! 3. entities that left the view are removed and unchanged ones kept
//!    (always sent); changed and new ones compete for the byte budget by a
//!    priority accumulator (nearer and newer grow faster, the sent ones
//!    reset), so everything is sent eventually and nothing starves. Sizes
//!    come from the codec's own cost model (`snapshot::SizePlan`), so the
//!    payload never exceeds the budget (unless the entries that must be sent
//!    alone do);
//! 4. the payload is written from each baseline entry's bits, worked out
//!    once in step 3 (`shared::snapshot::entry_bits`, what the plan
//!    priced), and the new entities (`shared::snapshot::encode_planned`);
//!    the resulting set is remembered as a possible future baseline.
//!
//! The client's own avatar is sent exactly, beside the packed set.
//!
//! A game's replicated fields (its [`Field`] components) are packed into
//! each entity's [`Fields`] by [`field`]'s system before the snapshots are
//! built; the codec deltas them like positions.

use bevy_ecs::prelude::*;
use bytes::BufMut;
use tickforge_shared::codec;
use tickforge_shared::protocol::{Channel, NetId, OwnState, Snapshot};
use tickforge_shared::schema::Schema;
use tickforge_shared::sim::{Simulation, Vec2};
use tickforge_shared::snapshot::{self, EXTENT, EntryBits, Known, KnownSet, Motion, SizePlan};

use super::components::{Avatar, ClientView, Fields, Kind, Lingering, NetEntity, Position};
use super::input::{Controlled, InputQueue};
use crate::net::NetServer;
use crate::tick::{Phase, TickInfo};

/// Replication settings.
#[derive(Debug, Clone, Copy, PartialEq, Resource)]
pub struct ReplicationConfig {
    /// Entities farther than this from a client's avatar are not sent to it.
    pub view_radius: f32,
    /// A snapshot every this many ticks.
    pub every_ticks: u64,
    /// Most payload bytes per snapshot per client.
    pub budget_bytes: usize,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self { view_radius: 600.0, every_ticks: 1, budget_bytes: 1000 }
    }
}

pub use tickforge_api::replicate::{EntitySchema, ReplicateSet, field};

/// One replicated entity this tick.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// Id, kind, quantized position and packed fields.
    pub known: Known,
    /// Exact position (for distances).
    pub pos: Vec2,
}

/// Entities bucketed by cell, rebuilt each snapshot tick: a dense grid
/// over the world (cells of half the view radius, so a query looks at
/// about twice the circle's area rather than three times), positions
/// outside the world in its border cells.
#[derive(Debug, Default)]
pub struct Grid {
    cell: f32,
    /// Cells per row and per column.
    side: (usize, usize),
    /// Row-major cells, each its entities as indices into `sorted` (ascending).
    cells: Vec<Vec<u32>>,
    /// This tick's items in id order (so index order is id order).
    sorted: Vec<Item>,
    /// Scratch: one query's indices as bits, so they come out in order
    /// without a sort.
    found: Vec<u64>,
}

impl Grid {
    /// The cell column or row of coordinate `v`, clamped into the grid.
    fn index(&self, v: f32, side: usize) -> usize {
        let i = (v / self.cell).floor();
        if i.is_nan() || i < 0.0 { 0 } else { (i as usize).min(side - 1) }
    }

    /// Refills the grid with `items`, in cells of about `radius / 2`.
    pub fn rebuild(&mut self, radius: f32, items: impl Iterator<Item = Item>) {
        self.cell = (radius / 2.0).max(1.0);
        let side = |extent: f32| ((extent / self.cell).ceil() as usize).clamp(1, 4096);
        self.side = (side(EXTENT), side(EXTENT));
        let count = self.side.0 * self.side.1;
        self.cells.resize_with(count, Vec::new);
        for bucket in &mut self.cells {
            bucket.clear();
        }
        self.sorted.clear();
        self.sorted.extend(items);
        self.sorted.sort_unstable_by_key(|i| i.known.id);
        for index in 0..self.sorted.len() {
            let cell = self.cell_of(self.sorted[index].pos);
            self.cells[cell].push(index as u32);
        }
    }

    /// The cell `pos` falls in (clamped into the grid).
    pub fn cell_of(&self, pos: Vec2) -> usize {
        self.index(pos.y, self.side.1) * self.side.0 + self.index(pos.x, self.side.0)
    }

    /// Everything within `radius` of `center`, appended to `out` in id order.
    pub fn near(&mut self, center: Vec2, radius: f32, out: &mut Vec<Item>) {
        let mut found = std::mem::take(&mut self.found);
        self.near_with(center, radius, &mut found, out);
        self.found = found;
    }

    /// [`Grid::near`] with the caller's scratch bits (`found`), so several
    /// threads can ask one grid at once.
    pub fn near_with(&self, center: Vec2, radius: f32, found: &mut Vec<u64>, out: &mut Vec<Item>) {
        self.near_box_with(center, center, radius, found, out);
    }

    /// Everything within `radius` of the box from `lo` to `hi` (of any
    /// point of it), appended to `out` in id order: asked once for the
    /// clients of one cell (the box around them), it holds each one's
    /// view, which a distance check then picks out.
    pub fn near_box_with(&self, lo: Vec2, hi: Vec2, radius: f32, found: &mut Vec<u64>, out: &mut Vec<Item>) {
        if self.sorted.is_empty() {
            return;
        }
        let (x0, x1) = (self.index(lo.x - radius, self.side.0), self.index(hi.x + radius, self.side.0));
        let (y0, y1) = (self.index(lo.y - radius, self.side.1), self.index(hi.y + radius, self.side.1));
        let r2 = radius * radius;
        found.clear();
        found.resize(self.sorted.len().div_ceil(64), 0);
        for y in y0..=y1 {
            for bucket in &self.cells[y * self.side.0 + x0..=y * self.side.0 + x1] {
                for &i in bucket {
                    // The distance to the box (to `lo` = `hi` itself for a point).
                    let p = self.sorted[i as usize].pos;
                    let dx = (lo.x - p.x).max(p.x - hi.x).max(0.0);
                    let dy = (lo.y - p.y).max(p.y - hi.y).max(0.0);
                    if dx * dx + dy * dy <= r2 {
                        found[i as usize / 64] |= 1 << (i % 64);
                    }
                }
            }
        }
        for (word, &bits) in found.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let i = word * 64 + bits.trailing_zeros() as usize;
                out.push(self.sorted[i]);
                bits &= bits - 1;
            }
        }
    }
}

/// A changed or new entity waiting for a place in one client's snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Contender {
    /// Its accumulated priority.
    priority: f32,
    /// The entity now, its motion against the baseline filled in (what
    /// the target holds if it wins a place).
    known: Known,
    /// Where it is (for its closeness).
    pos: Vec2,
    /// Its baseline entry's bits as a change (it is in the baseline), or
    /// `None`: it is new, and its cost depends on the other new ones (see
    /// `SizePlan`).
    change: Option<EntryBits>,
    /// Where its predicted entry stands in the target, and its baseline
    /// entry in the planned entries (changes only).
    slot: u32,
    entry: u32,
}

impl Contender {
    /// Extra bits to send its change instead of its predicted place.
    fn change_cost(&self) -> Option<usize> {
        self.change.map(|bits| bits.bits() - SizePlan::KEPT_BITS)
    }
}

/// One client's working space, reused from client to client.
#[derive(Debug, Default)]
pub struct BuildScratch {
    /// Changed and new entities competing for the budget.
    contenders: Vec<Contender>,
    /// Each baseline entry's bits, in the baseline's order.
    entries: Vec<EntryBits>,
    /// The new entities that won a place, in id order.
    fresh: Vec<Known>,
    /// The payload's size so far.
    plan: SizePlan,
}

/// One builder thread's reusable buffers.
#[derive(Debug, Default)]
pub struct WorkerScratch {
    /// What one cell's clients may see (a superset of each one's view).
    around: Vec<Item>,
    /// One client's view.
    near: Vec<Item>,
    found: Vec<u64>,
    build: BuildScratch,
}

/// Reusable buffers, so a snapshot tick allocates little.
#[derive(Debug, Default)]
pub struct Scratch {
    grid: Grid,
    workers: [WorkerScratch; 2],
}

/// Threads that build a tick's snapshots (1 or 2; default: 2 where the
/// machine has two cores or more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Resource)]
pub struct SnapshotThreads(pub usize);

impl Default for SnapshotThreads {
    fn default() -> Self {
        Self(std::thread::available_parallelism().map_or(1, |n| n.get().min(2)))
    }
}

/// Fewest due clients for which a second thread is worth starting.
pub const PARALLEL_FROM: usize = 48;

/// One due client's snapshot: its avatar and view in, its baseline and
/// payload out.
#[derive(Debug)]
pub struct SnapshotJob<'a, T> {
    /// The client's avatar's id (left out of its set: it is sent exactly).
    pub own_id: NetId,
    /// The avatar's position (the centre of its view).
    pub own_pos: Vec2,
    /// The client's view (history, acknowledgement, priorities).
    pub view: &'a mut ClientView,
    /// The caller's own data about the client, carried along.
    pub tag: T,
    /// Filled in: the baseline tick and the payload.
    pub out: Option<(Option<u32>, Vec<u8>)>,
}

/// Builds every job's snapshot for `tick` from `grid`, on up to `threads`
/// threads (2 at most, and only from [`PARALLEL_FROM`] jobs; each takes
/// one half of the jobs as given, so the views each one writes lie
/// together). A thread puts its jobs in the order of their avatars'
/// cells (then ids) and asks the grid once per cell for what its clients
/// may see; each client's view is picked out of that by distance. Each
/// job depends only on its own view and the grid, so each client gets
/// the same bytes whatever the threads (the jobs' order after the call is
/// the threads' own).
pub fn build_all<T: Send>(
    schema: &Schema,
    grid: &Grid,
    tick: u32,
    jobs: &mut [SnapshotJob<'_, T>],
    workers: &mut [WorkerScratch; 2],
    threads: usize,
    config: &ReplicationConfig,
) {
    let r2 = config.view_radius * config.view_radius;
    let run = |jobs: &mut [SnapshotJob<'_, T>], scratch: &mut WorkerScratch| {
        jobs.sort_unstable_by_key(|job| (grid.cell_of(job.own_pos), job.own_id));
        let mut rest = jobs;
        while let Some(first) = rest.first() {
            let cell = grid.cell_of(first.own_pos);
            let count = rest.iter().position(|job| grid.cell_of(job.own_pos) != cell).unwrap_or(rest.len());
            let (group, after) = std::mem::take(&mut rest).split_at_mut(count);
            rest = after;
            let (mut lo, mut hi) = (group[0].own_pos, group[0].own_pos);
            for job in group.iter() {
                lo = Vec2::new(lo.x.min(job.own_pos.x), lo.y.min(job.own_pos.y));
                hi = Vec2::new(hi.x.max(job.own_pos.x), hi.y.max(job.own_pos.y));
            }
            scratch.around.clear();
            grid.near_box_with(lo, hi, config.view_radius, &mut scratch.found, &mut scratch.around);
            for job in group {
                scratch.near.clear();
                scratch.near.extend(scratch.around.iter().filter(|i| i.pos.distance_squared(job.own_pos) <= r2));
                let (baseline_tick, target, payload) = build_for_client(
                    schema,
                    job.view,
                    tick,
                    job.own_id,
                    job.own_pos,
                    &scratch.near,
                    &mut scratch.build,
                    config,
                );
                job.view.remember(tick, target);
                job.out = Some((baseline_tick, payload));
            }
        }
    };
    let [first, second] = workers;
    if threads < 2 || jobs.len() < PARALLEL_FROM {
        run(jobs, first);
        return;
    }
    let (left, right) = jobs.split_at_mut(jobs.len() / 2);
    std::thread::scope(|scope| {
        scope.spawn(|| run(right, second));
        run(left, first);
    });
}

/// Builds one client's next entity set and payload from the entities near
/// it (`grid_near`, in id order; its own avatar, if there, is left out).
/// Each baseline entry's bits are worked out once, as the plan prices
/// them, and the payload is written from them. Pure apart from the
/// view's accumulators; used by the system and by the benchmark.
#[allow(clippy::too_many_arguments)]
pub fn build_for_client(
    schema: &Schema,
    view: &mut ClientView,
    tick: u32,
    own_id: NetId,
    own_pos: Vec2,
    grid_near: &[Item],
    scratch: &mut BuildScratch,
    config: &ReplicationConfig,
) -> (Option<u32>, KnownSet, Vec<u8>) {
    let BuildScratch { contenders, entries, fresh, plan } = scratch;
    let (baseline_tick, baseline) = match view.acked.and_then(|a| view.history.iter().find(|(t, _)| *t == a)) {
        Some((tick, set)) => (Some(*tick), set.as_slice()),
        None => (None, &[][..]),
    };
    let base_tick = baseline_tick.unwrap_or(0);
    let dt = tick.wrapping_sub(base_tick);
    debug_assert!(grid_near.is_sorted_by_key(|i| i.known.id), "the grid answers in id order");

    // Baseline entries: kept, removed or changed; new candidates compete too.
    let mut target: KnownSet = view.spare.take().unwrap_or_default();
    target.clear();
    target.reserve(grid_near.len());
    contenders.clear();
    entries.clear();
    fresh.clear();
    plan.clear();
    let (mut b, mut n) = (0, 0);
    loop {
        let (old, item) = (baseline.get(b), grid_near.get(n));
        if item.is_some_and(|i| i.known.id == own_id) {
            n += 1;
            continue;
        }
        match (old, item) {
            (Some(old), Some(item)) if old.id == item.known.id => {
                // The client will place it where its motion predicts.
                let predicted = old.predict(base_tick, tick);
                let bits = snapshot::entry_bits(schema, predicted, old, &item.known);
                if bits.is_change() {
                    contenders.push(Contender {
                        priority: 0.0,
                        known: Known { motion: Motion::between(old, (item.known.qx, item.known.qy), dt), ..item.known },
                        pos: item.pos,
                        change: Some(bits),
                        slot: target.len() as u32,
                        entry: entries.len() as u32,
                    });
                }
                plan.keep();
                entries.push(EntryBits::KEPT);
                // Replaced if it wins a place.
                target.push(Known {
                    qx: predicted.0,
                    qy: predicted.1,
                    motion: Motion::between(old, predicted, dt),
                    ..*old
                });
                b += 1;
                n += 1;
            }
            (Some(old), Some(item)) if old.id < item.known.id => {
                plan.remove();
                entries.push(EntryBits::REMOVED);
                b += 1;
            }
            (Some(_), None) => {
                plan.remove();
                entries.push(EntryBits::REMOVED);
                b += 1;
            }
            (_, Some(item)) => {
                let known = Known { motion: Motion::default(), ..item.known };
                contenders.push(Contender { priority: 0.0, known, pos: item.pos, change: None, slot: 0, entry: 0 });
                n += 1;
            }
            (None, None) => break,
        }
    }

    let budget = config.budget_bytes * 8;
    // Usually every change fits the budget: then there is nothing to rank.
    let everyone = {
        let mut all = plan.clone();
        for contender in contenders.iter() {
            match contender.change_cost() {
                Some(cost) => all.add_move(cost),
                None => all.add_fresh(contender.known.id, SizePlan::fresh_body_bits(schema, contender.known.kind)),
            }
        }
        (all.bits() <= budget).then_some(all)
    };
    if let Some(all) = everyone {
        *plan = all;
        // Changes in place first (their slots hold before any insertion),
        // then the new ones (few after the first snapshot) in id order.
        for contender in contenders.iter() {
            match contender.change {
                Some(bits) => {
                    target[contender.slot as usize] = contender.known;
                    entries[contender.entry as usize] = bits;
                }
                None => fresh.push(contender.known),
            }
        }
        for known in fresh.iter() {
            if let Err(i) = target.binary_search_by_key(&known.id, |k| k.id) {
                target.insert(i, *known);
            }
        }
        if !view.priority.is_empty() {
            for contender in contenders.iter() {
                view.priority.remove(&contender.known.id);
            }
        }
        contenders.clear();
    }
    // Priority: nearer grows faster; new entities a little faster still.
    for contender in contenders.iter_mut() {
        let closeness = 1.0 - (contender.pos.distance_squared(own_pos).sqrt() / config.view_radius).min(1.0);
        let boost = if contender.change.is_none() { 1.5 } else { 1.0 };
        let acc = view.priority.entry(contender.known.id).or_insert(0.0);
        *acc += (0.2 + closeness) * boost;
        contender.priority = *acc;
    }
    contenders.sort_unstable_by(|a, b| b.priority.total_cmp(&a.priority));
    for contender in contenders.iter() {
        let id = contender.known.id;
        let body = SizePlan::fresh_body_bits(schema, contender.known.kind);
        let cost = contender.change_cost().unwrap_or_else(|| plan.fresh_cost(id, body));
        if plan.bits() + cost > budget {
            continue;
        }
        view.priority.remove(&id);
        match contender.change {
            Some(bits) => {
                plan.add_move(cost);
                entries[contender.entry as usize] = bits;
            }
            None => {
                plan.add_fresh(id, body);
                fresh.push(contender.known);
            }
        }
        // By id: new ones placed before it have moved its slot.
        match target.binary_search_by_key(&id, |k| k.id) {
            Ok(i) => target[i] = contender.known,
            Err(i) => target.insert(i, contender.known),
        }
    }
    // Ranked by priority above: the payload lists the new ones by id.
    fresh.sort_unstable_by_key(|k| k.id);
    // Forget accumulators of entities no longer in view.
    if view.priority.len() > contenders.len() * 2 + 64 {
        let live: std::collections::HashSet<NetId> = contenders.iter().map(|c| c.known.id).collect();
        view.priority.retain(|id, _| live.contains(id));
    }

    // The client's own buffer, back from its last snapshot's send.
    let mut payload = std::mem::take(&mut view.payload);
    let bits = snapshot::encode_planned(schema, entries, fresh, &mut payload);
    debug_assert_eq!(bits, plan.bits(), "the codec's cost model and its encoder agree");
    (baseline_tick, target, payload)
}

/// Installs network ids and the snapshots of simulation `S`, with `config`.
pub fn install<S: Simulation>(world: &mut World, schedule: &mut Schedule, config: ReplicationConfig) {
    world.init_resource::<super::NetIds>();
    world.init_resource::<SnapshotThreads>();
    world.insert_resource(config);
    world.insert_resource(EntitySchema(S::schema()));
    schedule.configure_sets((ReplicateSet::Fields, ReplicateSet::Snapshots).chain().in_set(Phase::Replicate));
    schedule.add_systems(send_snapshots::<S>.in_set(ReplicateSet::Snapshots));
}

/// Sends each connected avatar's owner its snapshot.
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub fn send_snapshots<S: Simulation>(
    tick: Res<TickInfo>,
    config: Res<ReplicationConfig>,
    mut net: ResMut<NetServer>,
    schema: Res<EntitySchema>,
    entities: Query<(&NetEntity, &Position, &Kind, Option<&Fields>)>,
    mut owners: Query<
        (&Avatar, &NetEntity, &Position, &Controlled<S>, &InputQueue<S::Input>, &mut ClientView),
        Without<Lingering>,
    >,
    threads: Option<Res<SnapshotThreads>>,
    mut scratch: Local<Scratch>,
) {
    if owners.is_empty() {
        return;
    }
    // Below the tick rate, each client has its own phase (from its entity
    // id), so the work is spread evenly over the ticks instead of bunching
    // on every n-th one.
    let every = config.every_ticks.max(1);
    let Scratch { grid, workers } = &mut *scratch;
    grid.rebuild(
        config.view_radius,
        entities.iter().map(|(id, pos, kind, fields)| Item {
            known: Known { fields: fields.map_or(0, |f| f.0), ..Known::new(id.0, kind.0, pos.0) },
            pos: pos.0,
        }),
    );
    let now = tick.tick as u32;
    let mut jobs = Vec::new();
    for (avatar, own, pos, controlled, queue, view) in &mut owners {
        if !(tick.tick + u64::from(own.0.0)).is_multiple_of(every) {
            continue;
        }
        jobs.push(SnapshotJob {
            own_id: own.0,
            own_pos: pos.0,
            view: view.into_inner(),
            tag: (avatar.client, controlled.0, queue.last_applied()),
            out: None,
        });
    }
    let threads = threads.map_or(1, |t| t.0);
    build_all(&schema.0, grid, now, &mut jobs, workers, threads, &config);
    for job in jobs {
        let Some((baseline_tick, payload)) = job.out else { continue };
        let (view, own_id, (client, state, ack_input_seq)) = (job.view, job.own_id, job.tag);
        let message = Snapshot {
            tick: now,
            baseline_tick,
            ack_input_seq,
            own: Some(OwnState { id: own_id, state: &state }),
            payload: payload.as_slice(),
        };
        // One allocation per client, not per snapshot: renet lets go of the
        // last snapshot's bytes once it has packed them, and `reserve` then
        // takes their space back.
        view.message.reserve(payload.len() + 64);
        match codec::encode_into(&message, &mut (&mut view.message).writer()) {
            Ok(_) => net.send_raw(client, Channel::Snapshot, view.message.split().freeze()),
            Err(e) => {
                view.message.clear();
                tracing::error!(error = %e, "cannot encode a snapshot");
            }
        }
        view.payload = payload;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickforge_shared::protocol::EntityKind;
    use tickforge_shared::schema::KindSpec;

    const NPC: EntityKind = EntityKind(1);

    /// Three kinds without fields, as the arena has.
    fn schema() -> Schema {
        Schema::new(vec![KindSpec::new("avatar"), KindSpec::new("npc"), KindSpec::new("orb")]).unwrap()
    }

    fn items(n: u32, t: f32) -> Vec<Item> {
        (1..=n)
            .map(|i| {
                let pos = Vec2::new(100.0 + i as f32 * 10.0 + t, 500.0 + (i % 3) as f32 * t);
                Item { known: Known::new(NetId(i), NPC, pos), pos }
            })
            .collect()
    }

    /// Plays ticks 1..200 of `world(tick)` to one client that loses every
    /// third snapshot and some acknowledgements, checking that each
    /// snapshot it gets decodes to exactly what the server built; returns
    /// the client's last set.
    fn reconstruct(schema: &Schema, budget_bytes: usize, world: impl Fn(u32) -> Vec<Item>) -> KnownSet {
        let config = ReplicationConfig { view_radius: 5000.0, every_ticks: 1, budget_bytes };
        let mut view = ClientView::default();
        let mut client: Vec<(u32, KnownSet)> = Vec::new();
        let mut scratch = BuildScratch::default();
        for tick in 1..200u32 {
            let near = world(tick);
            let (baseline, target, payload) = build_for_client(
                schema,
                &mut view,
                tick,
                NetId(999),
                Vec2::new(300.0, 500.0),
                &near,
                &mut scratch,
                &config,
            );
            if view.history.len() == ClientView::HISTORY {
                view.history.pop_front();
            }
            view.history.push_back((tick, target.clone()));
            // Losses in a fixed pseudo-random pattern (a periodic one can
            // beat with the priority accumulator's rhythm).
            let luck = tick.wrapping_mul(0x9e37_79b9).rotate_left(13);
            if luck % 3 == 0 {
                continue; // lost on the way
            }
            let base = match baseline {
                None => Vec::new(),
                Some(b) => {
                    client.iter().find(|(t, _)| *t == b).expect("server used a baseline the client has").1.clone()
                }
            };
            let decoded = snapshot::decode(schema, &base, baseline.unwrap_or(0), &payload, tick).unwrap();
            assert_eq!(decoded, target, "tick {tick}");
            client.push((tick, decoded));
            if luck % 5 != 1 {
                view.acked = Some(tick); // some acks lost too
            }
        }
        client.pop().unwrap().1
    }

    /// The client decodes what the server encodes, whatever it acknowledges
    /// (lost snapshots, late acks), and ends up knowing every entity.
    #[test]
    fn client_reconstructs_every_set_despite_lost_snapshots() {
        let last = reconstruct(&schema(), 1000, |tick| items(20, tick as f32));
        assert_eq!(last.len(), 20, "every entity known in the end");
    }

    /// A game's fields travel with the positions under a tight budget: the
    /// client ends up with every entity's last value.
    #[test]
    fn fields_reach_the_client_under_a_tight_budget() {
        use tickforge_shared::schema::FieldSpec;
        let health = FieldSpec { name: "health".into(), bits: 7 };
        let schema =
            Schema::new(vec![KindSpec::new("shot"), KindSpec { name: "ship".into(), fields: vec![health] }]).unwrap();
        let value = |tick: u32, i: u32| (tick.min(150) / 10 + i) % 100;
        let last = reconstruct(&schema, 60, |tick| {
            items(60, tick as f32)
                .into_iter()
                .map(|item| Item {
                    known: Known { kind: EntityKind(1), fields: value(tick, item.known.id.0), ..item.known },
                    ..item
                })
                .collect()
        });
        assert_eq!(last.len(), 60, "every entity known in the end");
        for k in &last {
            assert_eq!(k.fields, value(199, k.id.0), "entity {}", k.id.0);
        }
    }

    /// Two threads build the same snapshots, byte for byte, as one, and
    /// both the same as each client's own query of the grid (the views
    /// picked out of one query per cell are exactly the clients' own):
    /// many clients (enough for the second thread), several in a cell,
    /// overlapping views, some acknowledging, over many ticks.
    #[test]
    fn cells_and_threads_build_the_same_bytes_as_each_clients_own_query() {
        let schema = schema();
        let config = ReplicationConfig { view_radius: 300.0, every_ticks: 1, budget_bytes: 300 };
        let clients = PARALLEL_FROM * 2 + 3;
        let mut views: [Vec<ClientView>; 3] = [0, 1, 2].map(|_| (0..clients).map(|_| ClientView::default()).collect());
        let mut workers: [[WorkerScratch; 2]; 2] = Default::default();
        let mut scratch = BuildScratch::default();
        let mut grid = Grid::default();
        let at = |c: usize| Vec2::new(100.0 + (c % 40) as f32 * 37.0, 500.0 + (c / 40) as f32 * 61.0);
        for tick in 1..40u32 {
            // Motion the client cannot predict, so every snapshot has changes.
            let world = items(400, (tick as f32 * 1.7).sin() * 40.0);
            grid.rebuild(config.view_radius, world.iter().copied());
            let mut own_query = Vec::new();
            for (c, view) in views[0].iter_mut().enumerate() {
                let mut near = Vec::new();
                grid.near(at(c), config.view_radius, &mut near);
                let (baseline, target, payload) = build_for_client(
                    &schema,
                    view,
                    tick,
                    NetId(10_000 + c as u32),
                    at(c),
                    &near,
                    &mut scratch,
                    &config,
                );
                view.remember(tick, target);
                own_query.push((baseline, payload));
            }
            let mut outs = vec![own_query];
            for (threads, views) in [1usize, 2].into_iter().zip(views[1..].iter_mut()) {
                let mut jobs: Vec<SnapshotJob<'_, usize>> = views
                    .iter_mut()
                    .enumerate()
                    .map(|(c, view)| SnapshotJob {
                        own_id: NetId(10_000 + c as u32),
                        own_pos: at(c),
                        view,
                        tag: c,
                        out: None,
                    })
                    .collect();
                build_all(&schema, &grid, tick, &mut jobs, &mut workers[threads - 1], threads, &config);
                jobs.sort_by_key(|j| j.tag);
                outs.push(jobs.into_iter().map(|j| j.out.expect("every job built")).collect::<Vec<_>>());
            }
            assert!(outs[0].iter().filter(|(_, payload)| payload.len() > 16).count() > clients / 4, "tick {tick}");
            assert_eq!(outs[0], outs[1], "tick {tick}: one query per cell");
            assert_eq!(outs[1], outs[2], "tick {tick}: two threads");
            for views in views.iter_mut() {
                for (c, view) in views.iter_mut().enumerate() {
                    if !(tick + c as u32).is_multiple_of(3) {
                        view.acked = Some(tick);
                    }
                }
            }
        }
    }

    /// Bits that must be sent whatever the budget: every baseline entry is
    /// either kept (1 bit) or removed (2), plus the empty new-entity count.
    fn mandatory_bits(view: &ClientView, near: &[Item]) -> usize {
        let baseline = view.acked.and_then(|a| view.history.iter().find(|(t, _)| *t == a)).map(|(_, set)| set);
        let kept_or_removed: usize = baseline
            .map_or(0, |set| set.iter().map(|k| if near.iter().any(|i| i.known.id == k.id) { 1 } else { 2 }).sum());
        kept_or_removed + 8
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// The grid answers exactly what lies within the radius, in id
        /// order, for any radius and centre, with entities anywhere (some
        /// outside the world, in its border cells).
        #[test]
        fn the_grid_finds_exactly_what_is_near_in_id_order(
            count in 0usize..300,
            radius in 1.0f32..1500.0,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let mut rng = crate::api::SplitMix64::new(seed);
            let mut spot = || Vec2::new(rng.next_f32() * 2600.0 - 300.0, rng.next_f32() * 2600.0 - 300.0);
            let all: Vec<Item> = (0..count)
                .map(|i| {
                    let pos = spot();
                    Item { known: Known::new(NetId((i as u32 * 7919) % 10_007 + 1), NPC, pos), pos }
                })
                .collect();
            let mut grid = Grid::default();
            grid.rebuild(radius, all.iter().copied());
            for _ in 0..8 {
                let center = spot();
                let mut found = Vec::new();
                grid.near(center, radius, &mut found);
                let mut expected: Vec<NetId> =
                    all.iter().filter(|i| i.pos.distance_squared(center) <= radius * radius).map(|i| i.known.id).collect();
                expected.sort_unstable();
                let got: Vec<NetId> = found.iter().map(|i| i.known.id).collect();
                proptest::prop_assert_eq!(got, expected);
            }
        }

        /// Random worlds — entities walking, jumping far (a move of the
        /// widest kind), entering and leaving the view, ids far apart (new
        /// ids of two varint groups), sometimes more than 127 new at once
        /// — under random budgets and lost acks: the payload never exceeds
        /// the budget unless what must be sent alone does.
        #[test]
        fn the_payload_never_exceeds_the_budget(
            count in 1usize..400,
            id_gap in 1u32..400,
            budget_bytes in 64usize..1200,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let config = ReplicationConfig { view_radius: 700.0, every_ticks: 1, budget_bytes };
            let mut rng = crate::api::SplitMix64::new(seed);
            let mut pos: Vec<Vec2> = (0..count).map(|_| Vec2::new(rng.next_f32() * 2000.0, rng.next_f32() * 2000.0)).collect();
            let mut view = ClientView::default();
            let mut scratch = BuildScratch::default();
            let own = Vec2::new(1000.0, 1000.0);
            for tick in 1..60u32 {
                for p in pos.iter_mut() {
                    let jump = rng.next_f32() < 0.05;
                    let reach = if jump { 900.0 } else { 8.0 };
                    p.x = (p.x + (rng.next_f32() - 0.5) * reach).clamp(0.0, 2000.0);
                    p.y = (p.y + (rng.next_f32() - 0.5) * reach).clamp(0.0, 2000.0);
                }
                let near: Vec<Item> = pos
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.distance(own) <= config.view_radius)
                    .map(|(i, p)| {
                        let id = NetId(1 + i as u32 * id_gap);
                        Item { known: Known::new(id, NPC, *p), pos: *p }
                    })
                    .collect();
                let must = mandatory_bits(&view, &near);
                let (_, target, payload) =
                    build_for_client(&schema(), &mut view, tick, NetId(0), own, &near, &mut scratch, &config);
                proptest::prop_assert!(
                    payload.len() <= budget_bytes.max(must.div_ceil(8)),
                    "tick {}: {} bytes against a budget of {} ({} bits must be sent)", tick, payload.len(), budget_bytes, must
                );
                if view.history.len() == ClientView::HISTORY {
                    view.history.pop_front();
                }
                view.history.push_back((tick, target));
                if rng.next_f32() < 0.7 {
                    view.acked = Some(tick);
                }
            }
        }
    }
}
