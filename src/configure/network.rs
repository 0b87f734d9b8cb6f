//! `network`: the host name (/etc/hostname) and per-device settings, written as NetworkManager
//! keyfiles when the root has NetworkManager, else as systemd-networkd `.network` files when it
//! has systemd-networkd.

use std::net::Ipv4Addr;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fsutil::{self, NewFile};
use crate::kickstart::commands::network::NetworkData;

/// Which network configuration the root got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkBackend {
    /// /etc/NetworkManager/system-connections/*.nmconnection.
    NetworkManager,
    /// /etc/systemd/network/*.network.
    SystemdNetworkd,
}

/// The backend the root supports, NetworkManager first.
pub fn detect(root: &Path) -> Option<NetworkBackend> {
    let has = |p: &str| fsutil::in_root(root, p, true).exists();
    if has("/usr/sbin/NetworkManager") || has("/usr/bin/NetworkManager") {
        Some(NetworkBackend::NetworkManager)
    } else if has("/usr/lib/systemd/systemd-networkd") || has("/lib/systemd/systemd-networkd") {
        Some(NetworkBackend::SystemdNetworkd)
    } else {
        None
    }
}

/// A `network` line that cannot be written as a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// `--netmask` is neither a prefix length nor a dotted mask.
    #[error("bad netmask `{0}`")]
    BadNetmask(String),
    /// `--netmask` has holes (`255.0.255.0`).
    #[error("netmask `{0}` is not contiguous")]
    NotContiguous(String),
    /// `--bootproto=static` without an address.
    #[error("`--bootproto=static` needs `--ip`")]
    StaticWithoutIp,
}

/// Prefix length of a netmask given as `255.255.255.0` or `24`.
pub fn prefix_len(mask: &str) -> Result<u8, NetworkError> {
    if let Ok(n) = mask.parse::<u8>() {
        if n <= 32 {
            return Ok(n);
        }
    }
    let m: Ipv4Addr = mask
        .parse()
        .map_err(|_| NetworkError::BadNetmask(mask.to_string()))?;
    let bits = u32::from(m);
    let len = bits.leading_ones();
    if bits.checked_shl(len).unwrap_or(0) != 0 {
        return Err(NetworkError::NotContiguous(mask.to_string()));
    }
    Ok(len as u8)
}

/// How a `--device` value matches an interface.
enum DeviceMatch {
    Name(String),
    Mac(String),
    Any,
}

fn device_match(dev: &str) -> DeviceMatch {
    let is_mac = dev.len() == 17
        && dev
            .split(':')
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if is_mac {
        DeviceMatch::Mac(dev.to_ascii_lowercase())
    } else if dev.is_empty() || dev == "link" || dev == "bootif" {
        // The interface name is only known on the booted machine: match any Ethernet.
        DeviceMatch::Any
    } else {
        DeviceMatch::Name(dev.to_string())
    }
}

