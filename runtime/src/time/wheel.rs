//! A hierarchical timing wheel: the pure data structure behind every `sleep`.
//!
//! The wheel knows nothing about `Instant`, wakers or threads. Time is a `u64` count of
//! ticks since some start that the caller picks (the driver's tick is 250 µs,
//! `driver.rs::TICK_NANOS`, so the durations below are for that tick); an entry is a value `T`
//! with a deadline tick. [`Wheel::poll`] hands out every entry whose deadline is at or before
//! `now`, and [`Wheel::next_expiration`] says when the caller must come back. The driver in
//! `time/driver.rs` owns one wheel behind a mutex and turns ticks into `Instant`s.
//!
//! ## Shape
//! ```text
//!  level 5  |  64 slots x 64^5 ticks (~3.1 days each)     covers 64^6 ticks, ~199 days
//!  level 4  |  64 slots x 64^4 ticks (~69.9 minutes each)  covers ~3.1 days
//!  level 3  |  64 slots x 64^3 ticks (65.5 s each)          covers ~69.9 minutes
//!  level 2  |  64 slots x 4096 ticks (1.024 s each)         covers 65.5 s
//!  level 1  |  64 slots x 64 ticks   (16 ms each)           covers 1.024 s
//!  level 0  |  64 slots x 1 tick     (250 µs each)          covers 16 ms
//!  overflow |  one unordered list for deadlines beyond the top level's reach
//! ```
//! A deadline is written in base 64: six digits of 6 bits each. An entry lives on the level of
//! the highest digit in which its deadline differs from `elapsed` (the tick the wheel has
//! processed up to), in the slot named by that digit. So level 0 holds deadlines within the
//! current block of 64 ticks, level 1 deadlines within the current block of 4096 ticks but a
//! later block of 64, and so on. When time reaches the start of a level-`n` slot, its entries "cascade":
//! each is re-inserted and lands on a lower level (or fires, if its deadline has come).
//!
//! Every level has a 64-bit occupancy bitmap, so the earliest occupied slot is one
//! `trailing_zeros` away and [`Wheel::next_expiration`] never scans slots or entries.
//!
//! ## Entries
//! Entries live in a [`slab::Slab`] and are chained into their slot by keys (`prev`/`next`), an
//! intrusive doubly linked list without pointers. Removing an entry is O(1) wherever it sits.
//! An entry stays in the slab after it fires ("idle") until its owner removes it, so a key never
//! changes meaning under its owner's feet.
//!
//! ## Invariants
//! - INVARIANT (placement): a linked entry sits on level `l`, slot `s` only if its deadline
//!   agrees with `elapsed` in every base-64 digit above `l` and has digit `s` at level `l`;
//!   overflow entries differ from `elapsed` above the top level.
//! - INVARIANT (order): hence every level-`l` entry is earlier than every level-`l+1` entry, the
//!   start of every occupied slot is later than `elapsed`, and the earliest occupied slot is the
//!   lowest set bit of the lowest non-empty level.
//! - INVARIANT (bitmaps): bit `s` of `occupied[l]` is set exactly when slot `(l, s)` is non-empty.

use slab::Slab;

/// Levels in the wheel (the overflow list is not counted).
pub(crate) const LEVELS: usize = 6;
/// Bits of the deadline that one level consumes: 6 bits, 64 slots.
const SLOT_BITS: u32 = 6;
/// Slots per level.
pub(crate) const SLOTS: usize = 1 << SLOT_BITS;
/// Ticks the six levels span together, as bits: 64^6 ticks, about 199 days at 250 µs a tick.
/// Deadlines that differ from `elapsed` above this span wait in the overflow list.
const SPAN_BITS: u32 = SLOT_BITS * LEVELS as u32;

/// Where an entry is linked right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Not in any list: never scheduled, cancelled, or already fired.
    Idle,
    /// In slot `slot` of level `level`.
    Slot {
        /// `0..LEVELS`.
        level: u8,
        /// `0..SLOTS`: the deadline's base-64 digit at `level`.
        slot: u8,
    },
    /// In the overflow list (deadline beyond the top level's reach).
    Overflow,
}

/// One timer in the slab.
#[derive(Debug)]
struct Entry<T> {
    /// The caller's data (the driver keeps a waker here).
    value: T,
    /// Deadline tick; meaningful while `place` is not `Idle`.
    when: u64,
    /// Which list the entry is in, so removal knows whose head to fix.
    place: Place,
    /// Previous entry in the same list. INVARIANT: `None` exactly when this entry is the head.
    prev: Option<usize>,
    /// Next entry in the same list.
    next: Option<usize>,
}

