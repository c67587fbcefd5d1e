//! What `benches/backends.rs` needs beyond the library: a PostgreSQL server and server nodes
//! in processes of their own.

pub mod node;
pub mod postgres;
