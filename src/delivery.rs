//! Delivery of the log to the configured e-government endpoints (`[[deliveries]]`): every matching
//! event, in log order, at least once, as a CloudEvents 1.0 JSON document (structured mode, built
//! by `cloudevents-sdk`) over HTTP POST, signed as Standard Webhooks says (`standardwebhooks`:
//! `webhook-id` is the event id, so a receiver deduplicates on it).
//!
//! Each endpoint's progress lives in the read models' database (`delivery_progress`; on SQLite the
//! `kcn-ledger.read.sqlite` file, in WAL mode with SQLite's default `synchronous`): the last position
//! delivered, the attempts at the next event, and where it is paused. One server delivers each
//! endpoint at a time, holding a lease on its row that it renews with every step; a server that
//! dies stops renewing and another takes the endpoint over when the lease has run out
//! (`delivery_lease_ms`), from the last position recorded: an event whose delivery was not
//! recorded is delivered again, so delivery is at least once and receivers deduplicate.
//!
//! A failure is retried with exponential backoff and jitter; after `max_attempts` the endpoint is
//! paused at that event (order is never broken: nothing after it is sent), which health
//! (`kcn.ledger.v1.DeliveryService/<name>` NOT_SERVING), the logs (WARN) and the metrics
//! (`kcn_delivery_paused`) show, until an administrator redrives it or skips the event
//! ([`service`]).

pub mod service;

use std::hash::BuildHasher as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use cloudevents::{EventBuilder as _, EventBuilderV10};
use kcn_eventstore::{EventStore, StoredEvent};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row as _};
use tokio::sync::watch;

/// The log line a server writes when it takes an endpoint's delivery over (the process tests find
/// the delivering server by it).
pub const DELIVERING: &str = "this process now delivers to the endpoint";

/// The advisory-lock key that serialises the delivery table's set-up on PostgreSQL ("kcn-dlv1").
const DELIVERY_SETUP_LOCK: i64 = 0x6b63_6e2d_646c_7631;

/// One configured endpoint (its `Debug` never shows the secret).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// A name of its own, unique among the endpoints: 1 to 64 letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// Where the events are posted (`http://` or `https://`).
    pub url: String,
    /// The Standard Webhooks secret (`whsec_` and the base64 key), or the file holding it.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Only events of these aggregate types; empty: all.
    #[serde(default)]
    pub aggregate_types: Vec<String>,
    /// Only events of these types; empty: all.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Failed attempts at one event before the endpoint is paused at it.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// How long one POST may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_file", &self.secret_file)
            .field("aggregate_types", &self.aggregate_types)
            .field("event_types", &self.event_types)
            .field("max_attempts", &self.max_attempts)
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

fn default_attempts() -> u32 {
    8
}

fn default_timeout_ms() -> u64 {
    10_000
}

/// The timing of every endpoint's delivery.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub lease: Duration,
}

/// An endpoint, ready to deliver to (its secret never printed).
#[derive(Clone)]
struct Endpoint {
    config: EndpointConfig,
    webhook: Arc<standardwebhooks::Webhook>,
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries")
            .field("endpoints", &self.endpoints.len())
            .finish_non_exhaustive()
    }
}

/// Every configured endpoint's delivery, over the log's database.
#[derive(Clone)]
pub struct Deliveries {
    pool: AnyPool,
    store: EventStore,
    endpoints: Arc<Vec<Endpoint>>,
    /// This process's name as a lease holder.
    owner: String,
    origin: String,
    timing: Timing,
    client: reqwest::Client,
}

