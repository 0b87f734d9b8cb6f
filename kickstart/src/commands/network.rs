//! `network`: network device configuration for the installed system (pykickstart
//! `F39_Network` / `F39_NetworkData`; `F27_Network` for RHEL 8, `RHEL10_Network` for RHEL 10).
//!
//! kiln applies the first `--hostname` ([`Network::hostname`]) and the per-device settings
//! ([`NetworkData`]) to the live image.

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, OptParser, Ty, Val, ValueError};
use crate::KsVersion;

/// One `network` line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NetworkData {
    /// `--bootproto`: `dhcp` (default), `bootp`, `static`, `query` or `ibft`; "" with
    /// `--noipv4`.
    pub bootproto: String,
    /// `--dhcpclass`: DHCP vendor class identifier.
    pub dhcpclass: String,
    /// `--device`: interface name, MAC address, `link` or `bootif` ("" = unspecified).
    pub device: String,
    /// `--essid`: wireless network ID.
    pub essid: String,
    /// `--ethtool`: extra ethtool settings.
    pub ethtool: String,
    /// `--gateway`: IPv4 default gateway.
    pub gateway: String,
    /// `--hostname`: host name of the installed system.
    pub hostname: String,
    /// `--ip`: IPv4 address.
    pub ip: String,
    /// `--mtu`.
    pub mtu: String,
    /// `--nameserver`: comma-separated name servers, as written.
    pub nameserver: String,
    /// `--netmask`: IPv4 netmask.
    pub netmask: String,
    /// `--nodns`: configure no DNS server.
    pub nodns: bool,
    /// `--onboot`: enable the device at boot (default true).
    pub onboot: bool,
    /// `--wepkey`: WEP key.
    pub wepkey: String,
    /// `--notksdevice`.
    pub notksdevice: bool,
    /// `--noipv4`: no IPv4 configuration.
    pub noipv4: bool,
    /// `--noipv6`: no IPv6 configuration.
    pub noipv6: bool,
    /// `--ipv6`: static address[/prefix], `auto` or `dhcp`.
    pub ipv6: String,
    /// `--activate` (true) / `--no-activate` (false) / unspecified.
    pub activate: Option<bool>,
    /// `--nodefroute`: never the default route.
    pub nodefroute: bool,
    /// `--wpakey`: WPA key.
    pub wpakey: String,
    /// `--bondslaves`.
    pub bondslaves: String,
    /// `--bondopts`.
    pub bondopts: String,
    /// `--vlanid`.
    pub vlanid: String,
    /// `--ipv6gateway`.
    pub ipv6gateway: String,
    /// `--teamslaves`: (device, JSON config) pairs.
    pub teamslaves: Vec<(String, String)>,
    /// `--teamconfig`: JSON team configuration.
    pub teamconfig: String,
    /// `--interfacename`: custom VLAN interface name.
    pub interfacename: String,
    /// `--bridgeslaves`.
    pub bridgeslaves: String,
    /// `--bridgeopts`.
    pub bridgeopts: String,
    /// `--bindto`: `mac` or unspecified.
    pub bindto: Option<String>,
    /// `--ipv4-dns-search`.
    pub ipv4_dns_search: Option<String>,
    /// `--ipv6-dns-search`.
    pub ipv6_dns_search: Option<String>,
    /// `--ipv4-ignore-auto-dns`.
    pub ipv4_ignore_auto_dns: bool,
    /// `--ipv6-ignore-auto-dns`.
    pub ipv6_ignore_auto_dns: bool,
}

impl Default for NetworkData {
    fn default() -> Self {
        NetworkData {
            bootproto: "dhcp".to_string(),
            dhcpclass: String::new(),
            device: String::new(),
            essid: String::new(),
            ethtool: String::new(),
            gateway: String::new(),
            hostname: String::new(),
            ip: String::new(),
            mtu: String::new(),
            nameserver: String::new(),
            netmask: String::new(),
            nodns: false,
            onboot: true,
            wepkey: String::new(),
            notksdevice: false,
            noipv4: false,
            noipv6: false,
            ipv6: String::new(),
            activate: None,
            nodefroute: false,
            wpakey: String::new(),
            bondslaves: String::new(),
            bondopts: String::new(),
            vlanid: String::new(),
            ipv6gateway: String::new(),
            teamslaves: Vec::new(),
            teamconfig: String::new(),
            interfacename: String::new(),
            bridgeslaves: String::new(),
            bridgeopts: String::new(),
            bindto: None,
            ipv4_dns_search: None,
            ipv6_dns_search: None,
            ipv4_ignore_auto_dns: false,
            ipv6_ignore_auto_dns: false,
        }
    }
}

