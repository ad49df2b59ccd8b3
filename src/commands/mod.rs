//! One module per subcommand.

pub mod save;
pub mod status;
pub mod verify;
