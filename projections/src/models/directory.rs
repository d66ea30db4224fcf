//! The directory: authorities, infrastructure companies, parks and tenants, listed and found by code,
//! by name or by park, so that a partner never has to scan the log for an id it lost.
//!
//! Names are found by a search key: lower case, without diacritics (`Bình Dương` → `binh duong`,
//! `đ` → `d`), so a caller may type Vietnamese with or without its marks. A query matches an exact code
//! (park code, enterprise code, decision number) or a name containing the query's key. Pages run in
//! (search key, id) order.

use async_trait::async_trait;
use kcn_domain::Event;
use kcn_domain::authority::AuthorityEvent;
use kcn_domain::company::CompanyEvent;
use kcn_domain::park::ParkEvent;
use kcn_domain::tenant::TenantEvent;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::sql::{Args, limit};
use super::stored::{day, enum_name, opt_day};
use super::{Envelope, Generation, ReadModel};
use crate::error::ProjectionError;
use crate::{Named, Queries};

/// The directory read model.
#[derive(Debug, Default, Clone, Copy)]
pub struct Directory;

impl Named for Directory {
    const NAME: &'static str = "directory";
}

const AUTHORITIES: &str = "directory_authorities";
const COMPANIES: &str = "directory_companies";
const PARKS: &str = "directory_parks";
const TENANTS: &str = "directory_tenants";

/// The search key of a name or query: lower case, diacritics removed, spaces folded.
pub fn search_key(text: &str) -> String {
    let folded: String = text
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c => c,
        })
        .collect::<String>()
        .to_lowercase();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `LIKE` pattern for "contains", with the pattern characters of the key escaped.
fn contains(key: &str) -> String {
    let escaped: String = key
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

#[async_trait]
impl ReadModel for Directory {
    fn name(&self) -> &'static str {
        <Self as Named>::NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &[AUTHORITIES, COMPANIES, PARKS, TENANTS]
    }

    /// Each table's key serves a look-up by id; `by_search` serves the pages in (search key, id)
    /// order; `by_code` an exact code; `by_park` a park's tenants.
    fn create(&self, g: &Generation) -> Vec<String> {
        let (a, c, p, t) = (
            g.table(AUTHORITIES),
            g.table(COMPANIES),
            g.table(PARKS),
            g.table(TENANTS),
        );
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {a} (authority_id TEXT PRIMARY KEY, name TEXT NOT NULL, \
                 search TEXT NOT NULL, kind TEXT NOT NULL, jurisdiction TEXT NOT NULL, \
                 decision_no TEXT NOT NULL, code_key TEXT NOT NULL, effective_from TEXT NOT NULL, \
                 successor_id TEXT, succeeded_on TEXT)"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {a} (search, authority_id)",
                g.table("directory_authorities_by_search")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {c} (company_id TEXT PRIMARY KEY, enterprise_code TEXT NOT NULL, \
                 code_key TEXT NOT NULL, name TEXT NOT NULL, search TEXT NOT NULL, address TEXT)"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {c} (search, company_id)",
                g.table("directory_companies_by_search")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {c} (code_key)",
                g.table("directory_companies_by_code")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {p} (park_id TEXT PRIMARY KEY, code TEXT NOT NULL, \
                 code_key TEXT NOT NULL, name TEXT NOT NULL, search TEXT NOT NULL, location TEXT NOT NULL, area_ha TEXT NOT NULL, \
                 authority_id TEXT, authority_from TEXT, company_id TEXT, company_from TEXT)"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {p} (search, park_id)",
                g.table("directory_parks_by_search")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {p} (code_key)",
                g.table("directory_parks_by_code")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (tenant_id TEXT PRIMARY KEY, park_id TEXT NOT NULL, \
                 enterprise_code TEXT NOT NULL, code_key TEXT NOT NULL, name TEXT NOT NULL, search TEXT NOT NULL, \
                 investment_registration_no TEXT NOT NULL, foreign_invested BIGINT NOT NULL)"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} (search, tenant_id)",
                g.table("directory_tenants_by_search")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} (park_id, search, tenant_id)",
                g.table("directory_tenants_by_park")
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} (code_key)",
                g.table("directory_tenants_by_code")
            ),
        ]
    }

    async fn apply(
        &self,
        conn: &mut AnyConnection,
        g: &Generation,
        events: &[Envelope],
    ) -> Result<(), ProjectionError> {
        let mut i = 0;
        while i < events.len() {
            let run = apply_company_run(conn, g, &events[i..]).await?;
            if run > 0 {
                i += run;
                continue;
            }
            apply_one(conn, g, &events[i]).await?;
            i += 1;
        }
        Ok(())
    }
}

