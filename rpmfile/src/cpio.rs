//! kiln's streaming cpio reader for RPM payloads: SVR4 `newc` (`070701`, and `070702` whose
//! checksum is ignored as rpm does) and rpm's stripped format (`07070X`, written for packages with
//! `LONGFILESIZES`: the entry names only a header file index, the header has the rest).
//!
//! One entry at a time; the data of the current entry is read through a bounded sub-reader and
//! whatever the caller leaves unread is skipped before the next header. Knows nothing of RPM
//! headers or of the filesystem.

use std::io::{self, Read};

/// The newc magic.
pub const NEWC_MAGIC: &[u8; 6] = b"070701";
/// The newc-with-checksum magic.
pub const CRC_MAGIC: &[u8; 6] = b"070702";
/// rpm's stripped-header magic.
pub const STRIPPED_MAGIC: &[u8; 6] = b"07070X";
/// The name of the last entry.
pub const TRAILER: &str = "TRAILER!!!";
/// Longest entry name accepted, NUL included (Linux `PATH_MAX`).
pub const MAX_NAME: usize = 4096;

/// A malformed archive.
#[derive(Debug, thiserror::Error)]
pub enum CpioError {
    /// The stream failed or ended early.
    #[error("failed to read the cpio archive at offset {offset}")]
    Io {
        /// Archive offset.
        offset: u64,
        #[source]
        source: io::Error,
    },
    /// An entry header that is not newc or stripped.
    #[error("bad cpio magic {magic:?} at offset {offset}")]
    Magic {
        /// What was found.
        magic: String,
        /// Archive offset.
        offset: u64,
    },
    /// A header field that is not 8 hex digits.
    #[error("cpio header field `{field}` at offset {offset} is not hexadecimal")]
    Field {
        /// Field name.
        field: &'static str,
        /// Archive offset of the header.
        offset: u64,
    },
    /// A name that is empty, too long, not NUL-terminated or not UTF-8.
    #[error("bad cpio entry name at offset {offset}: {reason}")]
    Name {
        /// Archive offset of the header.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The caller asked for an entry's data before a header, or twice.
    #[error("cpio data requested out of order")]
    Order,
}

/// What an entry header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryName {
    /// A newc entry and its name as stored (rpm writes `./usr/bin/x`).
    Path(String),
    /// A stripped entry: the index of the file in the RPM header.
    Index(u32),
}

/// One newc entry header (stripped entries carry only the index; the fields are zero and
/// `size` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name or header index.
    pub name: EntryName,
    /// `c_ino`.
    pub ino: u32,
    /// `c_mode`.
    pub mode: u32,
    /// `c_uid`.
    pub uid: u32,
    /// `c_gid`.
    pub gid: u32,
    /// `c_nlink`.
    pub nlink: u32,
    /// `c_mtime`.
    pub mtime: u32,
    /// `c_filesize`; `None` for stripped entries (the RPM header knows it).
    pub size: Option<u64>,
    /// `c_rdevmajor`.
    pub rdev_major: u32,
    /// `c_rdevminor`.
    pub rdev_minor: u32,
}

impl Entry {
    /// Whether this is the end-of-archive marker.
    pub fn is_trailer(&self) -> bool {
        self.name == EntryName::Path(TRAILER.into())
    }
}

/// A streaming reader over a decompressed payload.
pub struct CpioReader<R> {
    inner: R,
    /// Bytes consumed from `inner`.
    offset: u64,
    /// Data bytes of the current entry not yet read.
    remaining: u64,
    /// Whether the current entry's data size is known (false after a stripped header until
    /// [`CpioReader::data`] is given one).
    sized: bool,
    done: bool,
}

