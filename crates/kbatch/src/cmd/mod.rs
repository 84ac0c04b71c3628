//! One module per subcommand.

pub mod validate;
pub mod version;
