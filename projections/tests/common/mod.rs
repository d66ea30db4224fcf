//! What the read side's test suites share: opening a test database as one "process" would (a log
//! backend with its own pool, and the read models' database on it).

use std::sync::Arc;

use kcn_eventstore::Backend;
use kcn_projections::ReadDatabase;
use kcn_testkit::{Opened, TestDatabase};

/// Opens `db` with a backend of its own, and the read models' database on it.
pub async fn open(db: &TestDatabase) -> (Arc<dyn Backend>, ReadDatabase) {
    match db.open().await.unwrap() {
        Opened::Sqlite(b) => {
            let read = ReadDatabase::from(&b);
            (Arc::new(b), read)
        }
        Opened::Postgres(b) => {
            let read = ReadDatabase::from(&b);
            (Arc::new(b), read)
        }
    }
}