/// A stable UUID for a connection (a random one would make builds differ).
fn connection_uuid(id: &str) -> String {
    let d = Sha256::digest(format!("kiln-connection\0{id}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// What of a `network` line kiln cannot express; `Some(reason)` makes it a warning.
pub fn unsupported(n: &NetworkData) -> Option<&'static str> {
    if !n.bondslaves.is_empty() {
        Some("bonds")
    } else if !n.vlanid.is_empty() {
        Some("VLANs")
    } else if !n.bridgeslaves.is_empty() {
        Some("bridges")
    } else if !n.teamslaves.is_empty() {
        Some("teams")
    } else if !n.essid.is_empty() {
        Some("wireless networks")
    } else if n.bootproto == "ibft" || n.bootproto == "query" {
        Some("this --bootproto")
    } else {
        None
    }
}

fn static_v4(n: &NetworkData) -> Result<Option<String>, NetworkError> {
    if n.noipv4 || n.bootproto != "static" {
        return Ok(None);
    }
    if n.ip.is_empty() {
        return Err(NetworkError::StaticWithoutIp);
    }
    if n.ip.contains('/') {
        return Ok(Some(n.ip.clone()));
    }
    let prefix = if n.netmask.is_empty() {
        24
    } else {
        prefix_len(&n.netmask)?
    };
    Ok(Some(format!("{}/{prefix}", n.ip)))
}

fn dns_list(n: &NetworkData) -> Vec<String> {
    if n.nodns {
        return Vec::new();
    }
    n.nameserver
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// One file to write: root-absolute path and contents.
pub struct NetFile {
    /// Root-absolute path.
    pub path: String,
    /// Contents.
    pub text: String,
}

/// The NetworkManager keyfile of one `network` line.
pub fn nm_keyfile(n: &NetworkData, index: usize) -> Result<NetFile, NetworkError> {
    let m = device_match(&n.device);
    let id = match &m {
        DeviceMatch::Name(d) => d.clone(),
        DeviceMatch::Mac(mac) => format!("kickstart-{}", mac.replace(':', "")),
        DeviceMatch::Any => format!("kickstart-{}", index + 1),
    };
    let mut s = format!(
        "[connection]\nid={id}\nuuid={}\ntype=ethernet\n",
        connection_uuid(&id)
    );
    if !n.onboot {
        s.push_str("autoconnect=false\n");
    }
    if let DeviceMatch::Name(d) = &m {
        s.push_str(&format!("interface-name={d}\n"));
    }
    s.push_str("\n[ethernet]\n");
    if let DeviceMatch::Mac(mac) = &m {
        s.push_str(&format!("mac-address={}\n", mac.to_ascii_uppercase()));
    }
    if !n.mtu.is_empty() {
        s.push_str(&format!("mtu={}\n", n.mtu));
    }
    s.push_str("\n[ipv4]\n");
    let addr = static_v4(n)?;
    if let Some(a) = &addr {
        s.push_str(&format!("address1={a}\n"));
    }
    let dns = dns_list(n);
    let (v4dns, v6dns): (Vec<_>, Vec<_>) = dns.iter().partition(|d| !d.contains(':'));
    if !v4dns.is_empty() {
        let l: Vec<&str> = v4dns.iter().map(|s| s.as_str()).collect();
        s.push_str(&format!("dns={};\n", l.join(";")));
    }
    if let Some(search) = n.ipv4_dns_search.as_deref().filter(|x| !x.is_empty()) {
        s.push_str(&format!("dns-search={};\n", search.replace(',', ";")));
    }
    if !n.gateway.is_empty() && addr.is_some() {
        s.push_str(&format!("gateway={}\n", n.gateway));
    }
    if n.ipv4_ignore_auto_dns || (n.nodns && addr.is_none()) {
        s.push_str("ignore-auto-dns=true\n");
    }
    let method4 = if n.noipv4 {
        "disabled"
    } else if addr.is_some() {
        "manual"
    } else {
        "auto"
    };
    s.push_str(&format!("method={method4}\n"));
    if n.nodefroute {
        s.push_str("never-default=true\n");
    }
    s.push_str("\n[ipv6]\naddr-gen-mode=default\n");
    let v6 = n.ipv6.as_str();
    let v6static = !n.noipv6 && !v6.is_empty() && v6 != "auto" && v6 != "dhcp";
    if v6static {
        let a = if v6.contains('/') {
            v6.to_string()
        } else {
            format!("{v6}/64")
        };
        s.push_str(&format!("address1={a}\n"));
    }
    if !v6dns.is_empty() {
        let l: Vec<&str> = v6dns.iter().map(|s| s.as_str()).collect();
        s.push_str(&format!("dns={};\n", l.join(";")));
    }
    if !n.ipv6gateway.is_empty() && v6static {
        s.push_str(&format!("gateway={}\n", n.ipv6gateway));
    }
    if n.ipv6_ignore_auto_dns {
        s.push_str("ignore-auto-dns=true\n");
    }
    let method6 = if n.noipv6 {
        "disabled"
    } else if v6static {
        "manual"
    } else if v6 == "dhcp" {
        "dhcp"
    } else {
        "auto"
    };
    s.push_str(&format!("method={method6}\n\n[proxy]\n"));
    Ok(NetFile {
        path: format!("/etc/NetworkManager/system-connections/{id}.nmconnection"),
        text: s,
    })
}

/// The systemd-networkd `.network` file of one `network` line.
pub fn networkd_file(n: &NetworkData, index: usize) -> Result<NetFile, NetworkError> {
    let m = device_match(&n.device);
    let (name, matcher) = match &m {
        DeviceMatch::Name(d) => (d.clone(), format!("Name={d}")),
        DeviceMatch::Mac(mac) => (
            format!("mac-{}", mac.replace(':', "")),
            format!("MACAddress={mac}"),
        ),
        DeviceMatch::Any => (format!("{}", index + 1), "Type=ether".to_string()),
    };
    let mut s = format!("[Match]\n{matcher}\n");
    if !n.mtu.is_empty() || !n.onboot {
        s.push_str("\n[Link]\n");
        if !n.mtu.is_empty() {
            s.push_str(&format!("MTUBytes={}\n", n.mtu));
        }
        if !n.onboot {
            s.push_str("ActivationPolicy=manual\n");
        }
    }
    let addr = static_v4(n)?;
    let v6 = n.ipv6.as_str();
    let v6static = !n.noipv6 && !v6.is_empty() && v6 != "auto" && v6 != "dhcp";
    let dhcp4 = !n.noipv4 && addr.is_none();
    let dhcp6 = !n.noipv6 && v6 == "dhcp";
    let dhcp = match (dhcp4, dhcp6) {
        (true, true) => "yes",
        (true, false) => "ipv4",
        (false, true) => "ipv6",
        (false, false) => "no",
    };
    s.push_str(&format!("\n[Network]\nDHCP={dhcp}\n"));
    if let Some(a) = &addr {
        s.push_str(&format!("Address={a}\n"));
        if !n.gateway.is_empty() {
            s.push_str(&format!("Gateway={}\n", n.gateway));
        }
    }
    if v6static {
        let a = if v6.contains('/') {
            v6.to_string()
        } else {
            format!("{v6}/64")
        };
        s.push_str(&format!("Address={a}\n"));
        if !n.ipv6gateway.is_empty() {
            s.push_str(&format!("Gateway={}\n", n.ipv6gateway));
        }
    }
    if n.noipv6 {
        s.push_str("LinkLocalAddressing=no\nIPv6AcceptRA=no\n");
    }
    for d in dns_list(n) {
        s.push_str(&format!("DNS={d}\n"));
    }
    if n.nodefroute || n.ipv4_ignore_auto_dns || n.nodns {
        s.push_str("\n[DHCPv4]\n");
        if n.nodefroute {
            s.push_str("UseRoutes=no\n");
        }
        if n.ipv4_ignore_auto_dns || n.nodns {
            s.push_str("UseDNS=no\n");
        }
    }
    Ok(NetFile {
        path: format!("/etc/systemd/network/20-kickstart-{name}.network"),
        text: s,
    })
}

/// Write a network file (NetworkManager refuses keyfiles readable by others: 0600).
pub fn write(root: &Path, f: &NetFile) -> std::io::Result<std::path::PathBuf> {
    let host = fsutil::in_root(root, &f.path, false);
    let mode = if f.path.ends_with(".nmconnection") {
        0o600
    } else {
        0o644
    };
    fsutil::write_atomic(&host, f.text.as_bytes(), NewFile::root(mode))?;
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(line: &str) -> NetworkData {
        let ks = crate::kickstart::parse_str(line, "t.ks", &Default::default()).unwrap();
        ks.command::<crate::kickstart::commands::network::Network>()
            .unwrap()
            .network[0]
            .clone()
    }

    #[test]
    fn netmasks() {
        assert_eq!(prefix_len("255.255.255.0"), Ok(24));
        assert_eq!(prefix_len("255.255.0.0"), Ok(16));
        assert_eq!(prefix_len("16"), Ok(16));
        assert!(prefix_len("255.0.255.0").is_err());
    }

    #[test]
    fn static_keyfile() {
        let n = data("network --device=eth0 --bootproto=static --ip=10.0.0.5 --netmask=255.255.255.0 --gateway=10.0.0.1 --nameserver=10.0.0.2,10.0.0.3 --noipv6\n");
        let f = nm_keyfile(&n, 0).unwrap();
        assert_eq!(
            f.path,
            "/etc/NetworkManager/system-connections/eth0.nmconnection"
        );
        assert!(f.text.contains("interface-name=eth0\n"));
        assert!(f.text.contains("address1=10.0.0.5/24\n"));
        assert!(f.text.contains("gateway=10.0.0.1\n"));
        assert!(f.text.contains("dns=10.0.0.2;10.0.0.3;\n"));
        assert!(f
            .text
            .contains("[ipv6]\naddr-gen-mode=default\nmethod=disabled\n"));
        let f = networkd_file(&n, 0).unwrap();
        assert!(f.text.starts_with("[Match]\nName=eth0\n"));
        assert!(f
            .text
            .contains("DHCP=no\nAddress=10.0.0.5/24\nGateway=10.0.0.1\n"));
    }

    #[test]
    fn dhcp_any_device() {
        let n = data("network --bootproto=dhcp --device=link\n");
        let f = nm_keyfile(&n, 0).unwrap();
        assert!(!f.text.contains("interface-name"));
        assert!(f.text.contains("[ipv4]\nmethod=auto\n"));
        let f = networkd_file(&n, 0).unwrap();
        assert!(f.text.contains("Type=ether") && f.text.contains("DHCP=ipv4"));
    }
}
