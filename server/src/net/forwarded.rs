//! Who a request comes from, and the unit the front door counts by.
//!
//! A connection's TCP peer is the client, unless the peer is a listed proxy
//! (`--trusted-proxy`). Then the client is the rightmost address in the
//! proxies' forwarding header that is not itself a listed proxy: each proxy
//! appends the address it took the connection from, so the hops to the
//! right of the first untrusted one were written by proxies we trust, and
//! anything to its left is whatever the client chose to send. Only the
//! header the proxies write counts ([`ProxyHeader`]): a client could send
//! the other one, and a proxy passes a header it does not write unchanged.
//!
//! Bounds and limits count by [`AddrKey`]: an IPv4 address, or an IPv6
//! /64 (one subscriber's network, which hands its hosts any address in it).
//! Used by the HTTP services (`side`) and the WebSocket gate alike.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use tungstenite::http::HeaderMap;

/// Which header the trusted proxies write the client's address into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx's `$proxy_add_x_forwarded_for`).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl std::str::FromStr for ProxyHeader {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            other => Err(format!("unknown proxy header '{other}' (expected x-forwarded-for or forwarded)")),
        }
    }
}

/// A proxy's address, or a network of them (`10.0.0.0/8`, `fd00::/8`): in
/// a cluster, the ingress controller's pods take any address of the pod
/// network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet {
    /// The network's first address (an address alone: itself).
    base: IpAddr,
    /// How many leading bits an address shares with `base` to be in it.
    prefix: u8,
}

impl ProxyNet {
    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (canonical(ip), self.base) {
            (IpAddr::V4(ip), IpAddr::V4(base)) => {
                mask(u128::from(u32::from(ip)), 32, self.prefix) == u128::from(u32::from(base))
            }
            (IpAddr::V6(ip), IpAddr::V6(base)) => mask(u128::from(ip), 128, self.prefix) == u128::from(base),
            _ => false,
        }
    }
}

/// `value` (of `bits` bits) with all but its first `prefix` bits cleared.
fn mask(value: u128, bits: u8, prefix: u8) -> u128 {
    if prefix == 0 { 0 } else { value & (u128::MAX << (bits - prefix)) & (u128::MAX >> (128 - u32::from(bits))) }
}

impl From<IpAddr> for ProxyNet {
    fn from(ip: IpAddr) -> Self {
        let ip = canonical(ip);
        Self { base: ip, prefix: if ip.is_ipv4() { 32 } else { 128 } }
    }
}

impl std::str::FromStr for ProxyNet {
    type Err = String;

    /// `1.2.3.4`, `10.0.0.0/8`, `2001:db8::1` or `fd00::/8`. A network whose
    /// address has bits past its prefix (`10.0.0.1/8`) is refused: it is
    /// most likely a typing slip.
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let ip: IpAddr =
            addr.trim().parse().map_err(|_| format!("'{s}' is not an IP address or network (a.b.c.d or a.b.c.d/n)"))?;
        let net = Self::from(ip);
        let Some(prefix) = prefix else { return Ok(net) };
        let bits = if net.base.is_ipv4() { 32 } else { 128 };
        let prefix = prefix
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= bits)
            .ok_or_else(|| format!("'{s}': the prefix length must be 0 to {bits}"))?;
        let net = Self { prefix, ..net };
        let base = match net.base {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        if mask(base, bits, prefix) != base {
            return Err(format!("'{s}' has bits set past its /{prefix}: write the network's first address"));
        }
        Ok(net)
    }
}

impl std::fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let whole = if self.base.is_ipv4() { 32 } else { 128 };
        if self.prefix == whole { write!(f, "{}", self.base) } else { write!(f, "{}/{}", self.base, self.prefix) }
    }
}

/// The proxies whose forwarding header names the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// Their addresses or networks.
    pub addrs: Vec<ProxyNet>,
    /// The header they write.
    pub header: ProxyHeader,
}

impl TrustedProxies {
    /// Whether `ip` is one of them.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.addrs.iter().any(|net| net.contains(ip))
    }

    /// The client of a request `peer` sent with `headers` (see the module
    /// doc). A forwarded address has port 0: the proxies do not say.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.contains(peer.ip()) {
            return peer;
        }
        let hops = self.hops(headers);
        let client = hops.iter().rev().find(|hop| !self.contains(hop.ip())).or(hops.first());
        client.copied().unwrap_or(peer)
    }

    /// The addresses the header lists, leftmost first (unreadable entries,
    /// such as `unknown` or an obfuscated name, are left out).
    fn hops(&self, headers: &HeaderMap) -> Vec<SocketAddr> {
        let values = headers.get_all(match self.header {
            ProxyHeader::XForwardedFor => "x-forwarded-for",
            ProxyHeader::Forwarded => "forwarded",
        });
        let mut hops = Vec::new();
        for value in values.iter().filter_map(|v| v.to_str().ok()) {
            for element in value.split(',') {
                let node = match self.header {
                    ProxyHeader::XForwardedFor => Some(element),
                    ProxyHeader::Forwarded => element.split(';').find_map(|pair| {
                        let (key, value) = pair.split_once('=')?;
                        key.trim().eq_ignore_ascii_case("for").then_some(value)
                    }),
                };
                if let Some(addr) = node.and_then(node_addr) {
                    hops.push(addr);
                }
            }
        }
        hops
    }
}

