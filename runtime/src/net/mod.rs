//! STUB: TCP networking on the reactor. The helper that owns `net/` and `reactor/` replaces this.
