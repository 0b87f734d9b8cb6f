//! C `FILE*` handles for libsolv's readers and writers, closed on drop.

use std::ffi::CString;
use std::path::Path;

use crate::ffi;

/// An open C stream.
pub struct CFile {
    raw: std::ptr::NonNull<ffi::FILE>,
}

fn cpath(path: &Path) -> std::io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))
}

impl CFile {
    /// Open for reading, decompressing by extension (gz, xz, zst, bz2) as libsolv does.
    pub fn open_decompressed(path: &Path) -> std::io::Result<CFile> {
        let p = cpath(path)?;
        // SAFETY: both arguments are valid NUL-terminated strings for the call's duration.
        let raw = unsafe { ffi::solv_xfopen(p.as_ptr(), c"r".as_ptr()) };
        std::ptr::NonNull::new(raw)
            .map(|raw| CFile { raw })
            .ok_or_else(std::io::Error::last_os_error)
    }

    /// Plain `fopen`.
    pub fn open(path: &Path, mode: &std::ffi::CStr) -> std::io::Result<CFile> {
        let p = cpath(path)?;
        // SAFETY: both arguments are valid NUL-terminated strings for the call's duration.
        let raw = unsafe { ffi::kiln_fopen(p.as_ptr(), mode.as_ptr()) };
        std::ptr::NonNull::new(raw)
            .map(|raw| CFile { raw })
            .ok_or_else(std::io::Error::last_os_error)
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::FILE {
        self.raw.as_ptr()
    }

    /// Close, reporting a failed flush (matters for writes).
    pub fn close(self) -> std::io::Result<()> {
        let raw = self.raw.as_ptr();
        std::mem::forget(self);
        // SAFETY: `raw` is an open stream we own; forget() above prevents a second close in Drop.
        let rc = unsafe { ffi::kiln_fclose(raw) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

impl Drop for CFile {
    fn drop(&mut self) {
        // SAFETY: the stream is open and owned by this value; closed exactly once.
        unsafe { ffi::kiln_fclose(self.raw.as_ptr()) };
    }
}
