//! The embedded Lua for RPM `-p <lua>` scriptlets: rpm 4.18's Lua environment rebuilt on mlua.
//!
//! rpm runs Lua scriptlets inside its own (chrooted) process; kiln runs them inside a helper
//! process that [`super::scriptlet`] has already moved into a private mount namespace, chrooted
//! into the root and `chdir("/")`-ed. So this module works on real paths and knows nothing of
//! roots, namespaces or packages beyond the names it is handed for messages.
//!
//! What the scripts see, after rpm 4.18's `rpmio/rpmlua.c`, `rpmio/lposix.c` and
//! `lib/rpmscript.c`:
//! - the chunk is `local opt, arg = ...;` + (`arg[2] = tonumber(arg[2]);` when `$1` exists,
//!   `arg[3] = tonumber(arg[3]);` when `$2` exists) + the body, named after the scriptlet;
//!   `opt` is an empty table, `arg` is [`LuaScriptlet::args`];
//! - the standard libraries except `debug` (mlua refuses it in safe mode), `print` and
//!   `io.write`/`io.stdout:write` redirected to the caller's writer, `os.exit` overridden;
//! - `posix.*`, all of rpm 4.18's lposix (results are Lua floats, failures are
//!   `nil, "path: strerror", errno`; `setuid`/`setgid` change only the helper process, which
//!   runs this one scriptlet; `times`, `sysconf`, `pathconf` answer as glibc does);
//! - `rpm.*`: `expand`, `define`, `undefine`, `isdefined`, `load`, `vercmp`, `ver`, `execute`,
//!   `b64encode`, `b64decode`, `splitargs`, `unsplitargs`, `open`, `interactive`, `call`,
//!   `register`, `unregister` (hooks within the scriptlet), `redirect2null`, and in file
//!   triggers `next_file` (the matching paths, then nil, then the paths again, as rpm);
//! - the global `macros` object (`macros.name`, `macros.name = body`/`nil`, parametric
//!   macros called as `macros.name("args")` or `macros.name({...})`), parametric macro calls
//!   in `rpm.expand` (`%{name args}`, `%name args` to the end of the line, options and the
//!   `%1`, `%*`, `%**`, `%#`, `%-x`, `%{-x*}`, `%{?-x:...}` locals), `%{lua:...}` (run in the
//!   same interpreter, `print` captured without newlines and the returned values appended, as
//!   rpm's print buffer), `%[...]`/`%{expr:...}` expressions, and `RPM_INSTALL_PREFIX`
//!   (indexed from 1) for relocatable packages;
//! - errors raised by these functions are plain strings, as rpm's C functions raise them.
//!
//! `tests/install_lua.rs` lists every name rpm 4.18 adds to Lua and checks each against rpm.
//!
//! `posix.fork`/`posix.exec`/`posix.wait` cannot be real here (`#![forbid(unsafe_code)]`, and a
//! forked Lua state would be a second copy of this process). They are emulated for the idiom
//! Fedora and EL packages use:
//! ```lua
//! pid = posix.fork()
//! if pid == 0 then posix.redirect2null(2); posix.exec("/sbin/ldconfig"); assert(nil)
//! elseif pid > 0 then posix.wait(pid) end
//! ```
//! `posix.fork()` returns 0, so the script takes the child branch; `posix.redirect2null` is
//! recorded, `posix.exec` runs the program to completion through [`std::process::Command`]
//! (its stdout goes to the output writer), remembers its pid and status for `posix.wait`, and
//! returns. What follows `exec` in a child branch is dead code in a real fork; the first
//! `assert`, `error` or `os.exit` called after it (the usual "exec failed" terminator) is
//! therefore swallowed, and the script goes on after the `if` as the parent would. Limits:
//! the parent's branch of the `if` (`pid > 0`) does not run, so it must only wait, as in the
//! idiom; statements after `exec` other than one terminator do run; a second `fork` inside the
//! child branch is refused; `posix.wait` only knows emulated children.
//!
//! Not provided (the scriptlet fails with an error naming the function, even when the script
//! catches it): the built-ins `%{uncompress:}`, `%{dump}`, `%{trace}` and the spec-only
//! `%{S:}`, `%{P:}`, `%{F:}`; `fork` in a child.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::rc::Rc;

use mlua::{
    Function, Lua, LuaOptions, MetaMethod, MultiValue, StdLib, Table, UserData, UserDataMethods,
    Value,
};
use tracing::debug;

use crate::rpmfile::macros::{read_macro_file, MacroDefinition};
use crate::rpmfile::Evr;

/// One Lua scriptlet to run.
#[derive(Debug, Clone, Copy)]
pub struct LuaScriptlet<'a> {
    /// Names the scriptlet in messages and in Lua's own error positions, e.g.
    /// `glibc-2.39-1.fc40.x86_64 %post`.
    pub name: &'a str,
    /// The scriptlet body as stored in the header.
    pub body: &'a str,
    /// The `arg` table exactly as rpm builds it (`lib/rpmscript.c`, `runLuaScript`): first the
    /// scriptlet program array from the header (for `-p <lua>` that is just `"<lua>"`), then
    /// `$1` (the instance count rpm passes to every scriptlet, also `%pretrans`/`%posttrans`),
    /// then `$2` for triggers (the trigger count). So `%post` of a first install is
    /// `["<lua>", "1"]` and a trigger is `["<lua>", "1", "1"]`. `arg[2]`/`arg[3]` are turned
    /// into Lua numbers the way rpm does (a `tonumber` prefix to the body).
    pub args: &'a [String],
    /// Macros predefined for `rpm.expand` (`_prefix`, `_sysconfdir`, `_libdir`, `name`, ...),
    /// bodies unexpanded as in a macro file; later entries override earlier ones.
    pub macros: &'a [(String, String)],
    /// The package's install prefixes (`RPMTAG_INSTPREFIXES`, relocated): rpm sets the global
    /// table `RPM_INSTALL_PREFIX` (indexed from 1) when there are any, and no table otherwise.
    pub install_prefixes: &'a [String],
    /// For a file trigger, the matching paths that `rpm.next_file()` hands out (rpm defines
    /// `rpm.next_file` only in file triggers; `None` leaves it undefined).
    pub next_files: Option<&'a [String]>,
}

