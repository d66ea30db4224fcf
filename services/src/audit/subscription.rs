//! `AuditService/Subscribe`: the log followed live, from a position, with filters.
//!
//! The stream is pulled: tonic polls it for the next message only when HTTP/2 flow control lets it
//! send, and only then is the next page read from the store. A slow client therefore costs one page
//! of memory and no work while it is slow; nothing is buffered for it, so nothing is ever dropped,
//! and it reads old positions from the store at its own pace. Once the stream has caught up with
//! the head it waits for the local writer's next commit, or polls (another server of a PostgreSQL
//! database commits without telling this one), or sends a heartbeat.
//!
//! The stream ends only on the server's initiative: when the server shuts down, it ends with
//! `UNAVAILABLE`, ErrorInfo `RESUME` and the position to resume after. A filter by park or company
//! follows the timeline read model (the events on those subjects' timelines, question 1), which
//! tells how far it has applied the log, so that no event is skipped while the model catches up.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::Stream;
use kcn_domain::{AggregateKind, Event};
use kcn_eventstore::StoredEvent;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::Instant;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::Ledger;
use crate::error::{self, ERROR_DOMAIN};
use crate::fields::{self, Fields};
use crate::proto;

/// Events per read of the log while catching up.
const PAGE: u32 = 256;
/// Payload and metadata bytes per read (one page in memory per stream).
const PAGE_BYTES: u64 = 512 * 1024;
/// How often a caught-up stream looks for events another server committed.
const POLL: Duration = Duration::from_millis(250);
/// A heartbeat after this long without an event.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// The most of each filter.
const MAX_AGGREGATE_TYPES: usize = 16;
const MAX_EVENT_TYPES: usize = 64;
const MAX_SUBJECTS: usize = 100;

/// What a subscription wants.
#[derive(Debug, Clone)]
pub struct Filter {
    pub after: u64,
    aggregate_types: Vec<String>,
    event_types: Vec<String>,
    /// `("park", id)` and `("company", id)`.
    subjects: Vec<(&'static str, String)>,
}

impl Filter {
    /// Validates a request against the catalogue and the log's head.
    pub fn parse(r: proto::SubscribeRequest, head: u64) -> Result<Self, Status> {
        let mut f = Fields::default();
        if r.after_position > head {
            f.violation(
                "after_position",
                format!("must be at most the log's head, {head}"),
            );
        }
        let kinds: Vec<&str> = AggregateKind::ALL.iter().map(|k| k.as_str()).collect();
        let types: Vec<&str> = Event::event_types().collect();
        let known = |f: &mut Fields, field: &str, values: &[String], max: usize, known: &[&str]| {
            if values.len() > max {
                f.violation(field, format!("at most {max}"));
            }
            for v in values {
                if !known.contains(&v.as_str()) {
                    f.violation(field, format!("{v:?} is not one of the catalogue's"));
                }
            }
        };
        known(
            &mut f,
            "aggregate_types",
            &r.aggregate_types,
            MAX_AGGREGATE_TYPES,
            &kinds,
        );
        known(
            &mut f,
            "event_types",
            &r.event_types,
            MAX_EVENT_TYPES,
            &types,
        );
        let mut subjects = Vec::new();
        if r.park_ids.len() + r.company_ids.len() > MAX_SUBJECTS {
            f.violation(
                "park_ids",
                format!("at most {MAX_SUBJECTS} ids with company_ids"),
            );
        }
        for (field, kind, ids) in [
            ("park_ids", "park", &r.park_ids),
            ("company_ids", "company", &r.company_ids),
        ] {
            for id in ids.iter().take(MAX_SUBJECTS) {
                if let Some(id) = f.check(field, fields::uuid(id)) {
                    subjects.push((kind, id.to_string()));
                }
            }
        }
        f.finish()?;
        Ok(Self {
            after: r.after_position,
            aggregate_types: r.aggregate_types,
            event_types: r.event_types,
            subjects,
        })
    }

