//! (being written: the sqlite rpmdb writer)