/// A Lua scriptlet that could not run or failed.
#[derive(Debug, thiserror::Error)]
pub enum LuaError {
    /// The script raised an error (rpm: "lua script failed"), including syntax errors and
    /// `os.exit` outside an emulated child (rpm: "exit not permitted in this context").
    #[error("lua scriptlet `{name}` failed: {message}")]
    Script {
        /// The scriptlet.
        name: String,
        /// Lua's message, with its `[string "..."]:line:` position.
        message: String,
    },
    /// The script called something kiln does not provide.
    #[error("lua scriptlet `{name}` called `{function}`, which kiln does not support")]
    Unsupported {
        /// The scriptlet.
        name: String,
        /// The Lua function, e.g. `posix.setuid`.
        function: String,
    },
    /// The interpreter could not be prepared (a kiln bug, not the script's).
    #[error("cannot set up the lua interpreter for scriptlet `{name}`")]
    Setup {
        /// The scriptlet.
        name: String,
        #[source]
        source: mlua::Error,
    },
    /// The output writer failed.
    #[error("cannot write the output of lua scriptlet `{name}`")]
    Output {
        /// The scriptlet.
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// Raised inside Lua for a function kiln does not provide; mapped to [`LuaError::Unsupported`].
#[derive(Debug)]
struct UnsupportedCall(String);

impl std::fmt::Display for UnsupportedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` is not supported by kiln's embedded lua", self.0)
    }
}

impl std::error::Error for UnsupportedCall {}

/// Runs one Lua scriptlet; `print`, `io.write` and the stdout of programs it runs go to `out`.
///
/// Returns `Ok(0)` when the script ran to its end: rpm has no other success status for Lua
/// scriptlets (`os.exit` is an error there, as here). Like rpm, the process's working directory
/// and umask are restored afterwards and the script starts in `/`.
pub fn run_lua(s: &LuaScriptlet<'_>, out: &mut dyn std::io::Write) -> Result<i32, LuaError> {
    debug!(scriptlet = s.name, "running lua scriptlet");
    let state = Rc::new(RefCell::new(State::new(s.macros)));
    let cwd = std::env::current_dir().ok();
    let mask = rustix::process::umask(rustix::fs::Mode::empty());
    rustix::process::umask(mask);

    let result = run_inner(s, &state);

    if let Some(cwd) = cwd {
        let _ = std::env::set_current_dir(cwd);
    }
    rustix::process::umask(mask);
    let buf = std::mem::take(&mut state.borrow_mut().out);
    out.write_all(&buf)
        .and_then(|()| out.flush())
        .map_err(|source| LuaError::Output {
            name: s.name.to_string(),
            source,
        })?;
    result
}

fn run_inner(s: &LuaScriptlet<'_>, state: &Rc<RefCell<State>>) -> Result<i32, LuaError> {
    let setup = |source| LuaError::Setup {
        name: s.name.to_string(),
        source,
    };
    let lua = Lua::new_with(StdLib::ALL_SAFE, LuaOptions::default()).map_err(setup)?;
    install(&lua, state).map_err(setup)?;
    install_context(&lua, s).map_err(setup)?;

    let mut text = String::from("local opt, arg = ...;");
    if s.args.len() > 1 {
        text.push_str("arg[2] = tonumber(arg[2]);");
    }
    if s.args.len() > 2 {
        text.push_str("arg[3] = tonumber(arg[3]);");
    }
    text.push_str(s.body);

    let run = || -> mlua::Result<()> {
        let opt = lua.create_table()?;
        let arg = lua.create_sequence_from(s.args.iter().map(String::as_str))?;
        std::env::set_current_dir("/").map_err(mlua::Error::external)?;
        let chunk = lua.load(text.as_str()).set_name(s.name).into_function()?;
        chunk.call::<MultiValue>((opt, arg))?;
        Ok(())
    };
    FIRST_UNSUPPORTED.with(|f| f.borrow_mut().take());
    let result = run();
    if let Some(function) = FIRST_UNSUPPORTED.with(|f| f.borrow_mut().take()) {
        return Err(LuaError::Unsupported {
            name: s.name.to_string(),
            function,
        });
    }
    match result {
        Ok(()) => Ok(0),
        Err(e) => {
            if let Some(u) = find_unsupported(&e) {
                return Err(LuaError::Unsupported {
                    name: s.name.to_string(),
                    function: u,
                });
            }
            Err(LuaError::Script {
                name: s.name.to_string(),
                message: error_message(&e),
            })
        }
    }
}

fn find_unsupported(e: &mlua::Error) -> Option<String> {
    match e {
        mlua::Error::CallbackError { cause, .. } => find_unsupported(cause),
        mlua::Error::WithContext { cause, .. } => find_unsupported(cause),
        mlua::Error::ExternalError(ext) => {
            ext.downcast_ref::<UnsupportedCall>().map(|u| u.0.clone())
        }
        _ => None,
    }
}

/// Lua's own message without mlua's wrapping and tracebacks.
fn error_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => {
            match m.find("\nstack traceback:") {
                Some(k) => m[..k].to_string(),
                None => m.clone(),
            }
        }
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::CallbackError { cause, .. } => error_message(cause),
        mlua::Error::WithContext { cause, .. } => error_message(cause),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Interpreter state shared by the callbacks.

/// Where the script is in an emulated `posix.fork`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fork {
    /// Not inside a child branch.
    Parent,
    /// `posix.fork()` returned 0 and no `exec`/`os.exit` happened yet.
    Child,
    /// The child's `exec` ran; the next `assert`/`error`/`os.exit` is the dead terminator.
    AfterExec,
}

struct Child {
    pid: u32,
    waited: bool,
}

struct State {
    out: Vec<u8>,
    /// Print buffers of the `%{lua:}` expansions running (rpm's `printbuf`): `print` appends
    /// to the innermost one, without a newline.
    capture: Vec<Vec<u8>>,
    macros: Macros,
    /// Environment changes by the script, applied to the programs it runs (`None`: unset).
    /// Kept here rather than in the process so that tests running in threads stay sound.
    env: HashMap<String, Option<String>>,
    errno: i32,
    fork: Fork,
    redirects: Vec<i32>,
    children: Vec<Child>,
    next_fake_pid: u32,
}

impl State {
    fn new(defs: &[(String, String)]) -> Self {
        let mut macros = Macros::default();
        for (k, v) in defs {
            // `name(opts)` defines a parametric macro, as `rpm -D` does.
            if k.contains('(') {
                macros.define(&format!("{k} {v}"));
            } else {
                macros.push(k, v, false);
            }
        }
        State {
            out: Vec::new(),
            capture: Vec::new(),
            macros,
            env: HashMap::new(),
            errno: 0,
            fork: Fork::Parent,
            redirects: Vec::new(),
            children: Vec::new(),
            next_fake_pid: 1 << 22,
        }
    }

    fn getenv(&self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => v.clone(),
            None => std::env::var(name).ok(),
        }
    }
}

type Shared = Rc<RefCell<State>>;

thread_local! {
    /// The first unsupported call of the running script: it fails the scriptlet even when the
    /// script caught the error (rpm would have done something; kiln must not guess on).
    static FIRST_UNSUPPORTED: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn unsupported(name: &str) -> mlua::Error {
    FIRST_UNSUPPORTED.with(|f| {
        f.borrow_mut().get_or_insert_with(|| name.to_string());
    });
    mlua::Error::external(UnsupportedCall(name.to_string()))
}

/// strerror(3) text for an errno, as lposix prints it.
fn strerror(code: i32) -> String {
    let s = std::io::Error::from_raw_os_error(code).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The errno of an I/O error; EIO for the rare error std made up without one.
fn io_errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(5)
}

/// lposix's `pusherror`: `nil, "info: strerror", errno`.
fn push_error(lua: &Lua, st: &Shared, info: Option<&str>, code: i32) -> mlua::Result<MultiValue> {
    st.borrow_mut().errno = code;
    let msg = match info {
        Some(i) => format!("{i}: {}", strerror(code)),
        None => strerror(code),
    };
    Ok(MultiValue::from_vec(vec![
        Value::Nil,
        Value::String(lua.create_string(&msg)?),
        Value::Number(f64::from(code)),
    ]))
}

/// lposix's `pushresult` for a call returning 0 or an errno.
fn push_result(
    lua: &Lua,
    st: &Shared,
    r: std::io::Result<()>,
    info: Option<&str>,
) -> mlua::Result<MultiValue> {
    match r {
        Ok(()) => Ok(MultiValue::from_vec(vec![Value::Number(0.0)])),
        Err(e) => push_error(lua, st, info, io_errno(&e)),
    }
}

fn rustix_io(r: rustix::io::Result<()>) -> std::io::Result<()> {
    r.map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))
}

// ---------------------------------------------------------------------------------------------
// Argument helpers with luaL_check* messages.

fn arg(args: &MultiValue, i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Nil)
}

fn is_none(args: &MultiValue, i: usize) -> bool {
    i >= args.len()
}

fn bad_arg(i: usize, fname: &str, msg: &str) -> mlua::Error {
    mlua::Error::runtime(format!("bad argument #{} to '{fname}' ({msg})", i + 1))
}

fn type_name(v: &Value, present: bool) -> &'static str {
    if !present {
        "no value"
    } else {
        v.type_name()
    }
}

fn check_str(args: &MultiValue, i: usize, fname: &str) -> mlua::Result<String> {
    let v = arg(args, i);
    match &v {
        Value::String(s) => Ok(s.to_string_lossy()),
        Value::Integer(n) => Ok(n.to_string()),
        Value::Number(n) => Ok(lua_number_string(*n)),
        _ => Err(bad_arg(
            i,
            fname,
            &format!("string expected, got {}", type_name(&v, !is_none(args, i))),
        )),
    }
}

fn opt_str(args: &MultiValue, i: usize, fname: &str, def: &str) -> mlua::Result<String> {
    match arg(args, i) {
        Value::Nil => Ok(def.to_string()),
        _ => check_str(args, i, fname),
    }
}

fn to_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => s.to_str().ok()?.trim().parse::<f64>().ok(),
        _ => None,
    }
}

fn check_int(args: &MultiValue, i: usize, fname: &str) -> mlua::Result<i64> {
    let v = arg(args, i);
    match to_number(&v) {
        Some(n) if n.fract() == 0.0 => Ok(n as i64),
        Some(_) => Err(bad_arg(i, fname, "number has no integer representation")),
        None => Err(bad_arg(
            i,
            fname,
            &format!("number expected, got {}", type_name(&v, !is_none(args, i))),
        )),
    }
}

fn opt_int(args: &MultiValue, i: usize, fname: &str, def: i64) -> mlua::Result<i64> {
    match arg(args, i) {
        Value::Nil => Ok(def),
        _ => check_int(args, i, fname),
    }
}

/// Lua 5.4's `tostring` of a float (`%.14g`, plus `.0` when it looks integral).
fn lua_number_string(n: f64) -> String {
    let s = format_g14(n);
    if s.contains(['.', 'e', 'n', 'i']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// C's `%.14g`.
fn format_g14(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf" } else { "inf" }.into();
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let exp = n.abs().log10().floor() as i32;
    let sci = format!("{:.13e}", n);
    // Rounding can bump the exponent; take it from the formatted value.
    let (mant, e) = sci.split_once('e').unwrap_or((&sci, "0"));
    let e: i32 = e.parse().unwrap_or(exp);
    if !(-4..14).contains(&e) {
        let mant = trim_zeros(mant);
        format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        let decimals = (13 - e).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, n)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn num(n: impl Into<f64>) -> Value {
    Value::Number(n.into())
}

fn lstr(lua: &Lua, s: &str) -> mlua::Result<Value> {
    Ok(Value::String(lua.create_string(s)?))
}

fn mv(v: Vec<Value>) -> MultiValue {
    MultiValue::from_vec(v)
}

// ---------------------------------------------------------------------------------------------
// Setting up the globals.

const PRELUDE: &str = r#"
local write, pwrite, rpm_open_fd, zwrite, newhandle, null, logerr, errtext, registry = ...
local raw_error, raw_pcall, pack, unpack = error, pcall, table.pack, table.unpack
local select, tostring, type, concat, format, mtype = select, tostring, type, table.concat, string.format, math.type
print = function(...)
  local n = select('#', ...)
  local t = {}
  for i = 1, n do
    local s = tostring((select(i, ...)))
    if type(s) ~= 'string' then error("'tostring' must return a string to 'print'") end
    t[i] = s
  end
  pwrite(concat(t, '\t'))
end
local function iowrite(first, ...)
  local n = select('#', ...)
  for i = 1, n do
    local v = (select(i, ...))
    if type(v) == 'number' then
      if mtype(v) == 'integer' then v = tostring(v) else v = format('%.14g', v) end
    elseif type(v) ~= 'string' then
      error(format("bad argument #%d to 'write' (string expected, got %s)", i + first, type(v)), 2)
    end
    write(v)
  end
end
local stdout = {}
local stdout_methods = {
  write = function(self, ...) iowrite(0, ...) return self end,
  flush = function(self) return self end,
  setvbuf = function(self) return true end,
  close = function(self) return nil, 'cannot close standard file' end,
  lines = function() error('cannot read from standard output') end,
  read = function() return nil, 'Bad file descriptor', 9 end,
  seek = function() return nil, 'Illegal seek', 29 end,
}
setmetatable(stdout, { __index = stdout_methods, __name = 'FILE*',
  __tostring = function() return 'file (stdout)' end })
io.stdout = stdout
io.write = function(...) iowrite(0, ...) return stdout end
-- rpm.open: rpmio's Fopen.
local fd_methods, zfd_methods = {}, {}
fd_methods.__index = fd_methods
fd_methods.__name = 'rpm.fd'
fd_methods.__tostring = function(self) if self.f then return self.path end return '[none]' end
function fd_methods.read(self, n)
  if n == nil or n < 0 then return self.f:read('a') or '' end
  return self.f:read(n) or ''
end
local function checksize(size)
  if size ~= nil and mtype(size) == nil then
    error(format("bad argument #2 to 'write' (number expected, got %s)", type(size)), 3)
  end
end
function fd_methods.write(self, buf, size)
  checksize(size)
  if size then buf = buf:sub(1, size) end
  local ok, err = self.f:write(buf)
  if not ok then error(format('error writing %s: %s', self.path, err)) end
  return #buf
end
function fd_methods.flush(self) self.f:flush() return 0 end
function fd_methods.close(self)
  if self.f then self.f:close() self.f = nil return 0 end
  return -1
end
function fd_methods.seek(self, whence, offset) return self.f:seek(whence or 'cur', offset or 0) end
function fd_methods.reopen(self, mode) return rpm_open_fd(self.path, mode, fd_methods, zfd_methods) end
-- Compressed handles (gzdio, bzdio, xzdio, lzdio, zstdio): a buffer, compressed at close.
zfd_methods.__index = zfd_methods
zfd_methods.__name = 'rpm.fd'
zfd_methods.__tostring = function(self) if self.closed then return '[none]' end return self.path end
function zfd_methods.read(self, n)
  if self.zmode ~= 'r' then return '' end
  local last = (n == nil or n < 0) and #self.buf or self.pos + n
  local s = self.buf:sub(self.pos + 1, last)
  self.pos = self.pos + #s
  return s
end
function zfd_methods.write(self, buf, size)
  checksize(size)
  if size then buf = buf:sub(1, size) end
  if self.zmode == 'r' then error(format('error writing %s: Bad file descriptor', self.path)) end
  self.out[#self.out + 1] = buf
  return #buf
end
function zfd_methods.flush(self) return 0 end
function zfd_methods.close(self)
  if self.closed then return -1 end
  self.closed = true
  if self.zmode ~= 'r' then
    local err = zwrite(self.path, self.zmode, self.zio, concat(self.out))
    if err then error(err) end
  end
  return 0
end
function zfd_methods.seek(self) error(format('%s: seek failed: Illegal seek', self.path)) end
function zfd_methods.reopen(self, mode) return rpm_open_fd(self.path, mode, fd_methods, zfd_methods) end
rpm.open = function(path, mode) return rpm_open_fd(path, mode, fd_methods, zfd_methods) end
-- rpm's hooks (rpmio/rpmhook.c): per name, called in registration order with one table of
-- the arguments, until a hook returns a non-zero number; a failing hook is logged and skipped.
local hooks = {}
local function hookname(v, i, f)
  local t = type(v)
  if t ~= 'string' and t ~= 'number' then
    error(format("bad argument #%d to '%s' (hook name expected)", i, f), 3)
  end
  return tostring(v)
end
rpm.register = function(name, f)
  name = hookname(name, 1, 'register')
  if type(f) ~= 'function' then error("bad argument #2 to 'register' (function expected)", 2) end
  local h = newhandle()
  local l = hooks[name] or {}
  hooks[name] = l
  l[#l + 1] = { h = h, f = f }
  return h
end
rpm.unregister = function(name, h)
  name = hookname(name, 1, 'unregister')
  if type(h) ~= 'userdata' then error("bad argument #2 to 'unregister' (hook information expected)", 2) end
  local l = hooks[name] or {}
  for i = #l, 1, -1 do if l[i].h == h then table.remove(l, i) end end
end
rpm.call = function(name, ...)
  name = hookname(name, 1, 'call')
  local n = select('#', ...)
  local args = {}
  for i = 1, n do
    local v = (select(i, ...))
    local t = type(v)
    if t == 'nil' then v = null
    elseif t == 'number' then
      -- whole numbers arrive as integers
      v = math.tointeger(v) or v
    elseif t ~= 'string' and t ~= 'userdata' then
      error('unsupported Lua type passed to hook', 2)
    end
    args[i] = v
  end
  local l = hooks[name]
  if not l then return end
  for _, it in ipairs({ table.unpack(l) }) do
    local ok, r = pcall(it.f, args)
    if not ok then
      logerr('lua hook failed: ' .. tostring(r))
    elseif math.type(r) and r ~= 0 then
      break
    end
  end
end
-- rpm's C functions raise plain string errors (luaL_error at a C level adds no position);
-- callbacks here raise mlua error objects. Re-raise their text, so that pcall sees rpm's
-- message (kiln's "unsupported" errors stay objects: they name the function to the caller).
local function plain(f)
  return function(...)
    local r = pack(raw_pcall(f, ...))
    if r[1] then return unpack(r, 2, r.n) end
    raw_error(errtext(r[2]), 0)
  end
end
for _, lib in ipairs({ rpm, posix }) do
  for k, v in pairs(lib) do
    if type(v) == 'function' then lib[k] = plain(v) end
  end
end
os.exit = plain(os.exit)
registry('kiln.plain', plain)
"#;

fn install(lua: &Lua, st: &Shared) -> mlua::Result<()> {
    let g = lua.globals();

    let s = st.clone();
    let write = lua.create_function(move |_, text: mlua::String| {
        s.borrow_mut().out.extend_from_slice(&text.as_bytes());
        Ok(())
    })?;

    let s = st.clone();
    let pwrite = lua.create_function(move |_, text: mlua::String| {
        let mut st = s.borrow_mut();
        match st.capture.last_mut() {
            Some(buf) => buf.extend_from_slice(&text.as_bytes()),
            None => {
                st.out.extend_from_slice(&text.as_bytes());
                st.out.push(b'\n');
            }
        }
        Ok(())
    })?;

    let rpm = lua.create_table()?;
    let posix = lua.create_table()?;
    g.set("rpm", rpm.clone())?;
    g.set("posix", posix.clone())?;
    install_posix(lua, st, &posix)?;
    install_rpm(lua, st, &rpm)?;
    g.set("macros", MacroTable(st.clone()))?;

    // os.exit: rpm refuses it outside a forked child.
    let os: Table = g.get("os")?;
    let s = st.clone();
    os.set(
        "exit",
        lua.create_function(move |lua, args: MultiValue| {
            let state = s.borrow().fork;
            match state {
                Fork::Child => {
                    // A child that exits without exec: record it and carry on as the parent.
                    let code = match arg(&args, 0) {
                        Value::Boolean(false) => 1,
                        Value::Boolean(true) | Value::Nil => 0,
                        _ => check_int(&args, 0, "exit")?,
                    };
                    debug!(code, "emulated child exited without exec");
                    let mut st = s.borrow_mut();
                    let pid = st.next_fake_pid;
                    st.next_fake_pid += 1;
                    st.children.push(Child { pid, waited: false });
                    st.fork = Fork::Parent;
                    Ok(())
                }
                Fork::AfterExec => end_after_exec(lua, &s),
                Fork::Parent => Err(mlua::Error::runtime("exit not permitted in this context")),
            }
        })?,
    )?;

    // Remember the real assert/error for the post-exec swallowing.
    lua.set_named_registry_value("kiln.assert", g.get::<Function>("assert")?)?;
    lua.set_named_registry_value("kiln.error", g.get::<Function>("error")?)?;
    let s = st.clone();
    let swallow = lua.create_function(move |lua, _: MultiValue| end_after_exec(lua, &s))?;
    lua.set_named_registry_value("kiln.swallow", swallow)?;

    let open_fd = lua.create_function(
        move |lua, (path, mode, meta, zmeta): (String, Option<String>, Table, Table)| {
            let mode = mode.unwrap_or_else(|| "r".into());
            // rpmio modes: "r", "w9.gzdio", "r.ufdio", ...; the base for fopen has no level.
            let (base, io) = mode.split_once('.').unwrap_or((mode.as_str(), "ufdio"));
            let base: String = base.chars().filter(|c| !c.is_ascii_digit()).collect();
            let open_failed = |e: std::io::Error| {
                mlua::Error::runtime(format!("{path} open failed: {}", strerror(io_errno(&e))))
            };
            let t = lua.create_table()?;
            t.set("path", path.as_str())?;
            if Codec::of(io).is_some() {
                // Compressed: read whole at open, written whole at close.
                let zmode = base.chars().next().unwrap_or('r');
                // rpmio appends only to gzip and zstd streams.
                if zmode == 'a' && !matches!(io, "gzdio" | "zstdio") {
                    return Err(open_failed(std::io::Error::from_raw_os_error(22)));
                }
                if zmode == 'r' {
                    let raw = std::fs::read(&path).map_err(open_failed)?;
                    let data = Codec::of(io)
                        .map(|c| c.decompress(&raw))
                        .transpose()
                        .map_err(|e| mlua::Error::runtime(format!("error reading {path}: {e}")))?
                        .unwrap_or_default();
                    t.set("buf", lua.create_string(&data)?)?;
                    t.set("pos", 0)?;
                } else {
                    let mut o = std::fs::OpenOptions::new();
                    o.write(true).create(true);
                    if zmode == 'a' {
                        o.append(true);
                    } else {
                        o.truncate(true);
                    }
                    o.open(&path).map_err(open_failed)?;
                    t.set("out", lua.create_table()?)?;
                }
                t.set("zio", io)?;
                t.set("zmode", zmode.to_string())?;
                t.set_metatable(Some(zmeta))?;
                return Ok(t);
            }
            // Plain I/O (fdio, ufdio, and whatever rpmio would fall back to plain for).
            let io_open: Function = lua.globals().get::<Table>("io")?.get("open")?;
            let (f, err): (Value, Option<String>) = io_open.call((path.as_str(), base))?;
            if f.is_nil() {
                return Err(mlua::Error::runtime(format!(
                    "{path} open failed: {}",
                    err.map(|e| e.rsplit(": ").next().unwrap_or("").to_string())
                        .unwrap_or_default()
                )));
            }
            t.set("f", f)?;
            t.set_metatable(Some(meta))?;
            Ok(t)
        },
    )?;
    let zwrite = lua.create_function(
        |_, (path, zmode, io, data): (String, String, String, mlua::String)| {
            let Some(codec) = Codec::of(&io) else {
                return Ok(None);
            };
            let packed = codec.compress(&data.as_bytes());
            let r = packed.and_then(|bytes| {
                use std::io::Write;
                let mut o = std::fs::OpenOptions::new();
                o.write(true);
                if zmode == "a" {
                    o.append(true);
                } else {
                    o.truncate(true);
                }
                o.open(&path)?.write_all(&bytes)
            });
            Ok(r.err().map(|e| format!("error writing {path}: {e}")))
        },
    )?;
    let newhandle = lua.create_function(|lua, ()| lua.create_any_userdata(HookHandle))?;
    let null = Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()));
    let logerr = lua.create_function(|_, msg: String| {
        eprintln!("error: {msg}");
        Ok(())
    })?;
    let errtext = lua.create_function(|lua, e: Value| match &e {
        Value::Error(err) if find_unsupported(err).is_none() => lstr(lua, &error_message(err)),
        _ => Ok(e),
    })?;
    lua.load(PRELUDE).set_name("=kiln-prelude").call::<()>((
        write,
        pwrite,
        open_fd,
        zwrite,
        newhandle,
        null,
        logerr,
        errtext,
        lua.create_function(|lua, (name, f): (String, Function)| {
            lua.set_named_registry_value(&name, f)
        })?,
    ))?;
    Ok(())
}

/// rpmio's compressed stream types for `rpm.open`.
#[derive(Debug, Clone, Copy)]
enum Codec {
    Gzip,
    Bzip2,
    Xz,
    Lzma,
    Zstd,
}

impl Codec {
    fn of(io: &str) -> Option<Codec> {
        Some(match io {
            "gzdio" => Codec::Gzip,
            "bzdio" => Codec::Bzip2,
            "xzdio" => Codec::Xz,
            "lzdio" => Codec::Lzma,
            "zstdio" => Codec::Zstd,
            _ => return None,
        })
    }

    fn compress(self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        use std::io::Write;
        match self {
            Codec::Gzip => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data)?;
                e.finish()
            }
            Codec::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
                e.write_all(data)?;
                e.finish()
            }
            Codec::Xz | Codec::Lzma => {
                let stream = if matches!(self, Codec::Xz) {
                    liblzma::stream::Stream::new_easy_encoder(6, liblzma::stream::Check::Crc64)
                } else {
                    liblzma::stream::LzmaOptions::new_preset(6)
                        .and_then(|o| liblzma::stream::Stream::new_lzma_encoder(&o))
                }
                .map_err(std::io::Error::other)?;
                let mut e = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
                e.write_all(data)?;
                e.finish()
            }
            Codec::Zstd => zstd::encode_all(data, 0),
        }
    }

    fn decompress(self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut out = Vec::new();
        match self {
            Codec::Gzip => flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out)?,
            Codec::Bzip2 => bzip2::read::MultiBzDecoder::new(data).read_to_end(&mut out)?,
            Codec::Xz | Codec::Lzma => {
                let s = liblzma::stream::Stream::new_auto_decoder(
                    u64::MAX,
                    liblzma::stream::CONCATENATED,
                )
                .map_err(std::io::Error::other)?;
                liblzma::read::XzDecoder::new_stream(data, s).read_to_end(&mut out)?
            }
            Codec::Zstd => return zstd::decode_all(data),
        };
        Ok(out)
    }
}

/// The handle `rpm.register` returns (a userdata, as in rpm).
struct HookHandle;

/// Leaves the post-exec state: the real `assert`/`error` come back.
fn end_after_exec(lua: &Lua, st: &Shared) -> mlua::Result<()> {
    let mut s = st.borrow_mut();
    if s.fork == Fork::AfterExec {
        s.fork = Fork::Parent;
        drop(s);
        let g = lua.globals();
        g.set(
            "assert",
            lua.named_registry_value::<Function>("kiln.assert")?,
        )?;
        g.set("error", lua.named_registry_value::<Function>("kiln.error")?)?;
    }
    Ok(())
}

/// Any posix/rpm call ends the dead stretch after an emulated exec.
fn touch(lua: &Lua, st: &Shared) -> mlua::Result<()> {
    if st.borrow().fork == Fork::AfterExec {
        end_after_exec(lua, st)?;
    }
    Ok(())
}

/// Registers `name` in `t`: a function over the raw arguments, after [`touch`].
fn reg<F>(lua: &Lua, st: &Shared, t: &Table, name: &str, f: F) -> mlua::Result<()>
where
    F: Fn(&Lua, &Shared, MultiValue) -> mlua::Result<MultiValue> + 'static,
{
    let s = st.clone();
    t.set(
        name,
        lua.create_function(move |lua, args: MultiValue| {
            touch(lua, &s)?;
            f(lua, &s, args)
        })?,
    )
}

// ---------------------------------------------------------------------------------------------
// posix.*

const STAT_FIELDS: [&str; 12] = [
    "mode", "ino", "dev", "nlink", "uid", "gid", "size", "atime", "mtime", "ctime", "type", "_mode",
];

fn file_type(mode: u32) -> &'static str {
    match mode & 0o170000 {
        0o100000 => "regular",
        0o120000 => "link",
        0o040000 => "directory",
        0o020000 => "character device",
        0o060000 => "block device",
        0o010000 => "fifo",
        0o140000 => "socket",
        _ => "?",
    }
}

/// lposix's `modechopper`: `rwxr-xr-x` with `s`/`S` for setuid/setgid.
fn mode_string(mode: u32) -> String {
    let mut s: Vec<u8> = b"rwxrwxrwx"
        .iter()
        .enumerate()
        .map(|(i, &c)| if mode & (0o400 >> i) != 0 { c } else { b'-' })
        .collect();
    if mode & 0o4000 != 0 {
        s[2] = if mode & 0o100 != 0 { b's' } else { b'S' };
    }
    if mode & 0o2000 != 0 {
        s[5] = if mode & 0o010 != 0 { b's' } else { b'S' };
    }
    String::from_utf8_lossy(&s).into_owned()
}

/// lposix's `mode_munch`: applies `rwxr-xr-x`, octal `0755` or `u+x,go-w` to `mode`.
fn mode_munch(mode: u32, spec: &str) -> Option<u32> {
    let p = spec.as_bytes();
    let first = p.first().copied().unwrap_or(0);
    if first == b'r' || first == b'-' {
        let mut m = mode & !0o6000;
        for (i, rwx) in b"rwxrwxrwx".iter().enumerate() {
            let bit = 0o400 >> i;
            match p.get(i).copied().unwrap_or(0) {
                c if c == *rwx => m |= bit,
                b'-' => m &= !bit,
                b's' if i == 2 => m |= 0o4000 | 0o100,
                b's' if i == 5 => m |= 0o2000 | 0o010,
                b's' => return None,
                _ => {}
            }
        }
        return Some(m);
    }
    if (b'0'..=b'7').contains(&first) {
        return u32::from_str_radix(spec, 8).ok();
    }
    let mut m = mode;
    let mut i = 0;
    loop {
        let mut affected = 0u32;
        while let Some(&c) = p.get(i) {
            match c {
                b'u' => affected |= 0o4700,
                b'g' => affected |= 0o2070,
                b'o' => affected |= 0o1007,
                b'a' => affected |= 0o7777,
                b' ' => {}
                _ => break,
            }
            i += 1;
        }
        if affected == 0 {
            affected = 0o7777;
        }
        let op = match p.get(i).copied() {
            Some(c @ (b'+' | b'-' | b'=')) => Some(c),
            Some(b' ') => None,
            _ => return None,
        };
        i += 1;
        let mut ch = 0u32;
        while let Some(&c) = p.get(i) {
            match c {
                b'r' => ch |= 0o444,
                b'w' => ch |= 0o222,
                b'x' => ch |= 0o111,
                b's' => ch |= 0o6000,
                b' ' => {}
                _ => break,
            }
            i += 1;
        }
        let c = p.get(i).copied().unwrap_or(0);
        let done = c != b',';
        if c != 0 && c != b' ' && c != b',' {
            return None;
        }
        i += 1;
        if ch != 0 {
            match op {
                Some(b'+') => m |= ch & affected,
                Some(b'-') => m &= !(ch & affected),
                Some(b'=') => m = ch & affected,
                _ => return None,
            }
        }
        if done {
            return Some(m);
        }
    }
}

/// A passwd or group line from the (chrooted) root's files; rpm gets these through NSS, which
/// in a freshly built root means these two files.
fn db_lookup(file: &str, key: &Value) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(file).ok()?;
    let by_id = to_number(key).filter(|_| !matches!(key, Value::String(_)));
    let by_id = by_id.or_else(|| match key {
        Value::String(s) => s.to_str().ok()?.parse::<f64>().ok(),
        _ => None,
    });
    let name = match key {
        Value::String(s) => Some(s.to_string_lossy()),
        _ => None,
    };
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .find(|f| match (by_id, &name) {
            (Some(id), _) => f.get(2).and_then(|v| v.parse::<f64>().ok()) == Some(id),
            (None, Some(n)) => f.first() == Some(n),
            _ => false,
        })
}

fn lookup_uid(v: &Value) -> Option<u32> {
    match v {
        Value::Nil => None,
        Value::String(s) if s.to_str().ok()?.parse::<f64>().is_err() => {
            db_lookup("/etc/passwd", v)?.get(2)?.parse().ok()
        }
        _ => to_number(v).map(|n| n as u32),
    }
}

fn lookup_gid(v: &Value) -> Option<u32> {
    match v {
        Value::Nil => None,
        Value::String(s) if s.to_str().ok()?.parse::<f64>().is_err() => {
            db_lookup("/etc/group", v)?.get(2)?.parse().ok()
        }
        _ => to_number(v).map(|n| n as u32),
    }
}

/// readdir(3) order, `.` and `..` included, as lposix's `dir` and `files` return them.
fn read_dir_raw(path: &str) -> std::io::Result<Vec<String>> {
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))?;
    let mut dir = rustix::fs::Dir::new(fd)
        .map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))?;
    let mut names = Vec::new();
    while let Some(ent) = dir.read() {
        let ent = ent.map_err(|e| std::io::Error::from_raw_os_error(e.raw_os_error()))?;
        names.push(String::from_utf8_lossy(ent.file_name().to_bytes()).into_owned());
    }
    Ok(names)
}

fn install_posix(lua: &Lua, st: &Shared, posix: &Table) -> mlua::Result<()> {
    posix.set("version", "posix library for Lua 5.4 / Nov 2003")?;

    reg(lua, st, posix, "access", |lua, st, a| {
        use rustix::fs::Access;
        let path = check_str(&a, 0, "access")?;
        let mut mode = Access::EXISTS;
        for c in opt_str(&a, 1, "access", "f")?.chars() {
            match c {
                ' ' | 'f' => {}
                'r' => mode |= Access::READ_OK,
                'w' => mode |= Access::WRITE_OK,
                'x' => mode |= Access::EXEC_OK,
                other => {
                    return Err(bad_arg(
                        1,
                        "access",
                        &format!("unknown mode option `{other}'"),
                    ))
                }
            }
        }
        push_result(
            lua,
            st,
            rustix_io(rustix::fs::access(path.as_str(), mode)),
            Some(&path),
        )
    })?;
    reg(lua, st, posix, "chdir", |lua, st, a| {
        let path = check_str(&a, 0, "chdir")?;
        push_result(lua, st, std::env::set_current_dir(&path), Some(&path))
    })?;
    reg(lua, st, posix, "chmod", |lua, st, a| {
        let path = check_str(&a, 0, "chmod")?;
        let spec = check_str(&a, 1, "chmod")?;
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => return push_error(lua, st, Some(&path), io_errno(&e)),
        };
        let mode = mode_munch(meta.mode(), &spec).ok_or_else(|| bad_arg(1, "chmod", "bad mode"))?;
        let r = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777));
        push_result(lua, st, r, Some(&path))
    })?;
    reg(lua, st, posix, "chown", |lua, st, a| {
        let path = check_str(&a, 0, "chown")?;
        let uid = lookup_uid(&arg(&a, 1));
        let gid = lookup_gid(&arg(&a, 2));
        let r = std::os::unix::fs::chown(&path, uid, gid);
        push_result(lua, st, r, Some(&path))
    })?;
    reg(lua, st, posix, "ctermid", |lua, _, _| {
        Ok(mv(vec![lstr(lua, "/dev/tty")?]))
    })?;
    reg(lua, st, posix, "dir", |lua, st, a| {
        let path = opt_str(&a, 0, "dir", ".")?;
        match read_dir_raw(&path) {
            Ok(names) => Ok(mv(vec![Value::Table(lua.create_sequence_from(names)?)])),
            Err(e) => push_error(lua, st, Some(&path), io_errno(&e)),
        }
    })?;
    reg(lua, st, posix, "files", |lua, st, a| {
        let path = opt_str(&a, 0, "files", ".")?;
        match read_dir_raw(&path) {
            Ok(names) => {
                let it = RefCell::new(names.into_iter());
                let f = lua.create_function(move |_, _: MultiValue| Ok(it.borrow_mut().next()))?;
                Ok(mv(vec![Value::Function(f)]))
            }
            Err(e) => push_error(lua, st, Some(&path), io_errno(&e)),
        }
    })?;
    reg(lua, st, posix, "errno", |lua, st, _| {
        let e = st.borrow().errno;
        Ok(mv(vec![lstr(lua, &strerror(e))?, num(e)]))
    })?;
    reg(
        lua,
        st,
        posix,
        "getcwd",
        |lua, st, _| match std::env::current_dir() {
            Ok(p) => Ok(mv(vec![lstr(lua, &p.to_string_lossy())?])),
            Err(e) => push_error(lua, st, Some("."), io_errno(&e)),
        },
    )?;
    reg(lua, st, posix, "getenv", |lua, st, a| {
        if is_none(&a, 0) {
            let mut all: HashMap<String, String> = std::env::vars_os()
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.to_string_lossy().into_owned(),
                    )
                })
                .collect();
            for (k, v) in &st.borrow().env {
                match v {
                    Some(v) => all.insert(k.clone(), v.clone()),
                    None => all.remove(k),
                };
            }
            let t = lua.create_table()?;
            for (k, v) in all {
                t.set(k, v)?;
            }
            return Ok(mv(vec![Value::Table(t)]));
        }
        let name = check_str(&a, 0, "getenv")?;
        let v = st.borrow().getenv(&name);
        Ok(mv(vec![match v {
            Some(v) => lstr(lua, &v)?,
            None => Value::Nil,
        }]))
    })?;
    reg(lua, st, posix, "getgroup", |lua, _, a| {
        let key = arg(&a, 0);
        if !matches!(key, Value::String(_) | Value::Integer(_) | Value::Number(_)) {
            return Err(bad_arg(
                0,
                "getgroup",
                &format!(
                    "string or number expected, got {}",
                    type_name(&key, !is_none(&a, 0))
                ),
            ));
        }
        let Some(f) = db_lookup("/etc/group", &key) else {
            return Ok(mv(vec![Value::Nil]));
        };
        let t = lua.create_table()?;
        t.set("name", f.first().cloned().unwrap_or_default())?;
        t.set(
            "gid",
            f.get(2).and_then(|g| g.parse::<f64>().ok()).unwrap_or(0.0),
        )?;
        let members = f.get(3).map(String::as_str).unwrap_or("");
        for (i, m) in members.split(',').filter(|m| !m.is_empty()).enumerate() {
            t.set(i + 1, m)?;
        }
        Ok(mv(vec![Value::Table(t)]))
    })?;
    reg(lua, st, posix, "getlogin", |_, _, _| {
        Ok(mv(vec![Value::Nil]))
    })?;
    reg(lua, st, posix, "getpasswd", |lua, _, a| {
        let key = arg(&a, 0);
        let f = match key {
            Value::Nil => db_lookup("/etc/passwd", &num(rustix::process::geteuid().as_raw())),
            Value::String(_) | Value::Integer(_) | Value::Number(_) => {
                db_lookup("/etc/passwd", &key)
            }
            other => {
                return Err(bad_arg(
                    0,
                    "getpasswd",
                    &format!("string or number expected, got {}", other.type_name()),
                ))
            }
        };
        let Some(f) = f else {
            return Ok(mv(vec![Value::Nil]));
        };
        let field = |i: usize| -> mlua::Result<Value> {
            let s = f.get(i).cloned().unwrap_or_default();
            match i {
                2 | 3 => Ok(num(s.parse::<f64>().unwrap_or(0.0))),
                _ => lstr(lua, &s),
            }
        };
        // passwd(5) column for each lposix selector.
        let sel: [(&str, usize); 7] = [
            ("name", 0),
            ("uid", 2),
            ("gid", 3),
            ("dir", 5),
            ("shell", 6),
            ("gecos", 4),
            ("passwd", 1),
        ];
        if is_none(&a, 1) {
            let t = lua.create_table()?;
            for (k, i) in sel {
                t.set(k, field(i)?)?;
            }
            return Ok(mv(vec![Value::Table(t)]));
        }
        let want = check_str(&a, 1, "getpasswd")?;
        match sel.iter().find(|(k, _)| *k == want) {
            Some((_, i)) => Ok(mv(vec![field(*i)?])),
            None => Err(bad_arg(1, "getpasswd", &format!("invalid option '{want}'"))),
        }
    })?;
    reg(lua, st, posix, "getprocessid", |lua, _, a| {
        use rustix::process as p;
        let vals: [(&str, f64); 7] = [
            ("egid", f64::from(p::getegid().as_raw())),
            ("euid", f64::from(p::geteuid().as_raw())),
            ("gid", f64::from(p::getgid().as_raw())),
            ("uid", f64::from(p::getuid().as_raw())),
            ("pgrp", process_group()),
            ("pid", f64::from(p::getpid().as_raw_nonzero().get())),
            (
                "ppid",
                f64::from(p::getppid().map(|p| p.as_raw_nonzero().get()).unwrap_or(0)),
            ),
        ];
        if is_none(&a, 0) {
            let t = lua.create_table()?;
            for (k, v) in vals {
                t.set(k, v)?;
            }
            return Ok(mv(vec![Value::Table(t)]));
        }
        let want = check_str(&a, 0, "getprocessid")?;
        match vals.iter().find(|(k, _)| *k == want) {
            Some((_, v)) => Ok(mv(vec![num(*v)])),
            None => Err(bad_arg(
                0,
                "getprocessid",
                &format!("invalid option '{want}'"),
            )),
        }
    })?;
    reg(lua, st, posix, "kill", |lua, st, a| {
        let pid = check_int(&a, 0, "kill")?;
        let sig = opt_int(&a, 1, "kill", 15)?;
        if st.borrow().children.iter().any(|c| i64::from(c.pid) == pid) {
            // Emulated children have already finished.
            return Ok(mv(vec![num(0.0)]));
        }
        let Some(p) = rustix::process::Pid::from_raw(pid as i32) else {
            return push_error(lua, st, None, 22);
        };
        // Signal 0 only checks that the process exists.
        let r = if sig == 0 {
            rustix::process::test_kill_process(p)
        } else {
            let Some(s) = rustix::process::Signal::from_named_raw(sig as i32) else {
                return push_error(lua, st, None, 22);
            };
            rustix::process::kill_process(p, s)
        };
        push_result(lua, st, rustix_io(r), None)
    })?;
    reg(lua, st, posix, "link", |lua, st, a| {
        let old = check_str(&a, 0, "link")?;
        let new = check_str(&a, 1, "link")?;
        push_result(lua, st, std::fs::hard_link(old, new), None)
    })?;
    reg(lua, st, posix, "symlink", |lua, st, a| {
        let old = check_str(&a, 0, "symlink")?;
        let new = check_str(&a, 1, "symlink")?;
        push_result(lua, st, std::os::unix::fs::symlink(old, new), None)
    })?;
    reg(lua, st, posix, "mkdir", |lua, st, a| {
        let path = check_str(&a, 0, "mkdir")?;
        push_result(lua, st, std::fs::create_dir(&path), Some(&path))
    })?;
    reg(lua, st, posix, "mkfifo", |lua, st, a| {
        let path = check_str(&a, 0, "mkfifo")?;
        let r = rustix::fs::mknodat(
            rustix::fs::CWD,
            path.as_str(),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o777),
            0,
        );
        push_result(lua, st, rustix_io(r), Some(&path))
    })?;
    reg(lua, st, posix, "mkstemp", |lua, st, a| {
        let template = check_str(&a, 0, "mkstemp")?;
        let Some(stem) = template.strip_suffix("XXXXXX") else {
            return push_error(lua, st, None, 22);
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            ^ std::process::id();
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        for attempt in 0..100u32 {
            let mut x = seed.wrapping_add(attempt.wrapping_mul(2_654_435_761));
            let suffix: String = (0..6)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    CHARS[(x >> 16) as usize % CHARS.len()] as char
                })
                .collect();
            let path = format!("{stem}{suffix}");
            let r = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode_0600()
                .open(&path);
            match r {
                Ok(_) => {
                    let open: Function = lua.globals().get::<Table>("io")?.get("open")?;
                    let f: Value = open.call((path.as_str(), "a+"))?;
                    return Ok(mv(vec![f, lstr(lua, &path)?]));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return push_error(lua, st, None, io_errno(&e)),
            }
        }
        push_error(lua, st, None, 17)
    })?;
    reg(lua, st, posix, "putenv", |lua, st, a| {
        let s = check_str(&a, 0, "putenv")?;
        let (k, v) = s.split_once('=').unwrap_or((&s, ""));
        st.borrow_mut()
            .env
            .insert(k.to_string(), Some(v.to_string()));
        let _ = lua;
        Ok(mv(vec![num(0.0)]))
    })?;
    reg(lua, st, posix, "readlink", |lua, st, a| {
        let path = check_str(&a, 0, "readlink")?;
        match std::fs::read_link(&path) {
            Ok(t) => {
                // lposix reads into a 512-byte buffer.
                let b = t.as_os_str().as_encoded_bytes();
                let b = &b[..b.len().min(512)];
                Ok(mv(vec![Value::String(lua.create_string(b)?)]))
            }
            Err(e) => push_error(lua, st, Some(&path), io_errno(&e)),
        }
    })?;
    reg(lua, st, posix, "rmdir", |lua, st, a| {
        let path = check_str(&a, 0, "rmdir")?;
        push_result(lua, st, std::fs::remove_dir(&path), Some(&path))
    })?;
    reg(lua, st, posix, "unlink", |lua, st, a| {
        let path = check_str(&a, 0, "unlink")?;
        push_result(lua, st, std::fs::remove_file(&path), Some(&path))
    })?;
    reg(lua, st, posix, "setenv", |_, st, a| {
        let name = check_str(&a, 0, "setenv")?;
        let value = check_str(&a, 1, "setenv")?;
        let over = match arg(&a, 2) {
            Value::Nil => true,
            Value::Boolean(b) => b,
            _ => true,
        };
        let mut s = st.borrow_mut();
        if over || s.getenv(&name).is_none() {
            s.env.insert(name, Some(value));
        }
        Ok(mv(vec![num(0.0)]))
    })?;
    reg(lua, st, posix, "unsetenv", |_, st, a| {
        let name = check_str(&a, 0, "unsetenv")?;
        st.borrow_mut().env.insert(name, None);
        Ok(mv(vec![]))
    })?;
    reg(lua, st, posix, "sleep", |_, _, a| {
        let secs = check_int(&a, 0, "sleep")?;
        std::thread::sleep(std::time::Duration::from_secs(secs.max(0) as u64));
        Ok(mv(vec![num(0.0)]))
    })?;
    reg(lua, st, posix, "stat", |lua, st, a| {
        let path = check_str(&a, 0, "stat")?;
        let m = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) => return push_error(lua, st, Some(&path), io_errno(&e)),
        };
        let field = |i: usize| -> mlua::Result<Value> {
            Ok(match i {
                0 => lstr(lua, &mode_string(m.mode()))?,
                1 => num(m.ino() as f64),
                2 => num(m.dev() as f64),
                3 => num(m.nlink() as f64),
                4 => num(m.uid()),
                5 => num(m.gid()),
                6 => num(m.size() as f64),
                7 => num(m.atime() as f64),
                8 => num(m.mtime() as f64),
                9 => num(m.ctime() as f64),
                10 => lstr(lua, file_type(m.mode()))?,
                _ => num(m.mode()),
            })
        };
        if is_none(&a, 1) {
            let t = lua.create_table()?;
            for (i, k) in STAT_FIELDS.iter().enumerate() {
                t.set(*k, field(i)?)?;
            }
            return Ok(mv(vec![Value::Table(t)]));
        }
        let want = check_str(&a, 1, "stat")?;
        match STAT_FIELDS.iter().position(|k| *k == want) {
            Some(i) => Ok(mv(vec![field(i)?])),
            None => Err(bad_arg(1, "stat", &format!("invalid option '{want}'"))),
        }
    })?;
    reg(lua, st, posix, "ttyname", |_, _, _| {
        Ok(mv(vec![Value::Nil]))
    })?;
    reg(lua, st, posix, "umask", |lua, _, a| {
        use rustix::fs::Mode;
        let cur = rustix::process::umask(Mode::empty());
        rustix::process::umask(cur);
        let mut allowed = !cur.bits() & 0o777;
        if !is_none(&a, 0) {
            let spec = check_str(&a, 0, "umask")?;
            match mode_munch(allowed, &spec) {
                Some(m) => allowed = m & 0o777,
                None => return Ok(mv(vec![Value::Nil])),
            }
            rustix::process::umask(Mode::from_raw_mode(!allowed & 0o777));
        }
        Ok(mv(vec![lstr(lua, &mode_string(allowed))?]))
    })?;
    reg(lua, st, posix, "uname", |lua, _, a| {
        let u = rustix::system::uname();
        let fmt = opt_str(&a, 0, "uname", "%s %n %r %v %m")?;
        let mut out = String::new();
        let mut it = fmt.chars();
        while let Some(c) = it.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let field = match it.next() {
                Some('%') => {
                    out.push('%');
                    continue;
                }
                Some('m') => u.machine(),
                Some('n') => u.nodename(),
                Some('r') => u.release(),
                Some('s') => u.sysname(),
                Some('v') => u.version(),
                other => {
                    return Err(bad_arg(
                        1,
                        "uname",
                        &format!("unknown format option `{}'", other.unwrap_or('\0')),
                    ))
                }
            };
            out.push_str(&field.to_string_lossy());
        }
        Ok(mv(vec![lstr(lua, &out)?]))
    })?;
    reg(lua, st, posix, "utime", |lua, st, a| {
        let path = check_str(&a, 0, "utime")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as f64)
            .unwrap_or(0.0);
        let num_or = |i: usize| -> mlua::Result<f64> {
            match arg(&a, i) {
                Value::Nil => Ok(now),
                v => to_number(&v).ok_or_else(|| {
                    bad_arg(
                        i,
                        "utime",
                        &format!("number expected, got {}", v.type_name()),
                    )
                }),
            }
        };
        let ts = |secs: f64| rustix::fs::Timespec {
            tv_sec: secs as i64,
            tv_nsec: 0,
        };
        let times = rustix::fs::Timestamps {
            last_modification: ts(num_or(1)?),
            last_access: ts(num_or(2)?),
        };
        let r = rustix::fs::utimensat(
            rustix::fs::CWD,
            path.as_str(),
            &times,
            rustix::fs::AtFlags::empty(),
        );
        push_result(lua, st, rustix_io(r), Some(&path))
    })?;

    // The emulated fork family (see the module header).
    let s = st.clone();
    posix.set(
        "fork",
        lua.create_function(move |lua, _: MultiValue| {
            touch(lua, &s)?;
            let mut st = s.borrow_mut();
            if st.fork != Fork::Parent {
                return Err(unsupported("posix.fork inside an emulated child"));
            }
            st.fork = Fork::Child;
            st.redirects.clear();
            Ok(0.0)
        })?,
    )?;
    reg(lua, st, posix, "exec", |lua, st, a| {
        let path = check_str(&a, 0, "exec")?;
        let mut argv = Vec::new();
        for i in 1..a.len() {
            argv.push(check_str(&a, i, "exec")?);
        }
        if st.borrow().fork != Fork::Child {
            return Err(mlua::Error::runtime("exec not permitted in this context"));
        }
        let redirects = std::mem::take(&mut st.borrow_mut().redirects);
        let ran = spawn_wait(st, &path, &argv, &redirects);
        {
            let mut s = st.borrow_mut();
            let pid = match &ran {
                Ok((pid, _)) => *pid,
                Err(_) => {
                    s.next_fake_pid += 1;
                    s.next_fake_pid
                }
            };
            s.children.push(Child { pid, waited: false });
            s.fork = Fork::AfterExec;
        }
        let swallow: Function = lua.named_registry_value("kiln.swallow")?;
        lua.globals().set("assert", swallow.clone())?;
        lua.globals().set("error", swallow)?;
        match ran {
            Ok((pid, status)) => {
                debug!(path, pid, status, "emulated fork+exec finished");
                Ok(mv(vec![]))
            }
            Err(e) => push_error(lua, st, Some(&path), io_errno(&e)),
        }
    })?;
    reg(lua, st, posix, "wait", |lua, st, a| {
        let pid = opt_int(&a, 0, "wait", -1)?;
        let mut s = st.borrow_mut();
        let found = s
            .children
            .iter_mut()
            .find(|c| !c.waited && (pid <= 0 || i64::from(c.pid) == pid));
        match found {
            Some(c) => {
                c.waited = true;
                Ok(mv(vec![num(c.pid)]))
            }
            None => {
                drop(s);
                push_error(lua, st, None, 10)
            }
        }
    })?;
    let redirect = |lua: &Lua, st: &Shared, a: MultiValue| -> mlua::Result<MultiValue> {
        let fd = check_int(&a, 0, "redirect2null")?;
        let mut s = st.borrow_mut();
        if s.fork != Fork::Child {
            return Err(mlua::Error::runtime(
                "redirect2null not permitted in this context",
            ));
        }
        // rpm opens /dev/null first; a root without it gets rpm's errno result.
        if let Err(e) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            drop(s);
            return push_error(lua, st, None, io_errno(&e));
        }
        s.redirects.push(fd as i32);
        Ok(mv(vec![num(fd as f64)]))
    };
    reg(lua, st, posix, "redirect2null", redirect)?;

    // The helper process runs one scriptlet, so changing its ids touches nothing else (in rpm
    // they change rpm's own process). One thread: the thread's ids are the process's.
    reg(lua, st, posix, "setuid", |lua, st, a| {
        let Some(uid) = lookup_uid(&arg(&a, 0)) else {
            return Ok(mv(vec![Value::Nil]));
        };
        let r = rustix::thread::set_thread_uid(rustix::process::Uid::from_raw(uid));
        push_result(lua, st, rustix_io(r), None)
    })?;
    reg(lua, st, posix, "setgid", |lua, st, a| {
        let Some(gid) = lookup_gid(&arg(&a, 0)) else {
            return Ok(mv(vec![Value::Nil]));
        };
        let r = rustix::thread::set_thread_gid(rustix::process::Gid::from_raw(gid));
        push_result(lua, st, rustix_io(r), None)
    })?;
    reg(lua, st, posix, "times", |lua, _, a| {
        let vals = process_times();
        select_or_table(lua, &a, "times", &vals)
    })?;
    reg(lua, st, posix, "sysconf", |lua, _, a| {
        select_or_table(lua, &a, "sysconf", &sysconf_values())
    })?;
    reg(lua, st, posix, "pathconf", |lua, _, a| {
        let path = opt_str(&a, 0, "pathconf", ".")?;
        let vals = pathconf_values(&path);
        let rest: MultiValue = a.into_iter().skip(1).collect();
        select_or_table(lua, &rest, "pathconf", &vals)
    })?;
    Ok(())
}

