//! HTTPS for the server (xkit.js builds every URL with `https:`/`wss:`): a certificate and key
//! from PEM files, or a self-signed certificate made with rcgen for the listening address and
//! `localhost`, kept in the data directory. rustls with ring: no OpenSSL.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::private_file;

/// Where the server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// `--tls-cert` (the chain, leaf first) and `--tls-key`, both PEM.
    Files { certificate: PathBuf, key: PathBuf },
    /// `--tls-self-signed`: made on first use for the listening address, then reused.
    SelfSigned,
}

/// A ready TLS setup: the acceptor for connections and the certificate file, which clients
/// that must trust a self-signed certificate are pointed at.
pub struct ServerTls {
    pub acceptor: TlsAcceptor,
    pub certificate_path: PathBuf,
    /// The leaf certificate, PEM: the server trusts it when it calls itself (the sandbox's
    /// token endpoint through its own URL).
    pub certificate_pem: Vec<u8>,
}

impl ServerTls {
    /// Reads or makes the certificate and key (blocking: files, key generation).
    pub fn load(source: &TlsSource, data_dir: &Path, addr: SocketAddr) -> Result<Self> {
        let (certificate_path, key_path) = match source {
            TlsSource::Files { certificate, key } => (certificate.clone(), key.clone()),
            TlsSource::SelfSigned => self_signed_files(data_dir, addr.ip())?,
        };
        let certificate_pem = std::fs::read(&certificate_path)
            .with_context(|| format!("cannot read the TLS certificate {}", certificate_path.display()))?;
        let chain = CertificateDer::pem_slice_iter(&certificate_pem)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{} is not a PEM certificate chain", certificate_path.display()))?;
        if chain.is_empty() {
            bail!("{} holds no PEM certificate", certificate_path.display());
        }
        let key = PrivateKeyDer::from_pem_slice(&private_file::read(&key_path)?)
            .with_context(|| format!("{} holds no PEM private key", key_path.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("the TLS certificate and key do not make a usable pair")?;
        // The transport serves HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { acceptor: TlsAcceptor::from(Arc::new(config)), certificate_path, certificate_pem })
    }
}

/// The self-signed certificate and key for `ip` in `<data dir>/tls/`, made (0600) when absent.
/// One pair per listening address, so a certificate is always valid for the address it serves.
fn self_signed_files(data_dir: &Path, ip: IpAddr) -> Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("tls");
    private_file::create_private_dir(&dir)?;
    let label = ip.to_string().replace(':', "_");
    let certificate = dir.join(format!("self-signed-{label}.crt.pem"));
    let key = dir.join(format!("self-signed-{label}.key.pem"));
    if certificate.exists() && key.exists() {
        return Ok((certificate, key));
    }
    let mut names = vec!["localhost".to_owned(), Ipv4Addr::LOCALHOST.to_string(), Ipv6Addr::LOCALHOST.to_string()];
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push(ip.to_string());
    }
    let generated = rcgen::generate_simple_self_signed(names).context("cannot make a self-signed certificate")?;
    // A half-written pair from an interrupted start is replaced, never mixed.
    for path in [&certificate, &key] {
        if path.exists() {
            std::fs::remove_file(path).with_context(|| format!("cannot replace {}", path.display()))?;
        }
    }
    private_file::write_new(&key, generated.key_pair.serialize_pem().as_bytes())?;
    private_file::write_new(&certificate, generated.cert.pem().as_bytes())?;
    Ok((certificate, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_pair_is_private_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let first = ServerTls::load(&TlsSource::SelfSigned, dir.path(), addr).unwrap();
        let second = ServerTls::load(&TlsSource::SelfSigned, dir.path(), addr).unwrap();
        assert_eq!(first.certificate_path, second.certificate_path);
        assert_eq!(first.certificate_pem, second.certificate_pem, "the pair is reused, not remade");
        #[cfg(unix)]
        for entry in std::fs::read_dir(dir.path().join("tls")).unwrap() {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = entry.unwrap().metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_missing_or_mismatched_key_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let made = ServerTls::load(&TlsSource::SelfSigned, dir.path(), addr).unwrap();
        let missing = dir.path().join("none.pem");
        let source = TlsSource::Files { certificate: made.certificate_path.clone(), key: missing.clone() };
        let error = format!("{:#}", ServerTls::load(&source, dir.path(), addr).err().unwrap());
        assert!(error.contains(&missing.display().to_string()), "{error}");
        let source = TlsSource::Files { certificate: made.certificate_path.clone(), key: made.certificate_path };
        let error = format!("{:#}", ServerTls::load(&source, dir.path(), addr).err().unwrap());
        assert!(error.contains("no PEM private key"), "{error}");
    }
}
