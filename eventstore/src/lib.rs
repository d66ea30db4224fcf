//! The event log of kcn-ledger on sqlx: SQLite (the embedded default) and, behind the same
//! [`Backend`] trait, PostgreSQL. It assigns gap-free global positions, keeps durable idempotency
//! records, batches concurrent commands into one transaction (group commit), and maintains the
//! transparency log's Merkle tree in the same transaction as the events.
//!
//! The command path is [`EventStore::execute`]: load the aggregate, let it `handle` the command into
//! an event sink, commit, and hand the committed positions and event ids back to the caller (what
//! cqrs-es's `CqrsFramework::execute_with_metadata` does, minus the positions it cannot return).

pub mod backend;
mod cache;
pub mod checkpoint;
pub mod error;
pub mod history;
pub mod pool;
pub mod postgres;
pub mod record;
pub mod sqlite;
pub mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use kcn_domain::agreement::{AgreementsInForce, CoordinationAgreement};
use kcn_domain::park::Park;
use kcn_domain::scope::{self, Acting, Scope};
use kcn_domain::time::{Clock, local_date};
use kcn_domain::{
    AggregateKind, Deps, DomainError, EventBody, LedgerAggregate, LegalRules, Lookups, Timed,
};
use kcn_integrity::leaf::parse_timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::cache::{CommittedReads, StreamCache};

pub use backend::{AppendTx, Backend, RequestRecord};
pub use checkpoint::{Checkpointer, IssuedCheckpoint, LogIdentity, TransparencyError};
pub use error::StoreError;
pub use postgres::PostgresBackend;
pub use record::{Actor, CommandContext, Metadata, Outcome, Source, StoredEvent};
pub use sqlite::{SqliteBackend, SqliteDurability};
pub use writer::{DecidedEvent, Decision, Head, MAX_EVENT_BYTES, Sealed, Target};

/// The event log: the write path (commands) and the read path (events by position or stream).
#[derive(Clone)]
pub struct EventStore {
    backend: Arc<dyn Backend>,
    /// The committed log as deciding reads it: through the writer's cache.
    reads: CommittedReads,
    writer: mpsc::Sender<writer::Job>,
    head: watch::Receiver<Head>,
    sealed: watch::Receiver<Option<Sealed>>,
    deps: Deps,
}

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore")
            .field("backend", &self.backend)
            .finish()
    }
}

/// Answers the domain's lookups from the committed log, through the writer's cache (only the
/// writer's task decides, so only it reads through here).
struct StoreLookups(CommittedReads);

#[async_trait]
impl Lookups for StoreLookups {
    async fn exists(&self, kind: AggregateKind, id: Uuid) -> Result<bool, DomainError> {
        self.0
            .stream_exists(kind.as_str(), &id.to_string())
            .await
            .map_err(|e| DomainError::Lookup(e.to_string()))
    }

    async fn succeeded_on(
        &self,
        authority_id: Uuid,
    ) -> Result<Option<chrono::NaiveDate>, DomainError> {
        use kcn_domain::authority::Authority;
        // The succession is recorded on the predecessor's own stream: fold it.
        let events = self
            .0
            .load_stream(Authority::TYPE, &authority_id.to_string())
            .await
            .map_err(|e| DomainError::Lookup(e.to_string()))?;
        let authority =
            fold::<Authority>(&events).map_err(|e| DomainError::Lookup(e.to_string()))?;
        Ok(authority.succeeded_on())
    }

    async fn tenant_commitments(&self, tenant_id: Uuid) -> Result<Vec<String>, DomainError> {
        use kcn_domain::tenant::Tenant;
        let events = self
            .0
            .load_stream(Tenant::TYPE, &tenant_id.to_string())
            .await
            .map_err(|e| DomainError::Lookup(e.to_string()))?;
        let tenant = fold::<Tenant>(&events).map_err(|e| DomainError::Lookup(e.to_string()))?;
        Ok(tenant
            .commitments
            .iter()
            .map(|c| c.commitment_id.as_str().to_owned())
            .collect())
    }
}

/// Rebuilds an aggregate from its stored events, upcasting older schema versions on the way.
pub fn fold<A: LedgerAggregate>(events: &[StoredEvent]) -> Result<A, StoreError> {
    let mut aggregate = A::default();
    for e in events {
        aggregate.apply(decode::<A>(e)?);
    }
    Ok(aggregate)
}

