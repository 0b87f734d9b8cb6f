//! (being written: the ordered transaction)
