//! TLS to PostgreSQL: a cluster of its own that speaks TLS with a certificate for `localhost`
//! signed by a test authority, and refuses the platform's user `xkit` without TLS (so every
//! connection that succeeds here was encrypted). Each `sslmode` checks what libpq's does; a
//! client certificate opens the door of `xkit_cert`; two nodes run over TLS, their LISTEN
//! connection too; the real binary names a refused certificate without the URL's password.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use xkit_dash::server::store::Store;

use crate::postgres_nodes::Nodes;
use crate::support::cli::{Home, exit_code, stderr, stdout};
use crate::support::postgres::{PrivateCluster, ServerTls, fresh_database_on, sql_client};

/// An authority of the tests' own, which signs certificates.
struct Authority {
    certificate: rcgen::Certificate,
    key: KeyPair,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Authority { certificate: params.self_signed(&key).unwrap(), key }
    }

    /// A certificate for `names` (and `common_name`), with its key: both PEM.
    fn sign(&self, names: &[&str], common_name: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|name| name.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, common_name);
        let certificate = params.signed_by(&key, &self.certificate, &self.key).unwrap();
        (certificate.pem(), key.serialize_pem())
    }
}

/// The cluster, and files of the client's: the authority that signed the server's certificate,
/// another one, and a client certificate for `xkit_cert`.
struct TlsDatabase {
    cluster: PrivateCluster,
    files: tempfile::TempDir,
}

impl TlsDatabase {
    async fn start() -> TlsDatabase {
        let authority = Authority::new("xkit test authority");
        let (server_certificate, server_key) = authority.sign(&["localhost"], "localhost");
        let cluster = PrivateCluster::start_with_tls(&ServerTls {
            certificate: &server_certificate,
            key: &server_key,
            client_ca: &authority.certificate.pem(),
        })
        .expect("a TLS cluster starts");
        sql_client(&cluster.url())
            .await
            .batch_execute("CREATE ROLE xkit LOGIN SUPERUSER; CREATE ROLE xkit_cert LOGIN SUPERUSER")
            .await
            .unwrap();

        let files = tempfile::tempdir().unwrap();
        let (client_certificate, client_key) = authority.sign(&[], "xkit_cert");
        let write = |name: &str, contents: &str| {
            use std::os::unix::fs::PermissionsExt as _;
            let path = files.path().join(name);
            std::fs::write(&path, contents).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        };
        write("ca.pem", &authority.certificate.pem());
        write("other-ca.pem", &Authority::new("someone else").certificate.pem());
        write("client.pem", &client_certificate);
        write("client.key", &client_key);
        TlsDatabase { cluster, files }
    }

    fn file(&self, name: &str) -> String {
        self.files.path().join(name).display().to_string()
    }

    /// The URL of `xkit` at `host` with `parameters`, where `{dir}` is the files' directory.
    fn url(&self, host: &str, parameters: &str) -> String {
        self.cluster.url_as("xkit", host, &parameters.replace("{dir}", &self.files.path().display().to_string()))
    }
}

/// The store connects, or the error in full.
async fn connect(url: &str) -> Result<(), String> {
    match Store::connect_postgres(url, 1).await {
        Ok(store) => store.platform().await.map(drop).map_err(|error| error.to_string()),
        Err(error) => Err(format!("{error:#}")),
    }
}

#[tokio::test]
async fn each_sslmode_checks_the_servers_certificate_as_libpq_does() {
    let database = TlsDatabase::start().await;
    let ok = |host: &str, parameters: &str| (database.url(host, parameters), None);
    let refused = |host: &str, parameters: &str, why: &'static str| (database.url(host, parameters), Some(why));
    for (url, expected) in [
        // Without TLS the server refuses `xkit`: the door is really locked.
        refused("127.0.0.1", "sslmode=disable", "no encryption"),
        // TLS when offered, the certificate unchecked (libpq's default).
        ok("127.0.0.1", ""),
        ok("127.0.0.1", "sslmode=prefer"),
        ok("127.0.0.1", "sslmode=require"),
        // `require` with an authority checks the chain, as libpq does.
        ok("127.0.0.1", "sslmode=require&sslrootcert={dir}/ca.pem"),
        refused("127.0.0.1", "sslmode=require&sslrootcert={dir}/other-ca.pem", "UnknownIssuer"),
        // `verify-ca`: the chain, whatever the name (the certificate names localhost only).
        ok("127.0.0.1", "sslmode=verify-ca&sslrootcert={dir}/ca.pem"),
        refused("127.0.0.1", "sslmode=verify-ca&sslrootcert={dir}/other-ca.pem", "UnknownIssuer"),
        // `verify-full`: the chain and the host's name.
        ok("localhost", "sslmode=verify-full&sslrootcert={dir}/ca.pem"),
        refused("127.0.0.1", "sslmode=verify-full&sslrootcert={dir}/ca.pem", "not valid for name \"127.0.0.1\""),
        refused("localhost", "sslmode=verify-full&sslrootcert={dir}/other-ca.pem", "UnknownIssuer"),
        // Without sslrootcert, the public authorities: a private one is not among them.
        refused("localhost", "sslmode=verify-full", "UnknownIssuer"),
        refused("localhost", "sslmode=verify-full&sslrootcert=system", "UnknownIssuer"),
        refused("localhost", "sslmode=verify-full&sslrootcert={dir}/missing.pem", "missing.pem is not a readable PEM"),
    ] {
        let result = connect(&url).await;
        match expected {
            None => assert!(result.is_ok(), "{url}: {result:?}"),
            Some(why) => {
                let error = result.expect_err(&url);
                assert!(error.contains(why), "{url}: {error}");
            }
        }
    }
}

