//! Drive protocols: vendor mode over the task file, and the flash-chip drivers that run
//! over it.

pub mod family;
pub mod flash;
pub mod identity;
pub mod update;
pub mod vendor;
