//! TLS to PostgreSQL, as libpq's connection parameters say (tokio-postgres itself knows only
//! `sslmode` disable, prefer and require, and no certificate files):
//!
//! | `sslmode`          | encrypted                    | the server's certificate is checked        |
//! |--------------------|------------------------------|--------------------------------------------|
//! | `disable`          | no                           | -                                          |
//! | `prefer` (default) | when the server offers TLS   | no                                         |
//! | `require`          | yes                          | no; with `sslrootcert`, as `verify-ca`     |
//! | `verify-ca`        | yes                          | signed by a trusted authority              |
//! | `verify-full`      | yes                          | signed by a trusted authority, for the host |
//!
//! The trusted authorities are the PEM file `sslrootcert` names or, without it (or with
//! `sslrootcert=system`), the Mozilla roots compiled in (webpki-roots), which public clouds'
//! certificates chain to; a self-signed server certificate may be its own `sslrootcert`.
//! `sslcert` and `sslkey` (PEM files) give a client certificate to a server that asks for one.
//! The handshake's signatures are always checked, whatever the mode.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The parameters read here; tokio-postgres gets the URL without them.
const PARAMETERS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// How much of the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The TLS parameters of a database URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsParameters {
    pub mode: Mode,
    /// `sslrootcert`: a PEM file, or `None` for the compiled-in roots.
    pub root_certificates: Option<PathBuf>,
    /// `sslcert` and `sslkey`.
    pub client_certificate: Option<(PathBuf, PathBuf)>,
}

impl TlsParameters {
    /// What tokio-postgres is told: it negotiates; the verifier made here checks.
    pub fn ssl_mode(&self) -> SslMode {
        match self.mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }

    /// The connector that negotiates TLS as the parameters say.
    pub fn connector(&self) -> anyhow::Result<Connector> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = match (self.mode, &self.root_certificates) {
            (Mode::Disable | Mode::Prefer, _) | (Mode::Require, None) => ServerCheck::unchecked(&provider),
            (mode, roots) => ServerCheck::trusting(roots.as_deref(), &provider, mode == Mode::VerifyFull)?,
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let config = match &self.client_certificate {
            None => builder.with_no_client_auth(),
            Some((certificate, key)) => builder
                .with_client_auth_cert(read_certificates("sslcert", certificate)?, read_private_key(key)?)
                .context("sslcert and sslkey do not make a usable pair")?,
        };
        Ok(Connector(MakeRustlsConnect::new(config)))
    }
}

/// Every connection's TLS: rustls's, which also takes connections without a host name (a Unix
/// socket). tokio-postgres asks for a connector for the name before it connects, and rustls
/// refuses an empty one; a name is needed only for a handshake, which these never reach
/// (PostgreSQL offers no TLS on a Unix socket).
#[derive(Clone)]
pub struct Connector(MakeRustlsConnect);

impl<S> MakeTlsConnect<S> for Connector
where
    MakeRustlsConnect: MakeTlsConnect<S>,
{
    type Stream = <MakeRustlsConnect as MakeTlsConnect<S>>::Stream;
    type TlsConnect = <MakeRustlsConnect as MakeTlsConnect<S>>::TlsConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<S>>::Error;

    fn make_tls_connect(&mut self, host: &str) -> Result<Self::TlsConnect, Self::Error> {
        self.0.make_tls_connect(if host.is_empty() { "localhost" } else { host })
    }
}

/// Takes this module's parameters out of a database URL, in either of libpq's forms (the URL
/// `postgres://...?sslmode=...` or the key-value `host=... sslmode=...`): the rest, for
/// tokio-postgres, and the parameters. The rest is left byte for byte as written.
pub fn split_parameters(url: &str) -> anyhow::Result<(String, TlsParameters)> {
    let mut values: Vec<(&str, String)> = Vec::new();
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match PARAMETERS.iter().find(|known| **known == key) {
                Some(known) => values.push((known, percent_encoding::percent_decode_str(value).decode_utf8()?.into())),
                None => kept.push(pair),
            }
        }
        if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
    } else {
        let mut kept = Vec::new();
        for pair in url.split_whitespace() {
            let known = pair
                .split_once('=')
                .and_then(|(key, value)| PARAMETERS.iter().find(|known| **known == key).map(|known| (*known, value)));
            match known {
                Some((key, value)) if value.is_empty() || value.starts_with('\'') => {
                    bail!("write {key}=value without spaces or quotes (or use the postgres:// form)")
                }
                Some((key, value)) => values.push((key, value.to_owned())),
                None => kept.push(pair),
            }
        }
        kept.join(" ")
    };
    let value = |key: &str| values.iter().rev().find(|(known, _)| *known == key).map(|(_, value)| value.as_str());
    let mode = match value("sslmode").unwrap_or("prefer") {
        "disable" => Mode::Disable,
        "prefer" => Mode::Prefer,
        "require" => Mode::Require,
        "verify-ca" => Mode::VerifyCa,
        "verify-full" => Mode::VerifyFull,
        other => bail!("sslmode {other:?} is not one of disable, prefer, require, verify-ca, verify-full"),
    };
    let root_certificates = value("sslrootcert").filter(|path| *path != "system").map(PathBuf::from);
    let client_certificate = match (value("sslcert"), value("sslkey")) {
        (None, None) => None,
        (Some(certificate), Some(key)) => Some((PathBuf::from(certificate), PathBuf::from(key))),
        _ => bail!("sslcert and sslkey go together: give both files or neither"),
    };
    Ok((rest, TlsParameters { mode, root_certificates, client_certificate }))
}

