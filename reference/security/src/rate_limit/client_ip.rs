//! Whose request it is. The key is the peer address; `Forwarded` (RFC 7239) or, without it,
//! `X-Forwarded-For` count only when the peer is a configured trusted proxy, and are read
//! from the right: the first hop that is not itself a trusted proxy is the client, so a
//! client cannot choose its own key by sending a forged header. IPv6 clients are keyed by
//! their /64 network: one host usually owns a whole /64 and could otherwise rotate addresses
//! to escape its limit.

use std::net::{IpAddr, Ipv6Addr};

use http::HeaderMap;
use ipnet::IpNet;

/// How client addresses are found; the default counts only the peer address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIp {
    trusted_proxies: Vec<IpNet>,
}

impl ClientIp {
    /// Forwarding headers count when the peer is in one of `networks`.
    pub fn trusting(networks: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            trusted_proxies: networks.into_iter().collect(),
        }
    }

    /// The trusted proxy networks.
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.is_trusted(peer) {
            return peer;
        }
        let hops = forwarded_hops(headers);
        let mut nearest = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.is_trusted(canonical(*ip)) => nearest = canonical(*ip),
                Some(ip) => return canonical(*ip),
                // An obfuscated or unparseable hop: nothing further left can be trusted.
                None => return nearest,
            }
        }
        nearest
    }

    /// The rate-limit key of a client address: the address, or its /64 network for IPv6.
    pub fn key(ip: IpAddr) -> String {
        match canonical(ip) {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        }
    }
}

/// IPv4-mapped IPv6 addresses are their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The hops the forwarding headers name, nearest last; `None` for a hop that is not an
/// address. `Forwarded` wins over `X-Forwarded-For` when both are present.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all(http::header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_forwarded_node(value.trim()))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| {
            v.to_str()
                .map(|s| s.split(',').map(|h| h.trim().parse().ok()).collect())
                .unwrap_or_else(|_| vec![None])
        })
        .collect()
}

/// A `for=` node of RFC 7239: `192.0.2.43`, `"192.0.2.43:47011"`, `"[2001:db8::1]:4711"`.
fn parse_forwarded_node(value: &str) -> Option<IpAddr> {
    let value = value.trim_matches('"');
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    value
        .parse()
        .ok()
        .or_else(|| value.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use rstest::rstest;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies() -> ClientIp {
        ClientIp::trusting(["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()])
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[rstest]
    // An untrusted peer's headers are ignored, however they look.
    #[case("203.0.113.9", &[("x-forwarded-for", "1.1.1.1")], "203.0.113.9")]
    #[case("203.0.113.9", &[("forwarded", "for=1.1.1.1")], "203.0.113.9")]
    // A trusted proxy's report is read from the right, skipping further trusted proxies.
    #[case("10.0.0.1", &[("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.0.0.2")], "198.51.100.7")]
    #[case("10.0.0.1", &[("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "198.51.100.7")], "198.51.100.7")]
    #[case("10.0.0.1", &[("forwarded", "for=192.0.2.60;proto=http, for=\"10.1.1.1:80\"")], "192.0.2.60")]
    #[case("10.0.0.1", &[("forwarded", "for=\"[2001:db8::1]:4711\"")], "2001:db8::1")]
    #[case("10.0.0.1", &[("forwarded", "For=\"198.51.100.1:99\"")], "198.51.100.1")]
    // Forwarded wins over X-Forwarded-For.
    #[case("10.0.0.1", &[("forwarded", "for=192.0.2.1"), ("x-forwarded-for", "192.0.2.2")], "192.0.2.1")]
    // Garbage or an obfuscated hop stops the walk at the nearest trusted hop.
    #[case("10.0.0.1", &[("x-forwarded-for", "1.1.1.1, garbage")], "10.0.0.1")]
    #[case("10.0.0.1", &[("x-forwarded-for", "1.1.1.1, nonsense, 10.0.0.3")], "10.0.0.3")]
    #[case("10.0.0.1", &[("forwarded", "for=_hidden")], "10.0.0.1")]
    #[case("10.0.0.1", &[("forwarded", "proto=https")], "10.0.0.1")]
    // No header, or only trusted hops: the nearest trusted hop.
    #[case("10.0.0.1", &[], "10.0.0.1")]
    #[case("10.0.0.1", &[("x-forwarded-for", "10.9.9.9")], "10.9.9.9")]
    // IPv4-mapped peers are IPv4.
    #[case("::ffff:10.0.0.1", &[("x-forwarded-for", "192.0.2.5")], "192.0.2.5")]
    fn the_client_is_found_from_trusted_hops_only(
        #[case] peer: &str,
        #[case] pairs: &[(&'static str, &'static str)],
        #[case] expected: &str,
    ) {
        assert_eq!(proxies().client(ip(peer), &headers(pairs)), ip(expected));
    }

    #[test]
    fn non_utf8_forwarding_headers_stop_the_walk() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"1.1.1.1\xff").unwrap(),
        );
        assert_eq!(proxies().client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
        assert!(ClientIp::default().trusted_proxies().is_empty());
        assert_eq!(proxies().trusted_proxies().len(), 2);
    }

    #[rstest]
    #[case("192.0.2.1", "192.0.2.1")]
    #[case("::ffff:192.0.2.1", "192.0.2.1")]
    #[case("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64")]
    #[case("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64")]
    fn keys_group_ipv6_by_64(#[case] addr: &str, #[case] key: &str) {
        assert_eq!(ClientIp::key(ip(addr)), key);
    }
}
