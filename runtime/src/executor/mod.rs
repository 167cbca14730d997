//! STUB during bring-up: the executor.
