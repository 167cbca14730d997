//! STUB: combinators (`join!`, `join_all`, `select`). The helper that owns `future/` replaces this.
