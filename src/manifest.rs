//! What a build farm imports beside the media: `manifest.json` (Koji's imageinfo: each image
//! file with size, arch, sha256 and type; the package list with Koji's rpmlist fields, its
//! `payloadhash` being the package's SIGMD5) and an SPDX 2.3 JSON SBOM (`sbom.spdx.json`).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::IoError;
use crate::rpmfile::RpmFileError;

/// The manifest's file name in the result directory.
pub const MANIFEST: &str = "manifest.json";
/// The SBOM's file name in the result directory.
pub const SBOM: &str = "sbom.spdx.json";
/// The build log's file name in the result directory (written by the CLI).
pub const LOG: &str = "build.log";

/// Errors reading packages or images for the manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Reading a file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A package header could not be read.
    #[error("cannot read the header of `{}`: {reason}", path.display())]
    Rpm {
        /// The package.
        path: PathBuf,
        /// Why the header does not read.
        reason: RpmFileError,
    },
}

/// One image file (Koji's imageinfo `files`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImageFile {
    /// File name in the result directory.
    pub filename: String,
    /// Size in bytes.
    pub size: u64,
    /// Target arch.
    pub arch: String,
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Koji's image type (`iso`, `squashfs`).
    #[serde(rename = "type")]
    pub kind: String,
    /// IANA media type.
    pub media_type: String,
}

/// One installed package, with the fields Koji's image import reads.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RpmEntry {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Epoch (`null` when the header has none).
    pub epoch: Option<u32>,
    /// Arch.
    pub arch: String,
    /// `BUILDTIME`.
    pub buildtime: u64,
    /// The package file's size in bytes: Koji's rpmlist `size` (its image tasks stat the
    /// downloaded package).
    pub size: u64,
    /// Installed size (`LONGSIZE`/`SIZE`), which Koji does not record.
    pub installed_size: u64,
    /// `SIGMD5` (MD5 of header and payload), lowercase hex: Koji's payloadhash; `null` for
    /// a package without one.
    pub payloadhash: Option<String>,
    /// The repository it came from (kickstart repo id).
    pub repo: String,
    /// The package file's name.
    pub filename: String,
    /// SHA-256 of the package file, lowercase hex (for the SBOM).
    pub sha256: String,
    /// `LICENSE`, as the package states it.
    pub license: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// `kiln-manifest`.
    pub format: String,
    /// Format version (2: rpmlist `size` is the package file's size, `installed_size` the
    /// installed one).
    pub version: u32,
    /// kiln's version.
    pub kiln_version: String,
    /// Target arch.
    pub arch: String,
    /// Volume label.
    pub label: String,
    /// `SOURCE_DATE_EPOCH` of a reproducible build.
    pub source_date_epoch: Option<i64>,
    /// Image files.
    pub images: Vec<ImageFile>,
    /// Installed packages, sorted by name then arch.
    pub rpmlist: Vec<RpmEntry>,
    /// The kickstart as given (file name in the result directory).
    pub kickstart: String,
    /// The flattened kickstart (file name in the result directory).
    pub kickstart_flattened: String,
    /// The SBOM (file name in the result directory).
    pub sbom: String,
    /// The build log (file name in the result directory).
    pub log: String,
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(p: &Path) -> Result<String, ManifestError> {
    let mut f = std::fs::File::open(p).map_err(IoError::at("open", p))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(IoError::at("read", p))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An image file's entry; `kind` is the artifact kind (`iso`, `squashfs`, `disk`...).
pub fn image_file(p: &Path, arch: &str, kind: &str) -> Result<ImageFile, ManifestError> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    image_entry(p, name, arch, kind)
}

fn image_entry(
    p: &Path,
    filename: String,
    arch: &str,
    kind: &str,
) -> Result<ImageFile, ManifestError> {
    let size = std::fs::metadata(p).map_err(IoError::at("stat", p))?.len();
    Ok(ImageFile {
        filename,
        size,
        arch: arch.to_string(),
        sha256: sha256_file(p)?,
        kind: kind.to_string(),
        media_type: media_type(kind, p).to_string(),
    })
}

