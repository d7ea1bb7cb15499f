//! This node's memory of the refresh tokens it has just rotated away: a replay of one
//! skips the one-statement path, which would mint an access token only to throw it away.

use std::sync::atomic::{AtomicU64, Ordering};

/// Slots of the table: 32 KiB per environment. A slot holds the last pair marked into
/// it; an older one it evicts merely costs its replay the wasted mint again.
const SLOTS: usize = 4096;

/// A fixed table of `(session, generation)` pairs that this node rotated away. It is a
/// hint, never a decision: a pair found here goes the general path, which reads the
/// session and lets the lifecycle rule (replay, reuse or refusal), exactly as a pair the
/// one-statement path missed. A false hit (two pairs with one 64-bit key) costs a read,
/// nothing else; a miss (evicted, or rotated by another node) costs the wasted mint.
pub(super) struct Superseded {
    slots: Box<[AtomicU64]>,
}

impl Superseded {
    pub(super) fn new() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Notes that generation `generation` of session `sid` was rotated away.
    pub(super) fn mark(&self, sid: i64, generation: i64) {
        let k = key(sid, generation);
        if let Some(slot) = self.slots.get(slot_of(k)) {
            slot.store(k, Ordering::Relaxed);
        }
    }

    /// Whether generation `generation` of session `sid` was (most likely) rotated away
    /// by this node.
    pub(super) fn contains(&self, sid: i64, generation: i64) -> bool {
        let k = key(sid, generation);
        self.slots
            .get(slot_of(k))
            .is_some_and(|slot| slot.load(Ordering::Relaxed) == k)
    }
}

/// The slot of a key: from its high half (the low bit of every key is set).
fn slot_of(k: u64) -> usize {
    ((k >> 32) % SLOTS as u64) as usize
}

/// A well-mixed 64-bit key of the pair (splitmix64's finaliser), never 0 (an empty slot).
fn key(sid: i64, generation: i64) -> u64 {
    let mut z = (sid as u64) ^ (generation as u64).rotate_left(32);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_pair_is_found_and_its_neighbours_are_not() {
        let s = Superseded::new();
        assert!(!s.contains(7, 3));
        s.mark(7, 3);
        assert!(s.contains(7, 3));
        assert!(!s.contains(7, 4), "the live generation is not superseded");
        assert!(!s.contains(8, 3));
        assert!(!s.contains(-7, 3));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_oldest_in_a_slot() {
        let s = Superseded::new();
        for sid in 0..(4 * SLOTS as i64) {
            s.mark(sid, 1);
        }
        assert_eq!(s.slots.len(), SLOTS);
        // The latest marks are found; most early ones were evicted, none wrongly kept.
        let recent = (3 * SLOTS as i64..4 * SLOTS as i64)
            .filter(|&sid| s.contains(sid, 1))
            .count();
        assert!(
            recent > SLOTS / 2,
            "{recent} of the last {SLOTS} marks found"
        );
        let found = (0..4 * SLOTS as i64)
            .filter(|&sid| s.contains(sid, 1))
            .count();
        assert!(found <= SLOTS, "{found} found in {SLOTS} slots");
    }
}
