//! TLS for remote stores: rustls on the ring provider (no C build), made
//! the process default before object_store builds its first HTTP client.

/// Installs ring as the process's rustls provider unless one is set.
pub fn install_provider() {
    // Fails only when a provider is installed already, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
