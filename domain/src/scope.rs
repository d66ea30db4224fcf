//! Whom a principal acts for, and the one check that a command stays within it.
//!
//! The role table (`kcn_services::access`) says which commands a role may call; this module says on
//! which records: a Board officer acts for one authority, on the parks under that authority's
//! jurisdiction (or its predecessors', whose duties it took over); a company officer acts for one
//! infrastructure company, only on the parks that company runs both today and on the command's
//! business date, so that back-dating opens nothing. An act that names the organisations performing
//! it (an agreement's parties, an information request's sender, a dossier's receiving authority) is
//! performed by one of them. The command path runs [`check`] under the log's write lock, once on the
//! record as it stands and once on the events the command decided, and refuses with
//! [`DomainError::Forbidden`] (`PERMISSION_DENIED`): nothing is recorded.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::DomainError;
use crate::information_exchange::{OrganisationKind, OrganisationRef};
use crate::park::Park;

/// The longest chain of successions followed from a park's authority to the caller's.
const MAX_SUCCESSIONS: usize = 32;

/// Whom the caller acts for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Not narrowed to an organisation's records: the administrator, the province's integration
    /// and the in-process identity of an embedding program. What they may call at all is the role
    /// table's decision.
    #[default]
    Unrestricted,
    /// A Board officer of this authority.
    Authority(Uuid),
    /// An officer of this infrastructure company.
    Company(Uuid),
}

/// On whose behalf a command's events are recorded, as the aggregate states it
/// (`LedgerAggregate::acting_for`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acting {
    /// The organisations one of which performs the act (an agreement's parties, an exchange's
    /// requester). Empty: the park's side performs it (the company that runs the park, the
    /// authority with jurisdiction over it).
    pub parties: Vec<OrganisationRef>,
    /// The park the act concerns, when it concerns one.
    pub park: Option<Uuid>,
    /// The authority the act names as acting (an agreement's authority, an escalation's target, a
    /// dossier's receiving authority): the event's acting authority. Without it, the authority
    /// with jurisdiction over the park on the business date acts.
    pub authority: Option<Uuid>,
}

impl Acting {
    /// Performed by the park's side.
    pub fn park(park: Option<Uuid>) -> Self {
        Self {
            park,
            ..Self::default()
        }
    }

    /// Performed by one of `parties`, about `park` when it names one.
    pub fn parties(parties: Vec<OrganisationRef>, park: Option<Uuid>) -> Self {
        let authority = parties
            .iter()
            .find(|p| p.kind == OrganisationKind::Authority)
            .map(|p| p.id);
        Self {
            parties,
            park,
            authority,
        }
    }

    /// Names `authority` as the acting authority.
    pub fn acting_authority(mut self, authority: Uuid) -> Self {
        self.authority = Some(authority);
        self
    }
}

/// What the check needs of the record beyond the act: the parks it concerns and the successions.
pub struct Record<'a> {
    /// The parks the act concerns, by id, as they stand.
    pub parks: &'a BTreeMap<Uuid, Park>,
    /// The authority that succeeded an authority and the date from which it did, if one did.
    pub successor: &'a dyn Fn(Uuid) -> Option<(Uuid, NaiveDate)>,
}

/// Whether `successor` is `authority` or took over its duties through a chain of successions.
fn holds_duties_of(record: &Record<'_>, successor: Uuid, authority: Uuid) -> bool {
    let mut current = authority;
    for _ in 0..=MAX_SUCCESSIONS {
        if current == successor {
            return true;
        }
        match (record.successor)(current) {
            Some((next, _)) => current = next,
            None => return false,
        }
    }
    false
}

fn forbidden(rule: &'static str, message: String) -> DomainError {
    DomainError::Forbidden { rule, message }
}