fn media_type(kind: &str, p: &Path) -> &'static str {
    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
    match (kind, ext) {
        ("iso", _) => "application/vnd.efi.iso",
        ("squashfs", _) | (_, "squashfs") => "application/vnd.squashfs",
        (_, "qcow2") => "application/x-qemu-disk",
        ("tar", _) | (_, "tar") => "application/x-tar",
        (_, "xz") => "application/x-xz",
        (_, "gz") => "application/gzip",
        (_, "zst") => "application/zstd",
        (_, "cfg" | "conf" | "ipxe") => "text/plain",
        _ => "application/octet-stream",
    }
}

/// The entries of one artifact: the file itself, or each regular file of an artifact
/// directory (PXE and netroot trees), named `DIR/RELATIVE/PATH` in sorted order.
pub fn image_files(p: &Path, arch: &str, kind: &str) -> Result<Vec<ImageFile>, ManifestError> {
    let meta = std::fs::symlink_metadata(p).map_err(IoError::at("stat", p))?;
    if !meta.is_dir() {
        return Ok(vec![image_file(p, arch, kind)?]);
    }
    let top = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut files = Vec::new();
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(IoError::at("read directory", &d))? {
            let e = e.map_err(IoError::at("read directory", &d))?;
            let t = e.file_type().map_err(IoError::at("stat an entry of", &d))?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                files.push(e.path());
            }
        }
    }
    files.sort();
    use rayon::prelude::*;
    files
        .par_iter()
        .map(|f| {
            let rel = f.strip_prefix(p).unwrap_or(f);
            image_entry(f, format!("{top}/{}", rel.display()), arch, kind)
        })
        .collect()
}

/// A package file's entry; `repo` is the repository id it was resolved from.
pub fn rpm_entry(p: &Path, repo: &str) -> Result<RpmEntry, ManifestError> {
    let rpm_error = |reason: RpmFileError| ManifestError::Rpm {
        path: p.to_owned(),
        reason,
    };
    let bad = |e: rpm::Error| rpm_error(e.into());
    let m = crate::rpmfile::header::rpm_crate_metadata(p).map_err(rpm_error)?;
    // Packages built without the legacy MD5 digest have none (rpm shows `(none)`).
    let sigmd5 = m
        .signature
        .get_entry_data_as_binary(rpm::IndexSignatureTag::RPMSIGTAG_MD5)
        .ok();
    let h = &m;
    Ok(RpmEntry {
        name: h.get_name().map_err(bad)?.to_string(),
        version: h.get_version().map_err(bad)?.to_string(),
        release: h.get_release().map_err(bad)?.to_string(),
        epoch: h.get_epoch().ok(),
        arch: h.get_arch().map_err(bad)?.to_string(),
        buildtime: h.get_build_time().map_err(bad)?,
        size: std::fs::metadata(p).map_err(IoError::at("stat", p))?.len(),
        installed_size: h.get_installed_size().map_err(bad)?,
        payloadhash: sigmd5.map(hex),
        repo: repo.to_string(),
        filename: p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: sha256_file(p)?,
        license: h.get_license().unwrap_or_default().to_string(),
    })
}