/// getpgrp(2), which is 0 in a scriptlet (the init of its own PID namespace, its group
/// outside it): rustix's `getpgrp` asserts a positive id, so read it from /proc.
fn process_group() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            rest.split_whitespace().nth(2)?.parse::<f64>().ok()
        })
        .unwrap_or(0.0)
}

/// lposix's `doselection`: a table of every value, or the one named by the first argument.
fn select_or_table(
    lua: &Lua,
    a: &MultiValue,
    fname: &str,
    vals: &[(&str, f64)],
) -> mlua::Result<MultiValue> {
    if is_none(a, 0) {
        let t = lua.create_table()?;
        for (k, v) in vals {
            t.set(*k, *v)?;
        }
        return Ok(mv(vec![Value::Table(t)]));
    }
    let want = check_str(a, 0, fname)?;
    match vals.iter().find(|(k, _)| *k == want) {
        Some((_, v)) => Ok(mv(vec![num(*v)])),
        None => Err(bad_arg(0, fname, &format!("invalid option '{want}'"))),
    }
}

/// `times(2)` in seconds, read from /proc (rustix has no `times`); zeros without /proc.
fn process_times() -> [(&'static str, f64); 5] {
    // USER_HZ: the unit of these counters is 100 Hz on every Linux ABI.
    const TICKS: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime is field 14 overall.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0.0) / TICKS;
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    [
        ("utime", at(11)),
        ("stime", at(12)),
        ("cutime", at(13)),
        ("cstime", at(14)),
        ("elapsed", uptime),
    ]
}