/// Reads one stored event as the aggregate's domain event.
pub fn decode<A: LedgerAggregate>(e: &StoredEvent) -> Result<Timed<A::Body>, StoreError> {
    let body =
        A::Body::from_payload(&e.event_type, e.schema_version, &e.payload).map_err(|err| {
            StoreError::Internal(format!(
                "event at position {} cannot be read: {err}",
                e.position
            ))
        })?;
    let occurred_at = parse_timestamp(&e.occurred_at).map_err(|err| {
        StoreError::Internal(format!(
            "event at position {}: occurred_at: {err}",
            e.position
        ))
    })?;
    Ok(Timed { occurred_at, body })
}

/// The marker of [`claim_recorded_keys`] in `unique_keys`: present once the keys of the
/// registrations recorded before the table existed have been claimed.
const KEYS_CLAIMED: (&str, &str) = ("_ledger", "recorded registrations claimed");

/// Claims, once, the unique keys of registrations recorded before the store decided them (a log
/// written by an older version): in log order, so the first registration of a code keeps it. A code
/// registered twice before stays so in the log (both are facts); only new registrations are refused.
/// Runs under the log's write lock, so two servers starting together claim once.
async fn claim_recorded_keys(backend: &dyn Backend) -> Result<(), StoreError> {
    let mut tx = backend.begin_append().await?;
    if tx
        .find_unique(KEYS_CLAIMED.0, KEYS_CLAIMED.1)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let mut keys = Vec::new();
    keys.extend(recorded_keys::<Park>(backend).await?);
    keys.extend(recorded_keys::<kcn_domain::company::InfrastructureCompany>(backend).await?);
    keys.extend(recorded_keys::<kcn_domain::tenant::Tenant>(backend).await?);
    keys.sort_by_key(|(position, _)| *position);
    let mut rows: Vec<(String, String, String)> = Vec::with_capacity(keys.len() + 1);
    let mut seen = std::collections::HashSet::new();
    for (_, (scope, key, id)) in keys {
        if seen.insert((scope.clone(), key.clone())) {
            rows.push((scope, key, id));
        }
    }
    let claimed = rows.len();
    rows.push((
        KEYS_CLAIMED.0.to_owned(),
        KEYS_CLAIMED.1.to_owned(),
        String::new(),
    ));
    tx.insert_unique(&rows).await?;
    tx.commit().await?;
    tracing::info!(
        keys = claimed,
        "unique codes of recorded registrations claimed"
    );
    Ok(())
}

/// The unique keys one aggregate type's recorded events claim, with the position that claimed each.
async fn recorded_keys<A: LedgerAggregate>(
    backend: &dyn Backend,
) -> Result<Vec<(u64, (String, String, String))>, StoreError> {
    let mut keys = Vec::new();
    for e in backend.load_aggregate_type(A::TYPE).await? {
        // Only registrations claim keys; an event this version cannot read claims nothing and does
        // not stop the start (its aggregate refuses commands until it is read again).
        if !e.event_type.ends_with("Registered") {
            continue;
        }
        let (Ok(id), Ok(event)) = (Uuid::parse_str(&e.aggregate_id), decode::<A>(&e)) else {
            tracing::warn!(
                position = e.position,
                "a registration that cannot be read claims no key"
            );
            continue;
        };
        for k in A::unique_keys(id, &[event]) {
            keys.push((
                e.position,
                (k.scope.to_owned(), k.key, e.aggregate_id.clone()),
            ));
        }
    }
    Ok(keys)
}

impl EventStore {
    /// Starts the store's writer task over a backend.
    pub async fn start(
        backend: Arc<dyn Backend>,
        clock: Arc<dyn Clock>,
        rules: LegalRules,
    ) -> Result<Self, StoreError> {
        claim_recorded_keys(backend.as_ref()).await?;
        let size = backend.head().await?;
        let (head_tx, head) = watch::channel(Head { size, root: None });
        let (sealed_tx, sealed) = watch::channel(None);
        let cache = Arc::new(StreamCache::default());
        let writer = writer::spawn(backend.clone(), clock, head_tx, sealed_tx, cache.clone());
        let reads = CommittedReads {
            backend: backend.clone(),
            cache,
        };
        let deps = Deps {
            lookups: Arc::new(StoreLookups(reads.clone())),
            rules,
        };
        Ok(Self {
            reads,
            backend,
            writer,
            head,
            sealed,
            deps,
        })
    }

    /// The legal rules commands are judged with (the read side judges with the same).
    pub fn rules(&self) -> &LegalRules {
        &self.deps.rules
    }

