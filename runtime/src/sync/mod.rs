//! STUB: async synchronization primitives. The helper that owns `sync/` replaces this.
