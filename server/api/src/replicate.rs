//! Replicating a game's own values: its entities' [`Field`] components,
//! packed into [`Fields`] for the snapshot codec to delta.

use bevy_ecs::prelude::*;
use tickforge_shared::protocol::EntityKind;
use tickforge_shared::schema::{Field, Schema, Slot};

use crate::components::{Fields, Kind};

/// The game's entity kinds and fields, as the snapshots encode them
/// ([`tickforge_shared::sim::Simulation::schema`], built once).
#[derive(Debug, Clone, Resource)]
pub struct EntitySchema(pub Schema);

/// The replication's sets inside [`crate::Phase::Replicate`], in this order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplicateSet {
    /// The game's field components packed into [`Fields`].
    Fields,
    /// Each client's snapshot built and queued.
    Snapshots,
}

/// Replicates the game's component `F` as a field of every kind whose
/// schema lists it: each tick it changed, its codec's bits are packed into
/// the entity's [`Fields`] before the snapshots are built. Call it from
/// [`crate::Game::install`] once per field type.
pub fn field<F: Field + Component>(schedule: &mut Schedule) {
    // Fields of one entity share its `Fields`, each writing only its own
    // bits: whichever packs first, the result is the same.
    schedule.add_systems(pack_field::<F>.in_set(ReplicateSet::Fields).in_set(Packing).ambiguous_with(Packing));
}

/// The field-packing systems, which may run in any order among themselves.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Packing;

/// Where `F` sits in each kind (indexed by kind number), found once.
struct SlotsOf(Vec<Option<Slot>>);

/// Packs the changed `F`s into their entities' [`Fields`].
fn pack_field<F: Field + Component>(
    schema: Res<EntitySchema>,
    mut slots: Local<Option<SlotsOf>>,
    mut changed: Query<(&F, &Kind, &mut Fields), Changed<F>>,
) {
    let slots = slots.get_or_insert_with(|| {
        let kinds = schema.0.kinds().len();
        SlotsOf((0..kinds).map(|i| schema.0.slot_of::<F>(EntityKind(i as u8))).collect())
    });
    for (value, kind, mut fields) in &mut changed {
        if let Some(Some(slot)) = slots.0.get(usize::from(kind.0.0)) {
            let packed = slot.set(fields.0, value.pack());
            if packed != fields.0 {
                fields.0 = packed;
            }
        }
    }
}
