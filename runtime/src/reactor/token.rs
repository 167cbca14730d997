//! How a `mio::Token` names one registration, and the slab that hands those names out.
//!
//! Talks to: [`super::Reactor`] (which keeps one [`Registrations`] behind a mutex) and, through the
//! tokens it makes, to `mio::Poll` (which hands the token back with every event).
//!
//! # Token layout
//!
//! A token is a `usize`; only its low 32 bits are used, so the layout is the same on 32- and
//! 64-bit targets:
//!
//! ```text
//!  31            24 23                                   0
//! +----------------+--------------------------------------+
//! |  generation    |  slab key                            |
//! |  (8 bits)      |  (24 bits)                           |
//! +----------------+--------------------------------------+
//! ```
//!
//! * The **key** is the registration's index in the slab: looking it up is an array access.
//! * The **generation** counts how many times that slab slot has been freed. A slot is reused as
//!   soon as its registration is dropped, but `epoll_wait` may already have returned an event for
//!   the old registration that the reactor has not dispatched yet. Without the generation that stale
//!   event would wake the *new* resource in the slot; with it, the key matches but the generation
//!   does not, and the event is dropped. (The generation wraps after 256 reuses of one slot; a
//!   stale event would have to survive 256 drop-and-register cycles of one slot inside a single
//!   reactor turn to be misdelivered, and even then it costs only a spurious wake-up: every
//!   operation re-checks with a real syscall.)
//! * Key [`KEY_MASK`] (all ones) is never handed out: it is reserved for [`WAKER_TOKEN`], the token of
//!   the reactor's own `mio::Waker`.
//!
//! # Invariants
//!
//! * INVARIANT: for every occupied slab key `k`, the entry's token is `encode(k, generations[k])`.
//! * INVARIANT: `generations[k]` changes every time slot `k` is freed, so a token made before the
//!   free never matches again (modulo the 8-bit wrap described above).

use mio::Token;
use slab::Slab;

use crate::loom::Arc;

use super::scheduled_io::ScheduledIo;

/// Bits of the token that hold the slab key.
pub(crate) const KEY_BITS: u32 = 24;
/// Mask selecting the key bits; also the one key value that is never allocated.
pub(crate) const KEY_MASK: usize = (1 << KEY_BITS) - 1;
/// Bits of the token, above the key, that hold the slot's generation.
pub(crate) const GENERATION_BITS: u32 = 8;
/// Mask for a generation value (after shifting it down).
pub(crate) const GENERATION_MASK: usize = (1 << GENERATION_BITS) - 1;
/// The most registrations that can be alive at once: every key below [`KEY_MASK`].
pub(crate) const MAX_REGISTRATIONS: usize = KEY_MASK;

/// The token of the reactor's `mio::Waker`: the reserved key, generation 0. No registration can
/// ever carry it, because the slab never grows to key [`KEY_MASK`].
pub(crate) const WAKER_TOKEN: Token = Token(KEY_MASK);

/// Packs a slab key and a generation into a token (see the layout in the module docs).
pub(crate) fn encode(key: usize, generation: u8) -> Token {
    debug_assert!(key < KEY_MASK, "key {key} does not fit the token layout");
    Token(((generation as usize) << KEY_BITS) | key)
}

/// Splits a token back into `(slab key, generation)`.
pub(crate) fn decode(token: Token) -> (usize, u8) {
    let key = token.0 & KEY_MASK;
    // Truncation is the point: the mask keeps exactly GENERATION_BITS (8) bits.
    let generation = ((token.0 >> KEY_BITS) & GENERATION_MASK) as u8;
    (key, generation)
}

/// Every live I/O registration of one reactor, addressed by token.
///
/// Plain data with no synchronization of its own: the reactor keeps it in a mutex, locks it to
/// add or remove a registration, and locks it once per turn to look up the events' tokens.
#[derive(Debug, Default)]
pub(crate) struct Registrations {
    /// The readiness cell of each live registration, shared (by `Arc`) with its `Registration`.
    /// INVARIANT: `slab.len() <= MAX_REGISTRATIONS`, so no key reaches `KEY_MASK`.
    slab: Slab<Arc<ScheduledIo>>,
    /// The current generation of every slot the slab has ever used, indexed by key; bumped when
    /// the slot is freed. Kept outside the slab because the slab forgets a slot's entry on removal.
    /// INVARIANT: `generations.len()` is greater than every key the slab has ever handed out.
    generations: Vec<u8>,
}

impl Registrations {
    /// Stores `io` in a free slot and returns the token that names it, or `None` when all
    /// [`MAX_REGISTRATIONS`] keys are in use.
    pub(crate) fn insert(&mut self, io: Arc<ScheduledIo>) -> Option<Token> {
        if self.slab.len() >= MAX_REGISTRATIONS {
            return None;
        }
        let key = self.slab.insert(io);
        if key >= self.generations.len() {
            // A slot the slab never used before starts at generation 0.
            self.generations.resize(key + 1, 0);
        }
        Some(encode(key, self.generations[key]))
    }

    /// The registration named by `token`, or `None` if that registration is gone (its slot is
    /// empty, or reused by a newer registration with another generation).
    pub(crate) fn get(&self, token: Token) -> Option<&Arc<ScheduledIo>> {
        let (key, generation) = decode(token);
        let io = self.slab.get(key)?;
        (self.generations[key] == generation).then_some(io)
    }