    /// The backend, for the read side and the audit tools.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The committed head as this process knows it; changes after every batch it commits.
    pub fn subscribe(&self) -> watch::Receiver<Head> {
        self.head.clone()
    }

    /// The newest checkpoint this process's writer signed, as it changes.
    pub fn sealed(&self) -> watch::Receiver<Option<Sealed>> {
        self.sealed.clone()
    }

    /// From now on the writer signs checkpoints with `seal`, inside its append transactions: the
    /// first batch after at least `interval` since the last one, a trailing one `interval` after a
    /// burst of commits, and whenever asked. `latest` is the newest checkpoint already stored.
    pub(crate) async fn install_sealer(
        &self,
        seal: writer::Seal,
        interval: std::time::Duration,
        latest: Option<Sealed>,
    ) -> Result<(), StoreError> {
        self.writer
            .send(writer::Job::Sealer {
                seal,
                interval,
                latest,
            })
            .await
            .map_err(|_| StoreError::Unavailable("the event log writer has stopped".into()))
    }

    /// Asks the writer for a checkpoint at the head in its next batch (at once if it is idle) and
    /// waits until it is durable. Waits on the write lock like a command does.
    pub(crate) async fn seal_now(&self) -> Result<Sealed, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(writer::Job::SealNow(Some(reply)))
            .await
            .map_err(|_| StoreError::Unavailable("the event log writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the event log writer has stopped".into()))?
    }

    /// Asks the writer for a checkpoint at the head in its next batch, without waiting for it (a
    /// full queue means a batch is coming anyway, and its checkpoint is due soon).
    pub(crate) fn ask_for_seal(&self) {
        let _ = self.writer.try_send(writer::Job::SealNow(None));
    }

    /// Decides a command on an aggregate and commits its events.
    ///
    /// `build` makes the command for the aggregate id (for [`Target::New`], the id the log assigns).
    /// The idempotency hash covers the aggregate type, the target, the expected version and the
    /// command built for the nil id when the target is new, so a retried creation matches itself.
    pub async fn execute<A, F>(
        &self,
        target: Target,
        expected_version: Option<u64>,
        build: F,
        context: CommandContext,
    ) -> Result<Outcome, StoreError>
    where
        A: LedgerAggregate + Clone + 'static,
        A::Command: Serialize + Send + 'static,
        F: Fn(Uuid) -> A::Command + Send + Sync + 'static,
    {
        let (command_hash, expected_claims) = {
            let (target_id, command) = match target {
                Target::New => (None, build(Uuid::nil())),
                Target::Existing(id) => (Some(id), build(id)),
            };
            let expected_claims: Vec<(String, String)> = A::expected_claims(&command)
                .into_iter()
                .map(|k| (k.scope.to_owned(), k.key))
                .collect();
            let canonical = serde_json::to_vec(&serde_json::json!({
                "aggregate_type": A::TYPE,
                "aggregate_id": target_id,
                "expected_version": expected_version,
                "command": command,
            }))
            .map_err(|e| StoreError::Internal(e.to_string()))?;
            (Sha256::digest(&canonical).to_vec(), expected_claims)
        };
        let deps = self.deps.clone();
        let reads = self.reads.clone();
        let scope = context.scope;
        let business_date = context.occurred_at.map(local_date);
        let decide: writer::Decide = Box::new(move |id, history, now| {
            Box::pin(async move {
                let command = build(id);
                let judge = Judge {
                    deps: &deps,
                    reads: &reads,
                    scope,
                    today: local_date(now),
                    business_date,
                    successors: tokio::sync::OnceCell::new(),
                };
                decide::<A>(id, &history, command, &judge).await
            })
        });
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(writer::Job::Command(writer::WriteJob {
                aggregate_type: A::TYPE,
                target,
                expected_version,
                command_hash,
                context,
                expected_claims,
                decide,
                reply,
            }))
            .await
            .map_err(|_| StoreError::Unavailable("the event log writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the event log writer has stopped".into()))?
    }

    /// The current state and version of an aggregate, or `None` if it has no events.
    pub async fn load<A: LedgerAggregate>(&self, id: Uuid) -> Result<Option<(A, u64)>, StoreError> {
        let events = self.backend.load_stream(A::TYPE, &id.to_string()).await?;
        if events.is_empty() {
            return Ok(None);
        }
        Ok(Some((fold::<A>(&events)?, events.len() as u64)))
    }

    /// The principal a credential's SHA-256 belongs to (the stored hash to compare, its id) and
    /// that principal folded with its version, in one read: what authenticating a call needs,
    /// fresh from the log on every call.
    pub async fn load_by_credential<A: LedgerAggregate>(
        &self,
        token_sha256: &str,
    ) -> Result<Option<Credentialed<A>>, StoreError> {
        let Some((stored_hash, principal_id, events)) = self
            .backend
            .credential_stream(token_sha256, A::TYPE)
            .await?
        else {
            return Ok(None);
        };
        let state = if events.is_empty() {
            None
        } else {
            Some((fold::<A>(&events)?, events.len() as u64))
        };
        Ok(Some(Credentialed {
            stored_hash,
            principal_id,
            state,
        }))
    }

    /// The committed events of one aggregate, in version order.
    pub async fn stream(
        &self,
        kind: AggregateKind,
        id: Uuid,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.backend
            .load_stream(kind.as_str(), &id.to_string())
            .await
    }

    /// Committed events from a position on, at most `limit`.
    pub async fn read_range(&self, from: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        self.backend.read_range(from, limit).await
    }

    /// Committed events from a position on, at most `limit` and at most about `max_bytes` of
    /// payload and metadata (see [`Backend::read_page`]): what a stream to a reader holds at once.
    pub async fn read_page(
        &self,
        from: u64,
        limit: u32,
        max_bytes: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.backend.read_page(from, limit, max_bytes).await
    }

    /// The last committed position in the database (which another process may have advanced).
    pub async fn head(&self) -> Result<u64, StoreError> {
        self.backend.head().await
    }
}

