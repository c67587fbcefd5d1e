//! Where a webhook may go (SSRF): http(s) URLs only, and no loopback, private, link-local,
//! unique-local, unspecified, multicast or CGNAT address unless the server itself listens on
//! loopback or runs with `--allow-private-webhooks`. Checked when an endpoint is added and again
//! at every delivery (DNS answers change): the delivery client resolves names through
//! [`CheckedResolver`], so the address checked is the address connected to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How long adding an endpoint waits for its host's addresses (a delivery's own timeout bounds
/// its lookup).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why `ip` is not a public address, or `None` for a public one.
fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => v4_kind(ip),
        IpAddr::V6(ip) => v6_kind(ip),
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [first, second, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || first == 0 {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() || first >= 240 {
        Some("reserved")
    } else if first == 100 && (64..128).contains(&second) {
        Some("CGNAT (shared)")
    } else {
        None
    }
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_kind(v4);
    }
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., high, low] = segments;
        return v4_kind(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)));
    }
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Some("unique-local")
    } else if segments[0] & 0xffc0 == 0xfe80 || segments[0] & 0xffc0 == 0xfec0 {
        Some("link-local")
    } else {
        None
    }
}

/// Refuses `ip` unless it is public or private targets are allowed.
fn check_address(host: &str, ip: IpAddr, allow_private: bool) -> Result<(), String> {
    match non_public_kind(ip) {
        Some(kind) if !allow_private => Err(format!(
            "{host} is {ip}, a {kind} address: webhooks may reach loopback and private addresses only when the \
             server listens on loopback or runs with --allow-private-webhooks"
        )),
        _ => Ok(()),
    }
}

/// A webhook URL as written: http or https, with a host and no credentials.
pub fn parse_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|error| format!("{text:?} is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?}: a webhook URL is http:// or https://, not {}:", url.scheme()));
    }
    if url.host().is_none() {
        return Err(format!("{text:?}: a webhook URL names a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{text:?}: a webhook URL carries no user name or password (the signature authenticates)"));
    }
    Ok(url)
}

/// Checks a new endpoint's URL: its scheme, and every address its host resolves to now.
pub async fn check_new_url(text: &str, allow_private: bool) -> Result<url::Url, String> {
    let url = parse_url(text)?;
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
        .await
        .map_err(|_| format!("cannot resolve {host}: no answer within {}s", RESOLVE_TIMEOUT.as_secs()))?;
    let addresses: Vec<SocketAddr> = lookup.map_err(|error| format!("cannot resolve {host}: {error}"))?.collect();
    if addresses.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    for address in &addresses {
        check_address(&host, address.ip(), allow_private)?;
    }
    Ok(url)
}

/// At delivery: a host written as an IP address, which reqwest connects to without resolving.
pub fn check_literal_host(url: &url::Url, allow_private: bool) -> Result<(), String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    check_address(&ip.to_string(), ip, allow_private)
}

/// The delivery client's resolver: resolves a name once and hands reqwest only the addresses
/// allowed, so no second resolution happens between the check and the connection.
#[derive(Debug, Clone, Copy)]
pub struct CheckedResolver {
    pub allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| match check_address(&host, address.ip(), allow_private) {
                    Ok(()) => true,
                    Err(reason) => {
                        refusal.get_or_insert(reason);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let reason = refusal.unwrap_or_else(|| format!("{host} resolves to no address"));
                return Err(reason.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_non_public_range_is_named_and_public_addresses_pass() {
        let kind = |text: &str| non_public_kind(text.parse().unwrap());
        for (address, expected) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("100.64.0.1", "CGNAT (shared)"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:10.0.0.1", "private"),
            ("64:ff9b::7f00:1", "loopback"),
        ] {
            assert_eq!(kind(address), Some(expected), "{address}");
        }
        for public in ["93.184.216.34", "100.128.0.1", "2606:2800:220:1::1", "8.8.8.8"] {
            assert_eq!(kind(public), None, "{public}");
        }
    }

    #[test]
    fn only_http_urls_with_a_host_and_no_credentials_are_webhook_urls() {
        assert!(parse_url("https://hooks.example.com/x?y=1").is_ok());
        for refused in
            ["file:///etc/passwd", "ftp://example.com/", "gopher://x", "not a url", "https://u:p@example.com/"]
        {
            assert!(parse_url(refused).is_err(), "{refused}");
        }
    }
}
