//! `--make-tar` of a root a rootless build left: GNU tar's archive with the root's sidecar
//! ([`crate::attrs`]) set in it. GNU tar takes owners, modes and xattrs from the disk only, so
//! it writes the archive uncompressed as for a root build, and the headers of the sidecar's
//! paths are rewritten on the way to the compressor: owner, group and mode fields, a device's
//! type and numbers in place of its placeholder's (an empty file, so no data moves), its xattrs
//! as `SCHILY.xattr.` records in the entry's pax header as GNU tar writes them. Everything
//! else (sparse files, hard links, long names, ACLs, the times) stays GNU tar's own bytes.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::MediaError;
use crate::attrs::{AttrStore, Device, PathAttrs};
use crate::error::IoError;

const BLOCK: usize = 512;
/// GNU tar's default record (blocking factor 20): the archive's length is a multiple of it.
const RECORD: u64 = 20 * BLOCK as u64;
/// The largest id an octal ustar field holds (7 digits); larger ones go in pax records.
const OCTAL_MAX: u32 = 0o7777777;

/// `tar` (the arguments of [`super::disk::make_tar`]) with `store` laid over its archive.
pub fn make_tar(
    root: &Path,
    store: &AttrStore,
    out: &Path,
    compressor: &str,
    tar_args: &[&str],
) -> Result<(), MediaError> {
    let plain = with_suffix(out, ".kiln-tar");
    let patched = with_suffix(out, ".kiln-tar-attrs");
    let result = (|| {
        let mut cmd = std::process::Command::new("tar");
        cmd.args(tar_args);
        cmd.arg("--file").arg(&plain).arg("-C").arg(root).arg(".");
        super::disk::run_tool(cmd, &format!("tar --create --file {}", plain.display()))?;
        let patches = Patches::of(root, store)?;
        let dst = if compressor.is_empty() { out } else { &patched };
        rewrite(&plain, dst, &patches)?;
        let _ = std::fs::remove_file(&plain);
        if !compressor.is_empty() {
            // As tar's --use-compress-program: the program reads the archive on its stdin.
            let mut cmd = std::process::Command::new("sh");
            cmd.arg("-c")
                .arg(format!("{compressor} <\"$1\" >\"$2\""))
                .arg("sh")
                .arg(&patched)
                .arg(out);
            super::disk::run_tool(cmd, &format!("{compressor} > {}", out.display()))?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&plain);
    let _ = std::fs::remove_file(&patched);
    result
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The sidecar's attributes by inode, so that every name of a hard-linked file gets them.
struct Patches {
    root: PathBuf,
    by_inode: HashMap<(u64, u64), PathAttrs>,
}

impl Patches {
    fn of(root: &Path, store: &AttrStore) -> Result<Patches, MediaError> {
        let mut by_inode = HashMap::new();
        for (path, attrs) in store.iter() {
            let host = root.join(path.strip_prefix("/").unwrap_or(path));
            match std::fs::symlink_metadata(&host) {
                Ok(md) => {
                    if attrs.device.is_some() && !(md.is_file() && md.len() == 0) {
                        return Err(crate::attrs::AttrsError::Mismatch {
                            path: path.to_owned(),
                            sidecar: AttrStore::sidecar(root),
                            reason: "recorded as a device node, but its placeholder was replaced",
                        }
                        .into());
                    }
                    // Names of one inode: their attributes together, as one file's.
                    let e: &mut PathAttrs = by_inode.entry((md.dev(), md.ino())).or_default();
                    e.uid = attrs.uid.or(e.uid);
                    e.gid = attrs.gid.or(e.gid);
                    e.mode = attrs.mode.or(e.mode);
                    e.device = attrs.device.or(e.device);
                    e.xattrs
                        .extend(attrs.xattrs.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                // Removed after it was recorded, as `AttrStore::apply` skips it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(IoError::new("stat", &host, e).into()),
            }
        }
        Ok(Patches {
            root: root.to_owned(),
            by_inode,
        })
    }

    /// The attributes of the archive member `name` (`./usr/bin/x`, `./etc/`).
    fn get(&self, name: &[u8]) -> Result<Option<&PathAttrs>, MediaError> {
        let rel = name.strip_prefix(b"./").unwrap_or(name);
        let rel = rel.strip_suffix(b"/").unwrap_or(rel);
        let host = if rel.is_empty() || rel == b"." {
            self.root.clone()
        } else {
            self.root.join(std::ffi::OsStr::from_bytes(rel))
        };
        match std::fs::symlink_metadata(&host) {
            Ok(md) => Ok(self.by_inode.get(&(md.dev(), md.ino()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IoError::new("stat", &host, e).into()),
        }
    }
}

/// Copy the uncompressed archive `src` to `dst` with the patches applied.
fn rewrite(src: &Path, dst: &Path, patches: &Patches) -> Result<(), MediaError> {
    let rd_err = |e: std::io::Error| IoError::new("read", src, e);
    let wr_err = |e: std::io::Error| IoError::new("write", dst, e);
    let mut r = BufReader::with_capacity(1 << 20, std::fs::File::open(src).map_err(rd_err)?);
    let mut w = BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(dst).map_err(IoError::at("create", dst))?,
    );
    let bad = |what: &str| MediaError::Tool {
        cmd: format!("tar --create --file {}", src.display()),
        output: format!("kiln cannot read the archive GNU tar wrote: {what}"),
    };
    let mut written: u64 = 0;
    // The pax header of the next member, held until that member's name is known.
    let mut pax: Option<([u8; BLOCK], Vec<u8>)> = None;
    loop {
        if crate::cancel::interrupted() {
            return Err(MediaError::Interrupted);
        }
        let mut header = [0u8; BLOCK];
        match r.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(bad("it ends without its end-of-archive blocks"))
            }
            Err(e) => return Err(rd_err(e).into()),
        }
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let size_field = octal(&header[124..136]).ok_or_else(|| bad("a size field"))?;
        let typeflag = header[156];
        if typeflag == b'x' {
            let mut data = vec![0u8; padded(size_field)];
            r.read_exact(&mut data).map_err(rd_err)?;
            data.truncate(size_field as usize);
            pax = Some((header, data));
            continue;
        }
        let records = pax.as_ref().map(|(_, d)| parse_records(d)).transpose();
        let records = records.map_err(|()| bad("a pax header"))?;
        let record = |key: &[u8]| {
            records
                .as_ref()
                .and_then(|rs| rs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
        };
        // The member's name: a sparse file's real one, a long one from the pax header.
        let name = record(b"GNU.sparse.name")
            .or_else(|| record(b"path"))
            .unwrap_or_else(|| ustar_name(&header));
        let size = match record(b"size") {
            Some(v) => std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| bad("a pax size"))?,
            None => size_field,
        };
        let mut extra: Vec<(String, Vec<u8>)> = Vec::new();
        if let Some(attrs) = patches.get(&name)? {
            patch_header(&mut header, attrs, &mut extra);
            // GNU tar gives a hard link's header no xattrs: they are its first name's.
            let xattrs = if typeflag == b'1' {
                None
            } else {
                Some(&attrs.xattrs)
            };
            for (k, v) in xattrs.into_iter().flatten() {
                extra.push((format!("SCHILY.xattr.{}", xattr_keyword(k)), v.clone()));
            }
        }
        match pax.take() {
            Some((mut xh, data)) if !extra.is_empty() => {
                let data = with_records(&data, &extra);
                set_octal(&mut xh[124..136], data.len() as u64);
                set_checksum(&mut xh);
                written += emit(&mut w, &xh, &data).map_err(wr_err)?;
            }
            Some((xh, data)) => written += emit(&mut w, &xh, &data).map_err(wr_err)?,
            None if !extra.is_empty() => {
                let xh = pax_header_for(&header, &name);
                let data = with_records(&[], &extra);
                let mut xh = xh;
                set_octal(&mut xh[124..136], data.len() as u64);
                set_checksum(&mut xh);
                written += emit(&mut w, &xh, &data).map_err(wr_err)?;
            }
            None => {}
        }
        set_checksum(&mut header);
        w.write_all(&header).map_err(wr_err)?;
        written += BLOCK as u64;
        // Member data: none for links, directories and devices, whatever their size field.
        let stored = match typeflag {
            b'1' | b'2' | b'3' | b'4' | b'5' | b'6' => 0,
            _ => size,
        };
        let n = padded(stored) as u64;
        let copied = std::io::copy(&mut (&mut r).take(n), &mut w).map_err(wr_err)?;
        if copied != n {
            return Err(bad("a member's data is cut short"));
        }
        written += n;
    }
    // Two zero blocks end the archive, zeros fill its last record, as GNU tar writes it.
    let end = (written + 2 * BLOCK as u64).div_ceil(RECORD) * RECORD;
    std::io::copy(&mut std::io::repeat(0).take(end - written), &mut w).map_err(wr_err)?;
    w.flush().map_err(wr_err)?;
    Ok(())
}

/// Set owner, group, mode and a device's type and numbers in a member's ustar header; ids too
/// large for the fields go into `extra` pax records (GNU tar's `uid=`/`gid=`).
fn patch_header(h: &mut [u8; BLOCK], attrs: &PathAttrs, extra: &mut Vec<(String, Vec<u8>)>) {
    if let Some(mode) = attrs.mode {
        set_octal(&mut h[100..108], u64::from(mode & 0o7777));
    }
    for (id, field, key) in [(attrs.uid, 108..116, "uid"), (attrs.gid, 116..124, "gid")] {
        if let Some(id) = id {
            if id > OCTAL_MAX {
                set_octal(&mut h[field], 0);
                extra.push((key.to_string(), id.to_string().into_bytes()));
            } else {
                set_octal(&mut h[field], u64::from(id));
            }
        }
    }
    // A hard link's header stays a link to the device's first name.
    let is_file = matches!(h[156], b'0' | 0);
    if let (Some(dev), true) = (attrs.device, is_file) {
        let (flag, major, minor) = match dev {
            Device::Char { major, minor } => (b'3', major, minor),
            Device::Block { major, minor } => (b'4', major, minor),
        };
        h[156] = flag;
        set_octal(&mut h[329..337], u64::from(major));
        set_octal(&mut h[337..345], u64::from(minor));
    }
}

/// GNU tar's escapes in an xattr's keyword: `%` and `=` would end or garble it.
fn xattr_keyword(name: &str) -> String {
    name.replace('%', "%25").replace('=', "%3D")
}

/// The pax header GNU tar would put before `member` (named `name`): `DIR/PaxHeaders/BASE`.
fn pax_header_for(member: &[u8; BLOCK], name: &[u8]) -> [u8; BLOCK] {
    let trimmed = name.strip_suffix(b"/").unwrap_or(name);
    let (dir, base) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => (&b"."[..], trimmed),
    };
    let mut pax_name = dir.to_vec();
    pax_name.extend_from_slice(b"/PaxHeaders/");
    pax_name.extend_from_slice(base);
    let mut h = [0u8; BLOCK];
    let n = pax_name.len().min(100);
    h[..n].copy_from_slice(&pax_name[..n]);
    set_octal(&mut h[100..108], 0o644);
    set_octal(&mut h[108..116], 0);
    set_octal(&mut h[116..124], 0);
    h[136..148].copy_from_slice(&member[136..148]);
    h[156] = b'x';
    h[257..265].copy_from_slice(b"ustar\x0000");
    h
}

/// `data` (pax records) with `extra` replacing records of the same key or appended.
fn with_records(data: &[u8], extra: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut kept: Records = parse_records(data).unwrap_or_default();
    let extra: BTreeMap<&[u8], &[u8]> = extra
        .iter()
        .map(|(k, v)| (k.as_bytes(), v.as_slice()))
        .collect();
    kept.retain(|(k, _)| !extra.contains_key(k.as_slice()));
    let mut out = Vec::with_capacity(data.len() + 64);
    for (k, v) in kept
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .chain(extra)
    {
        out.extend_from_slice(&record_bytes(k, v));
    }
    out
}

/// Pax records: keys and values.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// One pax record, `LEN KEY=VALUE\n`, its length counting its own digits.
fn record_bytes(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut r = Vec::with_capacity(len);
    r.extend_from_slice(len.to_string().as_bytes());
    r.push(b' ');
    r.extend_from_slice(key);
    r.push(b'=');
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

fn parse_records(mut data: &[u8]) -> Result<Records, ()> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let sp = data.iter().position(|&b| b == b' ').ok_or(())?;
        let len: usize = std::str::from_utf8(&data[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(())?;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return Err(());
        }
        let kv = &data[sp + 1..len - 1];
        let eq = kv.iter().position(|&b| b == b'=').ok_or(())?;
        out.push((kv[..eq].to_vec(), kv[eq + 1..].to_vec()));
        data = &data[len..];
    }
    Ok(out)
}

/// The ustar name: `prefix/name`.
fn ustar_name(h: &[u8; BLOCK]) -> Vec<u8> {
    let field = |f: &[u8]| f[..f.iter().position(|&b| b == 0).unwrap_or(f.len())].to_vec();
    let (name, prefix) = (field(&h[0..100]), field(&h[345..500]));
    if prefix.is_empty() {
        return name;
    }
    let mut p = prefix;
    p.push(b'/');
    p.extend_from_slice(&name);
    p
}

fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        // GNU's base-256 form for values past the octal digits.
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)? + u64::from(b);
        }
        return Some(v);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| (b'0'..=b'7').contains(&b))
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

