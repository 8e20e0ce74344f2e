//! Audit: signed checkpoints of a space's log, receipts (an entry with its
//! inclusion proof in a signed checkpoint), consistency proofs between two
//! checkpoints, the server's public key, and the full audit of a space's
//! stored rows against its log.

use super::{AppState, blocking};
use crate::extract::{Params, QueryString};
use crate::problem::{ApiResult, Problem};
use axum::Json;
use axum::extract::State;
use engram::{AuditReport, TreeHead};
use engram_core::audit::{Checkpoint, ConsistencyProof, Receipt, ReceiptEntry, SigningKey, hex};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The server's audit signing key, public half.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditKey {
    /// Ed25519 public key, hex: give it to `engram audit verify`.
    pub public_key: String,
    /// The key's id, as checkpoints name it.
    pub key_id: String,
    pub algorithm: &'static str,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SizeParams {
    /// The tree of the log's first `size` entries (default: all).
    pub size: Option<u64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The older checkpoint's tree size.
    pub old: u64,
    /// The newer tree size (default: the whole log).
    pub new: Option<u64>,
}

/// A consistency proof with the newer tree's signed checkpoint.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsistencyAnswer {
    #[serde(flatten)]
    pub proof: ConsistencyProof,
    pub checkpoint: Checkpoint,
}

fn sign(key: &SigningKey, space: &engram::Space, head: &TreeHead) -> Checkpoint {
    Checkpoint::sign_now(key, space.name(), space.id(), head.tree_size, &head.root, &head.head_hash)
}

#[utoipa::path(get, path = "/v1/audit/public-key", tag = "audit",
    responses((status = 200, body = AuditKey)))]
pub async fn audit_public_key(State(s): State<AppState>) -> Json<AuditKey> {
    Json(AuditKey { public_key: s.audit.public_key(), key_id: s.audit.key_id(), algorithm: "ed25519" })
}

#[utoipa::path(get, path = "/v1/spaces/{space}/audit/checkpoint", tag = "audit",
    params(("space" = String, Path), SizeParams),
    responses((status = 200, body = Checkpoint), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn audit_checkpoint(
    State(s): State<AppState>,
    Params(space): Params<String>,
    QueryString(p): QueryString<SizeParams>,
) -> ApiResult<Json<Checkpoint>> {
    let key = Arc::clone(&s.audit);
    Ok(Json(
        blocking(move || {
            let space = s.engine.space(&space)?;
            Ok(sign(&key, &space, &space.audit_head(p.size)?))
        })
        .await?,
    ))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/changes/{position}/receipt", tag = "audit",
    params(("space" = String, Path), ("position" = u64, Path), SizeParams),
    responses((status = 200, body = Receipt), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn change_receipt(
    State(s): State<AppState>,
    Params((space, position)): Params<(String, u64)>,
    QueryString(p): QueryString<SizeParams>,
) -> ApiResult<Json<Receipt>> {
    let key = Arc::clone(&s.audit);
    Ok(Json(
        blocking(move || {
            let space = s.engine.space(&space)?;
            let (entry, head, proof) = space.audit_inclusion(position, p.size)?;
            Ok(Receipt {
                entry: ReceiptEntry::of(&entry),
                checkpoint: sign(&key, &space, &head),
                inclusion_proof: proof.iter().map(|h| hex(h)).collect(),
            })
        })
        .await?,
    ))
}

#[utoipa::path(get, path = "/v1/spaces/{space}/audit/consistency", tag = "audit",
    params(("space" = String, Path), ConsistencyParams),
    responses((status = 200, body = ConsistencyAnswer), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn audit_consistency(
    State(s): State<AppState>,
    Params(space): Params<String>,
    QueryString(p): QueryString<ConsistencyParams>,
) -> ApiResult<Json<ConsistencyAnswer>> {
    let key = Arc::clone(&s.audit);
    Ok(Json(
        blocking(move || {
            let space = s.engine.space(&space)?;
            let (head, proof) = space.audit_consistency(p.old, p.new)?;
            let proof = ConsistencyProof {
                old_size: p.old,
                new_size: head.tree_size,
                proof: proof.iter().map(|h| hex(h)).collect(),
            };
            Ok(ConsistencyAnswer { proof, checkpoint: sign(&key, &space, &head) })
        })
        .await?,
    ))
}

#[utoipa::path(post, path = "/v1/spaces/{space}/audit/verify", tag = "audit", params(("space" = String, Path)),
    responses((status = 200, body = AuditReport), (status = 404, body = Problem), (status = 500, body = Problem)))]
pub async fn audit_verify(State(s): State<AppState>, Params(space): Params<String>) -> ApiResult<Json<AuditReport>> {
    Ok(Json(blocking(move || s.engine.space(&space)?.audit_rows()).await?))
}
