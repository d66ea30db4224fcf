//! `kcn-ledger demo`: the embedded server on a fresh SQLite database, seeded through its own gRPC
//! API with the generated province ([`crate::generate`]) under a progress bar, then a few of the
//! auditors' answers and the log's verifier key, and the server keeps serving for whoever wants to
//! look (`buf curl`, `curl`, the CLI) until Ctrl-C.
//!
//! The data directory's first administrator token is written to `admin.token` in it (owner-only),
//! so that every other command can use it (`KCN_TOKEN=$(cat demo-data/admin.token)`). A data
//! directory that already holds a log is served as it is, not seeded again.
//!
//! The demo's server has no per-principal rate limit: the generator itself sends thousands of
//! commands a second, as one principal per role.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kcn_eventstore::SystemClock;
use kcn_services::proto;
use proto::audit_query_service_client::AuditQueryServiceClient;
use proto::audit_service_client::AuditServiceClient;

use crate::config::Config;
use crate::generate::{self, Generated};

/// Runs the demo on `config` (its data directory and listen address) with `options` for the
/// generator, until SIGINT or SIGTERM.
///
/// # Errors
///
/// The address is taken, the store cannot be opened, or a command of the generator is refused.
pub async fn run(mut config: Config, options: generate::Options) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.database_url.is_none(),
        "the demo runs on the embedded SQLite database; unset KCN_DATABASE_URL"
    );
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let fresh = !config.database_path().exists();
    let token_file = config.data_dir.join("admin.token");
    config.bootstrap_token_file = Some(token_file.clone());
    config.rate_limit_per_second = 0;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let running = crate::start(config.clone(), listener, Arc::new(SystemClock)).await?;
    let server = format!("http://{}", running.addr);
    tracing::info!(addr = %running.addr, data_dir = %config.data_dir.display(), "kcn-ledger serving");
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("cannot read {}", token_file.display()))?
        .trim()
        .to_owned();
    let channel = crate::client::connect(&server, Some(&token)).await?;

    let generated = if fresh {
        let started = std::time::Instant::now();
        let generated = generate::run(&server, &token, &options).await?;
        eprintln!(
            "seeded {} commands, {} events, in {:.0?}",
            generated.commands,
            generated.head,
            started.elapsed()
        );
        Some(generated)
    } else {
        eprintln!(
            "{} holds a log already: serving it as it is",
            config.data_dir.display()
        );
        None
    };
    wait_for_read_models(&channel).await?;
    let auditor_file = config.data_dir.join("auditor.token");
    let auditor = auditor(&channel, &auditor_file).await?;
    let auditor = crate::client::connect(&server, Some(&auditor)).await?;
    let summary = summary(&auditor, generated.as_ref()).await?;
    println!("{summary}");
    println!(
        "The server keeps serving on {server} (Ctrl-C stops it). The administrator's token is in \
         {}, an auditor's in {}:\n\n    export KCN_TOKEN=$(cat {})\n    buf curl --protocol grpc --http2-prior-knowledge \
         -H \"authorization: Bearer $KCN_TOKEN\" --reflect-header \"*\" --list-methods {server}\n\n\
         The audit console is at {server}/console/ : sign in with the auditor's token and pin the \
         verifier key above under Verify (Xác minh).\n",
        token_file.display(),
        auditor_file.display(),
        auditor_file.display()
    );
    crate::shutdown_signal().await;
    running.shutdown().await
}

/// The demo's auditor's token: issued once and kept (owner-only) in `file`.
async fn auditor(
    admin: &crate::client::AuthChannel,
    file: &std::path::Path,
) -> anyhow::Result<String> {
    if let Ok(token) = std::fs::read_to_string(file) {
        return Ok(token.trim().to_owned());
    }
    let mut principals =
        proto::principal_service_client::PrincipalServiceClient::new(admin.clone());
    let now = chrono::Utc::now() - chrono::Duration::minutes(1);
    let answer = principals
        .issue_principal(proto::IssuePrincipalRequest {
            header: Some(proto::CommandHeader {
                request_id: format!("demo-auditor-{}", now.timestamp()),
                occurred_at: Some(prost_types::Timestamp {
                    seconds: now.timestamp(),
                    nanos: 0,
                }),
                ..Default::default()
            }),
            name: "Thanh tra tỉnh (demo)".into(),
            role: proto::Role::Auditor as i32,
            ..Default::default()
        })
        .await?
        .into_inner();
    crate::bootstrap::write_secret(file, &answer.token)?;
    Ok(answer.token)
}

