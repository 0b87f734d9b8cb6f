//! Random trees written as ISO 9660 + Rock Ridge + Joliet with kiln's writer must list back
//! with every directory and file at its Rock Ridge path, with its permission bits and its
//! bytes (kiln's reader, the one `kiln iso-to-pxeboot` and `kiln diff` use on ISOs they are
//! given); and any bytes at all given to that reader must list or fail, never panic. The first
//! byte picks which.
#![no_main]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

use kiln_writers::iso9660::read::{copy_file, list, EntryKind};
use kiln_writers::iso9660::{write_iso, IsoOptions};
use kiln_writers::tree::{DataSource, FsTree, Kind, Meta, NodeId};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

#[path = "names.rs"]
mod names;
use names::name;

fn meta(u: &mut Unstructured<'_>) -> Result<Meta> {
    Ok(Meta {
        mode: u32::from(u.arbitrary::<u16>()?) & 0o7777,
        uid: u.int_in_range(0..=3)?,
        gid: u.int_in_range(0..=3)?,
        mtime: i64::from(u.arbitrary::<u32>()?),
        xattrs: Vec::new(),
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Want {
    Dir(u32),
    File(u32, Arc<[u8]>),
    Other,
}

fn build(u: &mut Unstructured<'_>) -> Result<FsTree> {
    let mut tree = FsTree::new(meta(u)?);
    let mut dirs: Vec<NodeId> = vec![FsTree::ROOT];
    for _ in 0..u.int_in_range(0..=30)? {
        let parent = *u.choose(&dirs)?;
        let path = tree.path(parent).join(name(u)?);
        let kind = match u.int_in_range(0..=5)? {
            0 | 1 => Kind::Dir,
            2..=4 => {
                let n = u.int_in_range(0..=9000usize)?;
                let data: Arc<[u8]> = if u.arbitrary()? {
                    let n = n.min(u.len());
                    u.bytes(n)?.to_vec().into()
                } else {
                    vec![u.arbitrary::<u8>()?; n].into()
                };
                Kind::File {
                    size: data.len() as u64,
                    data: DataSource::Bytes(data),
                }
            }
            _ => Kind::Symlink("target".into()),
        };
        let is_dir = kind == Kind::Dir;
        if let Ok(id) = tree.insert(&path, meta(u)?, kind) {
            if is_dir {
                dirs.push(id);
            }
        }
    }
    Ok(tree)
}

fn expected(t: &FsTree) -> BTreeMap<PathBuf, Want> {
    let mut out = BTreeMap::new();
    for id in t.walk() {
        if id == FsTree::ROOT {
            continue;
        }
        let p = t.path(id);
        let p = p.strip_prefix("/").unwrap_or(&p).to_path_buf();
        let m = t.node(id).meta.mode & 0o7777;
        let w = match &t.node(id).kind {
            Kind::Dir => Want::Dir(m),
            Kind::File {
                data: DataSource::Bytes(b),
                ..
            } => Want::File(m, b.clone()),
            _ => Want::Other,
        };
        out.insert(p, w);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    if which % 2 == 1 {
        // The reader on hostile bytes.
        let mut c = Cursor::new(rest);
        if let Ok(entries) = list(&mut c) {
            for e in entries.iter().take(64) {
                if e.kind == EntryKind::File && e.size() < (1 << 20) {
                    let _ = copy_file(&mut c, e, &mut std::io::sink());
                }
            }
        }
        return;
    }
    let mut u = Unstructured::new(rest);
    let Ok(tree) = build(&mut u) else { return };
    let opts = IsoOptions {
        volume_id: "FUZZ".into(),
        source_date_epoch: Some(1_700_000_000),
        ..IsoOptions::default()
    };
    let mut img = Cursor::new(Vec::new());
    if write_iso(&tree, &opts, &mut img).is_err() {
        // Refusing a tree is allowed (e.g. a path deeper than the format holds); a panic is not.
        return;
    }
    let mut r = Cursor::new(img.into_inner());
    let entries = list(&mut r).expect("kiln's reader cannot list kiln's ISO");
    let want = expected(&tree);
    let mut got = BTreeMap::new();
    for e in &entries {
        if e.path.as_os_str().is_empty() {
            continue;
        }
        let w = match e.kind {
            EntryKind::Dir => Want::Dir(e.mode.expect("Rock Ridge mode")),
            EntryKind::File => {
                let mut b = Vec::new();
                copy_file(&mut r, e, &mut b).expect("file data");
                Want::File(e.mode.expect("Rock Ridge mode"), b.into())
            }
            EntryKind::Other => Want::Other,
        };
        got.insert(e.path.clone(), w);
    }
    // The boot catalog is absent without El Torito; nothing else may be added or lost.
    assert_eq!(got, want);
});