/// Reads one node: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`
/// or `[2001:db8::1]:80`, optionally in double quotes.
fn node_addr(node: &str) -> Option<SocketAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(SocketAddr::new(canonical(addr.ip()), addr.port()));
    }
    let bare = node.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(node);
    bare.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(canonical(ip), 0))
}

/// An IPv4 address written as IPv6 (`::ffff:1.2.3.4`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// What bounds and limits count by: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrKey(IpAddr);

impl AddrKey {
    /// The key of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match canonical(ip) {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Self(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
            v4 => Self(v4),
        }
    }

    /// The address (for IPv6, the first of its /64).
    pub fn ip(self) -> IpAddr {
        self.0
    }
}

impl std::fmt::Display for AddrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name, v.parse().unwrap());
        }
        map
    }

    fn proxies(header: ProxyHeader) -> TrustedProxies {
        TrustedProxies { addrs: vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()], header }
    }

    const PROXY: &str = "10.0.0.1:40000";

    fn client(p: &TrustedProxies, peer: &str, h: &HeaderMap) -> String {
        p.client(peer.parse().unwrap(), h).to_string()
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let p = proxies(ProxyHeader::XForwardedFor);
        // The client sent a made-up hop; the proxies appended the real one and themselves.
        let h = headers("x-forwarded-for", &["6.6.6.6, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(client(&p, PROXY, &h), "203.0.113.9:0");
        // Only proxies in the list: the leftmost.
        assert_eq!(client(&p, PROXY, &headers("x-forwarded-for", &["10.0.0.2"])), "10.0.0.2:0");
        // No header: the proxy itself.
        assert_eq!(client(&p, PROXY, &HeaderMap::new()), PROXY);
    }

    #[test]
    fn headers_from_anyone_else_are_ignored() {
        let p = proxies(ProxyHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(client(&p, "198.51.100.7:5000", &h), "198.51.100.7:5000");
        // The header the proxies do not write is the client's own invention.
        assert_eq!(client(&p, PROXY, &headers("forwarded", &["for=203.0.113.9"])), PROXY);
        let p = proxies(ProxyHeader::Forwarded);
        assert_eq!(client(&p, PROXY, &h), PROXY);
    }

    #[test]
    fn forwarded_nodes_of_every_form() {
        let p = proxies(ProxyHeader::Forwarded);
        let h = headers("forwarded", &[r#"for="[2001:db8:cafe::17]:4711";proto=https, For=10.0.0.2"#]);
        assert_eq!(client(&p, PROXY, &h), "[2001:db8:cafe::17]:4711");
        let h = headers("forwarded", &["for=192.0.2.43;by=10.0.0.2, for=unknown"]);
        assert_eq!(client(&p, PROXY, &h), "192.0.2.43:0", "unreadable nodes are left out");
        let h = headers("forwarded", &["proto=http;for=\"198.51.100.17:80\""]);
        assert_eq!(client(&p, PROXY, &h), "198.51.100.17:80");
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_is_ipv4() {
        let a = AddrKey::of("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = AddrKey::of("2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap());
        let other = AddrKey::of("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(AddrKey::of("::ffff:192.0.2.1".parse().unwrap()), AddrKey::of("192.0.2.1".parse().unwrap()));
        let p = TrustedProxies { addrs: vec!["::ffff:10.0.0.1".parse().unwrap()], header: ProxyHeader::XForwardedFor };
        assert!(p.contains("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn a_network_of_proxies_holds_its_addresses_and_no_others() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let pods: ProxyNet = "10.244.0.0/16".parse().unwrap();
        assert!(pods.contains(ip("10.244.0.0")) && pods.contains(ip("10.244.255.255")));
        assert!(pods.contains(ip("::ffff:10.244.3.7")), "IPv4 written as IPv6 is IPv4");
        assert!(!pods.contains(ip("10.245.0.1")) && !pods.contains(ip("10.243.255.255")));
        assert!(!pods.contains(ip("fd00::1")));
        let v6: ProxyNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12:3456::1")) && !v6.contains(ip("fe80::1")) && !v6.contains(ip("10.0.0.1")));
        let everyone: ProxyNet = "0.0.0.0/0".parse().unwrap();
        assert!(everyone.contains(ip("203.0.113.9")));
        let one: ProxyNet = "10.0.0.9".parse().unwrap();
        assert!(one.contains(ip("10.0.0.9")) && !one.contains(ip("10.0.0.8")));
        assert_eq!(
            (pods.to_string(), one.to_string(), v6.to_string()),
            ("10.244.0.0/16".into(), "10.0.0.9".into(), "fd00::/8".into())
        );
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "pods", "10.0.0.0/x"] {
            assert!(bad.parse::<ProxyNet>().is_err(), "{bad} is refused");
        }
        let p = TrustedProxies { addrs: vec![pods], header: ProxyHeader::XForwardedFor };
        let h = headers("x-forwarded-for", &["198.51.100.4, 10.244.9.9"]);
        assert_eq!(client(&p, "10.244.1.2:4000", &h), "198.51.100.4:0", "every hop in the network is a proxy");
        assert_eq!(client(&p, "10.9.1.2:4000", &h), "10.9.1.2:4000", "outside it, the header counts for nothing");
    }
}