/// `value` as zero-padded octal digits and a NUL filling `field`, as GNU tar writes them.
fn set_octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

/// The header checksum: six octal digits, a NUL and a space.
fn set_checksum(h: &mut [u8; BLOCK]) {
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{sum:06o}");
    h[148..154].copy_from_slice(text.as_bytes());
    h[154] = 0;
    h[155] = b' ';
}

fn padded(n: u64) -> usize {
    (n as usize).div_ceil(BLOCK) * BLOCK
}

/// A header and its data padded to whole blocks; returns the bytes written.
fn emit(w: &mut impl Write, header: &[u8; BLOCK], data: &[u8]) -> std::io::Result<u64> {
    w.write_all(header)?;
    w.write_all(data)?;
    let pad = padded(data.len() as u64) - data.len();
    w.write_all(&vec![0u8; pad])?;
    Ok((BLOCK + padded(data.len() as u64)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_counts_its_own_length() {
        // 8 bytes and one digit; 99 bytes and two digits would be 101, which has three.
        assert_eq!(record_bytes(b"a", b"bcde"), b"9 a=bcde\n");
        let long = vec![b'v'; 95];
        let r = record_bytes(b"k", &long);
        assert_eq!(r.len(), 102);
        assert!(r.starts_with(b"102 k="));
        assert_eq!(parse_records(&r).unwrap(), vec![(b"k".to_vec(), long)]);
    }
}