impl NetworkData {
    fn args_str(&self) -> String {
        let mut s = String::new();
        let kv = |s: &mut String, k: &str, v: &str| {
            if !v.is_empty() {
                s.push_str(&format!(" --{k}={v}"));
            }
        };
        kv(&mut s, "bootproto", &self.bootproto);
        kv(&mut s, "dhcpclass", &self.dhcpclass);
        kv(&mut s, "device", &self.device);
        if !self.essid.is_empty() {
            s.push_str(&format!(" --essid=\"{}\"", self.essid));
        }
        if !self.ethtool.is_empty() {
            s.push_str(&format!(" --ethtool=\"{}\"", self.ethtool));
        }
        kv(&mut s, "gateway", &self.gateway);
        kv(&mut s, "hostname", &self.hostname);
        kv(&mut s, "ip", &self.ip);
        kv(&mut s, "mtu", &self.mtu);
        kv(&mut s, "nameserver", &self.nameserver);
        kv(&mut s, "netmask", &self.netmask);
        if self.nodns {
            s.push_str(" --nodns");
        }
        if !self.onboot {
            s.push_str(" --onboot=off");
        }
        kv(&mut s, "wepkey", &self.wepkey);
        if self.notksdevice {
            s.push_str(" --notksdevice");
        }
        if self.noipv4 {
            s.push_str(" --noipv4");
        }
        if self.noipv6 {
            s.push_str(" --noipv6");
        }
        kv(&mut s, "ipv6", &self.ipv6);
        if self.activate == Some(true) {
            s.push_str(" --activate");
        }
        if self.nodefroute {
            s.push_str(" --nodefroute");
        }
        kv(&mut s, "wpakey", &self.wpakey);
        kv(&mut s, "bondslaves", &self.bondslaves);
        kv(&mut s, "bondopts", &self.bondopts);
        kv(&mut s, "vlanid", &self.vlanid);
        kv(&mut s, "ipv6gateway", &self.ipv6gateway);
        if !self.teamslaves.is_empty() {
            let cfgs: Vec<String> = self
                .teamslaves
                .iter()
                .map(|(dev, cfg)| {
                    if cfg.is_empty() {
                        dev.clone()
                    } else {
                        format!("{dev}'{cfg}'")
                    }
                })
                .collect();
            s.push_str(&format!(
                " --teamslaves=\"{}\"",
                cfgs.join(",").replace('"', "\\\"")
            ));
        }
        if !self.teamconfig.is_empty() {
            s.push_str(&format!(
                " --teamconfig=\"{}\"",
                self.teamconfig.replace('"', "\\\"")
            ));
        }
        kv(&mut s, "interfacename", &self.interfacename);
        kv(&mut s, "bridgeslaves", &self.bridgeslaves);
        kv(&mut s, "bridgeopts", &self.bridgeopts);
        if self.activate == Some(false) {
            s.push_str(" --no-activate");
        }
        if self.bindto.as_deref() == Some("mac") {
            s.push_str(" --bindto=mac");
        }
        kv(
            &mut s,
            "ipv4-dns-search",
            self.ipv4_dns_search.as_deref().unwrap_or(""),
        );
        kv(
            &mut s,
            "ipv6-dns-search",
            self.ipv6_dns_search.as_deref().unwrap_or(""),
        );
        if self.ipv4_ignore_auto_dns {
            s.push_str(" --ipv4-ignore-auto-dns");
        }
        if self.ipv6_ignore_auto_dns {
            s.push_str(" --ipv6-ignore-auto-dns");
        }
        s
    }

    fn render(&self) -> String {
        format!("network {}\n", self.args_str())
    }
}

/// State of the `network` command: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Network {
    /// The devices, in order.
    pub network: Vec<NetworkData>,
}

impl Network {
    /// The host name for the installed system: the first `--hostname` given.
    pub fn hostname(&self) -> Option<&str> {
        self.network
            .iter()
            .map(|n| n.hostname.as_str())
            .find(|h| !h.is_empty())
    }
}

/// pykickstart's `--teamslaves` parsing: `dev1,dev2'{json}',dev3`.
fn teamslaves(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if value.is_empty() {
        return out;
    }
    let mut parts: Vec<String> = value.split('\'').map(str::to_string).collect();
    if parts.len() % 2 == 1 {
        if parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        } else {
            parts.push(String::new());
        }
    }
    for pair in parts.chunks(2) {
        if pair.len() < 2 {
            break;
        }
        let devs: Vec<&str> = pair[0].trim_matches(',').split(',').collect();
        for d in &devs[..devs.len() - 1] {
            out.push((d.to_string(), String::new()));
        }
        out.push((devs[devs.len() - 1].to_string(), pair[1].clone()));
    }
    out
}

