//! A FIFO queue of waiting tasks with O(1) removal from the middle: the waiter queue behind
//! [`Semaphore`](super::Semaphore) (and so [`Mutex`](super::Mutex) and bounded `mpsc`) and
//! [`Notify`](super::Notify).
//!
//! It is a doubly linked list whose nodes live in a [`slab::Slab`] instead of separate heap
//! allocations: a node's "pointer" is its slab key. The list itself is not thread-safe; its owner
//! keeps it inside a `crate::loom::Mutex` together with the rest of the primitive's state.
//!
//! Two steps are kept apart on purpose, because a waiter outlives its place in the line:
//!
//! ```text
//!   push_back ──► [linked: in the FIFO] ──pop_front / unlink──► [unlinked: slot kept] ──remove──► freed
//!                        │                                                               ▲
//!                        └──────────────────────── remove (cancelled) ───────────────────┘
//! ```
//!
//! A primitive grants a waiter by *unlinking* it (it leaves the line) and marking its value;
//! the waiting future later reads that mark through its key and *removes* the slot.
//!
//! Ownership rule (INVARIANT): a slot is freed only by the future that pushed it (when it completes
//! or is dropped). So a key held by a future always names that future's own slot: a freed key can be
//! reused by the slab, but nobody still holds the old one.

use slab::Slab;

/// One entry: the caller's value plus its links in the FIFO.
#[derive(Debug)]
struct Node<T> {
    /// What the primitive records about this waiter (its waker, whether it was granted, ...).
    value: T,
    /// The key of the node before this one in the FIFO; `None` at the head or when unlinked.
    prev: Option<usize>,
    /// The key of the node after this one in the FIFO; `None` at the tail or when unlinked.
    next: Option<usize>,
    /// Whether the node is in the FIFO.
    /// INVARIANT: `!linked` implies `prev == None && next == None`.
    linked: bool,
}

/// A FIFO of waiters stored in a slab; see the module docs for the linked / unlinked / freed states.
#[derive(Debug)]
pub(crate) struct WaitList<T> {
    /// Every slot that has not been freed, linked or not.
    nodes: Slab<Node<T>>,
    /// The oldest linked node. INVARIANT: `None` exactly when no node is linked.
    head: Option<usize>,
    /// The newest linked node. INVARIANT: `None` exactly when no node is linked.
    tail: Option<usize>,
    /// How many nodes are linked (the length of the line, not the number of slots).
    linked: usize,
}

impl<T> WaitList<T> {
    /// An empty list.
    pub(crate) fn new() -> Self {
        WaitList {
            nodes: Slab::new(),
            head: None,
            tail: None,
            linked: 0,
        }
    }