    fn wants(&self, e: &StoredEvent) -> bool {
        (self.aggregate_types.is_empty() || self.aggregate_types.contains(&e.aggregate_type))
            && (self.event_types.is_empty() || self.event_types.contains(&e.event_type))
    }
}

/// Where a stream stands.
struct State {
    ledger: Ledger,
    filter: Filter,
    /// Every position up to this one has been passed.
    after: u64,
    ready: VecDeque<proto::SubscribeResponse>,
    /// The local writer's head, which moves after every commit of this server.
    head: watch::Receiver<kcn_eventstore::Head>,
    closing: watch::Receiver<bool>,
    caught_up: bool,
    last_sent: Instant,
    done: bool,
    _permit: OwnedSemaphorePermit,
}

/// The stream of a subscription.
pub fn stream(
    ledger: Ledger,
    filter: Filter,
    permit: OwnedSemaphorePermit,
) -> impl Stream<Item = Result<proto::SubscribeResponse, Status>> + Send {
    let state = State {
        head: ledger.store.subscribe(),
        closing: ledger.closing.subscribe(),
        after: filter.after,
        filter,
        ledger,
        ready: VecDeque::new(),
        caught_up: false,
        last_sent: Instant::now(),
        done: false,
        _permit: permit,
    };
    futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            if let Some(item) = s.ready.pop_front() {
                s.last_sent = Instant::now();
                return Some((Ok(item), s));
            }
            if *s.closing.borrow() {
                s.done = true;
                return Some((Err(resume(s.after, "the server is shutting down")), s));
            }
            match s.fill().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(status) => {
                    s.done = true;
                    return Some((Err(status), s));
                }
            }
            // Caught up: say so once, then wait for a commit, a poll or the next heartbeat.
            let head = match s.ledger.store.head().await {
                Ok(h) => h,
                Err(e) => {
                    s.done = true;
                    return Some((Err(error::store(e)), s));
                }
            };
            if !s.caught_up || s.last_sent.elapsed() >= HEARTBEAT {
                s.caught_up = true;
                s.ready.push_back(heartbeat(head, s.after));
                continue;
            }
            let until_heartbeat = HEARTBEAT.saturating_sub(s.last_sent.elapsed());
            tokio::select! {
                _ = s.head.changed() => {}
                _ = tokio::time::sleep(POLL.min(until_heartbeat)) => {}
                _ = s.closing.changed() => {}
            }
        }
    })
}

fn heartbeat(head: u64, after: u64) -> proto::SubscribeResponse {
    proto::SubscribeResponse {
        item: Some(proto::subscribe_response::Item::Heartbeat(
            proto::Heartbeat {
                head_position: head,
                after_position: after,
            },
        )),
    }
}

/// `UNAVAILABLE` with the position to resume after.
fn resume(after: u64, why: &str) -> Status {
    Status::with_error_details(
        Code::Unavailable,
        format!("{why}: subscribe again with after_position {after}"),
        ErrorDetails::with_error_info(
            "RESUME",
            ERROR_DOMAIN,
            HashMap::from([("after_position".to_owned(), after.to_string())]),
        ),
    )
}

impl State {
    /// Reads the next page the filters pass into `ready`; `false` when there is nothing new.
    async fn fill(&mut self) -> Result<bool, Status> {
        let before = self.after;
        let events = if self.filter.subjects.is_empty() {
            let events = self
                .ledger
                .store
                .read_page(self.after + 1, PAGE, PAGE_BYTES)
                .await
                .map_err(error::store)?;
            if let Some(last) = events.last() {
                self.after = last.position;
            }
            events
        } else {
            let (positions, applied) = self
                .ledger
                .read
                .timeline()
                .positions(&self.filter.subjects, self.after, PAGE)
                .await
                .map_err(error::projection)?;
            let mut events = Vec::with_capacity(positions.len());
            for p in &positions {
                let mut one = self
                    .ledger
                    .store
                    .read_range(*p, 1)
                    .await
                    .map_err(error::store)?;
                events.append(&mut one);
            }
            // Fewer than a page: nothing else matches up to what the model has applied.
            self.after = match positions.last() {
                Some(last) if positions.len() == PAGE as usize => *last,
                _ => applied.max(self.after),
            };
            events
        };
        for e in events {
            if self.filter.wants(&e) {
                self.ready.push_back(proto::SubscribeResponse {
                    item: Some(proto::subscribe_response::Item::Event(super::log_event(e))),
                });
            }
        }
        Ok(self.after > before || !self.ready.is_empty())
    }
}