/// A stored credential and the aggregate it names ([`EventStore::load_by_credential`]).
#[derive(Debug, Clone)]
pub struct Credentialed<A> {
    /// The stored SHA-256, to compare in constant time.
    pub stored_hash: String,
    /// The id the credential names, as stored.
    pub principal_id: String,
    /// The aggregate folded, with its version; `None` when its stream is empty.
    pub state: Option<(A, u64)>,
}

/// What a command is decided with besides its aggregate: the domain's services, the log, whom the
/// caller acts for, and the local date of the batch.
struct Judge<'a> {
    deps: &'a Deps,
    reads: &'a CommittedReads,
    scope: Scope,
    today: chrono::NaiveDate,
    /// The local date of the command's header's business time.
    business_date: Option<chrono::NaiveDate>,
    /// Every recorded succession, read once per command when first needed.
    successors: tokio::sync::OnceCell<Successors>,
}

/// The authority that succeeded each succeeded authority, and from when.
type Successors = BTreeMap<Uuid, (Uuid, chrono::NaiveDate)>;

impl Judge<'_> {
    /// Every recorded succession (read on the first call of the command, kept for the others).
    async fn successors(&self) -> Result<&Successors, StoreError> {
        self.successors
            .get_or_try_init(|| successors(self.reads))
            .await
    }

    /// Refuses an act outside the caller's scope on any of `dates` (and today).
    async fn check_scope(
        &self,
        acting: &Acting,
        dates: &[chrono::NaiveDate],
    ) -> Result<BTreeMap<Uuid, Park>, StoreError> {
        let mut parks = BTreeMap::new();
        if let Some(park_id) = acting.park {
            let stream = self
                .reads
                .load_stream(Park::TYPE, &park_id.to_string())
                .await?;
            if !stream.is_empty() {
                parks.insert(park_id, fold::<Park>(&stream)?);
            }
        }
        if self.scope == Scope::Unrestricted {
            return Ok(parks);
        }
        let successors = self.successors().await?;
        let successor = |a: Uuid| successors.get(&a).copied();
        let mut dates = dates.to_vec();
        dates.push(self.today);
        dates.sort_unstable();
        dates.dedup();
        let record = scope::Record {
            parks: &parks,
            successor: &successor,
        };
        scope::check(self.scope, acting, &dates, &record)?;
        Ok(parks)
    }
}

/// Every recorded succession: the authority that succeeded each succeeded authority, and from when.
async fn successors(reads: &CommittedReads) -> Result<Successors, StoreError> {
    let events = reads
        .load_aggregate_type(kcn_domain::authority::Authority::TYPE)
        .await?;
    let mut successors = BTreeMap::new();
    for stream in events.chunk_by(|a, b| a.aggregate_id == b.aggregate_id) {
        let id = Uuid::parse_str(&stream[0].aggregate_id)
            .map_err(|e| StoreError::Internal(format!("authority id: {e}")))?;
        if let Some(s) = fold::<kcn_domain::authority::Authority>(stream)?.succeeded {
            successors.insert(id, (s.successor, s.effective_date));
        }
    }
    Ok(successors)
}

