//! `engram._native`: the engine in-process for Python, through the
//! server's routes (see `engram_server::embedded`). The Python side
//! (`python/engram`) builds the API on one call: method, path, body.

use engram_server::embedded::{Embedded, EmbeddedOptions, Reply};
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::sync::RwLock;

/// A data directory open in this process. Safe to share between threads:
/// calls run with the GIL released, concurrently.
#[pyclass(module = "engram._native", frozen)]
struct Engine {
    inner: RwLock<Option<Embedded>>,
}

/// The answer to a call: status, headers (lower-case names), body bytes.
type Answer<'py> = (u16, Vec<(String, String)>, Bound<'py, PyBytes>);

#[pymethods]
impl Engine {
    /// Opens (creating if needed) the data directory at `path`, with the
    /// embedders named by `embedders` (settings as `--embedder` takes).
    #[new]
    #[pyo3(signature = (path, embedders=Vec::new()))]
    fn new(py: Python<'_>, path: std::path::PathBuf, embedders: Vec<String>) -> PyResult<Self> {
        let opened = py.detach(|| {
            let embedders = engram_embed::parse_all(embedders.iter().map(String::as_str))?;
            Embedded::open_with(&path, EmbeddedOptions { embedders, ..EmbeddedOptions::default() })
        });
        let embedded = opened.map_err(|e| PyOSError::new_err(format!("opening {}: {e}", path.display())))?;
        Ok(Self { inner: RwLock::new(Some(embedded)) })
    }

    /// Sends one request to the routes; returns (status, headers, body).
    #[pyo3(signature = (method, path, body=None, headers=Vec::new()))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: Vec<(String, String)>,
    ) -> PyResult<Answer<'py>> {
        let reply: Result<Reply, String> = py.detach(|| {
            let guard = self.inner.read().map_err(|_| "the engine failed earlier".to_owned())?;
            let embedded = guard.as_ref().ok_or_else(|| "the engine is closed".to_owned())?;
            embedded.call(method, path, body, &headers).map_err(|e| e.0)
        });
        let reply = reply.map_err(PyRuntimeError::new_err)?;
        Ok((reply.status, reply.headers, PyBytes::new(py, &reply.body)))
    }

    /// Does nothing: measures the cost of crossing into Rust.
    fn noop(&self) {}

    /// Closes the engine (waits for calls in flight); later calls fail.
    fn close(&self, py: Python<'_>) {
        py.detach(|| {
            let taken = self.inner.write().ok().and_then(|mut g| g.take());
            if let Some(embedded) = taken {
                embedded.close();
            }
        });
    }

    /// Whether `close` has run.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.read().map_or(true, |g| g.is_none())
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add("RESPONSE_BYTES_MAX", engram_server::embedded::EMBEDDED_RESPONSE_BYTES_MAX)?;
    Ok(())
}
