//! How every connection to the database is made (the pool's, the listener's, the commands'):
//! the URL parsed, its TLS parameters taken out for `tls.rs`, the store's timeouts and UTC set,
//! and the URL named in errors and logs only with its password hidden.

use std::time::Duration;

use anyhow::Context as _;
use tokio_postgres::Socket;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_util::task::AbortOnDropHandle;

use super::tls;

/// How long making a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one statement may run.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a transaction may wait idle between two statements.
pub const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(15);

/// One connection of its own to the database at `url`, outside the pool, with the store's
/// settings: for what holds a session (an advisory lock) or runs long (`migrate
/// --from-sqlite`). The connection lives as long as the returned handle.
pub async fn single_connection(url: &str) -> anyhow::Result<(tokio_postgres::Client, AbortOnDropHandle<()>)> {
    let (client, connection) = ConnectionSettings::of(url)?.connect(url).await?;
    let driver = AbortOnDropHandle::new(tokio::spawn(async move {
        let _ = connection.await;
    }));
    Ok((client, driver))
}

/// A connection's driver, over TLS or not.
type Driver = tokio_postgres::Connection<Socket, <tls::Connector as MakeTlsConnect<Socket>>::Stream>;

/// Where the store connects and how: tokio-postgres's settings, with the store's timeouts and
/// times in UTC, and the TLS the URL's `sslmode` asks for (`tls.rs`).
#[derive(Clone)]
pub struct ConnectionSettings {
    pub config: tokio_postgres::Config,
    pub tls: tls::Connector,
}

impl ConnectionSettings {
    pub fn of(url: &str) -> anyhow::Result<ConnectionSettings> {
        // The messages never hold the URL; it is named only redacted.
        let (rest, tls) =
            tls::split_parameters(url).with_context(|| format!("invalid database URL {}", redacted(url)))?;
        let mut config: tokio_postgres::Config =
            rest.parse().map_err(|error| anyhow::anyhow!("invalid database URL {}: {error}", redacted(url)))?;
        config.ssl_mode(tls.ssl_mode());
        // Addresses without names (`hostaddr` alone) are their own names, so that TLS has one.
        if config.get_hosts().is_empty() {
            for address in config.get_hostaddrs().to_vec() {
                config.host(address.to_string());
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A transaction left open by a stuck node would hold the events lock: it is ended.
        let options = format!(
            "{} -c statement_timeout={} -c idle_in_transaction_session_timeout={} -c TimeZone=UTC",
            config.get_options().unwrap_or_default(),
            STATEMENT_TIMEOUT.as_millis(),
            IDLE_IN_TRANSACTION.as_millis()
        );
        config.options(options.trim_start());
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("xkit-dash");
        }
        let tls = tls.connector().with_context(|| format!("cannot set up TLS for {}", redacted(url)))?;
        Ok(ConnectionSettings { config, tls })
    }

    /// One connection and its driver (to spawn); `url` names it, redacted, in the error.
    pub async fn connect(&self, url: &str) -> anyhow::Result<(tokio_postgres::Client, Driver)> {
        self.config.connect(self.tls.clone()).await.with_context(|| format!("cannot connect to {}", redacted(url)))
    }
}

/// `url` with its password hidden, for logs and error messages: both the URL form
/// (`postgres://user:secret@host/db`, `?password=`) and the key-value form (`password=secret`).
/// The rest stays as written, even in a URL too broken to parse (a bad port: its error names it).
pub fn redacted(url: &str) -> String {
    const HIDDEN: &str = "********";
    let hide_value = |pair: &str| match pair.split_once('=') {
        Some((key, _)) if key.trim().eq_ignore_ascii_case("password") => format!("{key}={HIDDEN}"),
        _ => pair.to_owned(),
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.split_whitespace().map(hide_value).collect::<Vec<_>>().join(" ");
    };
    let (before_query, query) = rest.split_once('?').map_or((rest, None), |(before, query)| (before, Some(query)));
    // The user information ends at the last `@` of the authority (a password may hold `/`).
    let before_query = match before_query.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:{HIDDEN}@{host}"),
            None => before_query.to_owned(),
        },
        None => before_query.to_owned(),
    };
    match query {
        Some(query) => {
            let query = query.split('&').map(hide_value).collect::<Vec<_>>().join("&");
            format!("{scheme}://{before_query}?{query}")
        }
        None => format!("{scheme}://{before_query}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{ConnectionSettings, redacted};

    #[test]
    fn a_bad_url_is_refused_with_why_and_without_its_password() {
        for url in [
            "postgres://app:s3cret@db/xkit?sslmode=verify-everything",
            "postgres://app:s3cret@db/xkit?sslmode=verify-full&sslrootcert=/nowhere.pem",
            "postgres://app:s3cret@db:notaport/xkit",
        ] {
            let error = format!("{:#}", ConnectionSettings::of(url).err().expect(url));
            assert!(error.contains("app:********@db"), "{error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
        let settings = ConnectionSettings::of("postgres://app:s3cret@db/xkit?sslmode=verify-full").unwrap();
        assert_eq!(settings.config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        assert!(settings.config.get_options().unwrap().contains("statement_timeout"));
    }

    #[test]
    fn redacted_hides_the_password_of_every_url_form() {
        assert_eq!(redacted("postgres://app:s3cret@db:5432/xkit"), "postgres://app:********@db:5432/xkit");
        assert_eq!(
            redacted("postgresql://db/xkit?user=app&password=s3cret&sslmode=disable"),
            "postgresql://db/xkit?user=app&password=********&sslmode=disable"
        );
        assert_eq!(
            redacted("host=db user=app password=s3cret dbname=xkit"),
            "host=db user=app password=******** dbname=xkit"
        );
        assert_eq!(redacted("postgres://app@db/xkit"), "postgres://app@db/xkit");
        assert_eq!(redacted("postgres://app:s3/cr@t@db:notaport/xkit"), "postgres://app:********@db:notaport/xkit");
        assert_eq!(
            redacted("postgres://app:s3cret@db/xkit?sslrootcert=%2Fetc%2Fca.pem"),
            "postgres://app:********@db/xkit?sslrootcert=%2Fetc%2Fca.pem",
            "the rest as written"
        );
    }
}