fn teamslaves_ty(s: &str) -> Result<Val, ValueError> {
    // Encoded as alternating device / config strings.
    let mut l = Vec::new();
    for (d, c) in teamslaves(s) {
        l.push(d);
        l.push(c);
    }
    Ok(Val::List(l))
}

fn parser(version: KsVersion) -> OptParser {
    let empty = || Val::Str(String::new());
    let mut op = OptParser::new("network")
        .add(
            Arg::opt(&["--bootproto"])
                .dest("bootProto")
                .default(Val::Str("dhcp".into()))
                .choices(&["dhcp", "bootp", "static", "query", "ibft"]),
        )
        .add(Arg::opt(&["--dhcpclass"]))
        .add(Arg::opt(&["--device"]))
        .add(Arg::opt(&["--essid"]))
        .add(Arg::opt(&["--ethtool"]))
        .add(Arg::opt(&["--gateway"]))
        .add(Arg::opt(&["--hostname"]))
        .add(Arg::opt(&["--ip"]))
        .add(Arg::opt(&["--mtu"]))
        .add(Arg::opt(&["--nameserver"]))
        .add(Arg::opt(&["--netmask"]))
        .add(Arg::flag(&["--nodns"]))
        .add(Arg::opt(&["--onboot"]).ty(Ty::Bool))
        .add(Arg::opt(&["--wepkey"]))
        .add(Arg::flag(&["--notksdevice"]))
        .add(Arg::flag(&["--noipv4"]))
        .add(Arg::flag(&["--noipv6"]))
        .add(Arg::opt(&["--ipv6"]))
        .add(Arg::flag(&["--activate"]).default(Val::None))
        .add(Arg::flag(&["--nodefroute"]))
        .add(Arg::opt(&["--wpakey"]).default(empty()))
        .add(Arg::opt(&["--bondslaves"]).default(empty()))
        .add(Arg::opt(&["--bondopts"]).default(empty()))
        .add(Arg::opt(&["--vlanid"]))
        .add(Arg::opt(&["--ipv6gateway"]).default(empty()));
    let mut ts = Arg::opt(&["--teamslaves"]).ty(Ty::Custom("_teamslaves_cb", teamslaves_ty));
    let mut tc = Arg::opt(&["--teamconfig"]).default(empty());
    if version == KsVersion::Rhel10 {
        ts = ts.deprecated();
        tc = tc.deprecated();
    }
    op.push(ts);
    op.push(tc);
    op.push(Arg::opt(&["--interfacename"]).default(empty()));
    op.push(Arg::opt(&["--bridgeslaves"]).default(empty()));
    op.push(Arg::opt(&["--bridgeopts"]).default(empty()));
    op.push(
        Arg::opt(&["--no-activate"])
            .dest("activate")
            .action(Action::StoreFalse),
    );
    op.push(Arg::opt(&["--bindto"]).choices(&["mac"]));
    if version != KsVersion::Rhel8 {
        op.push(Arg::opt(&["--ipv4-dns-search"]));
        op.push(Arg::opt(&["--ipv6-dns-search"]));
        op.push(Arg::flag(&["--ipv4-ignore-auto-dns"]));
        op.push(Arg::flag(&["--ipv6-ignore-auto-dns"]));
    }
    op
}

