//! HTTP clients pinned to checked addresses, cached per host and address set.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::redirect;

/// Most clients kept at once; past it the cache starts afresh.
const MAX_CLIENTS: usize = 1024;

/// A host and the checked addresses a client is pinned to.
type ClientKey = (String, Vec<SocketAddr>);

/// One client (and connection pool) per host and checked address set: connections are
/// reused across calls, and an address that changes in DNS gets a new client, so a
/// connection only ever goes to an address that was checked. Cheap to clone.
#[derive(Clone)]
pub struct PinnedClients {
    clients: Arc<Mutex<HashMap<ClientKey, reqwest::Client>>>,
}

impl Default for PinnedClients {
    fn default() -> Self {
        Self::new()
    }
}

impl PinnedClients {
    /// An empty cache.
    pub fn new() -> Self {
        // reqwest is built without a default TLS provider; pick ring once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            clients: Arc::default(),
        }
    }

    /// The client for `url`'s host pinned to `addrs` (from [`crate::resolve_checked`]),
    /// built on first use. It follows no redirects and uses no proxy.
    pub fn client_for(
        &self,
        url: &reqwest::Url,
        addrs: &[SocketAddr],
    ) -> Result<reqwest::Client, reqwest::Error> {
        let host = url.host_str().unwrap_or_default().to_owned();
        let mut pinned = addrs.to_vec();
        pinned.sort_unstable();
        let key = (host.clone(), pinned);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        let mut builder = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30));
        // A literal address is its own pin; a name is resolved to the checked addresses
        // only, so no second DNS answer can differ.
        if !host.starts_with('[') && host.parse::<IpAddr>().is_err() {
            builder = builder.resolve_to_addrs(&host, addrs);
        }
        let client = builder.build()?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn one_client_per_host_and_address_set() {
        let clients = PinnedClients::new();
        let url: reqwest::Url = "http://example.test/hook".parse().unwrap();
        let a: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:80".parse().unwrap();
        clients.client_for(&url, &[a, b]).unwrap();
        clients.client_for(&url, &[b, a]).unwrap();
        assert_eq!(clients.clients.lock().unwrap().len(), 1);
        clients.client_for(&url, &[a]).unwrap();
        assert_eq!(clients.clients.lock().unwrap().len(), 2);
    }
}
