//! Throwaway PostgreSQL databases for tests, and whether a server is there.
//!
//! Each [`TestDatabase`] is a fresh database `engram_test_<random>` created
//! through the maintenance database named by `ENGRAM_TEST_POSTGRES`
//! (default [`DEFAULT_URL`]) and dropped when the value is dropped, so runs
//! never see each other's rows.

use std::sync::OnceLock;

/// Where tests find PostgreSQL when `ENGRAM_TEST_POSTGRES` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The maintenance database's URL tests use.
pub fn postgres_url() -> String {
    std::env::var("ENGRAM_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// Whether a PostgreSQL server answers at [`postgres_url`]. When it does
/// not, this fails under CI (env `CI` set), where the server is part of the
/// test environment, and otherwise says once that the tests are skipped.
pub fn postgres_available() -> bool {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    let url = postgres_url();
    let probe = AVAILABLE.get_or_init(|| {
        let probe = admin(&url).map(drop);
        if let Err(e) = &probe
            && std::env::var_os("CI").is_none()
        {
            // Straight to the stream, past the test harness's capture of
            // `eprintln!`, so a skipped run is visible as one.
            let line = format!("skipped: no PostgreSQL at {url} ({e}); set ENGRAM_TEST_POSTGRES to run these tests\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        }
        probe
    });
    match probe {
        Ok(()) => true,
        Err(e) if std::env::var_os("CI").is_some() => panic!("no PostgreSQL at {url} under CI: {e}"),
        Err(_) => false,
    }
}

fn admin(url: &str) -> Result<postgres::Client, String> {
    let mut config: postgres::Config = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    config.connect_timeout(std::time::Duration::from_secs(5));
    config.connect(postgres::NoTls).map_err(|e| e.to_string())
}

/// A database created for one test and dropped after it.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates a fresh, empty UTF-8 database.
    pub fn create() -> Self {
        let admin_url = postgres_url();
        let name = format!("engram_test_{:016x}", rand::random::<u64>());
        let mut client = admin(&admin_url).expect("connect to the PostgreSQL maintenance database");
        // The name is ours (hex digits), so splicing it is safe.
        client
            .batch_execute(&format!("CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0"))
            .expect("create the test database");
        let url = with_dbname(&admin_url, &name);
        Self { admin_url, name, url }
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    /// `WITH (FORCE)` ends sessions a failed test may have left behind.
    fn drop(&mut self) {
        if let Ok(mut client) = admin(&self.admin_url) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// `url` pointing at database `name` instead: the path of a URL, or a
/// `dbname` appended to a key=value string (the later key wins).
pub fn with_dbname(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={name}");
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (head, tail) = url.split_at(scheme_end + 3 + authority_end);
    let query = tail.find('?').map_or("", |q| &tail[q..]);
    format!("{head}/{name}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbname_replaces_the_path_and_keeps_the_query() {
        assert_eq!(with_dbname("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(with_dbname("postgres://u@h?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(with_dbname("postgresql://h/a?b=c", "x"), "postgresql://h/x?b=c");
        assert_eq!(with_dbname("host=h user=u", "x"), "host=h user=u dbname=x");
    }
}