/// glibc's `sysconf` answers for lposix's names on Linux.
fn sysconf_values() -> [(&'static str, f64); 10] {
    use rustix::process::{getrlimit, Resource};
    let lim = |r: Resource| getrlimit(r).current.map_or(-1.0, |v| v as f64);
    // glibc: a quarter of the stack limit, at least ARG_MAX (131072).
    let arg_max = getrlimit(Resource::Stack)
        .current
        .map_or(131072.0, |s| ((s / 4) as f64).max(131072.0));
    [
        ("arg_max", arg_max),
        ("child_max", lim(Resource::Nproc)),
        ("clk_tck", 100.0),
        ("ngroups_max", 65536.0),
        ("stream_max", 16.0),
        ("tzname_max", -1.0),
        ("open_max", lim(Resource::Nofile)),
        ("job_control", 1.0),
        ("saved_ids", 1.0),
        ("version", 200809.0),
    ]
}

/// glibc's `pathconf` answers on Linux: the link limit by file system type (statfs), the
/// name limit from statfs, the rest fixed.
/// lposix ignores failures: what needs the file system is -1 for a missing path.
fn pathconf_values(path: &str) -> [(&'static str, f64); 9] {
    #[allow(clippy::unnecessary_cast)]
    let Ok((magic, namelen)) =
        rustix::fs::statfs(path).map(|sfs| (sfs.f_type as i64, sfs.f_namelen as f64))
    else {
        return [
            ("link_max", -1.0),
            ("max_canon", 255.0),
            ("max_input", 255.0),
            ("name_max", -1.0),
            ("path_max", 4096.0),
            ("pipe_buf", 4096.0),
            ("chown_restricted", -1.0),
            ("no_trunc", 1.0),
            ("vdisable", 0.0),
        ];
    };
    let link_max = match magic {
        // ext2/3 and ext4 share a magic; glibc tells them apart through the mount table.
        0xEF53 => {
            if mount_fs_type(path).as_deref() == Some("ext4") {
                65000.0
            } else {
                32000.0
            }
        }
        0x5846_5342 => 2_147_483_647.0, // xfs
        0x9123_683E => 65535.0,         // btrfs
        0x5265_4973 => 64535.0,         // reiserfs
        0x3153_464A => 65535.0,         // jfs
        0x0001_1954 => 32000.0,         // ufs
        _ => 127.0,
    };
    [
        ("link_max", link_max),
        ("max_canon", 255.0),
        ("max_input", 255.0),
        ("name_max", namelen),
        ("path_max", 4096.0),
        ("pipe_buf", 4096.0),
        ("chown_restricted", 1.0),
        ("no_trunc", 1.0),
        ("vdisable", 0.0),
    ]
}

/// The type of the mount holding `path`, from /proc/self/mounts (longest mount point).
fn mount_fs_type(path: &str) -> Option<String> {
    let abs = std::fs::canonicalize(path).ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, dir, ty) = (f.next()?, f.next()?, f.next()?);
            abs.starts_with(dir).then(|| (dir.len(), ty.to_string()))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, ty)| ty)
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// Runs a program to completion with the script's environment; its stdout is appended to the
/// output, fds in `null` go to /dev/null. Returns the pid and the raw wait status.
fn spawn_wait(
    st: &Shared,
    path: &str,
    argv: &[String],
    null: &[i32],
) -> std::io::Result<(u32, i32)> {
    let mut cmd = Command::new(path);
    // stdin is inherited as rpm does; Stdio::null would need a /dev/null in the root.
    cmd.args(argv);
    for (k, v) in &st.borrow().env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    if null.contains(&2) {
        cmd.stderr(Stdio::null());
    }
    let quiet = null.contains(&1);
    cmd.stdout(if quiet { Stdio::null() } else { Stdio::piped() });
    if null.contains(&0) {
        cmd.stdin(Stdio::null());
    }
    let child = cmd.spawn()?;
    let pid = child.id();
    let output = child.wait_with_output()?;
    st.borrow_mut().out.extend_from_slice(&output.stdout);
    Ok((pid, output.status.into_raw()))
}

