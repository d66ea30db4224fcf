//! The directory service: authorities, infrastructure companies, parks and tenants found by code,
//! name or park, from the `directory` read model.

use kcn_projections::models::directory::{
    AuthorityEntry, CompanyEntry, Find, ParkEntry, TenantEntry,
};
use tonic::{Request, Response, Status};

use crate::audit_query::params::{date_text, enum_number, page_size};
use crate::fields::{self, Fields};
use crate::proto::{self, directory_service_server::DirectoryService};
use crate::{Ledger, error, page};

/// The longest query: a name.
const MAX_QUERY_CHARS: usize = 300;

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Directory(pub Ledger);

/// Parses what every directory request shares; `park_id` only for tenants.
fn find(
    ledger: &Ledger,
    list: &str,
    query: &str,
    park_id: Option<&str>,
    size: u32,
    token: &str,
) -> Result<(Find, page::Query, u32), Status> {
    let mut f = Fields::default();
    if query.chars().count() > MAX_QUERY_CHARS {
        f.violation(
            "query",
            format!("must be at most {MAX_QUERY_CHARS} characters"),
        );
    }
    if query.chars().any(char::is_control) {
        f.violation("query", "must not hold control characters");
    }
    let park = park_id.map(|p| f.check("park_id", fields::optional_uuid(p)));
    let size = page_size(&mut f, size);
    let key = page::query(&[list, query, park_id.unwrap_or("")]);
    let after: Option<(String, String)> = ledger.pages.open(&mut f, token, &key);
    f.finish()?;
    let park = park.flatten().flatten();
    Ok((
        Find {
            query: (!query.trim().is_empty()).then(|| query.to_owned()),
            park_id: park.map(|p| p.to_string()),
            after,
            limit: size + 1,
        },
        key,
        size,
    ))
}

fn authority(a: AuthorityEntry) -> proto::DirectoryAuthority {
    proto::DirectoryAuthority {
        kind: enum_number(Some(&a.kind), proto::AuthorityKind::from_str_name),
        authority_id: a.authority_id,
        name: a.name,
        jurisdiction: a.jurisdiction,
        decision_no: a.decision_no,
        effective_from: a.effective_from.to_string(),
        successor_id: a.successor_id.unwrap_or_default(),
        succeeded_on: date_text(a.succeeded_on),
    }
}

fn company(c: CompanyEntry) -> proto::DirectoryCompany {
    proto::DirectoryCompany {
        company_id: c.company_id,
        enterprise_code: c.enterprise_code,
        name: c.name,
        address: c.address.unwrap_or_default(),
    }
}

fn park(p: ParkEntry) -> proto::DirectoryPark {
    proto::DirectoryPark {
        park_id: p.park_id,
        code: p.code,
        name: p.name,
        location: p.location,
        area_ha: p.area_ha,
        authority_id: p.authority_id.unwrap_or_default(),
        authority_from: date_text(p.authority_from),
        company_id: p.company_id.unwrap_or_default(),
        company_from: date_text(p.company_from),
    }
}

fn tenant(t: TenantEntry) -> proto::DirectoryTenant {
    proto::DirectoryTenant {
        tenant_id: t.tenant_id,
        park_id: t.park_id,
        enterprise_code: t.enterprise_code,
        name: t.name,
        investment_registration_no: t.investment_registration_no,
        foreign_invested: t.foreign_invested,
    }
}

impl Directory {
    /// A company officer lists the tenants of one park its company runs today, named by
    /// `park_id` (`PERMISSION_DENIED`, `OUTSIDE_ORGANISATION_SCOPE`, otherwise).
    async fn company_lists_its_own_tenants(
        &self,
        caller: &crate::access::Identity,
        park_id: &str,
    ) -> Result<(), Status> {
        let kcn_domain::scope::Scope::Company(company) = caller.scope() else {
            return Ok(());
        };
        let runs = match uuid::Uuid::parse_str(park_id) {
            Ok(park) => self.0.company_runs(company, park).await?,
            Err(_) => false,
        };
        if runs {
            return Ok(());
        }
        Err(error::domain(kcn_domain::DomainError::Forbidden {
            rule: "outside_organisation_scope",
            message: format!(
                "a company officer lists the tenants of a park its company {company} runs: give \
                 that park's park_id"
            ),
        }))
    }
}

#[tonic::async_trait]
impl DirectoryService for Directory {
    async fn list_authorities(
        &self,
        request: Request<proto::ListAuthoritiesRequest>,
    ) -> Result<Response<proto::ListAuthoritiesResponse>, Status> {
        let r = request.into_inner();
        let (q, key, size) = find(
            &self.0,
            "authorities",
            &r.query,
            None,
            r.page_size,
            &r.page_token,
        )?;
        let rows = self
            .0
            .read
            .directory()
            .authorities(r.min_position, &q)
            .await;
        let (rows, next) = page::split(rows.map_err(error::projection)?, size, |a| {
            (a.search.clone(), a.authority_id.clone())
        });
        Ok(Response::new(proto::ListAuthoritiesResponse {
            next_page_token: self.0.pages.issue(&key, next.as_ref()),
            authorities: rows.into_iter().map(authority).collect(),
        }))
    }

    async fn list_companies(
        &self,
        request: Request<proto::ListCompaniesRequest>,
    ) -> Result<Response<proto::ListCompaniesResponse>, Status> {
        let r = request.into_inner();
        let (q, key, size) = find(
            &self.0,
            "companies",
            &r.query,
            None,
            r.page_size,
            &r.page_token,
        )?;
        let rows = self.0.read.directory().companies(r.min_position, &q).await;
        let (rows, next) = page::split(rows.map_err(error::projection)?, size, |c| {
            (c.search.clone(), c.company_id.clone())
        });
        Ok(Response::new(proto::ListCompaniesResponse {
            next_page_token: self.0.pages.issue(&key, next.as_ref()),
            companies: rows.into_iter().map(company).collect(),
        }))
    }

    async fn list_parks(
        &self,
        request: Request<proto::ListParksRequest>,
    ) -> Result<Response<proto::ListParksResponse>, Status> {
        let r = request.into_inner();
        let (q, key, size) = find(&self.0, "parks", &r.query, None, r.page_size, &r.page_token)?;
        let rows = self.0.read.directory().parks(r.min_position, &q).await;
        let (rows, next) = page::split(rows.map_err(error::projection)?, size, |p| {
            (p.search.clone(), p.park_id.clone())
        });
        Ok(Response::new(proto::ListParksResponse {
            next_page_token: self.0.pages.issue(&key, next.as_ref()),
            parks: rows.into_iter().map(park).collect(),
        }))
    }

    async fn list_tenants(
        &self,
        request: Request<proto::ListTenantsRequest>,
    ) -> Result<Response<proto::ListTenantsResponse>, Status> {
        let caller = crate::caller(&request)?;
        let r = request.into_inner();
        self.company_lists_its_own_tenants(&caller, &r.park_id)
            .await?;
        let (q, key, size) = find(
            &self.0,
            "tenants",
            &r.query,
            Some(&r.park_id),
            r.page_size,
            &r.page_token,
        )?;
        let rows = self.0.read.directory().tenants(r.min_position, &q).await;
        let (rows, next) = page::split(rows.map_err(error::projection)?, size, |t| {
            (t.search.clone(), t.tenant_id.clone())
        });
        Ok(Response::new(proto::ListTenantsResponse {
            next_page_token: self.0.pages.issue(&key, next.as_ref()),
            tenants: rows.into_iter().map(tenant).collect(),
        }))
    }
}
