//! Benchmark support: the local Lambda Runtime API the cold-start runner starts functions on.

pub mod runtime_api;
