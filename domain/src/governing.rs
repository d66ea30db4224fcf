//! The one resolver of the coordination agreement that governs a park's authority and company on a
//! date. The command-time judgement (through [`crate::agreement::AgreementsInForce`]) and every read
//! model that looks an agreement up call it, so they cannot disagree.
//!
//! The rule: a successor takes over its predecessors' obligations, and a predecessor's agreement
//! governs until it is superseded.
//!
//! 1. The authority that answers for the park on the date is the one the park names, followed
//!    through every succession effective on or before the date (a park whose jurisdiction has not yet
//!    been reassigned in the ledger still names the succeeded authority; its successor answers).
//! 2. That authority's own agreement with the company, in force on the date, governs (not inherited).
//! 3. Else an agreement one of its predecessors (succeeded on or before the date, nearest generation
//!    first) signed with the company and that is still in force on the date governs, inherited.
//!
//! "In force" means effective on or before the date and not superseded on or before it; of several,
//! the one effective latest (then the greatest id) governs.

use chrono::NaiveDate;

/// An agreement, as the resolver needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementFact<Id> {
    pub agreement_id: Id,
    pub authority_id: Id,
    pub company_ids: Vec<Id>,
    pub effective_from: NaiveDate,
    /// From when it no longer applies, if superseded.
    pub superseded_from: Option<NaiveDate>,
}

/// `authority_id` was succeeded by `successor` from `effective_date` (a local date) on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessionFact<Id> {
    pub authority_id: Id,
    pub successor: Id,
    pub effective_date: NaiveDate,
}

/// The governing agreement and how it came to govern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Governing<Id> {
    pub agreement_id: Id,
    /// The authority that answers for the park on the date (after following successions).
    pub answering_authority_id: Id,
    /// Signed by a predecessor of the answering authority, not by that authority itself.
    pub inherited: bool,
}

/// Succession chains are short (one merger; a chain of reorganisations at most); the bound keeps a
/// corrupt cycle from looping.
const MAX_GENERATIONS: usize = 8;

/// The authority answering on `date` for a park that names `named`: `named` followed through the
/// successions effective on or before `date`.
pub fn answering_authority<Id: Clone + Eq>(
    named: &Id,
    date: NaiveDate,
    successions: &[SuccessionFact<Id>],
) -> Id {
    let mut current = named.clone();
    for _ in 0..MAX_GENERATIONS {
        match successions
            .iter()
            .find(|s| s.authority_id == current && s.effective_date <= date)
        {
            Some(s) if s.successor != current => current = s.successor.clone(),
            _ => break,
        }
    }
    current
}

/// The agreement governing a park that names `park_authority` and is run by `company` on `date`.
/// `None` when no agreement applies.
pub fn governing_agreement<Id: Clone + Eq + Ord>(
    park_authority: &Id,
    company: &Id,
    date: NaiveDate,
    agreements: &[AgreementFact<Id>],
    successions: &[SuccessionFact<Id>],
) -> Option<Governing<Id>> {
    let answering = answering_authority(park_authority, date, successions);
    let between = |authority: &Id| {
        agreements
            .iter()
            .filter(|a| {
                &a.authority_id == authority
                    && a.company_ids.contains(company)
                    && a.effective_from <= date
                    && a.superseded_from.is_none_or(|s| s > date)
            })
            .max_by(|x, y| {
                (x.effective_from, &x.agreement_id).cmp(&(y.effective_from, &y.agreement_id))
            })
    };
    if let Some(a) = between(&answering) {
        return Some(Governing {
            agreement_id: a.agreement_id.clone(),
            answering_authority_id: answering,
            inherited: false,
        });
    }
    let mut seen = vec![answering.clone()];
    let mut frontier = vec![answering.clone()];
    for _ in 0..MAX_GENERATIONS {
        let mut next: Vec<Id> = successions
            .iter()
            .filter(|s| {
                frontier.contains(&s.successor)
                    && s.effective_date <= date
                    && !seen.contains(&s.authority_id)
            })
            .map(|s| s.authority_id.clone())
            .collect();
        next.sort();
        next.dedup();
        if next.is_empty() {
            break;
        }
        // Of one generation's predecessors, the agreement effective latest governs.
        if let Some(a) = next.iter().filter_map(&between).max_by(|x, y| {
            (x.effective_from, &x.agreement_id).cmp(&(y.effective_from, &y.agreement_id))
        }) {
            return Some(Governing {
                agreement_id: a.agreement_id.clone(),
                answering_authority_id: answering,
                inherited: true,
            });
        }
        seen.extend(next.iter().cloned());
        frontier = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    // The Bình Dương merger: BD (1) and VT (2) succeeded by the city board (3) from 2025-07-28.
    // Company 10 runs the park. AG 100: BD–10 from 2020-01-01. AG 101: city–10 from 2025-09-01.
    fn facts() -> (Vec<AgreementFact<u32>>, Vec<SuccessionFact<u32>>) {
        let ag = |id, authority, from| AgreementFact {
            agreement_id: id,
            authority_id: authority,
            company_ids: vec![10],
            effective_from: d(from),
            superseded_from: None,
        };
        let s = |a| SuccessionFact {
            authority_id: a,
            successor: 3,
            effective_date: d("2025-07-28"),
        };
        (
            vec![ag(100, 1, "2020-01-01"), ag(101, 3, "2025-09-01")],
            vec![s(1), s(2)],
        )
    }

    fn gov(named: u32, date: &str) -> Option<(u32, u32, bool)> {
        let (a, s) = facts();
        governing_agreement(&named, &10, d(date), &a, &s)
            .map(|g| (g.agreement_id, g.answering_authority_id, g.inherited))
    }

    #[test]
    fn before_the_merger_the_predecessors_own_agreement_governs() {
        assert_eq!(gov(1, "2025-07-27"), Some((100, 1, false)));
    }

    #[test]
    fn after_reassignment_the_successor_inherits_until_its_own_agreement() {
        assert_eq!(gov(3, "2025-07-28"), Some((100, 3, true)));
        assert_eq!(gov(3, "2025-08-31"), Some((100, 3, true)));
        assert_eq!(gov(3, "2025-09-01"), Some((101, 3, false)));
    }

    #[test]
    fn a_park_still_naming_the_succeeded_authority_is_answered_by_its_successor() {
        // Jurisdiction not yet reassigned: the park names BD after 28 July.
        assert_eq!(gov(1, "2025-08-10"), Some((100, 3, true)));
        // The successor's own agreement supersedes once in force, even so.
        assert_eq!(gov(1, "2025-09-02"), Some((101, 3, false)));
    }

    #[test]
    fn a_superseded_predecessor_agreement_no_longer_governs() {
        let (mut a, s) = facts();
        a[0].superseded_from = Some(d("2025-08-15"));
        assert_eq!(
            governing_agreement(&3, &10, d("2025-08-14"), &a, &s).map(|g| g.agreement_id),
            Some(100)
        );
        assert_eq!(governing_agreement(&3, &10, d("2025-08-15"), &a, &s), None);
    }

    #[test]
    fn another_companys_agreement_or_a_cycle_governs_nothing() {
        let (a, mut s) = facts();
        assert_eq!(governing_agreement(&3, &11, d("2025-08-01"), &a, &s), None);
        s.push(SuccessionFact {
            authority_id: 3,
            successor: 1,
            effective_date: d("2025-07-28"),
        });
        // A corrupt cycle terminates.
        let _ = governing_agreement(&1, &11, d("2025-08-01"), &a, &s);
    }
}