    /// Frees the slot named by `token` and bumps its generation. Returns the removed entry, or
    /// `None` (and changes nothing) if the token is stale.
    pub(crate) fn remove(&mut self, token: Token) -> Option<Arc<ScheduledIo>> {
        self.get(token)?;
        let (key, _) = decode(token);
        self.generations[key] = self.generations[key].wrapping_add(1);
        Some(self.slab.remove(key))
    }

    /// Every live registration (used by shutdown to wake them all).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<ScheduledIo>> {
        self.slab.iter().map(|(_, io)| io)
    }

    /// How many registrations are alive.
    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encoding then decoding gives back the same key and generation, at the edges of both fields.
    #[test]
    fn key_and_generation_round_trip() {
        let cases: &[(usize, u8, usize)] = &[
            // (key, generation, expected raw token)
            (0, 0, 0),
            (1, 0, 1),
            (0, 1, 1 << 24),
            (5, 3, (3 << 24) | 5),
            (KEY_MASK - 1, 0, KEY_MASK - 1),
            (KEY_MASK - 1, 255, (255 << 24) | (KEY_MASK - 1)),
            (123_456, 200, (200 << 24) | 123_456),
        ];
        for &(key, generation, raw) in cases {
            let token = encode(key, generation);
            assert_eq!(token, Token(raw), "encode({key}, {generation})");
            assert_eq!(decode(token), (key, generation), "decode({raw:#x})");
            assert_ne!(
                token, WAKER_TOKEN,
                "a registration token equals the waker token"
            );
        }
    }

    /// The waker token decodes to the reserved key, which no registration can have.
    #[test]
    fn waker_token_uses_the_reserved_key() {
        assert_eq!(decode(WAKER_TOKEN), (KEY_MASK, 0));
        assert_eq!(MAX_REGISTRATIONS, KEY_MASK);
    }

    /// One step of the slot-reuse table below.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// Register a new resource; remember its token under this name.
        Insert(usize),
        /// Drop the registration remembered under this name; expect success or not.
        Remove(usize, bool),
        /// Look up the token remembered under this name; expect it found or not.
        Get(usize, bool),
    }

    /// A token stops resolving once its registration is removed, and keeps not resolving when a
    /// newer registration reuses the same slab slot; the newer token resolves to the newer entry.
    #[test]
    fn stale_token_is_rejected_after_slot_reuse() {
        use Step::*;
        let tables: &[&[Step]] = &[
            // Reuse one slot: the old token (0) must not find the new resource (1).
            &[
                Insert(0),
                Get(0, true),
                Remove(0, true),
                Insert(1),
                Get(0, false),
                Get(1, true),
            ],
            // Removing with a stale token must not free the new registration.
            &[
                Insert(0),
                Remove(0, true),
                Insert(1),
                Remove(0, false),
                Get(1, true),
                Remove(1, true),
            ],
            // Reuse the same slot several times; only the newest token resolves.
            &[
                Insert(0),
                Remove(0, true),
                Insert(1),
                Remove(1, true),
                Insert(2),
                Get(0, false),
                Get(1, false),
                Get(2, true),
            ],
            // Two live slots do not disturb each other.
            &[
                Insert(0),
                Insert(1),
                Remove(0, true),
                Get(1, true),
                Insert(2),
                Get(0, false),
                Get(2, true),
            ],
        ];
        for (t, table) in tables.iter().enumerate() {
            let mut regs = Registrations::default();
            let mut tokens: [Option<(Token, Arc<ScheduledIo>)>; 4] = Default::default();
            for (s, step) in table.iter().enumerate() {
                match *step {
                    Insert(name) => {
                        let io = Arc::new(ScheduledIo::new());
                        let token = regs.insert(io.clone()).expect("room in the slab");
                        tokens[name] = Some((token, io));
                    }
                    Remove(name, ok) => {
                        let (token, _) = tokens[name].as_ref().expect("named token");
                        assert_eq!(
                            regs.remove(*token).is_some(),
                            ok,
                            "table {t} step {s}: {step:?}"
                        );
                    }
                    Get(name, found) => {
                        let (token, io) = tokens[name].as_ref().expect("named token");
                        let got = regs.get(*token);
                        assert_eq!(got.is_some(), found, "table {t} step {s}: {step:?}");
                        if let Some(got) = got {
                            assert!(Arc::ptr_eq(got, io), "table {t} step {s}: wrong resource");
                        }
                    }
                }
            }
        }
    }

    /// The generation of a slot wraps around instead of overflowing.
    #[test]
    fn generation_wraps() {
        let mut regs = Registrations::default();
        let first = regs.insert(Arc::new(ScheduledIo::new())).unwrap();
        assert_eq!(decode(first), (0, 0));
        regs.remove(first).unwrap();
        for _ in 0..254 {
            let t = regs.insert(Arc::new(ScheduledIo::new())).unwrap();
            regs.remove(t).unwrap();
        }
        let last = regs.insert(Arc::new(ScheduledIo::new())).unwrap();
        assert_eq!(decode(last), (0, 255));
        regs.remove(last).unwrap();
        let wrapped = regs.insert(Arc::new(ScheduledIo::new())).unwrap();
        assert_eq!(decode(wrapped), (0, 0));
        assert_eq!(regs.len(), 1);
    }
}