/// The run of company registrations opening `events` ([`super::company_run`]) in one statement,
/// the rows exactly as [`apply_one`] writes each; returns how many events it took.
async fn apply_company_run(
    conn: &mut AnyConnection,
    g: &Generation,
    events: &[Envelope],
) -> Result<usize, ProjectionError> {
    let run = super::company_run(events);
    if run.len() < 2 {
        return Ok(0);
    }
    let mut args = Args::default();
    let rows: Vec<String> = run
        .iter()
        .map(|(e, c)| {
            format!(
                "({}, {}, {}, {}, {}, {})",
                args.text(e.aggregate_id()),
                args.text(c.enterprise_code.as_str()),
                args.text(search_key(c.enterprise_code.as_str())),
                args.text(c.name.as_str()),
                args.text(search_key(c.name.as_str())),
                args.opt_text(c.address.as_ref().map(|a| a.as_str().to_owned())),
            )
        })
        .collect();
    args.execute(
        conn,
        format!(
            "INSERT INTO {} (company_id, enterprise_code, code_key, name, search, address) \
             VALUES {} ON CONFLICT (company_id) DO NOTHING",
            g.table(COMPANIES),
            rows.join(", ")
        ),
    )
    .await?;
    Ok(run.len())
}

async fn apply_one(
    conn: &mut AnyConnection,
    g: &Generation,
    e: &Envelope,
) -> Result<(), ProjectionError> {
    let id = e.aggregate_id();
    let mut args = Args::default();
    let statement = match &e.event {
        Event::Authority(AuthorityEvent::AuthorityEstablished(a)) => format!(
            "INSERT INTO {} (authority_id, name, search, kind, jurisdiction, decision_no, code_key, \
             effective_from) VALUES ({}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (authority_id) DO NOTHING",
            g.table(AUTHORITIES),
            args.text(id),
            args.text(a.name.as_str()),
            args.text(search_key(a.name.as_str())),
            args.text(enum_name(&a.kind)),
            args.text(a.jurisdiction.as_str()),
            args.text(a.decision_no.as_str()),
            args.text(search_key(a.decision_no.as_str())),
            args.text(day(a.effective_from)),
        ),
        Event::Authority(AuthorityEvent::AuthoritySucceeded(s)) => format!(
            "UPDATE {} SET successor_id = {}, succeeded_on = {} WHERE authority_id = {}",
            g.table(AUTHORITIES),
            args.text(s.successor.to_string()),
            args.text(day(s.effective_date)),
            args.text(id),
        ),
        Event::InfrastructureCompany(CompanyEvent::CompanyRegistered(c)) => format!(
            "INSERT INTO {} (company_id, enterprise_code, code_key, name, search, address) \
             VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT (company_id) DO NOTHING",
            g.table(COMPANIES),
            args.text(id),
            args.text(c.enterprise_code.as_str()),
            args.text(search_key(c.enterprise_code.as_str())),
            args.text(c.name.as_str()),
            args.text(search_key(c.name.as_str())),
            args.opt_text(c.address.as_ref().map(|a| a.as_str().to_owned())),
        ),
        Event::InfrastructureCompany(CompanyEvent::CompanyDetailsChanged(c)) => {
            let mut sets = Vec::new();
            if let Some(name) = &c.name {
                sets.push(format!("name = {}", args.text(name.as_str())));
                sets.push(format!("search = {}", args.text(search_key(name.as_str()))));
            }
            if let Some(address) = &c.address {
                sets.push(format!("address = {}", args.text(address.as_str())));
            }
            if sets.is_empty() {
                return Ok(());
            }
            format!(
                "UPDATE {} SET {} WHERE company_id = {}",
                g.table(COMPANIES),
                sets.join(", "),
                args.text(id)
            )
        }
        Event::Park(ParkEvent::ParkRegistered(p)) => format!(
            "INSERT INTO {} (park_id, code, code_key, name, search, location, area_ha) \
             VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT (park_id) DO NOTHING",
            g.table(PARKS),
            args.text(id),
            args.text(p.code.as_str()),
            args.text(search_key(p.code.as_str())),
            args.text(p.name.as_str()),
            args.text(search_key(p.name.as_str())),
            args.text(p.location.as_str()),
            args.text(p.area_ha.as_str()),
        ),
        // The latest effective assignment is the park's current one, whatever the log's order.
        Event::Park(ParkEvent::JurisdictionAssigned(j)) => format!(
            "UPDATE {} SET authority_id = {a}, authority_from = {f} \
             WHERE park_id = {id} AND (authority_from IS NULL OR authority_from <= {f})",
            g.table(PARKS),
            a = args.text(j.authority_id.to_string()),
            f = args.text(day(j.effective_from)),
            id = args.text(id),
        ),
        Event::Park(ParkEvent::InfrastructureCompanyAssigned(c)) => format!(
            "UPDATE {} SET company_id = {c}, company_from = {f} \
             WHERE park_id = {id} AND (company_from IS NULL OR company_from <= {f})",
            g.table(PARKS),
            c = args.text(c.company_id.to_string()),
            f = args.text(day(c.effective_from)),
            id = args.text(id),
        ),
        Event::Tenant(TenantEvent::TenantRegistered(t)) => format!(
            "INSERT INTO {} (tenant_id, park_id, enterprise_code, code_key, name, search, \
             investment_registration_no, foreign_invested) VALUES ({}, {}, {}, {}, {}, {}, {}, {}) \
             ON CONFLICT (tenant_id) DO NOTHING",
            g.table(TENANTS),
            args.text(id),
            args.text(t.park_id.to_string()),
            args.text(t.enterprise_code.as_str()),
            args.text(search_key(t.enterprise_code.as_str())),
            args.text(t.name.as_str()),
            args.text(search_key(t.name.as_str())),
            args.text(t.investment_registration_no.as_str()),
            args.int(i64::from(t.foreign_invested)),
        ),
        _ => return Ok(()),
    };
    args.execute(conn, statement).await
}