/// Connections whose host has no name: a Unix socket (no TLS there, as PostgreSQL offers none:
/// `require` is refused as libpq refuses it) and an address alone (`hostaddr`, TLS as usual).
#[tokio::test]
async fn connections_without_a_host_name_still_connect() {
    let database = TlsDatabase::start().await;
    connect(&database.cluster.socket_url_as("xkit", "")).await.expect("prefer, over a Unix socket");
    let error = connect(&database.cluster.socket_url_as("xkit", "sslmode=require")).await.expect_err("require");
    assert!(error.contains("server does not support TLS"), "{error}");
    let by_address = format!("hostaddr=127.0.0.1 port={} user=xkit dbname=postgres", database.cluster.port());
    connect(&by_address).await.expect("TLS to an address alone");
    let error = connect(&format!("{by_address} sslmode=disable")).await.expect_err("the door needs TLS");
    assert!(error.contains("no encryption"), "{error}");
}

#[tokio::test]
async fn a_client_certificate_opens_a_door_that_asks_for_one() {
    let database = TlsDatabase::start().await;
    let as_cert_user = |parameters: String| database.cluster.url_as("xkit_cert", "localhost", &parameters);
    let verified = format!("sslmode=verify-full&sslrootcert={}", database.file("ca.pem"));
    let with_certificate =
        format!("{verified}&sslcert={}&sslkey={}", database.file("client.pem"), database.file("client.key"));
    connect(&as_cert_user(with_certificate.clone())).await.expect("the certificate is taken");
    let error = connect(&as_cert_user(verified)).await.expect_err("no certificate, no entry");
    assert!(error.contains("certificate"), "{error}");

    // A key others may read is refused before any connection, as libpq does.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(database.file("client.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = connect(&as_cert_user(with_certificate)).await.expect_err("a readable key");
    assert!(error.contains("chmod 600"), "{error}");
}

/// Two nodes over `verify-full`: requests, and a long-poll on B woken through B's LISTEN
/// connection by a write on A.
#[tokio::test]
async fn two_nodes_work_over_verified_tls_their_notifications_too() {
    let database = TlsDatabase::start().await;
    let fresh = fresh_database_on(&database.cluster.url()).await;
    let name = url::Url::parse(&fresh).unwrap().path().to_owned();
    let url = database.url("localhost", "sslmode=verify-full&sslrootcert={dir}/ca.pem").replacen(
        "/postgres?",
        &format!("{name}?"),
        1,
    );
    let nodes = Nodes::start_on(url, |config| config).await;
    nodes.assert_a_write_on_a_wakes_a_long_poll_on_b().await;
    nodes.shutdown().await;
}

/// The real binary: a refused certificate is named, with the URL's password hidden; the right
/// authority reads the schema's status.
#[tokio::test]
async fn the_binary_names_a_refused_certificate_and_hides_the_password() {
    let database = TlsDatabase::start().await;
    let home = Home::new();
    let url = |ca: &str| {
        database.url("localhost", &format!("sslmode=verify-full&sslrootcert={{dir}}/{ca}")).replacen(
            "xkit@",
            "xkit:s3cret@",
            1,
        )
    };
    let output = home.command(&["migrate", "--status", "--database", &url("other-ca.pem")]).output().unwrap();
    let error = stderr(&output);
    assert_ne!(exit_code(&output), 0, "{error}");
    assert!(error.contains("UnknownIssuer") && error.contains("xkit:********@localhost"), "{error}");
    assert!(!error.contains("s3cret"), "{error}");

    let output = home.command(&["migrate", "--status", "--database", &url("ca.pem")]).output().unwrap();
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let status = stdout(&output);
    assert!(status.contains("pending") && status.contains("xkit:********@localhost"), "{status}");
}
