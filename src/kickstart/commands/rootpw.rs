//! `rootpw`: not ported yet; kept raw.

use super::{Command, RawCommand};

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    RawCommand::boxed("rootpw")
}