// ---------------------------------------------------------------------------------------------
// rpm.*

fn install_rpm(lua: &Lua, st: &Shared, rpm: &Table) -> mlua::Result<()> {
    reg(lua, st, rpm, "expand", |lua, st, a| {
        let s = check_str(&a, 0, "expand")?;
        Ok(mv(vec![expand_value(lua, st, &s)?]))
    })?;
    reg(lua, st, rpm, "define", |_, st, a| {
        let s = check_str(&a, 0, "define")?;
        if st.borrow_mut().macros.define(&s) {
            Ok(mv(vec![]))
        } else {
            Err(mlua::Error::runtime("error defining macro"))
        }
    })?;
    reg(lua, st, rpm, "undefine", |_, st, a| {
        let s = check_str(&a, 0, "undefine")?;
        st.borrow_mut().macros.pop(&s);
        Ok(mv(vec![]))
    })?;
    reg(lua, st, rpm, "isdefined", |_, st, a| {
        let s = check_str(&a, 0, "isdefined")?;
        let (d, p) = st.borrow().macros.is_defined(&s);
        Ok(mv(vec![Value::Boolean(d), Value::Boolean(p)]))
    })?;
    reg(lua, st, rpm, "load", |_, st, a| {
        let path = check_str(&a, 0, "load")?;
        let rc = match std::fs::read_to_string(&path) {
            Ok(text) => {
                st.borrow_mut().macros.load_file(&text);
                0.0
            }
            Err(_) => -1.0,
        };
        Ok(mv(vec![num(rc)]))
    })?;
    reg(lua, st, rpm, "vercmp", |_, _, a| {
        let s1 = check_str(&a, 0, "vercmp")?;
        let s2 = check_str(&a, 1, "vercmp")?;
        let v1 = Evr::parse(&s1).ok_or_else(|| bad_arg(0, "vercmp", "invalid version "))?;
        let v2 = Evr::parse(&s2).ok_or_else(|| bad_arg(1, "vercmp", "invalid version "))?;
        Ok(mv(vec![Value::Integer(v1.rpm_cmp(&v2) as i64)]))
    })?;
    reg(lua, st, rpm, "ver", |lua, _, a| {
        let v = match a.len() {
            1 => Evr::parse(&check_str(&a, 0, "ver")?),
            3 => {
                let get = |i: usize| -> mlua::Result<Option<String>> {
                    match arg(&a, i) {
                        Value::Nil => Ok(None),
                        _ => check_str(&a, i, "ver").map(Some),
                    }
                };
                let (e, v, r) = (get(0)?, get(1)?, get(2)?);
                v.filter(|v| !v.is_empty()).map(|v| Evr {
                    epoch: e,
                    version: v,
                    release: r,
                })
            }
            n => {
                return Err(mlua::Error::runtime(format!(
                    "invalid number of arguments: {n}"
                )))
            }
        };
        match v {
            Some(v) => Ok(mv(vec![Value::UserData(lua.create_userdata(LuaEvr(v))?)])),
            None => Ok(mv(vec![])),
        }
    })?;
    reg(lua, st, rpm, "execute", |lua, st, a| {
        let path = check_str(&a, 0, "execute")?;
        let mut argv = Vec::new();
        for i in 1..a.len() {
            argv.push(check_str(&a, i, "execute")?);
        }
        match spawn_wait(st, &path, &argv, &[]) {
            // rpm 4.18 pushes the raw wait status through its errno-style pusherror.
            Ok((_, 0)) => Ok(mv(vec![num(0.0)])),
            Ok((_, status)) => push_error(lua, st, None, status),
            Err(e) => push_error(lua, st, Some("posix_spawnp"), io_errno(&e)),
        }
    })?;
    reg(lua, st, rpm, "b64encode", |lua, _, a| {
        let data = match arg(&a, 0) {
            Value::String(s) => s.as_bytes().to_vec(),
            _ => check_str(&a, 0, "b64encode")?.into_bytes(),
        };
        let linelen = if a.len() == 2 {
            check_int(&a, 1, "b64encode")?
        } else {
            -1
        };
        if data.is_empty() {
            return Ok(mv(vec![arg(&a, a.len().saturating_sub(1))]));
        }
        Ok(mv(vec![lstr(lua, &b64encode(&data, linelen))?]))
    })?;
    reg(lua, st, rpm, "b64decode", |lua, _, a| {
        let s = check_str(&a, 0, "b64decode")?;
        match b64decode(&s) {
            Some(d) => Ok(mv(vec![Value::String(lua.create_string(&d)?)])),
            None => Ok(mv(vec![Value::Nil])),
        }
    })?;
    reg(lua, st, rpm, "splitargs", |lua, _, a| {
        let s = check_str(&a, 0, "splitargs")?;
        let parts: Vec<&str> = s.split([' ', '\t']).filter(|p| !p.is_empty()).collect();
        Ok(mv(vec![Value::Table(lua.create_sequence_from(parts)?)]))
    })?;
    reg(lua, st, rpm, "unsplitargs", |lua, _, a| {
        let Value::Table(t) = arg(&a, 0) else {
            return Err(bad_arg(
                0,
                "unsplitargs",
                &format!(
                    "table expected, got {}",
                    type_name(&arg(&a, 0), !is_none(&a, 0))
                ),
            ));
        };
        let mut parts = Vec::new();
        for i in 1.. {
            let v: Value = t.raw_get(i)?;
            if v.is_nil() {
                break;
            }
            parts.push(check_str(&mv(vec![v]), 0, "unsplitargs")?);
        }
        // rpm 4.18's unsplitQuoted wraps every argument in its internal \x1f quote marks.
        let quoted: Vec<String> = parts.iter().map(|p| format!("\u{1f}{p}\u{1f}")).collect();
        Ok(mv(vec![lstr(lua, &quoted.join(" "))?]))
    })?;
    reg(lua, st, rpm, "interactive", |_, _, _| {
        Err(mlua::Error::runtime("not a tty"))
    })?;
    // Hooks: rpm calls none of them during a transaction's scriptlets.
    let posix: Table = lua.globals().get("posix")?;
    rpm.set("redirect2null", posix.get::<Function>("redirect2null")?)?;
    Ok(())
}

