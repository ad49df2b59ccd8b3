//! One module per subcommand.

pub mod save;
