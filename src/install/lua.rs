//! (being written: embedded Lua for scriptlets) — temporary interface so the runner compiles.

/// A Lua scriptlet to run.
pub struct LuaScriptlet<'a> {
    /// Name for messages.
    pub name: &'a str,
    /// Body.
    pub body: &'a str,
    /// rpm's `arg` table.
    pub args: &'a [String],
    /// Macros for `rpm.expand`.
    pub macros: &'a [(String, String)],
}

/// Lua errors.
#[derive(Debug, thiserror::Error)]
pub enum LuaError {
    /// Not available yet.
    #[error("lua scriptlets are not supported yet ({0})")]
    Unsupported(String),
}

/// Run a Lua scriptlet.
pub fn run_lua(s: &LuaScriptlet<'_>, _out: &mut dyn std::io::Write) -> Result<i32, LuaError> {
    Err(LuaError::Unsupported(s.name.to_string()))
}
