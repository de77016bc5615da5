//! What a game's entities are on the wire: its kinds, and each kind's
//! replicated fields.
//!
//! Every replicated entity has an id, a kind and a position (the
//! positional fast path: quantized, motion-predicted; see
//! [`crate::snapshot`]). A kind may also carry **fields**: small values
//! the game replicates beside the position (a ship's heading, its health).
//! Each field is a [`Field`]: a codec that packs the value into a fixed
//! number of bits. The snapshot codec deltas every field against the
//! client's acknowledged baseline (an unchanged field costs one bit, a
//! kind without fields nothing at all) and prices it exactly for the byte
//! budget.
//!
//! A [`Schema`] lists the kinds in order (a kind's number is its place in
//! the list) and travels in replay headers, so a replay decodes without the
//! game's code.

use serde::{Deserialize, Serialize};

use crate::protocol::EntityKind;

/// Most kinds a schema may have.
pub const MAX_KINDS: usize = 256;
/// Most bits of fields one kind may carry (they are packed in a `u32`).
pub const MAX_FIELD_BITS: u32 = 32;

/// A value a game replicates beside an entity's position, with its codec.
///
/// `pack` puts the value into the low [`Field::BITS`] bits; `unpack` must
/// accept every pattern of that many bits (what arrives from the network
/// is never trusted to be one `pack` wrote), and `unpack(pack(v))` must be
/// `v` for what the game sends (anything it quantizes, it quantizes in
/// `pack`).
pub trait Field: Copy + PartialEq + Send + Sync + 'static {
    /// Its name in the schema (unique within a kind).
    const NAME: &'static str;
    /// Its width on the wire, 1 to 32 bits.
    const BITS: u32;
    /// The value as `BITS` bits (higher bits are ignored).
    fn pack(self) -> u32;
    /// The value back from `BITS` bits.
    fn unpack(bits: u32) -> Self;
}

/// One replicated field of a kind: its name and width.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// The field's name ([`Field::NAME`]).
    pub name: String,
    /// Its width in bits ([`Field::BITS`]).
    pub bits: u8,
}

impl FieldSpec {
    /// The spec of field type `F`.
    pub fn of<F: Field>() -> Self {
        Self { name: F::NAME.to_owned(), bits: F::BITS.min(u8::MAX.into()) as u8 }
    }
}

/// An entity kind: its name and its fields, in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindSpec {
    /// The kind's name (what a viewer shows; unique within a schema).
    pub name: String,
    /// Its replicated fields.
    pub fields: Vec<FieldSpec>,
}

impl KindSpec {
    /// A kind with no fields: only its position is replicated.
    pub fn new(name: &str) -> Self {
        Self { name: name.to_owned(), fields: Vec::new() }
    }

    /// This kind, also carrying field `F`.
    pub fn with<F: Field>(mut self) -> Self {
        self.fields.push(FieldSpec::of::<F>());
        self
    }
}

/// Where a field sits in an entity's packed fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    offset: u32,
    bits: u32,
}

impl Slot {
    fn mask(self) -> u32 {
        if self.bits >= 32 { u32::MAX } else { (1 << self.bits) - 1 }
    }

    /// The field's width in bits.
    pub fn bits(self) -> u32 {
        self.bits
    }

    /// The field's bits in `packed`.
    pub fn get(self, packed: u32) -> u32 {
        (packed >> self.offset) & self.mask()
    }

    /// `packed` with the field's bits replaced by `value`'s low bits.
    pub fn set(self, packed: u32, value: u32) -> u32 {
        let mask = self.mask() << self.offset;
        (packed & !mask) | ((value << self.offset) & mask)
    }
}

/// Why a schema is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// No kinds, or more than [`MAX_KINDS`].
    #[error("a schema has 1 to {MAX_KINDS} kinds, not {0}")]
    KindCount(usize),
    /// Two kinds share a name.
    #[error("two kinds are called {0:?}")]
    DuplicateKind(String),
    /// Two fields of a kind share a name.
    #[error("kind {kind:?} has two fields called {field:?}")]
    DuplicateField {
        /// The kind.
        kind: String,
        /// The field.
        field: String,
    },
    /// A field of 0 bits or more than [`MAX_FIELD_BITS`].
    #[error("field {field:?} of kind {kind:?} is {bits} bits wide (1 to {MAX_FIELD_BITS})")]
    FieldWidth {
        /// The kind.
        kind: String,
        /// The field.
        field: String,
        /// Its width.
        bits: u8,
    },
    /// A kind's fields together wider than [`MAX_FIELD_BITS`].
    #[error("kind {kind:?} has {bits} bits of fields (at most {MAX_FIELD_BITS})")]
    TooWide {
        /// The kind.
        kind: String,
        /// Its fields' total width.
        bits: u32,
    },
}