/// Waits until every read model has applied the whole log, showing how far they are.
async fn wait_for_read_models(channel: &crate::client::AuthChannel) -> anyhow::Result<()> {
    let mut audit = AuditServiceClient::new(channel.clone());
    let mut progress: Option<crate::progress::Progress> = None;
    loop {
        let status = audit
            .get_projection_status(proto::GetProjectionStatusRequest::default())
            .await?
            .into_inner();
        let head = status
            .projections
            .iter()
            .map(|p| p.log_head)
            .max()
            .unwrap_or(0);
        let behind = status
            .projections
            .iter()
            .map(|p| p.position)
            .min()
            .unwrap_or(head);
        if let Some(stopped) = status.projections.iter().find(|p| !p.error.is_empty()) {
            anyhow::bail!("read model {} stopped: {}", stopped.name, stopped.error);
        }
        let progress = progress.get_or_insert_with(|| {
            crate::progress::Progress::new("read models catching up", "events", head, true)
        });
        progress.set_total(head);
        progress.set(behind);
        if behind >= head {
            progress.finish();
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A few of the auditors' answers over the generated province, as text.
async fn summary(
    channel: &crate::client::AuthChannel,
    generated: Option<&Generated>,
) -> anyhow::Result<String> {
    let mut audit = AuditServiceClient::new(channel.clone());
    let mut queries = AuditQueryServiceClient::new(channel.clone());
    let mut directory =
        proto::directory_service_client::DirectoryServiceClient::new(channel.clone());
    let mut out = String::new();
    let checkpoint = audit
        .get_checkpoint(proto::GetCheckpointRequest::default())
        .await?
        .into_inner();
    let key = audit
        .get_verifier_key(proto::GetVerifierKeyRequest::default())
        .await?
        .into_inner();
    writeln!(
        out,
        "\nThe log: {} events, signed as {}",
        checkpoint.tree_size, key.origin
    )?;
    writeln!(out, "  verifier key: {}", key.verifier_key)?;
    let parks = directory
        .list_parks(proto::ListParksRequest {
            page_size: 100,
            ..Default::default()
        })
        .await?
        .into_inner()
        .parks;
    let park = parks
        .iter()
        .find(|p| p.code == "DONGAN-1")
        .or(parks.first());
    if let Some(park) = park {
        writeln!(out, "\nWho was responsible for {}?", park.name)?;
        for date in ["2025-06-01", "2025-09-01"] {
            let r = queries
                .get_park_responsibility(proto::GetParkResponsibilityRequest {
                    park_id: park.park_id.clone(),
                    date: date.into(),
                    min_position: 0,
                })
                .await?
                .into_inner();
            writeln!(
                out,
                "  on {date}: {} (company: {}; agreement: {})",
                r.responsible_authority.map(|a| a.name).unwrap_or_default(),
                r.company.map(|c| c.name).unwrap_or_default(),
                r.agreement
                    .map(|a| a.title)
                    .unwrap_or_else(|| "none".into()),
            )?;
        }
    }
    let late = queries
        .list_late_information_requests(proto::ListLateInformationRequestsRequest {
            year: 2025,
            page_size: 1000,
            ..Default::default()
        })
        .await?
        .into_inner()
        .requests;
    writeln!(
        out,
        "\nInformation requests of 2025 answered late or not at all: {}{}",
        late.len(),
        if late.len() >= 1000 { "+" } else { "" }
    )?;
    let alerts = queries
        .list_unfollowed_alerts(proto::ListUnfollowedAlertsRequest {
            within_days: Some(7),
            page_size: 1000,
            ..Default::default()
        })
        .await?
        .into_inner()
        .alerts;
    writeln!(
        out,
        "Monitoring alerts not followed up within 7 days: {}{}",
        alerts.len(),
        if alerts.len() >= 1000 { "+" } else { "" }
    )?;
    let breaches = queries
        .list_breaches(proto::ListBreachesRequest {
            from_date: "2023-01-01".into(),
            to_date: chrono::Utc::now().date_naive().to_string(),
            page_size: 1000,
            ..Default::default()
        })
        .await?
        .into_inner()
        .breaches;
    let mut by_limit: std::collections::BTreeMap<String, usize> = Default::default();
    for b in &breaches {
        if let Some(breach) = &b.breach {
            *by_limit.entry(breach.limit.clone()).or_default() += 1;
        }
    }
    writeln!(
        out,
        "Breaches in the register (first {}), by limit:",
        breaches.len()
    )?;
    for (limit, n) in by_limit {
        writeln!(out, "  {limit}: {n}")?;
    }
    if let Some(incident) = generated.and_then(|g| g.incidents.first()) {
        let timeline = queries
            .get_incident_timeline(proto::GetIncidentTimelineRequest {
                incident_id: incident.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        writeln!(
            out,
            "\nAn incident's timeline ({incident}): {} milestones",
            timeline.milestones.len()
        )?;
    }
    Ok(out)
}
