//! `engram mcp`: the memory tools of `engram-mcp` on a data directory (in
//! this process, or through the server holding it) or on a remote server.

use crate::args::McpArgs;
use engram_mcp::{McpOptions, MemoryVectors, Target};
use engram_server::embedded::{Embedded, EmbeddedOptions};
use std::path::Path;
use std::sync::Arc;

pub fn run(data_dir: &Path, server: Option<&str>, key: Option<&str>, a: McpArgs) -> Result<(), String> {
    let embedders = engram_embed::parse_all(a.embedders.iter().map(String::as_str)).map_err(|e| e.to_string())?;
    let vectors = match (a.vector_dims, a.embed_model.or_else(|| embedders.names().next().map(|(n, _)| n.to_owned()))) {
        (Some(d), _) => MemoryVectors::Given(d),
        (None, Some(model)) => MemoryVectors::Embedder(model),
        (None, None) => MemoryVectors::None,
    };
    let (target, local) = target(data_dir, server, key, a.admin_key.as_deref(), embedders)?;
    let options = McpOptions { target, space: a.space, collection: a.collection };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let served = runtime.block_on(async {
        engram_mcp::prepare(&options, &vectors).await?;
        match a.http {
            None => engram_mcp::serve_stdio(options).await,
            Some(addr) => {
                let space = options.space.clone();
                let announce = move |bound: std::net::SocketAddr| {
                    println!("engram mcp listening on http://{bound}/mcp (space {space})");
                };
                engram_mcp::serve_http(options, addr, engram_server::shutdown_signal(), announce)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    });
    // The MCP runtime goes first: the embedded engine's own runtime must
    // not be shut down from inside another.
    drop(runtime);
    if let Some(local) = local {
        match Arc::try_unwrap(local) {
            Ok(embedded) => embedded.close(),
            Err(shared) => drop(shared),
        }
    }
    served
}

/// The data directory in this process, or the server holding it, or the
/// server named.
fn target(
    data_dir: &Path,
    server: Option<&str>,
    key: Option<&str>,
    admin_key: Option<&str>,
    embedders: engram::embed::Embedders,
) -> Result<(Target, Option<Arc<Embedded>>), String> {
    let local_key = || std::fs::read_to_string(data_dir.join(engram_server::auth::keys::CLI_KEY_FILE)).ok();
    if let Some(url) = server {
        return Ok((Target::remote(url, key.map(str::to_owned)), None));
    }
    let options = EmbeddedOptions { admin_key: admin_key.map(str::to_owned), embedders };
    match Embedded::open_with(data_dir, options) {
        Ok(embedded) => {
            let shared = Arc::new(embedded);
            Ok((Target::Local(shared.clone()), Some(shared)))
        }
        Err(e) if e.kind() == engram::ErrorKind::Locked => {
            match engram::datadir::holder(data_dir).and_then(|h| h.address) {
                Some(addr) => {
                    eprintln!("note: {} is held by a server; using http://{addr}", data_dir.display());
                    let key = key.map(str::to_owned).or_else(local_key).map(|k| k.trim().to_owned());
                    Ok((Target::remote(&format!("http://{addr}"), key), None))
                }
                None => Err(e.to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}