impl Command for Network {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let ns = ctx.parse(&parser(ctx.version), args)?;
        let mut nd = NetworkData::default();
        // pykickstart `set_to_obj`: None values leave the data defaults.
        let strs: [(&str, &mut String); 22] = [
            ("bootProto", &mut nd.bootproto),
            ("dhcpclass", &mut nd.dhcpclass),
            ("device", &mut nd.device),
            ("essid", &mut nd.essid),
            ("ethtool", &mut nd.ethtool),
            ("gateway", &mut nd.gateway),
            ("hostname", &mut nd.hostname),
            ("ip", &mut nd.ip),
            ("mtu", &mut nd.mtu),
            ("nameserver", &mut nd.nameserver),
            ("netmask", &mut nd.netmask),
            ("wepkey", &mut nd.wepkey),
            ("ipv6", &mut nd.ipv6),
            ("wpakey", &mut nd.wpakey),
            ("bondslaves", &mut nd.bondslaves),
            ("bondopts", &mut nd.bondopts),
            ("vlanid", &mut nd.vlanid),
            ("ipv6gateway", &mut nd.ipv6gateway),
            ("teamconfig", &mut nd.teamconfig),
            ("interfacename", &mut nd.interfacename),
            ("bridgeslaves", &mut nd.bridgeslaves),
            ("bridgeopts", &mut nd.bridgeopts),
        ];
        for (k, dst) in strs {
            if let Some(v) = ns.str(k) {
                *dst = v;
            }
        }
        nd.nodns = ns.bool("nodns");
        if let Some(b) = ns.opt_bool("onboot") {
            nd.onboot = b;
        }
        nd.notksdevice = ns.bool("notksdevice");
        nd.noipv4 = ns.bool("noipv4");
        nd.noipv6 = ns.bool("noipv6");
        nd.activate = ns.opt_bool("activate");
        nd.nodefroute = ns.bool("nodefroute");
        if !ns.is_none("teamslaves") {
            let l = ns.list("teamslaves");
            nd.teamslaves = l
                .chunks(2)
                .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default()))
                .collect();
        }
        nd.bindto = ns.str("bindto");
        nd.ipv4_dns_search = ns.str("ipv4_dns_search");
        nd.ipv6_dns_search = ns.str("ipv6_dns_search");
        nd.ipv4_ignore_auto_dns = ns.bool("ipv4_ignore_auto_dns");
        nd.ipv6_ignore_auto_dns = ns.bool("ipv6_ignore_auto_dns");

        if self.network.iter().any(|o| o.device == nd.device) {
            ctx.warn(format!(
                "A network device with the name {} has already been defined.",
                nd.device
            ));
        }
        if !nd.bridgeopts.is_empty() {
            if nd.bridgeslaves.is_empty() {
                return Err(KsError::bad(
                    "Option --bridgeopts requires --bridgeslaves to be specified",
                ));
            }
            for opt in nd.bridgeopts.split(',') {
                let value = opt.split_once('=').map(|(_, v)| v).unwrap_or("");
                if value.is_empty() || value.contains('=') {
                    return Err(KsError::bad(
                        "Bad format of --bridgeopts, expecting key=value options separated by ','",
                    ));
                }
            }
        }
        if nd.noipv4 {
            nd.bootproto = String::new();
        }
        if nd.bindto.as_deref() == Some("mac") && !nd.vlanid.is_empty() && nd.bondopts.is_empty() {
            return Err(KsError::bad(
                "--bindto=mac is not supported for this type of device",
            ));
        }
        if nd.device.is_empty() {
            let checks = [
                (
                    nd.ipv4_dns_search.as_deref().is_some_and(|s| !s.is_empty()),
                    "--ipv4-dns-search",
                ),
                (
                    nd.ipv6_dns_search.as_deref().is_some_and(|s| !s.is_empty()),
                    "--ipv6-dns-search",
                ),
                (nd.ipv4_ignore_auto_dns, "--ipv4-ignore-auto-dns"),
                (nd.ipv6_ignore_auto_dns, "--ipv6-ignore-auto-dns"),
            ];
            if let Some((_, opt)) = checks.iter().find(|(set, _)| *set) {
                return Err(KsError::bad(format!(
                    "Option {opt} requires --device to be specified"
                )));
            }
        }
        self.network.push(nd);
        Ok(Parsed::Item(self.network.len() - 1))
    }
    fn render(&self) -> String {
        let body: String = self.network.iter().map(NetworkData::render).collect();
        if body.is_empty() {
            body
        } else {
            format!("# Network information\n{body}")
        }
    }
    fn render_item(&self, idx: usize) -> String {
        self.network[idx].render()
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(Network::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::WarningKind;
    use crate::Origin;

    fn line(n: &mut Network, args: &[&str]) -> Vec<(WarningKind, String)> {
        let origin = Origin::new("<t>", 1);
        let mut ctx = ParseCtx {
            cmd: "network",
            line: "",
            origin: &origin,
            version: KsVersion::Devel,
            warnings: Vec::new(),
        };
        let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        n.parse(&mut ctx, &a).unwrap();
        ctx.warnings
    }

    #[test]
    fn hostname_duplicates_and_teamslaves() {
        let mut n = Network::default();
        assert!(line(&mut n, &["--device=eth0"]).is_empty());
        assert!(line(&mut n, &["--device=eth1", "--hostname=h.example"]).is_empty());
        assert_eq!(n.hostname(), Some("h.example"));
        assert_eq!(line(&mut n, &["--device=eth0"]).len(), 1);
        line(
            &mut n,
            &["--device=team0", "--teamslaves=a,b'{\"p\": 1}',c"],
        );
        assert_eq!(
            n.network[3].teamslaves,
            vec![
                ("a".to_string(), String::new()),
                ("b".to_string(), "{\"p\": 1}".to_string()),
                ("c".to_string(), String::new())
            ]
        );
        assert!(n
            .render()
            .starts_with("# Network information\nnetwork  --bootproto=dhcp"));
    }
}