// ---------------------------------------------------------------------------------------------
// Queries.
// ---------------------------------------------------------------------------------------------

/// What to find: everything (no query), an exact code, or names containing the query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Find {
    /// Matched against the code (exactly, ignoring case) and the name (contains, by search key).
    pub query: Option<String>,
    /// Tenants only: those of this park.
    pub park_id: Option<String>,
    /// Continue after this (search key, id).
    pub after: Option<(String, String)>,
    pub limit: u32,
}

/// An authority as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityEntry {
    pub authority_id: String,
    pub name: String,
    pub search: String,
    pub kind: String,
    pub jurisdiction: String,
    pub decision_no: String,
    pub effective_from: chrono::NaiveDate,
    pub successor_id: Option<String>,
    pub succeeded_on: Option<chrono::NaiveDate>,
}

/// An infrastructure company as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyEntry {
    pub company_id: String,
    pub enterprise_code: String,
    pub name: String,
    pub search: String,
    pub address: Option<String>,
}

/// A park, with its latest effective jurisdiction and company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkEntry {
    pub park_id: String,
    pub code: String,
    pub name: String,
    pub search: String,
    pub location: String,
    pub area_ha: String,
    pub authority_id: Option<String>,
    pub authority_from: Option<chrono::NaiveDate>,
    pub company_id: Option<String>,
    pub company_from: Option<chrono::NaiveDate>,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantEntry {
    pub tenant_id: String,
    pub park_id: String,
    pub enterprise_code: String,
    pub name: String,
    pub search: String,
    pub investment_registration_no: String,
    pub foreign_invested: bool,
}

