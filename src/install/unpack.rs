//! (being written: package reader/unpacker work)
