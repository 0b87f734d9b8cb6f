//! File names for random trees, shared by the writer round-trip targets: any UTF-8 of at most
//! 255 bytes without `/` or NUL, never empty, `.` or `..`.

use libfuzzer_sys::arbitrary::{Result, Unstructured};

pub fn name(u: &mut Unstructured<'_>) -> Result<String> {
    let s: String = u.arbitrary()?;
    let mut s: String = s
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect();
    while s.len() > 255 {
        s.pop();
    }
    Ok(match s.as_str() {
        "" | "." | ".." => "x".into(),
        _ => s,
    })
}