/// Builds a page query over one directory table: `columns` and the id column; a query matches the
/// code's key exactly or the name's key in part.
fn page_sql(
    g: &Generation,
    table: &str,
    columns: &str,
    id: &str,
    find: &Find,
    args: &mut Args,
) -> String {
    let mut clauses = Vec::new();
    if let Some(q) = find.query.as_deref().filter(|q| !q.trim().is_empty()) {
        let key = search_key(q);
        clauses.push(format!(
            "(code_key = {} OR search LIKE {} ESCAPE '\\')",
            args.text(key.clone()),
            args.text(contains(&key))
        ));
    }
    if let Some(p) = &find.park_id {
        clauses.push(format!("park_id = {}", args.text(p.as_str())));
    }
    if let Some((search, after)) = &find.after {
        let s = args.text(search.as_str());
        let a = args.text(after.as_str());
        clauses.push(format!("(search > {s} OR (search = {s} AND {id} > {a}))"));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    format!(
        "SELECT {columns} FROM {} {filter} ORDER BY search, {id} LIMIT {}",
        g.table(table),
        args.int(limit(find.limit))
    )
}

fn authority(r: &AnyRow) -> Result<AuthorityEntry, ProjectionError> {
    Ok(AuthorityEntry {
        authority_id: r.try_get(0)?,
        name: r.try_get(1)?,
        search: r.try_get(2)?,
        kind: r.try_get(3)?,
        jurisdiction: r.try_get(4)?,
        decision_no: r.try_get(5)?,
        effective_from: super::stored::parse_day(&r.try_get::<String, _>(6)?)?,
        successor_id: r.try_get(7)?,
        succeeded_on: opt_day(r.try_get(8)?)?,
    })
}

fn company(r: &AnyRow) -> Result<CompanyEntry, ProjectionError> {
    Ok(CompanyEntry {
        company_id: r.try_get(0)?,
        enterprise_code: r.try_get(1)?,
        name: r.try_get(2)?,
        search: r.try_get(3)?,
        address: r.try_get(4)?,
    })
}

fn park(r: &AnyRow) -> Result<ParkEntry, ProjectionError> {
    Ok(ParkEntry {
        park_id: r.try_get(0)?,
        code: r.try_get(1)?,
        name: r.try_get(2)?,
        search: r.try_get(3)?,
        location: r.try_get(4)?,
        area_ha: r.try_get(5)?,
        authority_id: r.try_get(6)?,
        authority_from: opt_day(r.try_get(7)?)?,
        company_id: r.try_get(8)?,
        company_from: opt_day(r.try_get(9)?)?,
    })
}

fn tenant(r: &AnyRow) -> Result<TenantEntry, ProjectionError> {
    Ok(TenantEntry {
        tenant_id: r.try_get(0)?,
        park_id: r.try_get(1)?,
        enterprise_code: r.try_get(2)?,
        name: r.try_get(3)?,
        search: r.try_get(4)?,
        investment_registration_no: r.try_get(5)?,
        foreign_invested: r.try_get::<i64, _>(6)? != 0,
    })
}

impl Queries<'_, Directory> {
    /// Authorities matching `find` (the code is the decision number).
    pub async fn authorities(
        &self,
        min_position: u64,
        find: &Find,
    ) -> Result<Vec<AuthorityEntry>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        let mut args = Args::default();
        let statement = page_sql(
            &r.generation,
            AUTHORITIES,
            "authority_id, name, search, kind, jurisdiction, decision_no, effective_from, \
             successor_id, succeeded_on",
            "authority_id",
            find,
            &mut args,
        );
        let rows = args.fetch_all(&mut r.conn, statement).await?;
        rows.iter().map(authority).collect()
    }

    /// Infrastructure companies matching `find` (the code is the enterprise code).
    pub async fn companies(
        &self,
        min_position: u64,
        find: &Find,
    ) -> Result<Vec<CompanyEntry>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        let mut args = Args::default();
        let statement = page_sql(
            &r.generation,
            COMPANIES,
            "company_id, enterprise_code, name, search, address",
            "company_id",
            find,
            &mut args,
        );
        let rows = args.fetch_all(&mut r.conn, statement).await?;
        rows.iter().map(company).collect()
    }

    /// Parks matching `find` (the code is the park code).
    pub async fn parks(
        &self,
        min_position: u64,
        find: &Find,
    ) -> Result<Vec<ParkEntry>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        let mut args = Args::default();
        let statement = page_sql(
            &r.generation,
            PARKS,
            "park_id, code, name, search, location, area_ha, authority_id, authority_from, \
             company_id, company_from",
            "park_id",
            find,
            &mut args,
        );
        let rows = args.fetch_all(&mut r.conn, statement).await?;
        rows.iter().map(park).collect()
    }

    /// Tenants matching `find` (the code is the enterprise code), of one park when it names one.
    pub async fn tenants(
        &self,
        min_position: u64,
        find: &Find,
    ) -> Result<Vec<TenantEntry>, ProjectionError> {
        let mut r = self.reader(min_position).await?;
        let mut args = Args::default();
        let statement = page_sql(
            &r.generation,
            TENANTS,
            "tenant_id, park_id, enterprise_code, name, search, investment_registration_no, \
             foreign_invested",
            "tenant_id",
            find,
            &mut args,
        );
        let rows = args.fetch_all(&mut r.conn, statement).await?;
        rows.iter().map(tenant).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_with_or_without_their_marks() {
        assert_eq!(
            search_key("Ban quản lý các KCN Bình Dương"),
            "ban quan ly cac kcn binh duong"
        );
        assert_eq!(search_key("  Đồng   An "), "dong an");
        assert_eq!(search_key("Mỹ Phước 3"), "my phuoc 3");
        assert_eq!(contains("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