/// The timing wheel. See the module docs for the picture.
#[derive(Debug)]
pub(crate) struct Wheel<T> {
    /// Every entry, linked or idle, by key.
    entries: Slab<Entry<T>>,
    /// The tick up to which the wheel has processed time. Deadlines at or before it are "due".
    /// INVARIANT: never decreases; every linked entry's slot starts after it.
    elapsed: u64,
    /// Head of each slot's list.
    heads: [[Option<usize>; SLOTS]; LEVELS],
    /// Per level, bit `s` set when slot `s` is non-empty (see INVARIANT (bitmaps)).
    occupied: [u64; LEVELS],
    /// Head of the overflow list.
    overflow: Option<usize>,
    /// Number of linked (pending) entries.
    pending: usize,
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Wheel<T> {
    /// An empty wheel at tick 0.
    pub(crate) fn new() -> Self {
        Wheel {
            entries: Slab::new(),
            elapsed: 0,
            heads: [[None; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            overflow: None,
            pending: 0,
        }
    }

    /// Number of scheduled (not yet fired) entries.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Adds an idle entry holding `value` and returns its key. It fires only once [`schedule`]d.
    ///
    /// [`schedule`]: Wheel::schedule
    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.entries.insert(Entry {
            value,
            when: 0,
            place: Place::Idle,
            prev: None,
            next: None,
        })
    }

    /// Schedules entry `key` to fire at tick `when`, moving it if it was already scheduled.
    ///
    /// Returns `false`, leaving the entry idle, when `when` is already due (`when <= elapsed`):
    /// the wheel never hands out an entry late by a whole poll, so the caller must treat it as
    /// fired right away.
    pub(crate) fn schedule(&mut self, key: usize, when: u64) -> bool {
        self.cancel(key);
        if when <= self.elapsed {
            return false;
        }
        self.entries[key].when = when;
        self.link(key);
        true
    }

    /// Unschedules entry `key` (O(1)); it stays in the slab, idle. A no-op if it is idle.
    pub(crate) fn cancel(&mut self, key: usize) {
        let entry = &self.entries[key];
        let (place, prev, next) = (entry.place, entry.prev, entry.next);
        if place == Place::Idle {
            return;
        }
        // Unlink: the neighbours point past us; if we were the head, the list head moves on.
        match prev {
            Some(p) => self.entries[p].next = next,
            None => *self.head_mut(place) = next,
        }
        if let Some(n) = next {
            self.entries[n].prev = prev;
        }
        if let Place::Slot { level, slot } = place {
            if self.heads[level as usize][slot as usize].is_none() {
                self.occupied[level as usize] &= !(1 << slot);
            }
        }
        let entry = &mut self.entries[key];
        entry.place = Place::Idle;
        entry.prev = None;
        entry.next = None;
        self.pending -= 1;
    }

    /// Removes entry `key` from the wheel and the slab, returning its value (O(1)).
    pub(crate) fn remove(&mut self, key: usize) -> T {
        self.cancel(key);
        self.entries.remove(key).value
    }

    /// The value of entry `key`.
    pub(crate) fn get_mut(&mut self, key: usize) -> &mut T {
        &mut self.entries[key].value
    }

    /// Whether entry `key` is scheduled (has not fired, been cancelled, or been refused).
    #[cfg(test)]
    pub(crate) fn is_scheduled(&self, key: usize) -> bool {
        self.entries[key].place != Place::Idle
    }

    /// The earliest tick at which [`poll`](Wheel::poll) may have something to do, or `None`
    /// when nothing is scheduled. It is the start of the earliest occupied slot: exact for
    /// level 0, and on higher levels the moment that slot cascades (at or before its deadlines).
    /// O(LEVELS): one bitmap test per level, no scanning.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        for level in 0..LEVELS {
            let bits = self.occupied[level];
            if bits != 0 {
                return Some(self.slot_start(level, bits.trailing_zeros()));
            }
        }
        // Only overflow entries left: come back when `elapsed` enters the next span.
        self.overflow
            .map(|_| (self.elapsed | span_mask()).saturating_add(1))
    }

