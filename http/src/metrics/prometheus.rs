//! Prometheus exposition (text format 0.0.4) of the runtime's and the HTTP metrics.