/// Move the image `from` of result directory `dir` to `to` (both relative to `dir`; `to`'s
/// directory is created) and rename it in `manifest.json` and the SBOM, so both keep naming the
/// file that is there: for front ends whose tools name their media otherwise than `<label>.iso`
/// (livemedia-creator's `--iso-name`).
pub fn rename_image(dir: &Path, from: &str, to: &str) -> Result<(), ManifestError> {
    let (src, dst) = (dir.join(from), dir.join(to));
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(IoError::at("create", parent))?;
    }
    std::fs::rename(&src, &dst).map_err(IoError::at("rename", &src))?;
    for (name, pointer) in [(MANIFEST, "/images"), (SBOM, "/packages")] {
        let path = dir.join(name);
        let text = std::fs::read(&path).map_err(IoError::at("read", &path))?;
        let bad = |e: serde_json::Error| IoError::new("parse", &path, std::io::Error::other(e));
        let mut doc: serde_json::Value = serde_json::from_slice(&text).map_err(bad)?;
        let key = if name == MANIFEST { "filename" } else { "name" };
        if let Some(entries) = doc.pointer_mut(pointer).and_then(|v| v.as_array_mut()) {
            for e in entries.iter_mut().filter(|e| e[key] == from) {
                e[key] = to.into();
            }
        }
        let out = serde_json::to_string_pretty(&doc).map_err(bad)? + "\n";
        std::fs::write(&path, out).map_err(IoError::at("write", &path))?;
    }
    Ok(())
}

/// RFC 3339 UTC (`2023-11-14T22:13:20Z`) of seconds since the epoch.
pub fn rfc3339(t: i64) -> String {
    kiln_writers::datetime::rfc3339(t)
}

/// An SPDX id from arbitrary text (`[A-Za-z0-9.-]` only).
fn spdx_id(prefix: &str, n: usize, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{prefix}-{n}-{clean}")
}

/// Percent-encoding for purl components (everything but unreserved characters).
fn purl_enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The SPDX 2.3 document: the image as the described package, containing every RPM
/// (identified by a purl and the package file's SHA-256). `created` is seconds since the epoch
/// (`SOURCE_DATE_EPOCH` in a reproducible build).
pub fn spdx(m: &Manifest, created: i64) -> serde_json::Value {
    use serde_json::json;
    let main = m
        .images
        .iter()
        .find(|i| i.kind == "iso")
        .or(m.images.first());
    let image_id = "SPDXRef-Image".to_string();
    let mut packages = vec![json!({
        "SPDXID": image_id,
        "name": main.map(|i| i.filename.clone()).unwrap_or_else(|| m.label.clone()),
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "checksums": main.map(|i| vec![json!({"algorithm": "SHA256", "checksumValue": i.sha256})]).unwrap_or_default(),
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    for (n, r) in m.rpmlist.iter().enumerate() {
        let id = spdx_id("RPM", n, &r.name);
        let evr = match r.epoch {
            Some(e) => format!("{e}:{}-{}", r.version, r.release),
            None => format!("{}-{}", r.version, r.release),
        };
        let mut purl = format!(
            "pkg:rpm/{}@{}?arch={}",
            purl_enc(&r.name),
            purl_enc(&format!("{}-{}", r.version, r.release)),
            purl_enc(&r.arch)
        );
        if let Some(e) = r.epoch {
            purl.push_str(&format!("&epoch={e}"));
        }
        packages.push(json!({
            "SPDXID": id,
            "name": r.name,
            "versionInfo": evr,
            "packageFileName": r.filename,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            // The package's own words; RPM License tags are not always SPDX expressions.
            "licenseDeclared": "NOASSERTION",
            "licenseComments": format!("RPM License tag: {}", r.license),
            "copyrightText": "NOASSERTION",
            "checksums": [{"algorithm": "SHA256", "checksumValue": r.sha256}],
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl,
            }],
        }));
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let ns_key = main.map(|i| i.sha256.clone()).unwrap_or_default();
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": m.label,
        "documentNamespace": format!("https://spdx.org/spdxdocs/kiln-{}-{}", purl_enc(&m.label), ns_key),
        "creationInfo": {
            "created": rfc3339(created),
            "creators": [format!("Tool: kiln-{}", m.kiln_version)],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ids() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(spdx_id("RPM", 3, "libstdc++6"), "SPDXRef-RPM-3-libstdc--6");
        assert_eq!(purl_enc("1.0+b1~x"), "1.0%2Bb1~x");
    }
}
