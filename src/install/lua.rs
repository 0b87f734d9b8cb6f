//! (being written: embedded Lua for scriptlets)
