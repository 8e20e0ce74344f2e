//! TLS for remote stores: rustls on the ring provider (no C build), made
//! the process default before object_store builds its first HTTP client.

/// Installs ring as the process's rustls provider unless one is set.
pub fn install_provider() {
    // Fails only when a provider is installed already, which is fine.
    // (Newer rustls releases deprecate the ring provider's constructor for
    // lacking post-quantum key exchange; ring is still what avoids a C build.)
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
}