/// One endpoint's progress row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub delivered: u64,
    pub paused_at: Option<u64>,
    pub paused_event_id: Option<String>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Deliveries {
    /// Opens the endpoints' progress in the database at `url` (creating its table and a row per
    /// endpoint); `None` when no endpoint is configured.
    pub async fn open(
        url: &str,
        store: EventStore,
        origin: String,
        configs: &[EndpointConfig],
        timing: Timing,
    ) -> anyhow::Result<Option<Self>> {
        if configs.is_empty() {
            return Ok(None);
        }
        let mut endpoints = Vec::new();
        for c in configs {
            let valid = !c.name.is_empty()
                && c.name.len() <= 64
                && c.name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
            anyhow::ensure!(
                valid,
                "delivery endpoint name {:?} is not 1 to 64 letters, digits, '-', '_' or '.'",
                c.name
            );
            anyhow::ensure!(
                endpoints.iter().all(|e: &Endpoint| e.config.name != c.name),
                "two delivery endpoints are named {:?}",
                c.name
            );
            anyhow::ensure!(
                c.url.starts_with("http://") || c.url.starts_with("https://"),
                "delivery endpoint {}: url must be http:// or https://",
                c.name
            );
            anyhow::ensure!(
                c.max_attempts >= 1,
                "delivery endpoint {}: max_attempts must be at least 1",
                c.name
            );
            let secret = match (&c.secret, &c.secret_file) {
                (Some(s), None) => s.clone(),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
                    .trim()
                    .to_owned(),
                _ => anyhow::bail!("delivery endpoint {}: give secret or secret_file", c.name),
            };
            let webhook = standardwebhooks::Webhook::new(&secret).map_err(|e| {
                anyhow::anyhow!(
                    "delivery endpoint {}: the secret is not whsec_<base64>: {e}",
                    c.name
                )
            })?;
            endpoints.push(Endpoint {
                config: c.clone(),
                webhook: Arc::new(webhook),
            });
        }
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .context("cannot open the delivery progress")?;
        // Servers of one PostgreSQL database start together: `CREATE TABLE IF NOT EXISTS` is not
        // safe against itself there (two may both try to create the table's type), so its set-up
        // is serialised by a transaction-scoped advisory lock.
        let mut setup = pool.begin().await?;
        if !sqlite {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(DELIVERY_SETUP_LOCK)
                .execute(&mut *setup)
                .await?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS delivery_progress (endpoint TEXT PRIMARY KEY NOT NULL, \
             delivered BIGINT NOT NULL, paused_at BIGINT, paused_event_id TEXT, attempts BIGINT NOT NULL, \
             last_error TEXT, last_error_at TEXT, owner TEXT, lease_until BIGINT NOT NULL)",
        )
        .execute(&mut *setup)
        .await?;
        setup.commit().await?;
        for e in &endpoints {
            sqlx::query(
                "INSERT INTO delivery_progress (endpoint, delivered, attempts, lease_until) \
                 VALUES ($1, 0, 0, 0) ON CONFLICT (endpoint) DO NOTHING",
            )
            .bind(e.config.name.clone())
            .execute(&pool)
            .await?;
        }
        Ok(Some(Self {
            pool,
            store,
            endpoints: Arc::new(endpoints),
            owner: uuid::Uuid::now_v7().to_string(),
            origin,
            timing,
            client: reqwest::Client::builder()
                .build()
                .context("cannot build the HTTP client")?,
        }))
    }

    /// The configured endpoints' names and URLs.
    pub fn endpoints(&self) -> Vec<(String, String)> {
        self.endpoints
            .iter()
            .map(|e| (e.config.name.clone(), e.config.url.clone()))
            .collect()
    }

    /// Where an endpoint's delivery stands; `None` for a name no endpoint has.
    pub async fn progress(&self, name: &str) -> anyhow::Result<Option<Progress>> {
        let row = sqlx::query(
            "SELECT delivered, paused_at, paused_event_id, attempts, last_error, last_error_at \
             FROM delivery_progress WHERE endpoint = $1",
        )
        .bind(name.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        if !self.endpoints.iter().any(|e| e.config.name == name) {
            return Ok(None);
        }
        row.map(|r| -> anyhow::Result<Progress> {
            Ok(Progress {
                delivered: u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                paused_at: r
                    .try_get::<Option<i64>, _>(1)?
                    .map(|p| u64::try_from(p).unwrap_or(0)),
                paused_event_id: r.try_get(2)?,
                attempts: u32::try_from(r.try_get::<i64, _>(3)?).unwrap_or(u32::MAX),
                last_error: r.try_get(4)?,
                last_error_at: r.try_get(5)?,
            })
        })
        .transpose()
    }

    /// Lets a paused endpoint try again; `false` when it was not paused.
    pub async fn redrive(&self, name: &str) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE delivery_progress SET paused_at = NULL, paused_event_id = NULL, attempts = 0 \
             WHERE endpoint = $1 AND paused_at IS NOT NULL",
        )
        .bind(name.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves a paused endpoint past the event it is paused at (once the skip is in the log).
    pub async fn skip(&self, name: &str, position: u64) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE delivery_progress SET delivered = $2, paused_at = NULL, paused_event_id = NULL, \
             attempts = 0, last_error = NULL WHERE endpoint = $1 AND paused_at = $2",
        )
        .bind(name.to_owned())
        .bind(as_i64(position))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Delivers every endpoint until `closing` is set, reporting a paused one to `health`.
    pub fn spawn(
        &self,
        closing: watch::Receiver<bool>,
        health: tonic_health::server::HealthReporter,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.endpoints
            .iter()
            .cloned()
            .map(|endpoint| {
                let this = self.clone();
                let closing = closing.clone();
                let health = health.clone();
                tokio::spawn(async move { this.run(endpoint, closing, health).await })
            })
            .collect()
    }

    async fn run(
        self,
        endpoint: Endpoint,
        mut closing: watch::Receiver<bool>,
        health: tonic_health::server::HealthReporter,
    ) {
        let name = endpoint.config.name.clone();
        let service = format!("kcn.ledger.v1.DeliveryService/{name}");
        let mut head = self.store.subscribe();
        let mut paused_reported = None;
        let mut holding = false;
        while !*closing.borrow() {
            let step = self.step(&endpoint).await;
            if let Ok(step) = &step
                && holding != !matches!(step, Step::NotLeader)
            {
                holding = !holding;
                if holding {
                    tracing::info!(endpoint = %name, owner = %self.owner, "{DELIVERING}");
                } else {
                    tracing::info!(endpoint = %name, owner = %self.owner, "another process delivers to this endpoint now");
                }
            }
            let pause = match step {
                Ok(Step::Delivered) => Duration::ZERO,
                Ok(Step::Idle) => Duration::from_millis(250),
                Ok(Step::NotLeader) => self.timing.lease / 3,
                Ok(Step::Paused) => Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!(endpoint = %name, error = %format!("{e:#}"), "delivery step failed");
                    Duration::from_secs(1)
                }
            };
            let paused = matches!(
                self.progress(&name).await,
                Ok(Some(Progress {
                    paused_at: Some(_),
                    ..
                }))
            );
            if paused_reported != Some(paused) {
                paused_reported = Some(paused);
                metrics::gauge!("kcn_delivery_paused", "endpoint" => name.clone()).set(if paused {
                    1.0
                } else {
                    0.0
                });
                let status = if paused {
                    tonic_health::ServingStatus::NotServing
                } else {
                    tonic_health::ServingStatus::Serving
                };
                health.set_service_status(service.as_str(), status).await;
            }
            if pause > Duration::ZERO {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = head.changed(), if pause < Duration::from_secs(1) => {}
                    _ = closing.changed() => {}
                }
            }
        }
        // Hand the endpoint over at once rather than when the lease runs out.
        let _ = sqlx::query(
            "UPDATE delivery_progress SET lease_until = 0 WHERE endpoint = $1 AND owner = $2",
        )
        .bind(name)
        .bind(self.owner.clone())
        .execute(&self.pool)
        .await;
    }

    /// Takes or renews the endpoint's lease: `true` while this server holds it.
    async fn lease(&self, name: &str) -> anyhow::Result<bool> {
        let now = now_ms();
        let until =
            now.saturating_add(i64::try_from(self.timing.lease.as_millis()).unwrap_or(i64::MAX));
        let done = sqlx::query(
            "UPDATE delivery_progress SET owner = $2, lease_until = $3 \
             WHERE endpoint = $1 AND (owner = $2 OR owner IS NULL OR lease_until < $4)",
        )
        .bind(name.to_owned())
        .bind(self.owner.clone())
        .bind(until)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// One step of an endpoint's delivery: one page of the log, as far as it goes.
    async fn step(&self, endpoint: &Endpoint) -> anyhow::Result<Step> {
        let name = &endpoint.config.name;
        if !self.lease(name).await? {
            return Ok(Step::NotLeader);
        }
        let Some(progress) = self.progress(name).await? else {
            return Ok(Step::Idle);
        };
        if progress.paused_at.is_some() {
            return Ok(Step::Paused);
        }
        let events = self
            .store
            .read_page(progress.delivered + 1, 64, 1 << 20)
            .await?;
        if events.is_empty() {
            return Ok(Step::Idle);
        }
        let mut attempts = progress.attempts;
        for e in events {
            if !wanted(&endpoint.config, &e) {
                if !self.advance(name, e.position).await? {
                    return Ok(Step::NotLeader);
                }
                continue;
            }
            let body = self.cloudevent(&e)?;
            loop {
                if !self.lease(name).await? {
                    return Ok(Step::NotLeader);
                }
                match self.post(endpoint, &e, &body).await {
                    Ok(()) => {
                        metrics::counter!("kcn_delivery_attempts_total", "endpoint" => name.clone(), "result" => "delivered").increment(1);
                        metrics::gauge!("kcn_delivery_position", "endpoint" => name.clone())
                            .set(e.position as f64);
                        if !self.advance(name, e.position).await? {
                            return Ok(Step::NotLeader);
                        }
                        attempts = 0;
                        break;
                    }
                    Err(error) => {
                        attempts = attempts.saturating_add(1);
                        metrics::counter!("kcn_delivery_attempts_total", "endpoint" => name.clone(), "result" => "failed").increment(1);
                        let paused = attempts >= endpoint.config.max_attempts;
                        self.failed(name, &e, attempts, &error, paused).await?;
                        if paused {
                            tracing::warn!(endpoint = %name, position = e.position, attempts, error = %error,
                                "delivery paused: the endpoint keeps failing; redrive it or skip the event");
                            return Ok(Step::Paused);
                        }
                        tracing::info!(endpoint = %name, position = e.position, attempts, error = %error, "delivery failed; retrying");
                        tokio::time::sleep(self.backoff(attempts)).await;
                    }
                }
            }
        }
        Ok(Step::Delivered)
    }

    /// Exponential backoff with jitter: base × 2^(attempts-1), at most the maximum, then a random
    /// half to whole of it, so that endpoints that failed together do not retry together.
    fn backoff(&self, attempts: u32) -> Duration {
        let exp = self
            .timing
            .retry_base
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
            .min(self.timing.retry_max);
        let random = std::collections::hash_map::RandomState::new().hash_one(now_ms());
        let fraction = 0.5 + (random % 1000) as f64 / 2000.0;
        exp.mul_f64(fraction)
    }

    async fn advance(&self, name: &str, position: u64) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE delivery_progress SET delivered = $3, attempts = 0, last_error = NULL \
             WHERE endpoint = $1 AND owner = $2 AND delivered < $3",
        )
        .bind(name.to_owned())
        .bind(self.owner.clone())
        .bind(as_i64(position))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn failed(
        &self,
        name: &str,
        e: &StoredEvent,
        attempts: u32,
        error: &str,
        pause: bool,
    ) -> anyhow::Result<()> {
        let at = kcn_integrity::leaf::format_timestamp(chrono::Utc::now());
        sqlx::query(
            "UPDATE delivery_progress SET attempts = $3, last_error = $4, last_error_at = $5, \
             paused_at = $6, paused_event_id = $7 WHERE endpoint = $1 AND owner = $2",
        )
        .bind(name.to_owned())
        .bind(self.owner.clone())
        .bind(i64::from(attempts))
        .bind(error.chars().take(1000).collect::<String>())
        .bind(at)
        .bind(pause.then(|| as_i64(e.position)))
        .bind(pause.then(|| e.event_id.to_string()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The event as a CloudEvents 1.0 JSON document: `id` the event id, `source` the log's origin,
    /// `type` `vn.kcn.ledger.<EventType>`, `subject` `<AggregateType>/<id>`, `time` the business time,
    /// the extension `position`, and as `data` the stored event (payload and metadata as JSON).
    fn cloudevent(&self, e: &StoredEvent) -> anyhow::Result<Vec<u8>> {
        let json = |bytes: &[u8]| {
            serde_json::from_slice::<serde_json::Value>(bytes).unwrap_or(serde_json::Value::Null)
        };
        let time: chrono::DateTime<chrono::Utc> = e.occurred_at.parse()?;
        let data = serde_json::json!({
            "position": e.position,
            "event_id": e.event_id.to_string(),
            "aggregate_type": e.aggregate_type,
            "aggregate_id": e.aggregate_id,
            "aggregate_version": e.aggregate_version,
            "event_type": e.event_type,
            "schema_version": e.schema_version,
            "occurred_at": e.occurred_at,
            "recorded_at": e.recorded_at,
            "payload": json(&e.payload),
            "metadata": json(&e.metadata),
        });
        let event = EventBuilderV10::new()
            .id(e.event_id.to_string())
            .source(self.origin.clone())
            .ty(format!("vn.kcn.ledger.{}", e.event_type))
            .subject(format!("{}/{}", e.aggregate_type, e.aggregate_id))
            .time(time)
            .extension("position", as_i64(e.position))
            .data("application/json", data)
            .build()
            .map_err(|err| anyhow::anyhow!("the CloudEvent does not build: {err}"))?;
        Ok(serde_json::to_vec(&event)?)
    }

    /// POSTs one event; `Err` with what went wrong unless the endpoint answered 2xx.
    async fn post(&self, endpoint: &Endpoint, e: &StoredEvent, body: &[u8]) -> Result<(), String> {
        let id = e.event_id.to_string();
        let timestamp = now_ms() / 1000;
        let signature = endpoint
            .webhook
            .sign(&id, timestamp, body)
            .map_err(|err| format!("cannot sign: {err}"))?;
        let answer = self
            .client
            .post(&endpoint.config.url)
            .timeout(Duration::from_millis(endpoint.config.timeout_ms))
            .header("content-type", "application/cloudevents+json")
            .header(standardwebhooks::HEADER_WEBHOOK_ID, id)
            .header(
                standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
                timestamp.to_string(),
            )
            .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|err| format!("{err}"))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!("the endpoint answered {}", answer.status()))
        }
    }
}

/// What one step did.
enum Step {
    Delivered,
    Idle,
    NotLeader,
    Paused,
}

fn wanted(c: &EndpointConfig, e: &StoredEvent) -> bool {
    (c.aggregate_types.is_empty() || c.aggregate_types.contains(&e.aggregate_type))
        && (c.event_types.is_empty() || c.event_types.contains(&e.event_type))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_configured_secret_is_never_shown() {
        let c = super::EndpointConfig {
            name: "egov".into(),
            url: "https://egov.example/events".into(),
            secret: Some("whsec_c2VjcmV0LWtleS1ieXRlcw==".into()),
            secret_file: None,
            aggregate_types: Vec::new(),
            event_types: Vec::new(),
            max_attempts: 8,
            timeout_ms: 1000,
        };
        assert!(!format!("{c:?}").contains("c2VjcmV0"), "{c:?}");
    }
}