/// Runs one command against an aggregate's history: fold, check the caller's scope on the record
/// as it stands, handle, check it again on the decided events (their business dates, and for a
/// new aggregate what it will be), judge, serialise.
async fn decide<A>(
    id: Uuid,
    history: &[StoredEvent],
    command: A::Command,
    judge: &Judge<'_>,
) -> Result<Decision, StoreError>
where
    A: LedgerAggregate + Clone,
{
    let deps = judge.deps;
    let reads = judge.reads;
    let mut aggregate = fold::<A>(history)?;
    if !history.is_empty() && judge.scope != Scope::Unrestricted {
        let dates: Vec<_> = judge.business_date.into_iter().collect();
        judge
            .check_scope(&aggregate.acting_for(id, &[]), &dates)
            .await?;
    }
    let before = aggregate.clone();
    let sink = EventSink::<A>::default();
    aggregate.handle(command, deps, &sink).await?;
    let events = sink.collect().await;
    let mut breaches = before.judge(&events, &deps.rules);
    let acting = aggregate.acting_for(id, &events);
    let dates: Vec<_> = events.iter().map(|e| local_date(e.occurred_at)).collect();
    let mut parks = judge.check_scope(&acting, &dates).await?;
    let park = match (events.first(), aggregate.park_id(id)) {
        (Some(_), Some(park_id)) if acting.park == Some(park_id) => parks.remove(&park_id),
        (Some(_), Some(park_id)) => {
            let stream = reads.load_stream(Park::TYPE, &park_id.to_string()).await?;
            Some(fold::<Park>(&stream)?)
        }
        _ => None,
    };
    let acting_authority_id = match (A::KIND, events.first(), &park) {
        (AggregateKind::Authority, _, _) => Some(id),
        _ if acting.authority.is_some() => acting.authority,
        // A Board officer acts for its own authority (the successor, on a park whose
        // jurisdiction the ledger has not yet reassigned).
        _ if let Scope::Authority(authority) = judge.scope => Some(authority),
        (_, Some(first), Some(park)) => park.jurisdiction_at(local_date(first.occurred_at)),
        _ => None,
    };
    if A::judged_against_agreements(&events) {
        let agreements =
            agreements_in_force(reads, park.unwrap_or_default(), judge.successors().await?).await?;
        breaches.extend(before.judge_against_agreements(&events, &deps.rules, &agreements));
    }
    let claims = A::unique_keys(id, &events);
    let events = events
        .into_iter()
        .map(|e| DecidedEvent {
            event_type: e.body.event_type(),
            schema_version: e.body.schema_version(),
            occurred_at: e.occurred_at,
            payload: e.body.to_payload(),
        })
        .collect();
    Ok(Decision {
        events,
        breaches,
        acting_authority_id,
        claims,
    })
}

/// The coordination agreements that applied to a park: its timelines and every recorded agreement.
async fn agreements_in_force(
    reads: &CommittedReads,
    park: Park,
    successors: &Successors,
) -> Result<AgreementsInForce, StoreError> {
    let events = reads
        .load_aggregate_type(CoordinationAgreement::TYPE)
        .await?;
    let mut agreements = Vec::new();
    for stream in events.chunk_by(|a, b| a.aggregate_id == b.aggregate_id) {
        let id = Uuid::parse_str(&stream[0].aggregate_id)
            .map_err(|e| StoreError::Internal(format!("agreement id: {e}")))?;
        agreements.push((id, fold::<CoordinationAgreement>(stream)?));
    }
    // Every recorded succession: the governing agreement follows a succeeded authority's duties to
    // its successor (kcn_domain::governing).
    let successions = successors
        .iter()
        .map(|(&authority_id, &(successor, effective_date))| {
            kcn_domain::governing::SuccessionFact {
                authority_id,
                successor,
                effective_date,
            }
        })
        .collect();
    Ok(AgreementsInForce {
        park,
        agreements,
        successions,
    })
}

/// The system's clock, truncated to microseconds: the one place the ledger reads the time of day.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl kcn_domain::time::Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        kcn_domain::time::truncate_micros(chrono::Utc::now())
    }
}
