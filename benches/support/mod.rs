//! What `benches/backends.rs` needs beyond the library: a PostgreSQL server and server nodes
//! in processes of their own, and the CPU each side spends.

pub mod cpu;
pub mod node;
#[path = "../../tests/it/support/pg_tools.rs"]
pub mod pg_tools;
pub mod postgres;
