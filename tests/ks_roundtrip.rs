//! Property: parse -> render -> parse gives the same model (origins aside), and rendering is a
//! fixed point. Kickstarts are generated from real command lines, package lines, scripts,
//! comments and blank lines in random order.

use kiln::kickstart::{parse_str, Kickstart, ParseOptions};
use proptest::prelude::*;

const COMMANDS: &[&str] = &[
    "lang en_US.UTF-8",
    "lang de_DE.UTF-8 --addsupport=fr_FR,cs_CZ",
    "keyboard us",
    "keyboard --vckeymap=de --xlayouts='de (nodeadkeys)',us",
    "timezone US/Eastern",
    "timezone Europe/Prague --utc --ntpservers=ntp1,ntp2",
    "rootpw --lock",
    "rootpw --iscrypted $6$abc$def",
    "user --name=liveuser --groups=wheel --password=secret --plaintext",
    "user --name=op --uid=1001 --gecos=\"The Operator\"",
    "group --name=admins --gid=2000",
    "sshkey --username=root \"ssh-ed25519 AAAA test@kiln\"",
    "selinux --enforcing",
    "selinux --permissive",
    "firewall --enabled --service=mdns,ssh",
    "firewall --disabled",
    "services --enabled=NetworkManager,sshd --disabled=abrtd",
    "network --bootproto=dhcp --device=link --activate",
    "network --hostname=kiln-live",
    "bootloader --location=none --append=\"rhgb quiet\"",
    "bootloader --timeout=1 --append=console=ttyS0",
    "part / --size=5120 --fstype=ext4",
    "part / --size 8192",
    "zerombr",
    "clearpart --all --initlabel",
    "xconfig --startxonboot",
    "skipx",
    "firstboot --disabled",
    "shutdown",
    "poweroff",
    "reboot --eject",
    "eula --agreed",
    "logging --level=info",
    "authselect select sssd",
    "url --url=https://example.org/os/$basearch/",
    "url --mirrorlist=https://mirrors.example.org/mirrorlist?repo=f$releasever&arch=$basearch",
    "repo --name=updates --baseurl=https://example.org/updates/$releasever/$basearch/ --cost=10",
    "repo --name=extra --mirrorlist=https://m.example.org/?r=extra --excludepkgs=foo*,bar --install",
    "text",
    "cmdline",
];

const PACKAGE_LINES: &[&str] = &[
    "@core",
    "@base-x --optional",
    "@^workstation-product-environment",
    "@standard --nodefaults",
    "kernel",
    "dracut-live",
    "bash",
    "glibc-all-langpacks",
    "vim-*",
    "python3.x86_64",
    "-@dial-up",
    "-gnome-tour",
    "-kernel-debug*",
    "@nodejs:18",
];

fn script() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "%pre",
            "%post",
            "%post --nochroot",
            "%post --erroronfail --log=/root/p.log",
            "%onerror",
            "%pre-install",
            "%post --interpreter=/usr/bin/python3",
        ]),
        prop::collection::vec(
            prop::sample::select(vec![
                "echo hi",
                "",
                "# comment in script",
                "cat > /etc/x <<EOF",
                "  %{?dist} stays",
                "EOF",
                "exit 0",
            ]),
            1..5,
        ),
    )
        .prop_map(|(h, body)| format!("{h}\n{}\n%end\n", body.join("\n")))
}

fn packages() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "%packages",
            "%packages --excludedocs",
            "%packages --nocore --ignoremissing",
            "%packages --inst-langs=en --exclude-weakdeps",
            "%packages --retries=3 --timeout=20 --multilib",
        ]),
        prop::collection::vec(prop::sample::select(PACKAGE_LINES.to_vec()), 0..8),
    )
        .prop_map(|(h, lines)| format!("{h}\n{}\n%end\n", lines.join("\n")))
}

fn kickstart() -> impl Strategy<Value = String> {
    let item = prop_oneof![
        6 => prop::sample::select(COMMANDS.to_vec()).prop_map(|s| format!("{s}\n")),
        1 => Just("\n".to_string()),
        1 => Just("# a comment\n".to_string()),
        1 => script(),
        1 => packages(),
        1 => Just("%addon com_redhat_kdump --disable\n%end\n".to_string()),
    ];
    prop::collection::vec(item, 0..25).prop_map(|v| v.concat())
}

fn parse(text: &str) -> Result<Kickstart, String> {
    parse_str(text, "gen.ks", &ParseOptions::default()).map_err(|e| e.to_string())
}

/// The model without positions: what must survive a round trip.
fn strip(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for k in [
                "origin",
                "origins",
                "lines",
                "item_origins",
                "header_origins",
                "environment_origin",
                "files",
                "warnings",
            ] {
                m.remove(k);
            }
            for x in m.values_mut() {
                strip(x);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Commands that the rendering of an empty kickstart sets, with their re-read state.
fn implied_commands() -> serde_json::Map<String, serde_json::Value> {
    let empty = parse("").unwrap();
    let mut j = parse(&empty.render()).unwrap().to_json();
    strip(&mut j);
    j["commands"].as_object().cloned().unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn parse_render_parse_is_stable(text in kickstart()) {
        // Some combinations are invalid kickstarts (e.g. two `part /`): those must fail cleanly.
        let Ok(k1) = parse(&text) else { return Ok(()) };
        let r1 = k1.render();
        let k2 = parse(&r1).map_err(|e| TestCaseError::fail(format!("rendered kickstart does not parse: {e}\n{r1}")))?;
        let r2 = k2.render();
        prop_assert_eq!(&r1, &r2);
        let (mut j1, mut j2) = (k1.to_json(), k2.to_json());
        strip(&mut j1);
        strip(&mut j2);
        // pykickstart writes some commands even when unused (`bootloader --location=none`), so
        // the re-read model has them: they must be exactly what rendering an empty kickstart
        // introduces.
        let implied = implied_commands();
        if let (Some(c1), Some(c2)) = (j1["commands"].as_object(), j2["commands"].as_object_mut()) {
            for name in c2.keys().filter(|k| !c1.contains_key(*k)).cloned().collect::<Vec<_>>() {
                prop_assert_eq!(c2.get(&name), implied.get(&name), "{} appeared across render:\n{}", name, r1);
                c2.remove(&name);
            }
        }
        prop_assert_eq!(j1, j2, "model changed across render:\n{}", r1);
    }
}
