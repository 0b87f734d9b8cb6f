//! Error paths of the kickstart front end, driven through the real binary: each message, its
//! `file:line`, the caret snippet and the exit code (1 = bad input).

mod common;

use std::process::Output;

use common::{kiln_in, write};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn missing_end() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.ks", "lang en_US.UTF-8\n%post\necho hi\n");
    let o = kiln_in(d.path(), &["ks", "flatten", "a.ks"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with("a.ks:3:1: error: Section %post does not end with %end."),
        "{e}"
    );
    assert!(e.contains("hint: add a line `%end`"), "{e}");
}

#[test]
fn section_interrupted_by_another() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.ks", "%packages\nbash\n%post\necho\n%end\n");
    let o = kiln_in(d.path(), &["ks", "flatten", "a.ks"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("a.ks:3:1: error: Section %packages does not end with %end."),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unknown_section() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.ks", "# c\n%postinstall\necho\n%end\n");
    let o = kiln_in(d.path(), &["ks", "flatten", "a.ks"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with("a.ks:2:1: error: Unknown kickstart section: %postinstall"),
        "{e}"
    );
    assert!(e.contains("2 | %postinstall\n  | ^^^^^^^^^^^^"), "{e}");
}

#[test]
fn unknown_command_with_caret_and_hint() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.ks", "\n\n   tiemzone UTC\n");
    let o = kiln_in(d.path(), &["ks", "flatten", "a.ks"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with("a.ks:3:4: error: Unknown command: tiemzone"),
        "{e}"
    );
    assert!(e.contains("3 |    tiemzone UTC\n  |    ^^^^^^^^"), "{e}");
    assert!(e.contains("hint: did you mean `timezone`?"), "{e}");
}

#[test]
fn bad_option_value() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.ks", "%packages --timeout=soon\nbash\n%end\n");
    let o = kiln_in(d.path(), &["ks", "flatten", "a.ks"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with("a.ks:1:21: error: argument --timeout: invalid int value: 'soon'"),
        "{e}"
    );
}

#[test]
fn include_cycle_names_the_chain() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.ks", "lang en_US\n%include b.ks\n");
    write(d.path(), "b.ks", "# b\n%include a.ks\n");
    let o = kiln_in(d.path(), &["ks", "flatten", "a.ks"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.starts_with("b.ks:2:"), "{e}");
    assert!(
        e.contains("%include cycle: a.ks is already being read"),
        "{e}"
    );
    assert!(e.contains("included from a.ks:2"), "{e}");
}

#[test]
fn missing_include_names_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("sub")).unwrap();
    write(d.path(), "top.ks", "lang en_US\n%include sub/mid.ks\n");
    // mid.ks includes a sibling of itself: found beside the including file.
    write(
        d.path(),
        "sub/mid.ks",
        "%include base.ks\n%include nothere.ks\n",
    );
    write(d.path(), "sub/base.ks", "skipx\n");
    let o = kiln_in(d.path(), &["ks", "flatten", "top.ks"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with("sub/mid.ks:2:10: error: Unable to open input kickstart file"),
        "{e}"
    );
    assert!(e.contains("nothere.ks"), "{e}");
    assert!(e.contains("included from top.ks:2"), "{e}");
}

#[test]
fn unreachable_url_include() {
    // Port 9 (discard) on loopback: nothing listens, so the connection is refused at once.
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "a.ks",
        "lang en_US\n%include http://127.0.0.1:9/x.ks\n",
    );
    let o = kiln_in(d.path(), &["ks", "flatten", "a.ks"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.starts_with("a.ks:2:10: error: Unable to open input kickstart file: Error accessing URL http://127.0.0.1:9/x.ks"), "{e}");
}

#[test]
fn url_include_is_fetched() {
    // A one-shot HTTP server on loopback serving the included file.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        let body = "%packages\nbusybox\n%end\n";
        write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            body
        )
        .unwrap();
    });
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "a.ks",
        &format!("%include http://127.0.0.1:{port}/inc.ks\n"),
    );
    let o = kiln_in(d.path(), &["ks", "flatten", "a.ks"]);
    server.join().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\n%packages\nbusybox\n\n%end\n"));
}

#[test]
fn missing_top_level_file() {
    let d = tempfile::tempdir().unwrap();
    let o = kiln_in(d.path(), &["ks", "lint", "nope.ks"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("No such file or directory: 'nope.ks'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_error_exit_code() {
    let d = tempfile::tempdir().unwrap();
    let o = kiln_in(d.path(), &["ks", "frobnicate"]);
    assert_eq!(o.status.code(), Some(1));
    let o = kiln_in(d.path(), &["ks", "lint", "x.ks", "--ksversion", "F3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown kickstart version `F3`"));
}