/// A kind as the codec uses it: where each field sits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Layout {
    /// Each field's slot, in wire order.
    slots: Vec<Slot>,
    /// All fields' bits together.
    total: u32,
}

/// A game's entity kinds and their fields, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<KindSpec>", into = "Vec<KindSpec>")]
pub struct Schema {
    kinds: Vec<KindSpec>,
    layouts: Vec<Layout>,
    kind_bits: u32,
}

impl Schema {
    /// A schema of `kinds` (a kind's number is its index), checked.
    pub fn new(kinds: Vec<KindSpec>) -> Result<Self, SchemaError> {
        if kinds.is_empty() || kinds.len() > MAX_KINDS {
            return Err(SchemaError::KindCount(kinds.len()));
        }
        let mut layouts = Vec::with_capacity(kinds.len());
        for (i, kind) in kinds.iter().enumerate() {
            if kinds[..i].iter().any(|k| k.name == kind.name) {
                return Err(SchemaError::DuplicateKind(kind.name.clone()));
            }
            let mut layout = Layout::default();
            for (j, field) in kind.fields.iter().enumerate() {
                if kind.fields[..j].iter().any(|f| f.name == field.name) {
                    return Err(SchemaError::DuplicateField { kind: kind.name.clone(), field: field.name.clone() });
                }
                let bits = u32::from(field.bits);
                if bits == 0 || bits > MAX_FIELD_BITS {
                    return Err(SchemaError::FieldWidth {
                        kind: kind.name.clone(),
                        field: field.name.clone(),
                        bits: field.bits,
                    });
                }
                if layout.total + bits > MAX_FIELD_BITS {
                    return Err(SchemaError::TooWide { kind: kind.name.clone(), bits: layout.total + bits });
                }
                layout.slots.push(Slot { offset: layout.total, bits });
                layout.total += bits;
            }
            layouts.push(layout);
        }
        // Enough bits to number every kind (0 for a single kind).
        let kind_bits = usize::BITS - (kinds.len() - 1).leading_zeros();
        Ok(Self { kinds, layouts, kind_bits })
    }

    /// The kinds, in order.
    pub fn kinds(&self) -> &[KindSpec] {
        &self.kinds
    }

    /// The spec of `kind`, if the schema has it.
    pub fn kind(&self, kind: EntityKind) -> Option<&KindSpec> {
        self.kinds.get(usize::from(kind.0))
    }

    /// The kind called `name`.
    pub fn kind_named(&self, name: &str) -> Option<EntityKind> {
        self.kinds.iter().position(|k| k.name == name).map(|i| EntityKind(i as u8))
    }

    /// Where the field called `name` sits in entities of `kind`.
    pub fn slot(&self, kind: EntityKind, name: &str) -> Option<Slot> {
        let at = self.kind(kind)?.fields.iter().position(|f| f.name == name)?;
        Some(self.layouts[usize::from(kind.0)].slots[at])
    }

    /// Where field `F` sits in entities of `kind`.
    pub fn slot_of<F: Field>(&self, kind: EntityKind) -> Option<Slot> {
        self.slot(kind, F::NAME).filter(|s| s.bits == F::BITS)
    }

    /// Field `F` of an entity of `kind` whose packed fields are `packed`.
    pub fn get<F: Field>(&self, kind: EntityKind, packed: u32) -> Option<F> {
        self.slot_of::<F>(kind).map(|slot| F::unpack(slot.get(packed)))
    }

    /// Bits a kind's number takes on the wire.
    pub fn kind_bits(&self) -> u32 {
        self.kind_bits
    }

    /// Whether `kind` is one of the schema's.
    pub fn has(&self, kind: EntityKind) -> bool {
        usize::from(kind.0) < self.kinds.len()
    }

    /// The slots of `kind`'s fields in wire order (none for an unknown kind).
    pub fn slots(&self, kind: EntityKind) -> &[Slot] {
        self.layouts.get(usize::from(kind.0)).map_or(&[], |l| &l.slots)
    }