    /// Advances the wheel to `now` and calls `fire(key, value)` for every entry whose deadline
    /// is at or before `now`, in deadline order (entries with equal deadlines in any order).
    /// Fired entries become idle. Returns how many fired.
    ///
    /// Plan:
    /// 1. Find the earliest occupied slot. If it starts after `now`, stop.
    /// 2. Move `elapsed` to that slot's start and detach the slot's whole list.
    /// 3. Walk the detached list: fire each entry whose deadline is `elapsed` itself, re-link
    ///    the others (they land on a lower level, because they agree with the new `elapsed` on
    ///    this slot's digit). Firing only at `elapsed` is what keeps the deadline order: a
    ///    higher-level slot holds a range of deadlines in no particular order.
    /// 4. Repeat; at the end `elapsed = now`.
    pub(crate) fn poll(&mut self, now: u64, mut fire: impl FnMut(usize, &mut T)) -> usize {
        let mut fired = 0;
        // 1. The earliest slot (or the overflow list), if it is due.
        while let Some(start) = self.next_expiration() {
            if start > now {
                break;
            }
            // 2. Time moves to the slot's start; take its list. For the overflow list (only
            //    taken when every level is empty) time jumps straight to the span holding its
            //    earliest deadline (or `now`): nothing lies in between, and a far-future deadline
            //    costs one pass, not one per span of 64^6 ticks (~199 days).
            self.elapsed = if self.occupied == [0; LEVELS] {
                start.max(self.earliest_overflow().min(now) & !span_mask())
            } else {
                start
            };
            let mut cursor = self.take_earliest_list();
            // 3. Fire or re-link each entry of that list.
            while let Some(key) = cursor {
                let entry = &mut self.entries[key];
                cursor = entry.next;
                entry.place = Place::Idle;
                entry.prev = None;
                entry.next = None;
                self.pending -= 1;
                if entry.when <= self.elapsed {
                    fired += 1;
                    fire(key, &mut entry.value);
                } else {
                    self.link(key);
                }
            }
        }
        // 4. Nothing else is due: time catches up with `now`.
        self.elapsed = self.elapsed.max(now);
        fired
    }

    /// Detaches and returns the list of the earliest occupied slot (or the overflow list).
    /// Entries keep their `place` until the caller walks them.
    fn take_earliest_list(&mut self) -> Option<usize> {
        for level in 0..LEVELS {
            let bits = self.occupied[level];
            if bits != 0 {
                let slot = bits.trailing_zeros() as usize;
                self.occupied[level] &= !(1 << slot);
                return self.heads[level][slot].take();
            }
        }
        self.overflow.take()
    }

    /// The earliest deadline in the overflow list (`u64::MAX` if empty). O(overflow entries), paid
    /// once per trip of those entries back into the levels.
    fn earliest_overflow(&self) -> u64 {
        let mut earliest = u64::MAX;
        let mut cursor = self.overflow;
        while let Some(key) = cursor {
            earliest = earliest.min(self.entries[key].when);
            cursor = self.entries[key].next;
        }
        earliest
    }

    /// The tick at which slot `slot` of `level` starts, in the block `elapsed` is in.
    fn slot_start(&self, level: usize, slot: u32) -> u64 {
        let shift = SLOT_BITS * level as u32;
        // Keep the digits above `level`, put `slot` at `level`, zero the digits below.
        let above = self.elapsed & !low_mask(shift + SLOT_BITS);
        above | (u64::from(slot) << shift)
    }

    /// Links idle entry `key` into the list its deadline belongs to (see INVARIANT (placement)).
    fn link(&mut self, key: usize) {
        let when = self.entries[key].when;
        debug_assert!(
            when > self.elapsed,
            "linking a deadline that is already due"
        );
        let place = place_for(self.elapsed, when);
        let head = *self.head_mut(place);
        if let Some(h) = head {
            self.entries[h].prev = Some(key);
        }
        let entry = &mut self.entries[key];
        entry.place = place;
        entry.prev = None;
        entry.next = head;
        *self.head_mut(place) = Some(key);
        if let Place::Slot { level, slot } = place {
            self.occupied[level as usize] |= 1 << slot;
        }
        self.pending += 1;
    }

    /// The head pointer of the list named by `place`. Panics on `Idle` (it has no list).
    fn head_mut(&mut self, place: Place) -> &mut Option<usize> {
        match place {
            Place::Slot { level, slot } => &mut self.heads[level as usize][slot as usize],
            Place::Overflow => &mut self.overflow,
            Place::Idle => unreachable!("idle entries are in no list"),
        }
    }
}

