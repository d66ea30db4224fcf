//! The first start: a log with no principal gets its first administrator, whose token is read from
//! `bootstrap_token_file` (or generated into it), or generated and printed once on standard error.
//! Only the token's hash is stored; the issuing is the log's first `PrincipalIssued`.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use kcn_services::Ledger;

use crate::config::Config;

/// Creates the first administrator when the log has no principal.
///
/// # Errors
///
/// An unreadable or malformed token file, or a store that cannot record the administrator.
pub async fn first_administrator(config: &Config, ledger: &Ledger) -> anyhow::Result<()> {
    let from_file = match &config.bootstrap_token_file {
        Some(path) if path.exists() => Some(read_token(path)?),
        _ => None,
    };
    let token = match &from_file {
        Some(token) => token.clone(),
        None => kcn_services::auth::new_token().map_err(|s| anyhow::anyhow!("{}", s.message()))?,
    };
    let created = kcn_services::principal::bootstrap(&ledger.store, &token, ledger.clock.now())
        .await
        .map_err(|s| anyhow::anyhow!("cannot create the first administrator: {}", s.message()))?;
    let Some(principal_id) = created else {
        return Ok(());
    };
    tracing::info!(%principal_id, "created the first administrator of this log");
    match (&config.bootstrap_token_file, from_file) {
        (Some(_), Some(_)) => {}
        (Some(path), None) => {
            write_secret(path, &token)?;
            tracing::info!(path = %path.display(), "wrote the first administrator's token");
        }
        (None, _) => {
            // Shown this once: the store keeps only its hash.
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "kcn-ledger: this log had no principal; the first administrator's token (shown \
                 once, keep it safe):\n\n    {token}\n\nIssue the Board's and the companies' \
                 tokens with `KCN_TOKEN=<this token> kcn-ledger principals add …`.\n"
            );
        }
    }
    Ok(())
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the bootstrap token from {}", path.display()))?;
    let token = text.trim().to_owned();
    anyhow::ensure!(
        kcn_services::auth::well_formed(&token) && token.len() >= 32,
        "the bootstrap token in {} must be 32 to 256 visible ASCII characters",
        path.display()
    );
    Ok(token)
}

/// Writes a token to a new file only its owner can read (never over an existing one).
///
/// # Errors
///
/// A file that exists already or cannot be written.
pub fn write_secret(path: &Path, token: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{token}").with_context(|| format!("cannot write {}", path.display()))
}