impl<R: Read> CpioReader<R> {
    /// Wraps a decompressed payload stream.
    pub fn new(inner: R) -> Self {
        CpioReader {
            inner,
            offset: 0,
            remaining: 0,
            sized: true,
            done: false,
        }
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<(), CpioError> {
        let offset = self.offset;
        self.inner
            .read_exact(buf)
            .map_err(|source| CpioError::Io { offset, source })?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn skip(&mut self, mut n: u64) -> Result<(), CpioError> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            self.fill(&mut buf[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    fn align4(&mut self) -> Result<(), CpioError> {
        let pad = (4 - (self.offset % 4)) % 4;
        self.skip(pad)
    }

    /// The next entry header, `None` after the trailer. Unread data of the previous entry is
    /// skipped.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, CpioError> {
        if self.done {
            return Ok(None);
        }
        if !self.sized {
            // A stripped entry whose data the caller never sized: its size is unknown, so
            // the stream position is lost.
            return Err(CpioError::Order);
        }
        let rest = self.remaining;
        self.remaining = 0;
        self.skip(rest)?;
        self.align4()?;
        let start = self.offset;
        let mut magic = [0u8; 6];
        self.fill(&mut magic)?;
        if &magic == STRIPPED_MAGIC {
            let mut fx = [0u8; 8];
            self.fill(&mut fx)?;
            let index = hex(&fx, "fx", start)?;
            self.align4()?;
            self.sized = false;
            return Ok(Some(Entry {
                name: EntryName::Index(index),
                ino: 0,
                mode: 0,
                uid: 0,
                gid: 0,
                nlink: 0,
                mtime: 0,
                size: None,
                rdev_major: 0,
                rdev_minor: 0,
            }));
        }
        if &magic != NEWC_MAGIC && &magic != CRC_MAGIC {
            return Err(CpioError::Magic {
                magic: String::from_utf8_lossy(&magic).into_owned(),
                offset: start,
            });
        }
        let mut h = [0u8; 104];
        self.fill(&mut h)?;
        let f = |i: usize, name: &'static str| hex(&h[i * 8..i * 8 + 8], name, start);
        let ino = f(0, "ino")?;
        let mode = f(1, "mode")?;
        let uid = f(2, "uid")?;
        let gid = f(3, "gid")?;
        let nlink = f(4, "nlink")?;
        let mtime = f(5, "mtime")?;
        let size = f(6, "filesize")?;
        f(7, "devmajor")?;
        f(8, "devminor")?;
        let rdev_major = f(9, "rdevmajor")?;
        let rdev_minor = f(10, "rdevminor")?;
        let namesize = f(11, "namesize")? as usize;
        f(12, "check")?;
        if namesize < 2 {
            return Err(CpioError::Name {
                offset: start,
                reason: "empty name",
            });
        }
        if namesize > MAX_NAME {
            return Err(CpioError::Name {
                offset: start,
                reason: "name longer than PATH_MAX",
            });
        }
        let mut name = vec![0u8; namesize];
        self.fill(&mut name)?;
        if name.pop() != Some(0) || name.contains(&0) {
            return Err(CpioError::Name {
                offset: start,
                reason: "name is not NUL-terminated",
            });
        }
        let name = String::from_utf8(name).map_err(|_| CpioError::Name {
            offset: start,
            reason: "name is not UTF-8",
        })?;
        self.align4()?;
        let entry = Entry {
            name: EntryName::Path(name),
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            size: Some(u64::from(size)),
            rdev_major,
            rdev_minor,
        };
        if entry.is_trailer() {
            self.done = true;
        } else {
            self.remaining = u64::from(size);
            self.sized = true;
        }
        Ok(Some(entry))
    }

    /// The current entry's data. `size` must be given for a stripped entry (from the RPM
    /// header) and is ignored for newc entries, whose header has it.
    pub fn data(&mut self, size: Option<u64>) -> Result<DataReader<'_, R>, CpioError> {
        if !self.sized {
            self.remaining = size.ok_or(CpioError::Order)?;
            self.sized = true;
        }
        Ok(DataReader { cpio: self })
    }
}

/// The data of one entry; reads end at the entry's size.
pub struct DataReader<'a, R> {
    cpio: &'a mut CpioReader<R>,
}

impl<R> DataReader<'_, R> {
    /// Data bytes not yet read.
    pub fn remaining(&self) -> u64 {
        self.cpio.remaining
    }
}

impl<R: Read> Read for DataReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cpio.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let k = buf
            .len()
            .min(self.cpio.remaining.min(usize::MAX as u64) as usize);
        let n = self.cpio.inner.read(&mut buf[..k])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("cpio entry data ends {} bytes early", self.cpio.remaining),
            ));
        }
        self.cpio.remaining -= n as u64;
        self.cpio.offset += n as u64;
        Ok(n)
    }
}

fn hex(field: &[u8], name: &'static str, offset: u64) -> Result<u32, CpioError> {
    let bad = || CpioError::Field {
        field: name,
        offset,
    };
    let s = std::str::from_utf8(field).map_err(|_| bad())?;
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    u32::from_str_radix(s, 16).map_err(|_| bad())
}