/// The client certificate's key, refused when others may read it (as libpq does).
fn read_private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let mode = std::fs::metadata(path).with_context(|| format!("cannot read sslkey {}", path.display()))?.mode();
        if mode & 0o077 != 0 {
            bail!("sslkey {} may be read by others (mode {:o}): chmod 600 it", path.display(), mode & 0o777);
        }
    }
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("sslkey {} holds no readable PEM private key", path.display()))
}

/// What is checked of the server's certificate; the handshake's signatures always are.
#[derive(Debug)]
struct ServerCheck {
    algorithms: WebPkiSupportedAlgorithms,
    /// `None` for `prefer`, and `require` without authorities: encrypted, whoever the
    /// certificate names.
    trust: Option<Trust>,
}

/// `verify-ca`, `verify-full`, and `require` with authorities: the chain must lead to a trusted
/// authority and, for `verify-full`, name the host. A server certificate that is itself one of
/// `sslrootcert`'s is trusted as it is (its dates and name still checked): a self-signed one,
/// as PostgreSQL's documentation makes with `openssl req -x509`, is marked an authority, which
/// webpki refuses to see at the end of a chain, and libpq accepts.
#[derive(Debug)]
struct Trust {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
    check_name: bool,
}

impl ServerCheck {
    fn unchecked(provider: &CryptoProvider) -> ServerCheck {
        ServerCheck { algorithms: provider.signature_verification_algorithms, trust: None }
    }

    /// Trusting the PEM file `roots`, or the compiled-in authorities.
    fn trusting(roots: Option<&Path>, provider: &Arc<CryptoProvider>, check_name: bool) -> anyhow::Result<ServerCheck> {
        let mut store = RootCertStore::empty();
        let pinned = match roots {
            None => {
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                Vec::new()
            }
            Some(path) => {
                let certificates = read_certificates("sslrootcert", path)?;
                let (added, _) = store.add_parsable_certificates(certificates.iter().cloned());
                if added == 0 {
                    bail!("sslrootcert {} holds no usable certificate", path.display());
                }
                certificates
            }
        };
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone()).build()?;
        let trust = Trust { webpki, pinned, check_name };
        Ok(ServerCheck { trust: Some(trust), ..ServerCheck::unchecked(provider) })
    }
}