/// What rpm gives one scriptlet beyond the shared environment: `RPM_INSTALL_PREFIX` and, in
/// file triggers, `rpm.next_file`.
fn install_context(lua: &Lua, s: &LuaScriptlet<'_>) -> mlua::Result<()> {
    if !s.install_prefixes.is_empty() {
        let t = lua.create_sequence_from(s.install_prefixes.iter().map(String::as_str))?;
        lua.globals().set("RPM_INSTALL_PREFIX", t)?;
    }
    if let Some(files) = s.next_files {
        // rpm's iterator starts over after it has returned nil once; so does this one.
        let files: Vec<String> = files.to_vec();
        let pos = std::cell::Cell::new(0usize);
        let next = lua.create_function(move |lua, _: MultiValue| {
            let i = pos.get();
            match files.get(i) {
                Some(f) => {
                    pos.set(i + 1);
                    lstr(lua, f)
                }
                None => {
                    pos.set(0);
                    Ok(Value::Nil)
                }
            }
        })?;
        lua.globals().get::<Table>("rpm")?.set("next_file", next)?;
    }
    Ok(())
}

/// The global `macros` object of rpm 4.17+: `macros.name` expands a plain macro (nil when
/// undefined), `macros.name(arg)` calls a parametric one, assignment defines, nil undefines.
struct MacroTable(Shared);

impl UserData for MacroTable {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, key: Value| {
            let name = check_str(&mv(vec![Value::Nil, key]), 1, "?")?;
            let (defined, parametric) = this.0.borrow().macros.is_defined(&name);
            if !defined {
                return Ok(Value::Nil);
            }
            if !parametric {
                return expand_value(lua, &this.0, &format!("%{{{name}}}"));
            }
            let st = this.0.clone();
            let call = lua.create_function(move |lua, args: MultiValue| {
                if args.len() > 1 {
                    return Err(mlua::Error::runtime("too many arguments"));
                }
                let text = match arg(&args, 0) {
                    Value::String(s) => s.to_string_lossy(),
                    Value::Integer(n) => n.to_string(),
                    Value::Number(n) => lua_number_string(n),
                    Value::Table(t) => {
                        let mut parts = Vec::new();
                        for v in t.sequence_values::<Value>() {
                            parts.push(check_str(&mv(vec![v?]), 0, "?")?);
                        }
                        parts.join(" ")
                    }
                    _ => return Err(bad_arg(0, "?", "string or table expected")),
                };
                if !BUILTINS.contains(&name.as_str()) {
                    // A table's items are the arguments as they are; a string is expanded
                    // and split, as `%{name string}`.
                    let args: Vec<String> = match arg(&args, 0) {
                        Value::Table(t) => t
                            .sequence_values::<Value>()
                            .map(|v| check_str(&mv(vec![v?]), 0, "?"))
                            .collect::<mlua::Result<_>>()?,
                        _ => {
                            return expand_value(lua, &st, &format!("%{{{name} {text}}}"));
                        }
                    };
                    return call_value(lua, &st, &name, &args);
                }
                // A built-in called this way takes its first argument word.
                let first = text.split_whitespace().next().unwrap_or("");
                expand_value(lua, &st, &format!("%{{{name}:{first}}}"))
            })?;
            let plain: Function = lua.named_registry_value("kiln.plain")?;
            plain.call::<Value>(call)
        });
        m.add_meta_method(
            MetaMethod::NewIndex,
            |_, this, (key, value): (Value, Value)| {
                let name = check_str(&mv(vec![Value::Nil, key]), 1, "?")?;
                let mut st = this.0.borrow_mut();
                if value.is_nil() {
                    st.macros.pop(&name);
                    return Ok(());
                }
                let body = check_str(&mv(vec![Value::Nil, Value::Nil, value]), 2, "?")?;
                if st.macros.define(&format!("{name} {body}")) {
                    Ok(())
                } else {
                    Err(mlua::Error::runtime(format!("error defining macro {name}")))
                }
            },
        );
    }
}

/// A parametric macro called with `args` as they are, as a Lua value.
fn call_value(lua: &Lua, st: &Shared, name: &str, args: &[String]) -> mlua::Result<Value> {
    with_macros(lua, st, |m, cx, out| match m.get(name).cloned() {
        Some(d) => m.call(name, &d, args, 0, cx, out),
        None => Ok(()),
    })
}

/// `rpm.expand` of `text` as a Lua value.
fn expand_value(lua: &Lua, st: &Shared, text: &str) -> mlua::Result<Value> {
    with_macros(lua, st, |m, cx, out| m.expand_into(text, 0, cx, out))
}

/// Runs an expansion on the macro table, taken out of the state meanwhile; a `%{lua:}` in it
/// runs in this interpreter with the table lent back (so that it can expand macros itself)
/// and its `print` output captured, as rpm's print buffer does.
fn with_macros(
    lua: &Lua,
    st: &Shared,
    f: impl FnOnce(&mut Macros, &mut ExpandCx<'_>, &mut String) -> Result<(), MacroError>,
) -> mlua::Result<Value> {
    let overlay = st.borrow().env.clone();
    let getenv = move |n: &str| match overlay.get(n) {
        Some(v) => v.clone(),
        None => std::env::var(n).ok(),
    };
    let mut run_lua = |m: &mut Macros, code: &str| -> Result<String, MacroError> {
        std::mem::swap(&mut st.borrow_mut().macros, m);
        st.borrow_mut().capture.push(Vec::new());
        let r = lua
            .load(code)
            .set_name("<lua>")
            .call::<MultiValue>(())
            .and_then(|vals| {
                let tostring: Function = lua.globals().get("tostring")?;
                vals.into_iter()
                    .map(|v| tostring.call::<String>(v))
                    .collect::<mlua::Result<Vec<String>>>()
            });
        let printed = st.borrow_mut().capture.pop().unwrap_or_default();
        std::mem::swap(&mut st.borrow_mut().macros, m);
        match r {
            Ok(returned) => {
                let mut text = String::from_utf8_lossy(&printed).into_owned();
                text.push_str(&returned.join("\t"));
                Ok(text)
            }
            Err(e) => match find_unsupported(&e) {
                Some(u) => Err(MacroError::Unsupported(u)),
                None => {
                    eprintln!("error: lua script failed: {}", error_message(&e));
                    Err(MacroError::Failed)
                }
            },
        }
    };
    let mut cx = ExpandCx {
        getenv: &getenv,
        lua: &mut run_lua,
    };
    let mut macros = std::mem::take(&mut st.borrow_mut().macros);
    let mut out = String::new();
    let r = f(&mut macros, &mut cx, &mut out);
    st.borrow_mut().macros = macros;
    match r {
        Ok(()) => lstr(lua, &out),
        Err(MacroError::Unsupported(what)) => Err(unsupported(&what)),
        Err(MacroError::Failed) => Err(mlua::Error::runtime("error expanding macro")),
    }
}

fn b64encode(data: &[u8], linelen: i64) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut enc = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                enc.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                enc.push('=');
            }
        }
    }
    // rpmBase64Encode: lines of `linelen` (64 by default) characters, each ending in \n.
    let linelen = if linelen < 0 { 64 } else { linelen / 4 * 4 } as usize;
    if linelen == 0 {
        return enc;
    }
    let mut out = String::new();
    for line in enc.as_bytes().chunks(linelen) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out
}

