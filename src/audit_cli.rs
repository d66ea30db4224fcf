//! `kcn-ledger audit`: the online check. Given a checkpoint the auditor trusts (kept from an earlier
//! audit) and the log's verifier key, it fetches the server's latest checkpoint and the consistency
//! proof from the trusted size, and says whether the log only grew: every event the trusted
//! checkpoint covered is still there, unchanged and in the same order.

use crate::client::AuthChannel;
use anyhow::Context as _;
use kcn_integrity::{Checkpoint, Hash, Verifier, open_checkpoint, verify_consistency};
use kcn_services::proto;
use kcn_services::proto::audit_service_client::AuditServiceClient;

/// What the audit concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The latest checkpoint extends the trusted one (or is the same).
    Grew,
    /// The server presents a history that does not extend the trusted checkpoint.
    Inconsistent(String),
}

/// The result of one audit.
#[derive(Debug, Clone)]
pub struct Audit {
    /// The trusted checkpoint, as opened.
    pub trusted: Option<Checkpoint>,
    /// The server's latest checkpoint, its signature verified.
    pub latest: Checkpoint,
    /// The latest signed note, byte for byte, to keep as the next trusted checkpoint.
    pub latest_note: String,
    pub verdict: Verdict,
}

impl Audit {
    /// True when the log only grew.
    pub fn is_consistent(&self) -> bool {
        self.verdict == Verdict::Grew
    }

    /// One sentence for the auditor.
    pub fn summary(&self) -> String {
        match (&self.verdict, &self.trusted) {
            (Verdict::Grew, Some(t)) if t.size == self.latest.size => format!(
                "consistent: the log is unchanged at {} events (root {})",
                t.size, self.latest.root
            ),
            (Verdict::Grew, Some(t)) => format!(
                "consistent: the log only grew, from {} to {} events (root {})",
                t.size, self.latest.size, self.latest.root
            ),
            (Verdict::Grew, None) => format!(
                "latest checkpoint verified: {} events (root {}); keep it to audit against next time",
                self.latest.size, self.latest.root
            ),
            (Verdict::Inconsistent(why), _) => format!("INCONSISTENT: {why}"),
        }
    }
}

/// Connects to a server at `http://host:port` with the caller's token.
///
/// # Errors
///
/// An unusable URL, a refused connection or an unusable token.
pub async fn connect(
    server: &str,
    token: Option<&str>,
) -> anyhow::Result<AuditServiceClient<AuthChannel>> {
    Ok(AuditServiceClient::new(
        crate::client::connect(server, token).await?,
    ))
}

fn hashes(raw: &[Vec<u8>]) -> anyhow::Result<Vec<Hash>> {
    raw.iter()
        .map(|h| Hash::from_slice(h).context("the server sent a proof hash that is not 32 bytes"))
        .collect()
}

/// Audits the server behind `client` against `trusted_note` (a signed checkpoint note kept
/// earlier; `None` to only fetch and verify the latest, trusting it on first use).
///
/// `Ok` carries the verdict, inconsistent or not; `Err` means the audit could not be carried out
/// (the trusted note does not verify, the server cannot be reached).
///
/// # Errors
///
/// As above.
pub async fn audit(
    client: &mut AuditServiceClient<AuthChannel>,
    trusted_note: Option<&str>,
    verifier: &Verifier,
) -> anyhow::Result<Audit> {
    let trusted = trusted_note
        .map(|note| open_checkpoint(note, verifier))
        .transpose()
        .context("the trusted checkpoint does not verify with the given verifier key")?;
    let latest = client
        .get_checkpoint(proto::GetCheckpointRequest { tree_size: 0 })
        .await
        .context("cannot fetch the latest checkpoint")?
        .into_inner();
    let latest_note = latest.note;
    let inconsistent = |why: String, latest: Checkpoint| Audit {
        trusted: trusted.clone(),
        latest,
        latest_note: latest_note.clone(),
        verdict: Verdict::Inconsistent(why),
    };
    let latest = match open_checkpoint(&latest_note, verifier) {
        Ok(c) => c,
        Err(e) => {
            // An unverifiable latest checkpoint is the server's fault, not the audit's: a verdict.
            let shown = Checkpoint {
                origin: latest.origin,
                size: latest.tree_size,
                root: Hash::from_slice(&latest.root_hash).unwrap_or_default(),
            };
            return Ok(inconsistent(
                format!("the server's latest checkpoint does not verify with the log's key: {e}"),
                shown,
            ));
        }
    };
    let Some(trusted_cp) = trusted.clone() else {
        return Ok(Audit {
            trusted: None,
            latest,
            latest_note,
            verdict: Verdict::Grew,
        });
    };
    if latest.origin != trusted_cp.origin {
        let why = format!(
            "the latest checkpoint is of log {:?}, the trusted one of {:?}",
            latest.origin, trusted_cp.origin
        );
        return Ok(inconsistent(why, latest));
    }
    if latest.size < trusted_cp.size {
        let why = format!(
            "the server's latest checkpoint has {} events, fewer than the {} of the trusted one: the log was cut or rolled back",
            latest.size, trusted_cp.size
        );
        return Ok(inconsistent(why, latest));
    }
    let proof = match client
        .get_consistency_proof(proto::GetConsistencyProofRequest {
            old_size: trusted_cp.size,
            new_size: latest.size,
        })
        .await
    {
        Ok(r) => r.into_inner().hashes,
        Err(status) => {
            let why = format!(
                "the server gives no consistency proof from {} to {}: {}",
                trusted_cp.size,
                latest.size,
                status.message()
            );
            return Ok(inconsistent(why, latest));
        }
    };
    let proof = match hashes(&proof) {
        Ok(proof) => proof,
        Err(e) => return Ok(inconsistent(e.to_string(), latest)),
    };
    match verify_consistency(
        trusted_cp.size,
        latest.size,
        &trusted_cp.root,
        &latest.root,
        &proof,
    ) {
        Ok(()) => Ok(Audit {
            trusted,
            latest,
            latest_note,
            verdict: Verdict::Grew,
        }),
        Err(e) => {
            let why = format!(
                "the latest checkpoint ({} events) does not extend the trusted one ({} events): {e}; \
                 events the trusted checkpoint covers were altered, removed or reordered",
                latest.size, trusted_cp.size
            );
            Ok(inconsistent(why, latest))
        }
    }
}
