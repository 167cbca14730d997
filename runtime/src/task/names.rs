//! The name registry: the names of the live named tasks, by id, for threads that must not touch
//! the tasks themselves.
//!
//! The long-poll monitor (`monitor.rs`) learns from a worker's poll record *which* task is stuck
//! (its id), but it may not read that task's header: the task can complete and be freed at any
//! moment, and the monitor holds no reference to it. So a named task also lends its name here,
//! keyed by id, and the monitor looks it up under the lock. An entry is added when the task cell is
//! made ([`Meta::bind`](super::Meta::bind)) and removed when the cell's `Meta` is dropped, so
//! the registry holds exactly the named tasks whose cell is alive (and, for a moment during a
//! drop, one that is going). Unnamed tasks, the common case, never touch it.
//!
//! Cost: one lock, one allocation-free `Arc` clone and one map insert per named spawn, and the
//! same to remove it; a named spawn already allocates the name, so this does not change its
//! order of cost. Nothing here runs per poll.

use std::collections::BTreeMap;
use std::panic::Location;
use std::sync::{Arc, Mutex, PoisonError};

use super::Id;

/// A named task's name and spawn site (the poll record cannot decode a named task's site
/// without reading its heap cell; see `Meta::static_site`).
type Entry = (Arc<str>, &'static Location<'static>);

/// The live named tasks' names and spawn sites, by id (`Id::as_u64`).
/// INVARIANT: an entry exists from `Meta::bind` to the drop of that `Meta`.
static NAMES: Mutex<BTreeMap<u64, Entry>> = Mutex::new(BTreeMap::new());

/// Records `name` and `site` for task `id`.
pub(crate) fn register(id: Id, name: Arc<str>, site: &'static Location<'static>) {
    // A poisoned lock still holds a valid map: every critical section is one map operation.
    NAMES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id.as_u64(), (name, site));
}

/// Forgets the name of task `id` (its cell is being freed).
pub(crate) fn unregister(id: Id) {
    NAMES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id.as_u64());
}

/// The name and spawn site of task `id`, if it is named and still alive.
pub(crate) fn name_of(id: u64) -> Option<Entry> {
    NAMES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
        .cloned()
}

#[cfg(all(test, not(loom)))]
mod tests {
    /// A named task's name can be found by id while it lives, and not after it is freed.
    #[test]
    fn a_named_task_is_registered_while_alive() {
        let rt = crate::Builder::new_current_thread().build().unwrap();
        let (id, during) = rt.block_on(async {
            let h = crate::task::Builder::new()
                .name("registry-test")
                .spawn(async { super::name_of(crate::task::id().as_u64()).map(|e| e.0) })
                .unwrap();
            let id = h.id();
            (id, h.await.unwrap())
        });
        assert_eq!(during.as_deref(), Some("registry-test"));
        assert_eq!(super::name_of(id.as_u64()), None);
    }
}