    /// Appends `value` at the back of the line; returns its key.
    pub(crate) fn push_back(&mut self, value: T) -> usize {
        let key = self.nodes.insert(Node {
            value,
            prev: self.tail,
            next: None,
            linked: true,
        });
        match self.tail {
            Some(tail) => self.nodes[tail].next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        self.linked += 1;
        key
    }

    /// Takes the oldest waiter out of the line and returns its key; its slot stays allocated.
    pub(crate) fn pop_front(&mut self) -> Option<usize> {
        let key = self.head?;
        self.unlink(key);
        Some(key)
    }

    /// Takes `key` out of the line (if it is in it); its slot stays allocated.
    pub(crate) fn unlink(&mut self, key: usize) {
        let node = &mut self.nodes[key];
        if !node.linked {
            return;
        }
        let (prev, next) = (node.prev.take(), node.next.take());
        node.linked = false;
        match prev {
            Some(p) => self.nodes[p].next = next,
            None => self.head = next,
        }
        match next {
            Some(n) => self.nodes[n].prev = prev,
            None => self.tail = prev,
        }
        self.linked -= 1;
    }

    /// Unlinks `key` if needed and frees its slot, returning the value.
    /// Only the future that pushed `key` may call this (see the ownership rule above).
    pub(crate) fn remove(&mut self, key: usize) -> T {
        self.unlink(key);
        self.nodes.remove(key).value
    }

    /// Whether `key` is still waiting in the line.
    #[cfg(test)]
    pub(crate) fn is_linked(&self, key: usize) -> bool {
        self.nodes[key].linked
    }

    /// The value of slot `key`, linked or not.
    pub(crate) fn get_mut(&mut self, key: usize) -> &mut T {
        &mut self.nodes[key].value
    }

    /// The key of the oldest waiter still in line.
    #[cfg(test)]
    pub(crate) fn front(&self) -> Option<usize> {
        self.head
    }

    /// Whether nobody is in line (unlinked slots do not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// How many waiters are in line (unlinked slots do not count).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.linked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step of a table-driven scenario.
    #[derive(Debug, Clone, Copy)]
    enum Op {
        /// Push this label; the test remembers its key under the label.
        Push(u32),
        /// Pop the front and expect this label (or `None` for an empty line).
        Pop(Option<u32>),
        /// Unlink the node with this label (a granted or cancelled waiter leaving the line).
        Unlink(u32),
        /// Remove (free) the node with this label.
        Remove(u32),
    }

    /// Runs `ops` and checks that the remaining line, read front to back, is `expect`.
    fn run(ops: &[Op], expect: &[u32]) {
        let mut list = WaitList::new();
        let mut keys = std::collections::HashMap::new();
        for &op in ops {
            match op {
                Op::Push(label) => {
                    keys.insert(label, list.push_back(label));
                }
                Op::Pop(want) => {
                    let got = list.pop_front().map(|k| *list.get_mut(k));
                    assert_eq!(got, want, "pop in {ops:?}");
                }
                Op::Unlink(label) => list.unlink(keys[&label]),
                Op::Remove(label) => assert_eq!(list.remove(keys[&label]), label),
            }
        }
        let mut seen = Vec::new();
        while let Some(k) = list.pop_front() {
            assert!(!list.is_linked(k));
            seen.push(*list.get_mut(k));
        }
        assert_eq!(seen, expect, "line after {ops:?}");
        assert!(list.is_empty() && list.front().is_none());
    }

    /// The line is FIFO, and unlinking or removing from any position keeps the rest in order.
    #[test]
    fn fifo_with_removal_anywhere() {
        use Op::*;
        let table: &[(&[Op], &[u32])] = &[
            (&[], &[]),
            (&[Pop(None)], &[]),
            (&[Push(1), Push(2), Push(3)], &[1, 2, 3]),
            (&[Push(1), Push(2), Pop(Some(1)), Push(3)], &[2, 3]),
            (&[Push(1), Push(2), Push(3), Remove(2)], &[1, 3]),
            (&[Push(1), Push(2), Push(3), Remove(1)], &[2, 3]),
            (&[Push(1), Push(2), Push(3), Remove(3), Push(4)], &[1, 2, 4]),
            (&[Push(1), Unlink(1), Unlink(1), Push(2)], &[2]),
            (
                &[Push(1), Pop(Some(1)), Remove(1), Push(2), Pop(Some(2))],
                &[],
            ),
            (&[Push(1), Push(2), Unlink(2), Unlink(1), Push(3)], &[3]),
        ];
        for (ops, expect) in table {
            run(ops, expect);
        }
    }

    /// An unlinked slot keeps its value until its owner removes it, and `len` counts only the line.
    #[test]
    fn unlinked_slot_keeps_value() {
        let mut list = WaitList::new();
        let a = list.push_back("a");
        let b = list.push_back("b");
        assert_eq!(list.len(), 2);
        assert_eq!(list.pop_front(), Some(a));
        assert_eq!(list.len(), 1);
        *list.get_mut(a) = "granted";
        assert_eq!(list.remove(a), "granted");
        assert_eq!(list.front(), Some(b));
    }
}
