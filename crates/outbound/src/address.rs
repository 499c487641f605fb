//! Which addresses may be reached (DESIGN.md §6): a URL's host is resolved once, every
//! address it resolves to must be global (or inside the configured allow-list), and the
//! caller then connects to those checked addresses only, so a DNS answer cannot change
//! between the check and the connection.

use std::{
    net::{IpAddr, SocketAddr},
    sync::LazyLock,
};

use ipnet::IpNet;

/// Addresses that are never global: private, loopback, link-local (cloud metadata
/// included), CGNAT, ULA, multicast, documentation, benchmarking and reserved ranges.
const NON_GLOBAL: [&str; 29] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "::/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "3fff::/20",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
];

static NON_GLOBAL_NETS: LazyLock<Vec<IpNet>> =
    LazyLock::new(|| NON_GLOBAL.iter().filter_map(|n| n.parse().ok()).collect());

/// Whether `ip` is a public, globally routable unicast address.
pub fn is_global(ip: IpAddr) -> bool {
    let ip = canonical(ip);
    !NON_GLOBAL_NETS.iter().any(|net| net.contains(&ip))
}

/// An IPv4 address in IPv6 clothing (`::ffff:10.0.0.1`) is judged as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// CIDRs that may be reached although they are not global.
#[derive(Debug, Clone, Default)]
pub struct AllowList(Vec<IpNet>);

impl AllowList {
    /// Parses a comma-separated list of CIDRs (empty: nothing allowed).
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .map_err(|_| format!("`{s}` is not a CIDR (e.g. 10.0.0.0/8)"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` is inside one of the allowed networks.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether `ip` may be connected to.
    pub fn permits(&self, ip: IpAddr) -> bool {
        is_global(ip) || self.allows(ip)
    }
}

/// Why a request was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The URL has no host we can resolve.
    #[error("the URL has no host")]
    NoHost,
    /// The host did not resolve.
    #[error("`{host}` did not resolve: {reason}")]
    Unresolvable {
        /// The host.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// The host resolves to an address that is not global and not allow-listed.
    #[error("`{host}` resolves to {addr}, which is not a public address")]
    NonGlobal {
        /// The host.
        host: String,
        /// The refused address.
        addr: IpAddr,
    },
}

/// Resolves the URL's host and checks every address; answers the addresses to connect to.
pub async fn resolve_checked(
    url: &reqwest::Url,
    allow: &AllowList,
) -> Result<Vec<SocketAddr>, Refusal> {
    let port = url.port_or_known_default().unwrap_or(443);
    let host = url.host_str().ok_or(Refusal::NoHost)?.to_owned();
    // IPv6 literals come bracketed; literal addresses are checked as they are.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| Refusal::Unresolvable {
                host: host.clone(),
                reason: e.to_string(),
            })?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Refusal::Unresolvable {
            host,
            reason: "no addresses".into(),
        });
    }
    // One bad address refuses the host: a resolver could otherwise hand the client the
    // private one.
    if let Some(bad) = addrs.iter().find(|a| !allow.permits(a.ip())) {
        return Err(Refusal::NonGlobal {
            host,
            addr: bad.ip(),
        });
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_range_parses() {
        assert_eq!(NON_GLOBAL_NETS.len(), NON_GLOBAL.len());
    }

    #[test]
    fn private_and_special_addresses_are_not_global() {
        for bad in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.10",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_global(ip(bad)), "{bad} counted as global");
        }
        for good in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_global(ip(good)), "{good} counted as non-global");
        }
    }

    #[test]
    fn the_allow_list_opens_named_ranges_only() {
        let allow = AllowList::parse("127.0.0.0/8, ::1/128").unwrap();
        assert!(allow.permits(ip("127.0.0.1")));
        assert!(allow.permits(ip("::1")));
        assert!(allow.permits(ip("::ffff:127.0.0.1")));
        assert!(!allow.permits(ip("10.0.0.1")));
        assert!(AllowList::parse("").unwrap().0.is_empty());
        assert!(AllowList::parse("10.0.0.0/33").is_err());
    }

    #[tokio::test]
    async fn literal_addresses_are_checked_without_connecting() {
        let none = AllowList::default();
        for url in [
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/",
        ] {
            let refused = resolve_checked(&url.parse().unwrap(), &none).await;
            assert!(
                matches!(refused, Err(Refusal::NonGlobal { .. })),
                "{url}: {refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_unless_allowed() {
        let url: reqwest::Url = "http://localhost:9/".parse().unwrap();
        assert!(matches!(
            resolve_checked(&url, &AllowList::default()).await,
            Err(Refusal::NonGlobal { .. })
        ));
        let allow = AllowList::parse("127.0.0.0/8,::1/128").unwrap();
        assert!(resolve_checked(&url, &allow).await.is_ok());
    }
}
