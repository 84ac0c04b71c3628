//! One module per subcommand.

pub mod agent;
pub mod cron;
pub mod image;
pub mod run;
pub mod server;
pub mod shim;
pub mod token;
pub mod validate;
pub mod version;