    /// The width of all of `kind`'s fields together.
    pub fn field_bits(&self, kind: EntityKind) -> u32 {
        self.layouts.get(usize::from(kind.0)).map_or(0, |l| l.total)
    }
}

impl TryFrom<Vec<KindSpec>> for Schema {
    type Error = SchemaError;

    fn try_from(kinds: Vec<KindSpec>) -> Result<Self, SchemaError> {
        Schema::new(kinds)
    }
}

impl From<Schema> for Vec<KindSpec> {
    fn from(schema: Schema) -> Self {
        schema.kinds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Health(u8);

    impl Field for Health {
        const NAME: &'static str = "health";
        const BITS: u32 = 7;
        fn pack(self) -> u32 {
            u32::from(self.0.min(100))
        }
        fn unpack(bits: u32) -> Self {
            Health((bits as u8).min(100))
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Heading(u8);

    impl Field for Heading {
        const NAME: &'static str = "heading";
        const BITS: u32 = 8;
        fn pack(self) -> u32 {
            u32::from(self.0)
        }
        fn unpack(bits: u32) -> Self {
            Heading(bits as u8)
        }
    }

    #[test]
    fn fields_pack_side_by_side_and_come_back() {
        let schema =
            Schema::new(vec![KindSpec::new("shot"), KindSpec::new("ship").with::<Heading>().with::<Health>()]).unwrap();
        let ship = schema.kind_named("ship").unwrap();
        assert_eq!(ship, EntityKind(1));
        assert_eq!(schema.kind_bits(), 1);
        assert_eq!(schema.field_bits(ship), 15);
        let heading = schema.slot_of::<Heading>(ship).unwrap();
        let health = schema.slot_of::<Health>(ship).unwrap();
        let packed = health.set(heading.set(0, Heading(200).pack()), Health(77).pack());
        assert_eq!(schema.get::<Heading>(ship, packed), Some(Heading(200)));
        assert_eq!(schema.get::<Health>(ship, packed), Some(Health(77)));
        // Replacing one leaves the other.
        let packed = heading.set(packed, Heading(3).pack());
        assert_eq!(schema.get::<Health>(ship, packed), Some(Health(77)));
        assert_eq!(schema.get::<Heading>(EntityKind(0), packed), None, "a shot has no heading");
    }

    #[test]
    fn kind_numbers_take_just_enough_bits() {
        let kinds = |n: usize| (0..n).map(|i| KindSpec::new(&format!("k{i}"))).collect::<Vec<_>>();
        for (n, bits) in [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (256, 8)] {
            assert_eq!(Schema::new(kinds(n)).unwrap().kind_bits(), bits, "{n} kinds");
        }
        assert_eq!(Schema::new(kinds(257)), Err(SchemaError::KindCount(257)));
        assert_eq!(Schema::new(vec![]), Err(SchemaError::KindCount(0)));
    }

    #[test]
    fn bad_schemas_are_refused_by_name() {
        let wide = FieldSpec { name: "wide".into(), bits: 20 };
        let kind =
            KindSpec { name: "ship".into(), fields: vec![wide.clone(), FieldSpec { name: "more".into(), ..wide }] };
        assert_eq!(Schema::new(vec![kind]), Err(SchemaError::TooWide { kind: "ship".into(), bits: 40 }));
        let zero = KindSpec { name: "ship".into(), fields: vec![FieldSpec { name: "z".into(), bits: 0 }] };
        assert!(matches!(Schema::new(vec![zero]), Err(SchemaError::FieldWidth { bits: 0, .. })));
        let twice = KindSpec::new("ship").with::<Health>().with::<Health>();
        assert!(matches!(Schema::new(vec![twice]), Err(SchemaError::DuplicateField { .. })));
        assert!(matches!(
            Schema::new(vec![KindSpec::new("a"), KindSpec::new("a")]),
            Err(SchemaError::DuplicateKind(_))
        ));
    }

    #[test]
    fn a_schema_round_trips_through_the_codec_and_is_checked_on_the_way_in() {
        let schema = Schema::new(vec![KindSpec::new("ship").with::<Heading>()]).unwrap();
        let bytes = crate::codec::encode(&schema).unwrap();
        assert_eq!(crate::codec::decode::<Schema>(&bytes).unwrap(), schema);
        let bad = crate::codec::encode(&Vec::<KindSpec>::new()).unwrap();
        assert!(crate::codec::decode::<Schema>(&bad).is_err(), "an empty schema does not decode");
    }
}