/// A mask of the lowest `bits` bits.
fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}

/// The ticks of one span of the six levels, as a mask.
fn span_mask() -> u64 {
    low_mask(SPAN_BITS)
}

/// Where a deadline `when > elapsed` belongs: the level of the highest base-64 digit in which the
/// two differ, and that digit of `when` as the slot; past the top level, the overflow list.
fn place_for(elapsed: u64, when: u64) -> Place {
    // `| (SLOTS - 1)` makes deadlines within the current block of 64 ticks land on level 0.
    let differing = (elapsed ^ when) | (SLOTS as u64 - 1);
    let highest_bit = 63 - differing.leading_zeros();
    let level = highest_bit / SLOT_BITS;
    if level as usize >= LEVELS {
        return Place::Overflow;
    }
    let slot = (when >> (SLOT_BITS * level)) & (SLOTS as u64 - 1);
    Place::Slot {
        level: level as u8,
        slot: slot as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls `wheel` at `now` and returns the values that fired, in firing order.
    fn poll_values(wheel: &mut Wheel<u32>, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        wheel.poll(now, |_, v| out.push(*v));
        out
    }

    /// Schedules a fresh entry with value `v` at `when`; returns its key.
    fn add(wheel: &mut Wheel<u32>, v: u32, when: u64) -> usize {
        let key = wheel.insert(v);
        assert!(wheel.schedule(key, when), "deadline {when} refused");
        key
    }

    /// Placement follows the base-64 digits: level of the highest differing digit, slot = digit.
    #[test]
    fn placement_table() {
        let cases: &[(u64, u64, Place)] = &[
            // (elapsed, when, expected place)
            (0, 1, Place::Slot { level: 0, slot: 1 }),
            (0, 63, Place::Slot { level: 0, slot: 63 }),
            (0, 64, Place::Slot { level: 1, slot: 1 }),
            (10, 20, Place::Slot { level: 0, slot: 20 }),
            (60, 70, Place::Slot { level: 1, slot: 1 }),
            (64, 127, Place::Slot { level: 0, slot: 63 }),
            (0, 4095, Place::Slot { level: 1, slot: 63 }),
            (0, 4096, Place::Slot { level: 2, slot: 1 }),
            (0, 1 << 30, Place::Slot { level: 5, slot: 1 }),
            (0, (1 << 36) - 1, Place::Slot { level: 5, slot: 63 }),
            (0, 1 << 36, Place::Overflow),
            (5, u64::MAX, Place::Overflow),
        ];
        for &(elapsed, when, expected) in cases {
            assert_eq!(
                place_for(elapsed, when),
                expected,
                "elapsed {elapsed}, when {when}"
            );
        }
    }

    /// Entries fire exactly at their deadline, never before, in deadline order, across levels.
    #[test]
    fn fires_in_deadline_order_across_levels() {
        let deadlines = [5u64, 1, 64, 63, 4096, 100_000, 65, 2, 4095, 3_000_000];
        let mut wheel = Wheel::new();
        for (i, &d) in deadlines.iter().enumerate() {
            add(&mut wheel, i as u32, d);
        }
        let mut sorted: Vec<(u64, u32)> = deadlines
            .iter()
            .enumerate()
            .map(|(i, &d)| (d, i as u32))
            .collect();
        sorted.sort();
        // Step to each deadline: the tick before it fires nothing, the deadline fires exactly it.
        for (d, v) in sorted {
            assert_eq!(
                poll_values(&mut wheel, d - 1),
                Vec::<u32>::new(),
                "early at {}",
                d - 1
            );
            assert_eq!(poll_values(&mut wheel, d), vec![v], "deadline {d}");
        }
        assert_eq!(wheel.pending(), 0);
        assert_eq!(wheel.next_expiration(), None);
    }

    /// One big jump in time fires everything due, still in deadline order.
    #[test]
    fn big_jump_fires_in_order() {
        let mut wheel = Wheel::new();
        let deadlines = [700u64, 3, 70_000, 64, 1_000_000, 5000];
        for (i, &d) in deadlines.iter().enumerate() {
            add(&mut wheel, i as u32, d);
        }
        assert_eq!(poll_values(&mut wheel, 80_000), vec![1, 3, 0, 5, 2]);
        assert_eq!(wheel.pending(), 1);
        assert_eq!(poll_values(&mut wheel, 1_000_000), vec![4]);
    }

    /// `next_expiration` is exact on level 0 and a slot start (never later than the deadline) above.
    #[test]
    fn next_expiration_table() {
        let cases: &[(u64, u64, u64)] = &[
            // (elapsed reached by polling, deadline, expected next_expiration)
            (0, 7, 7),
            (10, 20, 20),
            (60, 70, 64),          // level 1: the 64..128 block cascades at 64
            (0, 5000, 4096),       // level 2: slot 1 starts at 4096
            (100, 4100, 4096),     // level 2 from a later elapsed
            (0, 1 << 36, 1 << 36), // overflow: the next span starts at 2^36
        ];
        for &(elapsed, when, expected) in cases {
            let mut wheel = Wheel::new();
            wheel.poll(elapsed, |_, _: &mut u32| {});
            add(&mut wheel, 0, when);
            assert_eq!(
                wheel.next_expiration(),
                Some(expected),
                "elapsed {elapsed}, when {when}"
            );
            assert!(expected <= when);
        }
    }

    /// Cancelling and removing are O(1) unlinks: from the head, the middle and the tail of one
    /// slot's list, and the slot's bitmap bit clears when its last entry goes.
    #[test]
    fn cancel_from_any_position_in_a_slot() {
        for victim in 0..3 {
            let mut wheel = Wheel::new();
            let keys: Vec<usize> = (0..3).map(|i| add(&mut wheel, i, 10)).collect();
            wheel.cancel(keys[victim]);
            assert!(!wheel.is_scheduled(keys[victim]));
            let mut fired = poll_values(&mut wheel, 10);
            fired.sort();
            let expected: Vec<u32> = (0..3).filter(|&i| i != victim as u32).collect();
            assert_eq!(fired, expected, "victim {victim}");
        }
        let mut wheel = Wheel::new();
        let k = add(&mut wheel, 9, 10);
        assert_eq!(wheel.remove(k), 9);
        assert_eq!(wheel.occupied, [0; LEVELS]);
        assert_eq!(wheel.next_expiration(), None);
        assert_eq!(wheel.pending(), 0);
    }

    /// Many timers in one slot all fire together; none is lost or fired twice.
    #[test]
    fn many_timers_in_one_slot() {
        let mut wheel = Wheel::new();
        for i in 0..10_000 {
            add(&mut wheel, i, 42);
        }
        let mut fired = poll_values(&mut wheel, 42);
        fired.sort();
        assert_eq!(fired, (0..10_000).collect::<Vec<_>>());
        assert_eq!(poll_values(&mut wheel, 10_000), Vec::<u32>::new());
    }

    /// A deadline at or before `elapsed` is refused (the caller fires it at once), and the entry
    /// stays idle; a deadline one tick later is accepted.
    #[test]
    fn deadlines_in_the_past_are_refused() {
        let mut wheel = Wheel::new();
        wheel.poll(100, |_, _: &mut u32| {});
        let k = wheel.insert(1);
        for past in [0, 50, 100] {
            assert!(!wheel.schedule(k, past), "deadline {past}");
            assert!(!wheel.is_scheduled(k));
        }
        assert!(wheel.schedule(k, 101));
        assert_eq!(poll_values(&mut wheel, 101), vec![1]);
    }

    /// Re-scheduling moves an entry (later and earlier), and a fired entry can be scheduled again.
    #[test]
    fn reschedule_moves_the_entry() {
        let mut wheel = Wheel::new();
        let k = add(&mut wheel, 1, 10);
        assert!(wheel.schedule(k, 5000));
        assert_eq!(poll_values(&mut wheel, 4999), Vec::<u32>::new());
        assert!(wheel.schedule(k, 5001));
        assert_eq!(poll_values(&mut wheel, 5000), Vec::<u32>::new());
        assert_eq!(poll_values(&mut wheel, 5001), vec![1]);
        assert!(wheel.schedule(k, 6000));
        assert_eq!(poll_values(&mut wheel, 6000), vec![1]);
    }

    /// Far-future deadlines (beyond the 64^6-tick span, ~199 days; up to u64::MAX) wait in overflow, cascade
    /// back into the levels as time gets there, and fire exactly on time.
    #[test]
    fn far_future_deadlines() {
        let mut wheel = Wheel::new();
        let far = (1u64 << 40) + 12_345;
        add(&mut wheel, 1, far);
        let never = add(&mut wheel, 2, u64::MAX);
        let also_far = add(&mut wheel, 3, (1u64 << 40) + 12_346);
        assert_eq!(poll_values(&mut wheel, 1 << 36), Vec::<u32>::new());
        assert_eq!(poll_values(&mut wheel, far - 1), Vec::<u32>::new());
        assert_eq!(poll_values(&mut wheel, far), vec![1]);
        assert!(wheel.is_scheduled(never));
        assert!(wheel.is_scheduled(also_far));
        // One big jump past both: they come out in deadline order.
        let third = add(&mut wheel, 4, (1u64 << 41) + 1);
        assert_eq!(poll_values(&mut wheel, 1 << 42), vec![3, 4]);
        assert!(!wheel.is_scheduled(third));
        assert_eq!(poll_values(&mut wheel, u64::MAX - 1), Vec::<u32>::new());
        assert_eq!(poll_values(&mut wheel, u64::MAX), vec![2]);
    }

    /// Against a reference model (a sorted map), a long deterministic pseudo-random mix of
    /// schedule / cancel / poll fires exactly the due entries, in deadline order, at every poll.
    #[test]
    fn matches_a_reference_model() {
        use std::collections::BTreeSet;
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut wheel: Wheel<u32> = Wheel::new();
        let mut model: BTreeSet<(u64, usize)> = BTreeSet::new();
        let mut keys: Vec<usize> = Vec::new();
        let mut now = 0u64;
        let mut total_fired = 0;
        for step in 0..20_000u32 {
            match next() % 4 {
                0 | 1 => {
                    // Deadlines from 1 tick to 2^39 ticks (~4.4 years at 250 µs) ahead, so some
                    // overflow; skewed towards near ones.
                    let ahead = 1 + (next() % (1 << (next() % 40)));
                    let key = wheel.insert(step);
                    assert!(wheel.schedule(key, now + ahead));
                    model.insert((now + ahead, key));
                    keys.push(key);
                }
                2 if !keys.is_empty() => {
                    let key = keys.swap_remove((next() % keys.len() as u64) as usize);
                    if wheel.is_scheduled(key) {
                        model.retain(|&(_, k)| k != key);
                    }
                    wheel.remove(key);
                }
                _ => {
                    // Mostly small steps, now and then a leap of up to 2^39 ticks (~4.4 years).
                    now += next() % (1 << (next() % 40));
                    let mut fired = Vec::new();
                    wheel.poll(now, |key, _| fired.push(key));
                    let due: Vec<(u64, usize)> = model
                        .iter()
                        .copied()
                        .take_while(|&(w, _)| w <= now)
                        .collect();
                    // Same set; and deadline order (equal deadlines may come in any order).
                    let mut expected: Vec<usize> = due.iter().map(|&(_, k)| k).collect();
                    let fired_when: Vec<u64> = fired
                        .iter()
                        .map(|k| due.iter().find(|d| d.1 == *k).unwrap().0)
                        .collect(); // every fired key is in `due`, checked next
                    assert!(
                        fired_when.windows(2).all(|w| w[0] <= w[1]),
                        "order at step {step}"
                    );
                    total_fired += fired.len();
                    fired.sort();
                    expected.sort();
                    assert_eq!(fired, expected, "step {step}, now {now}");
                    for d in due {
                        model.remove(&d);
                    }
                }
            }
            assert_eq!(wheel.pending(), model.len());
            if let (Some(next_exp), Some(&(first, _))) = (wheel.next_expiration(), model.first()) {
                assert!(
                    next_exp <= first && next_exp > now,
                    "next_expiration at step {step}"
                );
            }
        }
        // The mix really exercised firing, not just scheduling.
        assert!(total_fired > 1000, "only {total_fired} fired");
    }

    /// Keys stay valid after firing: the entry is idle until removed, and removal frees the key.
    #[test]
    fn fired_entries_stay_until_removed() {
        let mut wheel = Wheel::new();
        let k = add(&mut wheel, 7, 3);
        let mut keys = Vec::new();
        wheel.poll(3, |key, v| {
            *v += 1;
            keys.push(key);
        });
        assert_eq!(keys, vec![k]);
        assert!(!wheel.is_scheduled(k));
        assert_eq!(*wheel.get_mut(k), 8);
        assert_eq!(wheel.remove(k), 8);
        assert!(wheel.entries.is_empty());
    }
}