/// Refuses the act unless the caller's scope covers it on every one of `dates` (the business dates
/// of the act's events, and today).
pub fn check(
    scope: Scope,
    acting: &Acting,
    dates: &[NaiveDate],
    record: &Record<'_>,
) -> Result<(), DomainError> {
    let (kind, organisation, noun) = match scope {
        Scope::Unrestricted => return Ok(()),
        Scope::Authority(a) => (OrganisationKind::Authority, a, "authority"),
        Scope::Company(c) => (OrganisationKind::InfrastructureCompany, c, "company"),
    };
    if acting.parties.is_empty() && acting.park.is_none() {
        return Err(forbidden(
            "outside_organisation_scope",
            format!(
                "this record belongs to no park or organisation that {noun} {organisation} acts \
                 for; an administrator's principal records it"
            ),
        ));
    }
    if let (OrganisationKind::Authority, Some((successor, from))) =
        (kind, (record.successor)(organisation))
        && let Some(date) = dates.iter().find(|d| **d >= from)
    {
        return Err(forbidden(
            "authority_succeeded",
            format!(
                "authority {organisation} was succeeded by authority {successor} from {from}; it \
                 acts no more (on {date}): its successor's principals record its acts"
            ),
        ));
    }
    if !acting.parties.is_empty() {
        let party = acting.parties.iter().any(|p| {
            p.kind == kind
                && match kind {
                    OrganisationKind::InfrastructureCompany => p.id == organisation,
                    OrganisationKind::Authority => holds_duties_of(record, organisation, p.id),
                }
        });
        if !party {
            let named = acting
                .parties
                .iter()
                .map(|p| format!("{} {}", p.kind.aggregate(), p.id))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(forbidden(
                "not_a_party",
                format!(
                    "{noun} {organisation} is not the party that performs this act ({named}); \
                     only that party's principals record it"
                ),
            ));
        }
        // An authority that is a party acts within its own competence; a company also needs the
        // park, when one is named.
        if kind == OrganisationKind::Authority {
            return Ok(());
        }
    }
    let Some(park_id) = acting.park else {
        return Ok(());
    };
    let Some(park) = record.parks.get(&park_id) else {
        return Err(forbidden(
            "outside_organisation_scope",
            format!("park {park_id} is not on record, so no organisation acts for it yet"),
        ));
    };
    for &date in dates {
        match kind {
            OrganisationKind::InfrastructureCompany => {
                let runs = park.company_at(date);
                if runs != Some(organisation) {
                    let by = runs.map_or("no company".to_owned(), |c| format!("company {c}"));
                    return Err(forbidden(
                        "company_does_not_run_park",
                        format!(
                            "company {organisation} does not run park {park_id} on {date} (it is run by \
                             {by}); a company officer acts only on the parks its company runs both \
                             today and on the act's date"
                        ),
                    ));
                }
            }
            OrganisationKind::Authority => {
                let holder = park.jurisdiction_at(date);
                if !holder.is_some_and(|h| holds_duties_of(record, organisation, h)) {
                    let by = holder.map_or("no authority".to_owned(), |a| format!("authority {a}"));
                    return Err(forbidden(
                        "outside_jurisdiction",
                        format!(
                            "park {park_id} is not under the jurisdiction of authority {organisation} \
                             on {date} (it is under {by}); a Board officer acts only on the parks of \
                             its authority or of the authorities it succeeded"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// Park 1: authority 10 from 2020, company 20 until 2024-12-31 and company 21 from 2025.
    fn record_parks() -> BTreeMap<Uuid, Park> {
        let mut park = Park::default();
        park.jurisdictions.push((date("2020-01-01"), id(10)));
        park.companies.push((date("2020-01-01"), id(20)));
        park.companies.push((date("2025-01-01"), id(21)));
        BTreeMap::from([(id(1), park)])
    }

    fn no_successions(_: Uuid) -> Option<(Uuid, NaiveDate)> {
        None
    }

    #[test]
    fn a_company_acts_only_where_it_runs_the_park_today_and_on_the_date() {
        let parks = record_parks();
        let record = Record {
            parks: &parks,
            successor: &no_successions,
        };
        let on_park = Acting::park(Some(id(1)));
        let today = date("2026-12-03");
        assert!(check(Scope::Company(id(21)), &on_park, &[today], &record).is_ok());
        // Back-dating to a time the company did not run the park opens nothing.
        let err = check(
            Scope::Company(id(21)),
            &on_park,
            &[date("2024-06-01"), today],
            &record,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            DomainError::Forbidden {
                rule: "company_does_not_run_park",
                ..
            }
        ));
        // Nor does back-dating to a time the former company ran it.
        let err = check(
            Scope::Company(id(20)),
            &on_park,
            &[date("2024-06-01"), today],
            &record,
        )
        .unwrap_err();
        assert!(matches!(
            err,
            DomainError::Forbidden {
                rule: "company_does_not_run_park",
                ..
            }
        ));
    }

    #[test]
    fn a_board_officer_acts_on_its_parks_and_on_those_of_the_authorities_it_succeeded() {
        let parks = record_parks();
        let successor = |a: Uuid| (a == id(10)).then_some((id(11), date("2026-01-01")));
        let record = Record {
            parks: &parks,
            successor: &successor,
        };
        let on_park = Acting::park(Some(id(1)));
        let today = [date("2026-12-03")];
        // The merged authority acts no more; its successor acts on its parks, also on facts of
        // before the merger.
        let err = check(Scope::Authority(id(10)), &on_park, &today, &record).unwrap_err();
        assert!(matches!(
            err,
            DomainError::Forbidden {
                rule: "authority_succeeded",
                ..
            }
        ));
        let before = [date("2025-03-01"), date("2025-12-31")];
        assert!(check(Scope::Authority(id(10)), &on_park, &before, &record).is_ok());
        assert!(check(Scope::Authority(id(11)), &on_park, &today, &record).is_ok());
        assert!(check(Scope::Authority(id(11)), &on_park, &before, &record).is_ok());
        let err = check(Scope::Authority(id(12)), &on_park, &today, &record).unwrap_err();
        assert!(matches!(
            err,
            DomainError::Forbidden {
                rule: "outside_jurisdiction",
                ..
            }
        ));
    }

    #[test]
    fn an_act_naming_its_parties_is_performed_by_one_of_them() {
        let parks = record_parks();
        let record = Record {
            parks: &parks,
            successor: &no_successions,
        };
        let acting = Acting::parties(
            vec![
                OrganisationRef {
                    kind: OrganisationKind::Authority,
                    id: id(10),
                },
                OrganisationRef {
                    kind: OrganisationKind::InfrastructureCompany,
                    id: id(21),
                },
            ],
            None,
        );
        assert_eq!(acting.authority, Some(id(10)));
        let today = [date("2026-12-03")];
        assert!(check(Scope::Authority(id(10)), &acting, &today, &record).is_ok());
        assert!(check(Scope::Company(id(21)), &acting, &today, &record).is_ok());
        for scope in [Scope::Authority(id(12)), Scope::Company(id(20))] {
            let err = check(scope, &acting, &today, &record).unwrap_err();
            assert!(matches!(
                err,
                DomainError::Forbidden {
                    rule: "not_a_party",
                    ..
                }
            ));
        }
        // The administrator's records are nobody's: scoped principals do not write them.
        let err = check(Scope::Company(id(21)), &Acting::default(), &today, &record).unwrap_err();
        assert!(matches!(
            err,
            DomainError::Forbidden {
                rule: "outside_organisation_scope",
                ..
            }
        ));
        assert!(check(Scope::Unrestricted, &Acting::default(), &today, &record).is_ok());
    }
}