fn b64decode(s: &str) -> Option<Vec<u8>> {
    let mut vals = Vec::new();
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => 64,
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        vals.push(v);
    }
    if vals.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::new();
    for q in vals.chunks(4) {
        let pad = q.iter().filter(|&&v| v == 64).count();
        if q[..4 - pad].contains(&64) {
            return None;
        }
        let n = q
            .iter()
            .fold(0u32, |acc, &v| (acc << 6) | u32::from(v & 63));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Versions: `rpm.ver` values are the rpmfile crate's EVRs.

/// An EVR as a Lua userdata (`.e`, `.v`, `.r`, `tostring`, `==`, `<`, `<=`).
struct LuaEvr(Evr);

impl UserData for LuaEvr {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |_, this, key: String| {
            match key.as_str() {
                "e" => Ok(this.0.epoch.clone()),
                "v" => Ok(Some(this.0.version.clone())),
                "r" => Ok(this.0.release.clone()),
                _ => Err(mlua::Error::runtime(format!("invalid attribute: {key}"))),
            }
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.0.to_string()));
        type Pair = (mlua::UserDataRef<LuaEvr>, mlua::UserDataRef<LuaEvr>);
        m.add_meta_function(MetaMethod::Eq, |_, (a, b): Pair| {
            Ok(a.0.rpm_cmp(&b.0).is_eq())
        });
        m.add_meta_function(MetaMethod::Lt, |_, (a, b): Pair| {
            Ok(a.0.rpm_cmp(&b.0).is_lt())
        });
        m.add_meta_function(MetaMethod::Le, |_, (a, b): Pair| {
            Ok(a.0.rpm_cmp(&b.0).is_le())
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Macros: the part of rpm's macro language that scriptlets reach through rpm.expand.

#[derive(Debug)]
enum MacroError {
    Unsupported(String),
    Failed,
}

#[derive(Debug, Clone)]
struct MacroDef {
    body: String,
    parametric: bool,
    /// A parametric macro's getopt options (`ab:` of `name(ab:)`).
    opts: String,
}

#[derive(Debug, Default)]
struct Macros {
    table: HashMap<String, Vec<MacroDef>>,
}

/// What expansion needs from outside the macro table: the environment for `%{getenv:}`, and
/// the interpreter for `%{lua:}` (handed the table, which it lends back to the script).
struct ExpandCx<'a> {
    getenv: &'a dyn Fn(&str) -> Option<String>,
    lua: &'a mut dyn FnMut(&mut Macros, &str) -> Result<String, MacroError>,
}

/// rpm 4.18's built-in macros (`rpmio/macro.c`): all defined and parametric for isdefined.
const BUILTINS: &[&str] = &[
    "basename",
    "define",
    "dirname",
    "dump",
    "echo",
    "error",
    "expand",
    "F",
    "getenv",
    "getncpus",
    "global",
    "load",
    "lua",
    "macrobody",
    "P",
    "quote",
    "S",
    "shrink",
    "suffix",
    "trace",
    "u2p",
    "uncompress",
    "undefine",
    "url2path",
    "verbose",
    "warn",
    "expr",
    "defined",
    "undefined",
];

const MAX_DEPTH: usize = 64;

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// A value of rpm's expression language (`%[...]`, `%{expr:...}`).
#[derive(Debug, Clone, PartialEq)]
enum ExprValue {
    Int(i64),
    Str(String),
    Ver(String),
}

impl ExprValue {
    fn truthy(&self) -> bool {
        match self {
            ExprValue::Int(n) => *n != 0,
            ExprValue::Str(s) => !s.is_empty(),
            ExprValue::Ver(_) => true,
        }
    }

    fn same_type(&self, other: &ExprValue) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    fn text(&self) -> String {
        match self {
            ExprValue::Int(n) => n.to_string(),
            ExprValue::Str(s) | ExprValue::Ver(s) => s.clone(),
        }
    }
}

/// rpm 4.18's expression parser (rpmio/expression.c, rebuilt): `? :`, then `&&`/`||` at one
/// level from the left, comparisons, `+ -`, `* /`, unary `- !`, and integers, "strings",
/// v"versions", (groups) and macros (which must expand to an integer).
struct ExprParser<'a, 'm, 'c, 'x> {
    text: &'a str,
    pos: usize,
    macros: &'m mut Macros,
    depth: usize,
    cx: &'c mut ExpandCx<'x>,
}

impl ExprParser<'_, '_, '_, '_> {
    fn fail<T>(&self, what: &str) -> Result<T, MacroError> {
        eprintln!("error: {what}: {}", self.text);
        Err(MacroError::Failed)
    }

    fn skip_ws(&mut self) {
        while self.text[self.pos..].starts_with([' ', '\t', '\n']) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.skip_ws();
        if self.text[self.pos..].starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn ternary(&mut self) -> Result<ExprValue, MacroError> {
        let cond = self.logical()?;
        if !self.eat("?") {
            return Ok(cond);
        }
        let a = self.ternary()?;
        if !self.eat(":") {
            return self.fail("syntax error in expression");
        }
        let b = self.ternary()?;
        if !a.same_type(&b) {
            return self.fail("types must match");
        }
        Ok(if cond.truthy() { a } else { b })
    }

    fn logical(&mut self) -> Result<ExprValue, MacroError> {
        let mut v = self.relational()?;
        loop {
            let and = if self.eat("&&") {
                true
            } else if self.eat("||") {
                false
            } else {
                return Ok(v);
            };
            let w = self.relational()?;
            if !v.same_type(&w) {
                return self.fail("types must match");
            }
            if v.truthy() == and {
                v = w;
            }
        }
    }

    fn relational(&mut self) -> Result<ExprValue, MacroError> {
        let mut v = self.additive()?;
        loop {
            let op = ["==", "!=", "<=", ">=", "<", ">"]
                .into_iter()
                .find(|op| self.eat(op));
            let Some(op) = op else {
                return Ok(v);
            };
            let w = self.additive()?;
            if !v.same_type(&w) {
                return self.fail("types must match");
            }
            let ord = match (&v, &w) {
                (ExprValue::Int(a), ExprValue::Int(b)) => a.cmp(b),
                (ExprValue::Ver(a), ExprValue::Ver(b)) => match (Evr::parse(a), Evr::parse(b)) {
                    (Some(x), Some(y)) => x.rpm_cmp(&y),
                    _ => return self.fail("invalid version"),
                },
                _ => v.text().cmp(&w.text()),
            };
            let r = match op {
                "==" => ord.is_eq(),
                "!=" => ord.is_ne(),
                "<=" => ord.is_le(),
                ">=" => ord.is_ge(),
                "<" => ord.is_lt(),
                _ => ord.is_gt(),
            };
            v = ExprValue::Int(i64::from(r));
        }
    }

    fn additive(&mut self) -> Result<ExprValue, MacroError> {
        let mut v = self.multiplicative()?;
        loop {
            let plus = if self.eat("+") {
                true
            } else if self.eat("-") {
                false
            } else {
                return Ok(v);
            };
            let w = self.multiplicative()?;
            if !v.same_type(&w) {
                return self.fail("types must match");
            }
            v = match (v, w) {
                (ExprValue::Int(a), ExprValue::Int(b)) => ExprValue::Int(if plus {
                    a.wrapping_add(b)
                } else {
                    a.wrapping_sub(b)
                }),
                (ExprValue::Str(a), ExprValue::Str(b)) if plus => ExprValue::Str(a + &b),
                (ExprValue::Ver(_), _) => return self.fail("+ and - not supported for versions"),
                _ => return self.fail("- not supported for strings"),
            };
        }
    }

    fn multiplicative(&mut self) -> Result<ExprValue, MacroError> {
        let mut v = self.unary()?;
        loop {
            let mul = if self.eat("*") {
                true
            } else if self.eat("/") {
                false
            } else {
                return Ok(v);
            };
            let w = self.unary()?;
            if !v.same_type(&w) {
                return self.fail("types must match");
            }
            v = match (v, w) {
                (ExprValue::Int(_), ExprValue::Int(0)) if !mul => {
                    return self.fail("division by zero")
                }
                (ExprValue::Int(a), ExprValue::Int(b)) => {
                    ExprValue::Int(if mul { a.wrapping_mul(b) } else { a / b })
                }
                _ => return self.fail("* and / not supported for strings or versions"),
            };
        }
    }

    fn unary(&mut self) -> Result<ExprValue, MacroError> {
        if self.eat("-") {
            return match self.unary()? {
                ExprValue::Int(n) => Ok(ExprValue::Int(n.wrapping_neg())),
                _ => self.fail("- only on numbers"),
            };
        }
        if self.eat("!") {
            let v = self.unary()?;
            return match v {
                ExprValue::Ver(_) => {
                    Err(MacroError::Unsupported("rpm.expand `%[!version]`".into()))
                }
                v => Ok(ExprValue::Int(i64::from(!v.truthy()))),
            };
        }
        self.primary()
    }

    /// A "..." literal's text, macros expanded.
    fn quoted(&mut self) -> Result<String, MacroError> {
        let rest = &self.text[self.pos..];
        let Some(end) = rest[1..].find('"') else {
            return self.fail("unterminated string in expression");
        };
        let raw = rest[1..1 + end].to_string();
        self.pos += end + 2;
        let mut out = String::new();
        self.macros
            .expand_into(&raw, self.depth + 1, self.cx, &mut out)?;
        Ok(out)
    }

    fn primary(&mut self) -> Result<ExprValue, MacroError> {
        self.skip_ws();
        let rest = &self.text[self.pos..];
        let b = rest.as_bytes();
        match b.first().copied() {
            None => self.fail("unexpected end of expression"),
            Some(b'(') => {
                self.pos += 1;
                let v = self.ternary()?;
                if !self.eat(")") {
                    return self.fail("unmatched (");
                }
                Ok(v)
            }
            Some(b'"') => Ok(ExprValue::Str(self.quoted()?)),
            Some(b'v') if b.get(1) == Some(&b'"') => {
                self.pos += 1;
                Ok(ExprValue::Ver(self.quoted()?))
            }
            Some(c) if c.is_ascii_digit() => {
                let n = b
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                    .count();
                match rest[..n].parse::<i64>() {
                    Ok(v) => {
                        self.pos += n;
                        Ok(ExprValue::Int(v))
                    }
                    Err(_) => self.fail("bare words are no longer supported, please use \"...\""),
                }
            }
            Some(b'%') => {
                // One macro reference, which must expand to an integer.
                let len = match b.get(1).copied() {
                    Some(b'{') => matching(b, 1, b'{', b'}').map(|e| e + 1),
                    Some(b'(') => matching(b, 1, b'(', b')').map(|e| e + 1),
                    _ => {
                        let j = 1 + b[1..]
                            .iter()
                            .take_while(|c| matches!(c, b'?' | b'!'))
                            .count();
                        Some(j + b[j..].iter().take_while(|&&c| is_name_byte(c)).count())
                    }
                };
                let Some(len) = len else {
                    return self.fail("unterminated macro in expression");
                };
                let mut out = String::new();
                self.macros
                    .expand_into(&rest[..len], self.depth + 1, self.cx, &mut out)?;
                self.pos += len;
                match out.trim().parse::<i64>() {
                    Ok(v) => Ok(ExprValue::Int(v)),
                    Err(_) => self.fail("macro expansion did not return an integer"),
                }
            }
            Some(_) => self.fail("bare words are no longer supported, please use \"...\""),
        }
    }
}

/// A built-in named without an argument (`%getncpus`, `%{dirname}`): its value, an error as
/// rpm's ("argument expected"), or `None` for a name that is not a built-in.
fn builtin_without_argument(name: &str) -> Option<Result<String, MacroError>> {
    if !BUILTINS.contains(&name) {
        return None;
    }
    Some(match name {
        "getncpus" => Ok(std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .to_string()),
        "verbose" => Ok("0".into()),
        "defined" | "undefined" => Ok(String::new()),
        "dump" | "trace" => Err(MacroError::Unsupported(format!("rpm.expand `%{name}`"))),
        _ => {
            eprintln!("error: %{name}: argument expected");
            Err(MacroError::Failed)
        }
    })
}

/// Length of a call-local name at the start of `b`: digits, `*`, `**`, `#`, `-x` or `-x*`.
fn local_name_len(b: &[u8]) -> usize {
    match b.first() {
        Some(c) if c.is_ascii_digit() => b.iter().take_while(|c| c.is_ascii_digit()).count(),
        Some(b'*') if b.get(1) == Some(&b'*') => 2,
        Some(b'*') | Some(b'#') => 1,
        Some(b'-') if b.get(1).is_some_and(|c| c.is_ascii_alphanumeric()) => {
            if b.get(2) == Some(&b'*') {
                3
            } else {
                2
            }
        }
        _ => 0,
    }
}

impl Macros {
    fn push(&mut self, name: &str, body: &str, parametric: bool) {
        self.push_with_opts(name, body, parametric.then_some(""));
    }

    fn push_with_opts(&mut self, name: &str, body: &str, opts: Option<&str>) {
        self.table
            .entry(name.to_string())
            .or_default()
            .push(MacroDef {
                body: body.to_string(),
                parametric: opts.is_some(),
                opts: opts.unwrap_or("").to_string(),
            });
    }

    /// Calls parametric macro `name` with `args` (already expanded), as rpm 4.18's macro.c:
    /// getopt over the arguments (options may follow plain ones), then the body expanded with
    /// the call's locals `%0`, `%1`.., `%*`, `%**`, `%#`, `%-x`, `%-x*` defined.
    fn call(
        &mut self,
        name: &str,
        def: &MacroDef,
        args: &[String],
        depth: usize,
        cx: &mut ExpandCx<'_>,
        out: &mut String,
    ) -> Result<(), MacroError> {
        let opts = def.opts.as_bytes();
        let mut flags: Vec<(char, Option<String>)> = Vec::new();
        let mut plain: Vec<String> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if a == "--" {
                plain.extend(args[i + 1..].iter().cloned());
                break;
            }
            if a.len() > 1 && a.starts_with('-') {
                let chars: Vec<char> = a[1..].chars().collect();
                let mut k = 0;
                while k < chars.len() {
                    let c = chars[k];
                    let Some(at) = opts.iter().position(|&o| o != b':' && o as char == c) else {
                        eprintln!("error: Unknown option {c} in {name}({})", def.opts);
                        return Err(MacroError::Failed);
                    };
                    if opts.get(at + 1) == Some(&b':') {
                        let value = if k + 1 < chars.len() {
                            chars[k + 1..].iter().collect()
                        } else {
                            i += 1;
                            args.get(i).cloned().ok_or(MacroError::Failed)?
                        };
                        flags.push((c, Some(value)));
                        break;
                    }
                    flags.push((c, None));
                    k += 1;
                }
            } else {
                plain.push(a.clone());
            }
            i += 1;
        }
        let mut locals: Vec<(String, String)> = vec![
            ("0".into(), name.to_string()),
            ("**".into(), args.join(" ")),
            ("*".into(), plain.join(" ")),
            ("#".into(), plain.len().to_string()),
        ];
        for (c, v) in &flags {
            match v {
                Some(v) => {
                    locals.push((format!("-{c}"), format!("-{c} {v}")));
                    locals.push((format!("-{c}*"), v.clone()));
                }
                None => locals.push((format!("-{c}"), format!("-{c}"))),
            }
        }
        for (n, a) in plain.iter().enumerate() {
            locals.push(((n + 1).to_string(), a.clone()));
        }
        for (n, v) in &locals {
            self.push(n, v, false);
        }
        let r = self.expand_into(&def.body, depth + 1, cx, out);
        for (n, _) in locals.iter().rev() {
            self.pop(n);
        }
        r
    }

    /// `%[text]` / `%{expr:text}`: the value of an expression.
    fn eval_expr(
        &mut self,
        text: &str,
        depth: usize,
        cx: &mut ExpandCx<'_>,
    ) -> Result<String, MacroError> {
        let mut p = ExprParser {
            text,
            pos: 0,
            macros: self,
            depth,
            cx,
        };
        let v = p.ternary()?;
        p.skip_ws();
        if p.pos < text.len() {
            return p.fail("syntax error in expression");
        }
        Ok(v.text())
    }

    /// The value of a call's local (`1`, `*`, `-x`, ...): output as it is, not expanded again.
    fn local(&self, name: &str) -> Option<String> {
        self.get(name).map(|d| d.body.clone())
    }

    fn pop(&mut self, name: &str) {
        if let Some(v) = self.table.get_mut(name) {
            v.pop();
            if v.is_empty() {
                self.table.remove(name);
            }
        }
    }

    fn get(&self, name: &str) -> Option<&MacroDef> {
        self.table.get(name).and_then(|v| v.last())
    }

    fn is_defined(&self, name: &str) -> (bool, bool) {
        match self.get(name) {
            Some(d) => (true, d.parametric),
            None if BUILTINS.contains(&name) => (true, true),
            None => (false, false),
        }
    }

    /// `rpm.define("name[(opts)] body")`; false for a malformed definition.
    fn define(&mut self, text: &str) -> bool {
        match MacroDefinition::parse(text) {
            Some(definition) => {
                self.add(definition);
                true
            }
            None => false,
        }
    }

    fn add(&mut self, definition: MacroDefinition) {
        let opts = definition.opts.as_deref();
        self.push_with_opts(&definition.name, &definition.body, opts);
    }

    /// A macro file's definitions, in order.
    fn load_file(&mut self, text: &str) {
        for definition in read_macro_file(text) {
            self.add(definition);
        }
    }

    fn expand_into(
        &mut self,
        s: &str,
        depth: usize,
        cx: &mut ExpandCx<'_>,
        out: &mut String,
    ) -> Result<(), MacroError> {
        if depth > MAX_DEPTH {
            return Err(MacroError::Failed);
        }
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let Some(k) = s[i..].find('%') else {
                out.push_str(&s[i..]);
                break;
            };
            out.push_str(&s[i..i + k]);
            i += k;
            let start = i;
            i += 1;
            match b.get(i).copied() {
                None => {
                    out.push('%');
                }
                Some(b'%') => {
                    out.push('%');
                    i += 1;
                }
                Some(b'{') => {
                    let Some(end) = matching(b, i, b'{', b'}') else {
                        out.push_str(&s[start..]);
                        break;
                    };
                    let inner = &s[i + 1..end];
                    i = end + 1;
                    self.expand_braced(inner, &s[start..i], depth, cx, out)?;
                }
                Some(b'(') => {
                    let Some(end) = matching(b, i, b'(', b')') else {
                        out.push_str(&s[start..]);
                        break;
                    };
                    let mut cmd = String::new();
                    self.expand_into(&s[i + 1..end], depth + 1, cx, &mut cmd)?;
                    i = end + 1;
                    out.push_str(&shell_output(&cmd)?);
                }
                Some(b'[') => {
                    let Some(end) = matching(b, i, b'[', b']') else {
                        out.push_str(&s[start..]);
                        break;
                    };
                    let text = &s[i + 1..end];
                    i = end + 1;
                    out.push_str(&self.eval_expr(text, depth, cx)?);
                }
                // A call's locals: %0.., %*, %**, %#, %-x, %-x*.
                Some(c) if c.is_ascii_digit() || c == b'*' || c == b'#' || c == b'-' => {
                    let n = local_name_len(&b[i..]);
                    if n == 0 {
                        out.push('%');
                        continue;
                    }
                    let name = &s[i..i + n];
                    i += n;
                    match self.local(name) {
                        Some(v) => out.push_str(&v),
                        // An option not given is empty; a missing argument stays as written.
                        None if name.starts_with('-') => {}
                        None => out.push_str(&s[start..i]),
                    }
                }
                Some(_) => {
                    let mut j = i;
                    let (mut cond, mut neg) = (false, false);
                    while let Some(c @ (b'?' | b'!')) = b.get(j).copied() {
                        if c == b'?' {
                            cond = true;
                        } else {
                            neg = true;
                        }
                        j += 1;
                    }
                    let n = b[j..].iter().take_while(|&&c| is_name_byte(c)).count();
                    if n == 0 {
                        out.push('%');
                        continue;
                    }
                    let name = &s[j..j + n];
                    i = j + n;
                    let def = self.get(name).cloned();
                    match (cond, def) {
                        (true, d) => {
                            if d.is_some() != neg {
                                if let Some(d) = d {
                                    self.expand_into(&d.body, depth + 1, cx, out)?;
                                }
                            }
                        }
                        (false, Some(d)) if d.parametric => {
                            // The rest of the line is the arguments.
                            let end = s[i..].find('\n').map_or(s.len(), |k| i + k);
                            let mut line = String::new();
                            self.expand_into(&s[i..end], depth + 1, cx, &mut line)?;
                            i = end;
                            let args: Vec<String> =
                                line.split_whitespace().map(str::to_string).collect();
                            self.call(name, &d, &args, depth, cx, out)?;
                        }
                        (false, Some(d)) => self.expand_into(&d.body, depth + 1, cx, out)?,
                        (false, None) => match builtin_without_argument(name) {
                            Some(v) => out.push_str(&v?),
                            None => out.push_str(&s[start..i]),
                        },
                    }
                }
            }
        }
        Ok(())
    }

    fn expand_braced(
        &mut self,
        inner: &str,
        whole: &str,
        depth: usize,
        cx: &mut ExpandCx<'_>,
        out: &mut String,
    ) -> Result<(), MacroError> {
        let b = inner.as_bytes();
        let mut j = 0;
        let (mut cond, mut neg) = (false, false);
        while let Some(c @ (b'?' | b'!')) = b.get(j).copied() {
            if c == b'?' {
                cond = true;
            } else {
                neg = true;
            }
            j += 1;
        }
        let n = match b.get(j) {
            Some(c) if c.is_ascii_digit() || matches!(c, b'*' | b'#' | b'-') => {
                local_name_len(&b[j..])
            }
            _ => b[j..].iter().take_while(|&&c| is_name_byte(c)).count(),
        };
        let name = &inner[j..j + n];
        let rest = &inner[j + n..];
        let argument = rest.strip_prefix(':');
        // Names starting with a digit, `*`, `#` or `-` are a call's locals.
        let local = name
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'*' | b'#' | b'-'));
        if local && (rest.is_empty() || argument.is_some()) {
            let value = self.local(name);
            // %{-x:text} and %{?-x:text}: the text when the option was given.
            let given = value.is_some() != neg;
            match (
                cond || (name.starts_with('-') && argument.is_some()),
                argument,
            ) {
                (true, Some(a)) if given => self.expand_into(a, depth + 1, cx, out)?,
                (true, Some(_)) => {}
                (true, None) => {
                    if given {
                        out.push_str(&value.unwrap_or_default());
                    }
                }
                (false, _) => match value {
                    Some(v) => out.push_str(&v),
                    None if name.starts_with('-') => {}
                    None => out.push_str(whole),
                },
            }
            return Ok(());
        }
        // %{?name:text} stays a condition; other braced uses of a parametric macro call it.
        if let Some(d) = self.get(name).filter(|d| d.parametric && !cond).cloned() {
            let args: Vec<String> = match argument {
                // %{name:arg}: one argument.
                Some(a) => {
                    let mut one = String::new();
                    self.expand_into(a, depth + 1, cx, &mut one)?;
                    vec![one]
                }
                None if rest.starts_with([' ', '\t']) => {
                    let mut line = String::new();
                    self.expand_into(rest, depth + 1, cx, &mut line)?;
                    line.split_whitespace().map(str::to_string).collect()
                }
                None if rest.is_empty() => Vec::new(),
                None => {
                    out.push_str(whole);
                    return Ok(());
                }
            };
            return self.call(name, &d, &args, depth, cx, out);
        }
        if name.is_empty() || !(rest.is_empty() || argument.is_some()) {
            out.push_str(whole);
            return Ok(());
        }
        if cond {
            if self.get(name).is_some() != neg {
                match argument {
                    Some(a) => self.expand_into(a, depth + 1, cx, out)?,
                    None => {
                        if let Some(d) = self.get(name).cloned() {
                            self.expand_into(&d.body, depth + 1, cx, out)?;
                        }
                    }
                }
            }
            return Ok(());
        }
        if let Some(d) = self.get(name).cloned() {
            return self.expand_into(&d.body, depth + 1, cx, out);
        }
        let Some(a) = argument else {
            match builtin_without_argument(name) {
                Some(v) => out.push_str(&v?),
                None => out.push_str(whole),
            }
            return Ok(());
        };
        let mut arg = String::new();
        if name != "lua" && name != "expr" {
            self.expand_into(a, depth + 1, cx, &mut arg)?;
        }
        match name {
            "expand" => self.expand_into(&arg, depth + 1, cx, out)?,
            "dirname" => out.push_str(match arg.rfind('/') {
                Some(0) => "/",
                Some(k) => &arg[..k],
                None => &arg,
            }),
            "basename" => out.push_str(arg.rsplit('/').next().unwrap_or("")),
            "suffix" => {
                if let Some(k) = arg.rfind('.') {
                    out.push_str(&arg[k + 1..]);
                }
            }
            "shrink" => out.push_str(&arg.split_whitespace().collect::<Vec<_>>().join(" ")),
            "quote" => out.push_str(&arg),
            "getenv" => out.push_str(&(cx.getenv)(&arg).unwrap_or_default()),
            "defined" => out.push(if self.get(arg.trim()).is_some() {
                '1'
            } else {
                '0'
            }),
            "undefined" => out.push(if self.get(arg.trim()).is_some() {
                '0'
            } else {
                '1'
            }),
            "verbose" => {}
            "url2path" | "u2p" => out.push_str(&arg),
            "echo" | "warn" | "error" => {
                eprintln!("{arg}");
                if name == "error" {
                    return Err(MacroError::Failed);
                }
            }
            "define" | "global" => {
                self.define(&arg);
            }
            "undefine" => self.pop(arg.trim()),
            "expr" => {
                let text = self.eval_expr(a, depth, cx)?;
                out.push_str(&text);
            }
            "load" => match std::fs::read_to_string(&arg) {
                Ok(text) => self.load_file(&text),
                Err(_) => {
                    eprintln!("error: failed to load macro file {arg}");
                    return Err(MacroError::Failed);
                }
            },
            "macrobody" => match self.get(arg.trim()) {
                Some(d) => out.push_str(&d.body.clone()),
                None if BUILTINS.contains(&arg.trim()) => out.push_str("<builtin>"),
                None => {
                    eprintln!("error: no such macro: '{}'", arg.trim());
                    return Err(MacroError::Failed);
                }
            },
            "lua" => {
                let text = (cx.lua)(self, a)?;
                out.push_str(&text);
            }
            _ if BUILTINS.contains(&name) => {
                return Err(MacroError::Unsupported(format!(
                    "rpm.expand `%{{{name}:}}`"
                )))
            }
            _ => out.push_str(whole),
        }
        Ok(())
    }
}

