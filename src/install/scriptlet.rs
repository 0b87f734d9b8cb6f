//! (being written: scriptlet runner)
