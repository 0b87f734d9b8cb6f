//! The kickstart subcommands end to end: `show --json`, `%ksappend`, `%include` inside a
//! section, kiln's own lint notes, logging flags.

mod common;

use common::{kiln_in, write};

#[test]
fn show_json_has_typed_commands_with_origins() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "inc.ks",
        "repo --name=extra --baseurl=file:///srv/extra/$basearch/ --cost=5\n",
    );
    write(
        d.path(),
        "a.ks",
        "lang de_DE.UTF-8\n%include inc.ks\npart / --size=3072 --fstype=ext4\n%packages --nocore\nkernel\n-foo\n@core\n%end\n",
    );
    let o = kiln_in(d.path(), &["ks", "show", "--json", "a.ks"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lang = &v["commands"]["lang"];
    assert_eq!(lang["lines"][0]["file"], "a.ks");
    assert_eq!(lang["lines"][0]["line"], 1);
    assert_eq!(lang["live"], "applied");
    let repo = &v["commands"]["repo"];
    assert_eq!(repo["lines"][0]["file"], "inc.ks");
    assert!(
        repo["state"]
            .to_string()
            .contains("file:///srv/extra/$basearch/"),
        "{repo}"
    );
    assert_eq!(v["packages"]["nocore"], true);
    assert_eq!(v["packages"]["packages"], serde_json::json!(["kernel"]));
    assert_eq!(v["packages"]["excluded"], serde_json::json!(["foo"]));
    assert_eq!(v["packages"]["origins"]["kernel"]["line"], 5);
    assert_eq!(v["packages"]["groups"][0]["name"], "core");
}

#[test]
fn ksappend_is_inlined() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "extra.ks", "%post\necho appended\n%end\n");
    let extra = d.path().join("extra.ks");
    write(
        d.path(),
        "a.ks",
        &format!("lang en_US\n%ksappend {}\n", extra.display()),
    );
    let o = kiln_in(d.path(), &["ks", "flatten", "a.ks"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\n%post\necho appended\n%end\n"));
}

#[test]
fn include_inside_a_section_continues_it() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "pkgs.ks", "vim-enhanced\n# comment\ntmux\n");
    write(
        d.path(),
        "a.ks",
        "%packages\nbash\n%include pkgs.ks\nzsh\n%end\n",
    );
    let o = kiln_in(d.path(), &["ks", "flatten", "a.ks"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("\n%packages\nbash\ntmux\nvim-enhanced\nzsh\n\n%end\n"));
}

#[test]
fn lint_notes_for_live_media() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "a.ks",
        "ignoredisk --only-use=sda\n%packages\nbash\n@nodejs:18\n%end\n%post --nochroot\ncp /etc/resolv.conf $INSTALL_ROOT/etc/\necho x > /etc/motd\n%end\n",
    );
    let o = kiln_in(d.path(), &["ks", "lint", "a.ks"]);
    // Notes are advice: pykickstart accepts the file, so lint passes.
    assert_eq!(o.status.code(), Some(0));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("a.ks:1:1: note: `ignoredisk` has no effect on live media"),
        "{e}"
    );
    assert!(
        e.contains("a.ks:2:1: note: %packages names no kernel"),
        "{e}"
    );
    assert!(e.contains("no `dracut-live`"), "{e}");
    assert!(
        e.contains("a.ks:4:1: note: module stream `@nodejs:18` is not supported"),
        "{e}"
    );
    assert!(
        e.contains("a.ks:8:1: note: %post --nochroot writes to `echo x > /etc/motd`"),
        "{e}"
    );
    assert!(
        !e.contains("resolv.conf"),
        "copy into $INSTALL_ROOT is fine: {e}"
    );
}

#[test]
fn lint_fails_on_pykickstart_warnings() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "a.ks",
        "part / --size=100\npart / --size=200\n%packages --instLangs=en\n%end\n",
    );
    let o = kiln_in(d.path(), &["ks", "lint", "--no-live", "a.ks"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(
            "a.ks:2:1: warning: A partition with the mountpoint / has already been defined."
        ),
        "{e}"
    );
    assert!(
        e.contains(
            "a.ks:3:1: warning: Ignoring deprecated option on line 3: The --instLangs option"
        ),
        "{e}"
    );
}

#[test]
fn log_file_and_verbosity() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a.ks", "lang en_US\n");
    let log = d.path().join("kiln.log");
    let o = kiln_in(
        d.path(),
        &[
            "-vv",
            "--color",
            "never",
            "--log-file",
            log.to_str().unwrap(),
            "ks",
            "show",
            "--json",
            "a.ks",
        ],
    );
    assert!(o.status.success());
    assert!(log.exists());
}