impl Trust {
    /// A certificate of `sslrootcert`'s own, presented by the server: in its dates, and for
    /// the host when names are checked.
    fn check_pinned(
        &self,
        certificate: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use x509_cert::der::Decode as _;
        let bad = |error: CertificateError| rustls::Error::InvalidCertificate(error);
        let parsed = x509_cert::Certificate::from_der(certificate).map_err(|_| bad(CertificateError::BadEncoding))?;
        let validity = &parsed.tbs_certificate.validity;
        let now = std::time::Duration::from_secs(now.as_secs());
        if now < validity.not_before.to_unix_duration() {
            return Err(bad(CertificateError::NotValidYet));
        }
        if now > validity.not_after.to_unix_duration() {
            return Err(bad(CertificateError::Expired));
        }
        if self.check_name {
            webpki::EndEntityCert::try_from(certificate)
                .map_err(|_| bad(CertificateError::BadEncoding))?
                .verify_is_valid_for_subject_name(server_name)
                .map_err(|_| bad(CertificateError::NotValidForName))?;
        }
        Ok(ServerCertVerified::assertion())
    }
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(trust) = &self.trust else { return Ok(ServerCertVerified::assertion()) };
        let verdict = if trust.pinned.iter().any(|pinned| pinned.as_ref() == end_entity.as_ref()) {
            trust.check_pinned(end_entity, server_name, now)
        } else {
            trust.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        };
        // Only the name failed (webpki checks it after the chain and the dates).
        match verdict {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !trust.check_name || common_name_is(end_entity, server_name) => Ok(ServerCertVerified::assertion()),
            verdict => verdict,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, certificate, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// libpq's rule for a certificate without alternative names (PostgreSQL's own recipe makes
/// those: `-subj "/CN=db.example.com"`): its subject's common name must be the host, a leading
/// `*.` standing for one label. webpki reads alternative names only.
fn common_name_is(certificate: &CertificateDer<'_>, server_name: &ServerName<'_>) -> bool {
    use x509_cert::der::Decode as _;
    use x509_cert::der::asn1::{Ia5StringRef, ObjectIdentifier, PrintableStringRef, Utf8StringRef};
    const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
    const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
    let Ok(parsed) = x509_cert::Certificate::from_der(certificate) else { return false };
    let tbs = &parsed.tbs_certificate;
    if tbs.extensions.iter().flatten().any(|extension| extension.extn_id == SUBJECT_ALT_NAME) {
        return false;
    }
    let host = server_name.to_str();
    let matches = |pattern: &str| match pattern.strip_prefix("*.") {
        Some(domain) => {
            host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(domain))
        }
        None => pattern.eq_ignore_ascii_case(&host),
    };
    tbs.subject.0.iter().flat_map(|names| names.0.iter()).filter(|name| name.oid == COMMON_NAME).any(|name| {
        let value = &name.value;
        value
            .decode_as::<Utf8StringRef<'_>>()
            .map(|text| matches(text.as_str()))
            .or_else(|_| value.decode_as::<PrintableStringRef<'_>>().map(|text| matches(text.as_str())))
            .or_else(|_| value.decode_as::<Ia5StringRef<'_>>().map(|text| matches(text.as_str())))
            .unwrap_or(false)
    })
}

/// The PEM certificates of the file `path`, named by the parameter `what`.
fn read_certificates(what: &str, path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("{what} {} is not a readable PEM file", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_form_loses_only_the_tls_parameters_and_keeps_the_rest_as_written() {
        let (rest, tls) = split_parameters(
            "postgres://app:s%40cret@db:5432/xkit?options=-c%20x%3Dy&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=a+b",
        )
        .unwrap();
        assert_eq!(rest, "postgres://app:s%40cret@db:5432/xkit?options=-c%20x%3Dy&application_name=a+b");
        assert_eq!(tls.mode, Mode::VerifyFull);
        assert_eq!(tls.root_certificates, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(tls.client_certificate, None);

        let (rest, tls) = split_parameters("postgresql://db/xkit?sslmode=disable").unwrap();
        assert_eq!((rest.as_str(), tls.mode), ("postgresql://db/xkit", Mode::Disable));
    }

    #[test]
    fn the_key_value_form_too() {
        let (rest, tls) =
            split_parameters("host=db user=app sslmode=require sslcert=/c.pem sslkey=/k.pem sslrootcert=system")
                .unwrap();
        assert_eq!(rest, "host=db user=app");
        assert_eq!(tls.mode, Mode::Require);
        assert_eq!(tls.root_certificates, None, "system: the compiled-in roots");
        assert_eq!(tls.client_certificate, Some((PathBuf::from("/c.pem"), PathBuf::from("/k.pem"))));
        assert!(split_parameters("host=db sslrootcert='/a b.pem'").unwrap_err().to_string().contains("without spaces"));
    }

    #[test]
    fn without_sslmode_tls_is_preferred_and_each_mode_asks_tokio_postgres_for_what_it_knows() {
        assert_eq!(split_parameters("postgres://db/xkit").unwrap().1.mode, Mode::Prefer);
        for (mode, asked) in [
            ("disable", SslMode::Disable),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::Require),
            ("verify-full", SslMode::Require),
        ] {
            let (_, tls) = split_parameters(&format!("postgres://db/xkit?sslmode={mode}")).unwrap();
            assert_eq!(tls.ssl_mode(), asked, "{mode}");
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        let error = split_parameters("postgres://db/xkit?sslmode=allow").unwrap_err().to_string();
        assert!(error.contains("\"allow\"") && error.contains("verify-full"), "{error}");
        let error = split_parameters("postgres://db/xkit?sslcert=/c.pem").unwrap_err().to_string();
        assert!(error.contains("go together"), "{error}");
        let missing = split_parameters("postgres://db/xkit?sslmode=verify-full&sslrootcert=/nowhere/ca.pem").unwrap().1;
        let error = format!("{:#}", missing.connector().err().expect("a missing file"));
        assert!(error.contains("sslrootcert /nowhere/ca.pem"), "{error}");
    }

    /// A server certificate marked an authority (as `openssl req -x509` makes them), given as
    /// `sslrootcert`: trusted as it is, within its dates and, for verify-full, for its names.
    #[test]
    fn a_self_signed_server_certificate_given_as_the_root_file_is_trusted_as_it_is() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["db.internal".to_owned()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let certificate = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root_file = dir.path().join("server.crt");
        std::fs::write(&root_file, certificate.pem()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = |name: &str| ServerName::try_from(name.to_owned()).unwrap();
        let year = |year: u64| UnixTime::since_unix_epoch(std::time::Duration::from_secs((year - 1970) * 31_557_600));
        let refused = |result: Result<ServerCertVerified, rustls::Error>| match result {
            Err(rustls::Error::InvalidCertificate(error)) => error,
            other => panic!("{other:?}"),
        };

        let full = ServerCheck::trusting(Some(&root_file), &provider, true).unwrap();
        let verify = |checked: &ServerCheck, name: &str, at: UnixTime| {
            checked.verify_server_cert(certificate.der(), &[], &server(name), &[], at)
        };
        assert!(verify(&full, "db.internal", UnixTime::now()).is_ok());
        assert_eq!(refused(verify(&full, "db.example", UnixTime::now())), CertificateError::NotValidForName);
        assert_eq!(refused(verify(&full, "db.internal", year(2019))), CertificateError::NotValidYet);
        assert_eq!(refused(verify(&full, "db.internal", year(2101))), CertificateError::Expired);
        let any_name = ServerCheck::trusting(Some(&root_file), &provider, false).unwrap();
        assert!(verify(&any_name, "db.example", UnixTime::now()).is_ok(), "verify-ca");

        // Another file: webpki's verdict on a chain that leads nowhere.
        let other = rcgen::generate_simple_self_signed(vec!["db.internal".to_owned()]).unwrap();
        std::fs::write(&root_file, other.cert.pem()).unwrap();
        let stranger = ServerCheck::trusting(Some(&root_file), &provider, true).unwrap();
        assert!(verify(&stranger, "db.internal", UnixTime::now()).is_err());
    }

    /// Certificates that name their host only in the subject's common name, as PostgreSQL's
    /// documentation makes them: the name checked there, as libpq does, and only when the
    /// certificate has no alternative names.
    #[test]
    fn a_certificate_without_alternative_names_is_checked_by_its_common_name() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = |name: &str| ServerName::try_from(name.to_owned()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let certificate = |common_name: &str, alternative_names: &[&str]| {
            let key = rcgen::KeyPair::generate().unwrap();
            let names: Vec<String> = alternative_names.iter().map(|name| name.to_string()).collect();
            let mut params = rcgen::CertificateParams::new(names).unwrap();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
            let certificate = params.self_signed(&key).unwrap();
            let root_file = dir.path().join(format!("{common_name}.crt"));
            std::fs::write(&root_file, certificate.pem()).unwrap();
            (ServerCheck::trusting(Some(&root_file), &provider, true).unwrap(), certificate)
        };
        let verify = |(check, certificate): &(ServerCheck, rcgen::Certificate), host: &str| {
            check.verify_server_cert(certificate.der(), &[], &server(host), &[], UnixTime::now()).is_ok()
        };

        let plain = certificate("db.internal", &[]);
        assert!(verify(&plain, "db.internal") && verify(&plain, "DB.Internal"));
        assert!(!verify(&plain, "db.example") && !verify(&plain, "127.0.0.1"));
        let wildcard = certificate("*.example.com", &[]);
        assert!(verify(&wildcard, "db.example.com"));
        assert!(!verify(&wildcard, "a.db.example.com") && !verify(&wildcard, "example.com"));
        // With alternative names, the common name is not read.
        let both = certificate("db.internal", &["other.internal"]);
        assert!(verify(&both, "other.internal") && !verify(&both, "db.internal"));
    }

    #[test]
    fn a_client_key_others_may_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("client.key");
        std::fs::write(&key, "not a key").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            let error = read_private_key(&key).unwrap_err().to_string();
            assert!(error.contains("chmod 600"), "{error}");
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let error = read_private_key(&key).unwrap_err().to_string();
        assert!(error.contains("no readable PEM private key"), "{error}");
    }
}