/// Index of the bracket closing the one at `open_at`, counting nesting.
fn matching(b: &[u8], open_at: usize, open: u8, close: u8) -> Option<usize> {
    let mut depth = 0usize;
    for (k, &c) in b.iter().enumerate().skip(open_at) {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

/// `%(cmd)`: the shell's stdout without trailing newlines, as rpm's `doShellEscape`.
fn shell_output(cmd: &str) -> Result<String, MacroError> {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|_| MacroError::Failed)?;
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    while s.ends_with('\n') || s.ends_with('\r') {
        s.pop();
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(body: &str) -> (Result<i32, LuaError>, String) {
        let args = vec!["<lua>".to_string(), "1".to_string()];
        let macros = vec![
            ("_prefix".to_string(), "/usr".to_string()),
            ("_bindir".to_string(), "%{_prefix}/bin".to_string()),
        ];
        let s = LuaScriptlet {
            name: "kt-test-1.0-1.noarch %post",
            body,
            args: &args,
            macros: &macros,
            install_prefixes: &[],
            next_files: None,
        };
        let mut out = Vec::new();
        let r = run_lua(&s, &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    #[test]
    fn arg_table_and_print() {
        let (r, out) = run("print(arg[1], arg[2], math.type(arg[2]), opt ~= nil)");
        assert_eq!(r.unwrap(), 0);
        assert_eq!(out, "<lua>\t1\tinteger\ttrue\n");
    }

    #[test]
    fn error_names_the_scriptlet() {
        let (r, _) = run("error('boom')");
        match r {
            Err(LuaError::Script { name, message }) => {
                assert_eq!(name, "kt-test-1.0-1.noarch %post");
                assert!(message.ends_with(":1: boom"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let (r, _) = run("os.exit(3)");
        assert!(
            matches!(&r, Err(LuaError::Script { message, .. }) if message.contains("exit not permitted")),
            "{r:?}"
        );
        // Caught by pcall or not, an unsupported form fails the scriptlet, naming the function.
        let (r, out) = run("print(pcall(rpm.expand, '%{uncompress:/x}')) print('went on')");
        assert_eq!(out.lines().last(), Some("went on"));
        assert!(
            matches!(&r, Err(LuaError::Unsupported { function, .. }) if function == "rpm.expand `%{uncompress:}`"),
            "{r:?}"
        );
    }

    #[test]
    fn expand_macros() {
        let (r, out) = run(
            r#"print(rpm.expand("%{_bindir} %_prefix %{?nope} %{!?nope:x} %{nope} %% %{dirname:/a/b}"))"#,
        );
        r.unwrap();
        assert_eq!(out, "/usr/bin /usr  x %{nope} % /a\n");
    }

    #[test]
    fn fork_exec_wait_idiom() {
        let body = r#"
            local pid = posix.fork()
            if pid == 0 then
                posix.exec("/bin/echo", "hello")
                assert(nil)
            elseif pid > 0 then
                posix.wait(pid)
            end
            print("after", type(posix.wait()))
            local ok = pcall(assert, false)
            print(ok)
        "#;
        let (r, out) = run(body);
        r.unwrap();
        // The parent branch (and its wait) was skipped, so the child is still waitable.
        assert_eq!(out, "hello\nafter\tnumber\nfalse\n");
    }

    #[test]
    fn g14() {
        assert_eq!(lua_number_string(4096.0), "4096.0");
        assert_eq!(lua_number_string(0.1), "0.1");
        assert_eq!(lua_number_string(1e20), "1e+20");
        assert_eq!(lua_number_string(1.5e-7), "1.5e-07");
    }

    #[test]
    fn mode_munching() {
        assert_eq!(mode_munch(0o644, "u+x"), Some(0o744));
        assert_eq!(mode_munch(0o644, "0755"), Some(0o755));
        assert_eq!(mode_munch(0o777, "go-w"), Some(0o755));
        assert_eq!(mode_munch(0o777, "rwxr-x---"), Some(0o750));
        assert_eq!(mode_munch(0o644, "u+q"), None);
        assert_eq!(mode_string(0o4755), "rwsr-xr-x");
    }
}
