//! Where webhooks may go: the endpoint's host resolved, and every address
//! refused that is loopback, private, link-local, shared (CGNAT),
//! unspecified, multicast or reserved, unless the operator allows private
//! targets. Redirects are not followed, so a public endpoint cannot send a
//! delivery elsewhere.
//!
//! Not covered: a name that resolves to a public address when checked and
//! to a private one when called (DNS rebinding) between the two lookups.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

/// Checks that `url`'s host resolves only to addresses deliveries may
/// reach; the error names the address refused.
pub fn check(url: &str, allow_private: bool) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid webhook URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("a webhook URL is http or https".into());
    }
    let host = parsed.host_str().ok_or("a webhook URL needs a host")?;
    let port = parsed.port_or_known_default().ok_or("a webhook URL needs a port")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<IpAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("the webhook host {host:?} does not resolve: {e}"))?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() {
        return Err(format!("the webhook host {host:?} has no address"));
    }
    if allow_private {
        return Ok(());
    }
    match addrs.iter().find(|ip| !is_public(ip)) {
        Some(ip) => Err(format!(
            "the webhook host {host:?} resolves to {ip}, a private or reserved address (start the server with --webhook-allow-private to allow it)"
        )),
        None => Ok(()),
    }
}

fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(&v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: &Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (18..20).contains(&o[1]))
        || o[0] >= 240)
}

fn is_public_v6(ip: &Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x64 && s[1] == 0xff9b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_loopback_targets_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/x",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/",
            "http://[fd00::1]/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:1/",
        ] {
            let refused = check(url, false).expect_err(url);
            assert!(refused.contains("private or reserved"), "{url}: {refused}");
            assert!(check(url, true).is_ok(), "{url} allowed");
        }
        assert!(check("http://8.8.8.8/hook", false).is_ok());
        assert!(check("ftp://8.8.8.8/", false).is_err());
        assert!(check("not a url", true).is_err());
    }
}
