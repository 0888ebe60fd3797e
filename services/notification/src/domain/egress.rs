//! Where webhooks may connect: public addresses only, unless an operator
//! allows a range for on-premise receivers. Checked on the URL when a
//! webhook is saved and on every resolved address when it is sent (DNS
//! rebinding), so a tenant admin cannot reach the desk's own network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The ranges operators allow besides public addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    allowed: Vec<IpNet>,
}

impl EgressPolicy {
    /// A policy allowing `allowed` (CIDRs, validated when the settings load).
    pub fn new(allowed: &[String]) -> Result<Self, String> {
        let allowed = allowed
            .iter()
            .map(|c| c.parse::<IpNet>().map_err(|e| format!("`{c}`: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { allowed })
    }

    /// Whether a webhook may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allowed.iter().any(|n| n.contains(&canonical(ip)))
    }

    /// Whether `host` (a URL's host: a name, an IPv4 address or a bracketed
    /// IPv6 one) may be saved as a webhook's target: literal addresses are
    /// checked, and names that always mean this machine (`localhost`) count
    /// as loopback. Other names are checked when resolved.
    pub fn permits_host(&self, host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self.permits(ip);
        }
        let name = bare.trim_end_matches('.').to_ascii_lowercase();
        let loopback = name == "localhost" || name.ends_with(".localhost");
        let metadata = name == "metadata.google.internal" || name == "metadata";
        if loopback {
            return self.permits(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        if metadata {
            return self.permits(IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)));
        }
        true
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is anything but a public unicast address: loopback,
/// private, shared (CGNAT), link-local (cloud metadata services live
/// there), multicast, broadcast, unspecified, documentation, benchmarking
/// or reserved, in IPv4 or IPv6, IPv4-mapped and NAT64 forms included.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", unspecified
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space, CGNAT
        || (a == 169 && b == 254) // link-local, metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224 // multicast, reserved, broadcast
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_internal_v4(Ipv4Addr::new(a, b, c, d));
    }
    // Only global unicast (2000::/3) is public; inside it, the special
    // ranges: documentation, Teredo and other IETF assignments, 6to4
    // (which embeds any IPv4 address).
    let global = (s[0] & 0xe000) == 0x2000;
    let special = s[0] == 0x2001 && (s[1] == 0x0db8 || s[1] < 0x0200)
        || s[0] == 0x2002
        || (s[0] == 0x3fff && s[1] < 0x1000); // documentation (RFC 9637)
    !global || special
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn internal_ranges_are_denied_at_their_edges() {
        for internal in [
            "0.0.0.0",
            "0.255.255.255",
            "10.0.0.0",
            "10.255.255.255",
            "100.64.0.0",
            "100.127.255.255",
            "100.100.100.200",
            "127.0.0.1",
            "127.255.255.255",
            "169.254.0.0",
            "169.254.169.254",
            "169.254.255.255",
            "172.16.0.0",
            "172.31.255.255",
            "192.0.0.0",
            "192.0.0.255",
            "192.0.2.1",
            "192.168.0.0",
            "192.168.255.255",
            "198.18.0.0",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.7",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "fc00::1",
            "fd00:ec2::254",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "2002:7f00:1::1",
            "100::1",
            "::127.0.0.1",
        ] {
            assert!(is_internal(ip(internal)), "{internal} is internal");
        }
        for public in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2606:4700::1111",
            "2a00:1450::1",
        ] {
            assert!(!is_internal(ip(public)), "{public} is public");
        }
    }

    #[test]
    fn an_allow_list_opens_its_ranges_only() {
        let none = EgressPolicy::default();
        assert!(!none.permits(ip("127.0.0.1")));
        assert!(none.permits(ip("1.1.1.1")));
        let lan = EgressPolicy::new(&["127.0.0.0/8".into(), "fd12::/16".into()]).unwrap();
        assert!(lan.permits(ip("127.0.0.1")));
        assert!(lan.permits(ip("::ffff:127.0.0.9")), "mapped form too");
        assert!(lan.permits(ip("fd12::5")));
        assert!(!lan.permits(ip("::1")));
        assert!(!lan.permits(ip("169.254.169.254")));
        assert!(EgressPolicy::new(&["nope".into()]).is_err());
    }

    #[test]
    fn hosts_of_urls_are_checked_as_literals_and_obvious_names() {
        let none = EgressPolicy::default();
        for host in [
            "127.0.0.1",
            "[::1]",
            "localhost",
            "LOCALHOST.",
            "api.localhost",
            "169.254.169.254",
            "metadata.google.internal",
            "[::ffff:7f00:1]",
        ] {
            assert!(!none.permits_host(host), "{host}");
        }
        for host in ["crm.example.com", "1.1.1.1", "[2606:4700::1111]"] {
            assert!(none.permits_host(host), "{host}");
        }
        let lo = EgressPolicy::new(&["127.0.0.0/8".into()]).unwrap();
        assert!(lo.permits_host("localhost"));
        assert!(lo.permits_host("127.0.0.1"));
    }
}