/// Test and fixture helper: one newc entry (header, name, data, padding).
pub fn write_newc_entry(
    out: &mut Vec<u8>,
    name: &str,
    mode: u32,
    nlink: u32,
    ino: u32,
    data: &[u8],
) {
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        data.len() as u32,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(NEWC_MAGIC);
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out.extend_from_slice(data);
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// Test and fixture helper: one stripped entry (`07070X` + index, then the data).
pub fn write_stripped_entry(out: &mut Vec<u8>, index: u32, data: &[u8]) {
    out.extend_from_slice(STRIPPED_MAGIC);
    out.extend_from_slice(format!("{index:08x}").as_bytes());
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out.extend_from_slice(data);
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// Test and fixture helper: the trailer.
pub fn write_trailer(out: &mut Vec<u8>) {
    write_newc_entry(out, TRAILER, 0, 1, 0, &[]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gnu_cpio_available() -> bool {
        std::process::Command::new("cpio")
            .arg("--version")
            .output()
            .is_ok()
    }

    #[test]
    fn reads_gnu_cpio_newc_archive() {
        // GNU cpio writes the archive: an independent newc producer.
        if !gnu_cpio_available() {
            eprintln!("SKIP: cpio not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a.txt"), b"hello world\n").unwrap();
        std::fs::write(d.join("odd"), vec![7u8; 4097]).unwrap();
        std::os::unix::fs::symlink("sub/a.txt", d.join("link")).unwrap();
        let out = std::process::Command::new("sh")
            .current_dir(d)
            .arg("-c")
            .arg("printf '.\\n./sub\\n./sub/a.txt\\n./odd\\n./link\\n' | cpio -o -H newc --quiet")
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut r = CpioReader::new(&out.stdout[..]);
        let mut seen = Vec::new();
        while let Some(e) = r.next_entry().unwrap() {
            if e.is_trailer() {
                break;
            }
            let mut data = Vec::new();
            r.data(None).unwrap().read_to_end(&mut data).unwrap();
            let EntryName::Path(name) = e.name else {
                panic!("newc entry without a name")
            };
            // GNU cpio drops the leading `./` that rpm keeps.
            let name = name.trim_start_matches("./").to_owned();
            seen.push((name, e.mode & 0o170000, data));
        }
        assert!(r.next_entry().unwrap().is_none());
        assert_eq!(seen.len(), 5);
        assert_eq!(
            seen[2],
            ("sub/a.txt".into(), 0o100000, b"hello world\n".to_vec())
        );
        assert_eq!(seen[3].2.len(), 4097);
        assert_eq!(seen[4], ("link".into(), 0o120000, b"sub/a.txt".to_vec()));
        assert_eq!(seen[1].1, 0o040000);
    }

    #[test]
    fn stripped_entries_take_their_size_from_the_caller() {
        let mut a = Vec::new();
        write_stripped_entry(&mut a, 3, b"abcde");
        write_stripped_entry(&mut a, 0, b"");
        write_stripped_entry(&mut a, 1, b"xy");
        write_trailer(&mut a);
        let mut r = CpioReader::new(&a[..]);
        let e = r.next_entry().unwrap().unwrap();
        assert_eq!(e.name, EntryName::Index(3));
        let mut d = String::new();
        r.data(Some(5)).unwrap().read_to_string(&mut d).unwrap();
        assert_eq!(d, "abcde");
        assert_eq!(r.next_entry().unwrap().unwrap().name, EntryName::Index(0));
        r.data(Some(0)).unwrap();
        assert_eq!(r.next_entry().unwrap().unwrap().name, EntryName::Index(1));
        // Leave the data unread: the reader skips it.
        r.data(Some(2)).unwrap();
        assert!(r.next_entry().unwrap().unwrap().is_trailer());
        assert!(r.next_entry().unwrap().is_none());
    }

    #[test]
    fn stripped_entry_without_size_is_an_error() {
        let mut a = Vec::new();
        write_stripped_entry(&mut a, 0, b"abc");
        write_trailer(&mut a);
        let mut r = CpioReader::new(&a[..]);
        r.next_entry().unwrap();
        assert!(matches!(r.next_entry(), Err(CpioError::Order)));
    }

    #[test]
    fn rejects_bad_headers() {
        let mut a = Vec::new();
        write_newc_entry(&mut a, "./x", 0o100644, 1, 1, b"data");
        // Bad magic.
        let mut b = a.clone();
        b[5] = b'9';
        assert!(matches!(
            CpioReader::new(&b[..]).next_entry(),
            Err(CpioError::Magic { .. })
        ));
        // Non-hex field.
        let mut b = a.clone();
        b[6 + 8] = b'g';
        assert!(matches!(
            CpioReader::new(&b[..]).next_entry(),
            Err(CpioError::Field { field: "mode", .. })
        ));
        // Name size beyond PATH_MAX.
        let mut b = a.clone();
        b[6 + 11 * 8..6 + 12 * 8].copy_from_slice(b"00002000");
        assert!(matches!(
            CpioReader::new(&b[..]).next_entry(),
            Err(CpioError::Name { .. })
        ));
        // Truncated data.
        let b = &a[..a.len() - 2];
        let mut r = CpioReader::new(b);
        r.next_entry().unwrap();
        let mut sink = Vec::new();
        assert!(r.data(None).unwrap().read_to_end(&mut sink).is_err());
        // Truncated header.
        assert!(matches!(
            CpioReader::new(&a[..50]).next_entry(),
            Err(CpioError::Io { .. })
        ));
    }
}
