//! Repositories over real HTTP on 127.0.0.1: plain base URL, mirrorlist and metalink (python3's
//! http.server), a repo whose metadata checksum is wrong, and a server that dies mid-download
//! (a tiny in-test server), plus the offline `--cacheonly` path.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("http-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_ks(dir: &Path, repo_line: &str, packages: &str) -> PathBuf {
    let p = dir.join("t.ks");
    std::fs::write(
        &p,
        format!("{repo_line}\n%packages --nocore\n{packages}\n%end\n"),
    )
    .unwrap();
    p
}

fn kiln(args: &[&str], ks: &Path, cache: &Path) -> Output {
    Command::new(common::kiln())
        .args(args)
        .arg("--ks")
        .arg(ks)
        .arg("--cache")
        .arg(cache)
        .args(["--arch", "x86_64"])
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn files_under(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![d.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

const PKGS: &str = "kt-rich\nkt-files\n";

#[test]
fn http_baseurl_download_then_cacheonly_offline() {
    let Some(fx) = common::fixtures() else { return };
    let d = tmp("base");
    let cache = d.join("cache");
    let srv = common::HttpServer::start(&fx);
    let ks = write_ks(
        &d,
        &format!("repo --name=syn --baseurl={}", srv.url("synthetic")),
        "kt-rich\nkt-scripts-sh\n",
    );
    let o = kiln(&["download", "--json"], &ks, &cache);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let n = v.as_array().unwrap().len();
    assert!(n > 3);
    for p in v.as_array().unwrap() {
        let path = Path::new(p["path"].as_str().unwrap());
        assert!(path.starts_with(&cache), "{path:?} not in the cache");
        assert!(path.is_file());
    }
    assert!(!files_under(&cache)
        .iter()
        .any(|p| p.to_string_lossy().contains(".part")));
    drop(srv);
    // Offline: everything comes from the cache.
    let o = kiln(&["download", "--cacheonly"], &ks, &cache);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("{n} packages ready (0 downloaded")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn mirrorlist_skips_dead_mirror_and_metalink_checks_hash() {
    let Some(fx) = common::fixtures() else { return };
    let d = tmp("mirrors");
    let web = d.join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::os::unix::fs::symlink(fx.join("synthetic"), web.join("synthetic")).unwrap();
    let srv = common::HttpServer::start(&web);
    // A dead mirror first: port 9 (discard) on loopback refuses connections.
    std::fs::write(
        web.join("mirrorlist"),
        format!(
            "# mirrors\nhttp://127.0.0.1:9/synthetic\n{}\n",
            srv.url("synthetic")
        ),
    )
    .unwrap();
    let repomd = std::fs::read(fx.join("synthetic/repodata/repomd.xml")).unwrap();
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(&repomd)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let metalink = |hash: &str| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/"><files><file name="repomd.xml">
<verification><hash type="sha256">{hash}</hash></verification><resources>
<url protocol="http" type="http" preference="100">{}</url></resources></file></files></metalink>"#,
            srv.url("synthetic/repodata/repomd.xml")
        )
    };
    std::fs::write(web.join("metalink.good"), metalink(&sha)).unwrap();
    std::fs::write(web.join("metalink.bad"), metalink(&"0".repeat(64))).unwrap();

    let ks = write_ks(
        &d,
        &format!("repo --name=ml --mirrorlist={}", srv.url("mirrorlist")),
        PKGS,
    );
    let o = kiln(&["download"], &ks, &d.join("c1"));
    assert!(o.status.success(), "mirrorlist: {}", stderr(&o));

    let ks = write_ks(
        &d,
        &format!("repo --name=mk --metalink={}", srv.url("metalink.good")),
        PKGS,
    );
    let o = kiln(&["download"], &ks, &d.join("c2"));
    assert!(o.status.success(), "metalink: {}", stderr(&o));

    let ks = write_ks(
        &d,
        &format!("repo --name=mb --metalink={}", srv.url("metalink.bad")),
        PKGS,
    );
    let o = kiln(&["resolve"], &ks, &d.join("c3"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("does not match any hash in the metalink"),
        "{}",
        stderr(&o)
    );

    // A remote mirror list that sends kiln to the host's files or to another scheme: refused,
    // naming the entry, and nothing of /etc reaches the cache.
    std::fs::write(
        web.join("mirrorlist.hostile"),
        "file:///etc\nftp://127.0.0.1/synthetic\n",
    )
    .unwrap();
    let ks = write_ks(
        &d,
        &format!(
            "repo --name=mh --mirrorlist={}",
            srv.url("mirrorlist.hostile")
        ),
        PKGS,
    );
    let o = kiln(&["resolve"], &ks, &d.join("c4"));
    let e = stderr(&o);
    assert!(!o.status.success(), "{e}");
    assert!(
        e.contains("names no usable mirror") && e.contains("file:///etc"),
        "{e}"
    );
    assert!(!files_under(&d.join("c4"))
        .iter()
        .any(|p| p.to_string_lossy().contains("passwd")));
}

#[test]
fn broken_repo_names_the_bad_file() {
    let Some(fx) = common::fixtures() else { return };
    let d = tmp("broken");
    let srv = common::HttpServer::start(&fx);
    let ks = write_ks(
        &d,
        &format!(
            "repo --name=broken --baseurl={}",
            srv.url("synthetic-broken")
        ),
        PKGS,
    );
    let o = kiln(&["resolve"], &ks, &d.join("cache"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("checksum mismatch"), "{e}");
    assert!(
        e.contains("primary.xml"),
        "the message must name the file: {e}"
    );
    assert!(
        e.contains("t.ks:1"),
        "the message must name the repo line: {e}"
    );
    // Nothing unverified was kept.
    assert!(!files_under(&d.join("cache"))
        .iter()
        .any(|p| p.to_string_lossy().contains("primary")));
}

/// Serves `root` over HTTP/1.0 until the first `.rpm` request, which gets half its body before
/// the server goes away for good (as if killed): later connections are refused.
fn dying_server(root: PathBuf) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            let file = root.join(path.trim_start_matches('/'));
            let Ok(body) = std::fs::read(&file) else {
                let _ = s.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                continue;
            };
            let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = s.write_all(head.as_bytes());
            if path.ends_with(".rpm") {
                let _ = s.write_all(&body[..body.len() / 2]);
                let _ = s.flush();
                // Dropping the listener and the stream: the server is gone.
                return;
            }
            let _ = s.write_all(&body);
        }
    });
    port
}

#[test]
fn server_dying_mid_download_retries_then_fails_cleanly() {
    let Some(fx) = common::fixtures() else { return };
    let d = tmp("dying");
    let port = dying_server(fx.clone());
    let ks = write_ks(
        &d,
        &format!("repo --name=dying --baseurl=http://127.0.0.1:{port}/synthetic"),
        "kt-files\n",
    );
    let cache = d.join("cache");
    let o = kiln(&["download", "-v"], &ks, &cache);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("retry"), "a retry must be logged: {e}");
    assert!(e.contains("cannot fetch") && e.contains(".rpm"), "{e}");
    let left: Vec<_> = files_under(&cache.join("packages-v1"));
    assert!(left.is_empty(), "partial files left in the cache: {left:?}");
}
