//! The procedure service's conversions: a dossier received and decided, and the dossier as
//! `GetDossierResponse`.

use kcn_domain::procedure::{AdministrativeProcedure, DossierOutcome, ProcedureCommand};
use kcn_domain::values::{ServiceDays, Text, max_chars};
use uuid::Uuid;

use super::Command;
use crate::fields::{self, Fields, optional_text};
use crate::{proto, wire_enum};

wire_enum!(
    dossier_outcome,
    dossier_outcome_to_proto,
    proto::DossierOutcome,
    DossierOutcome,
    "DOSSIER_OUTCOME",
    [Approved, Rejected, Returned]
);

type Cmd = Command<AdministrativeProcedure>;

pub fn receive(r: proto::ReceiveDossierRequest, f: &mut Fields) -> Option<Cmd> {
    let procedure_code = f.check("procedure_code", Text::code(&r.procedure_code));
    let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
    let tenant_id = f.check("tenant_id", fields::uuid(&r.tenant_id));
    let park_id = f.check("park_id", fields::uuid(&r.park_id));
    let dossier_no = f.check(
        "dossier_no",
        optional_text(&r.dossier_no, max_chars::NUMBER),
    );
    let received_on = f.check("received_on", fields::optional_date(&r.received_on));
    let promised_days = f.check(
        "promised_days",
        r.promised_days.map(ServiceDays::parse).transpose(),
    );
    let (procedure_code, authority_id, tenant_id) = (procedure_code?, authority_id?, tenant_id?);
    let (park_id, dossier_no, received_on) = (park_id?, dossier_no?, received_on?);
    let promised_days = promised_days?.map(ServiceDays::get);
    Some(Cmd::new(move |dossier_id, occurred_at| {
        ProcedureCommand::Receive {
            dossier_id,
            occurred_at,
            procedure_code: procedure_code.clone(),
            authority_id,
            tenant_id,
            park_id,
            dossier_no: dossier_no.clone(),
            received_on,
            promised_days,
        }
    }))
}

pub fn decide(r: proto::DecideDossierRequest, f: &mut Fields) -> Option<Cmd> {
    let id = f.check("dossier_id", fields::uuid(&r.dossier_id));
    let outcome = f.check("outcome", dossier_outcome(r.outcome));
    let decided_on = f.check("decided_on", fields::optional_date(&r.decided_on));
    let decision_no = f.check(
        "decision_no",
        optional_text(&r.decision_no, max_chars::NUMBER),
    );
    let note = f.check("note", optional_text(&r.note, max_chars::NOTE));
    let (outcome, decided_on, decision_no, note) = (outcome?, decided_on?, decision_no?, note?);
    Some(Cmd::on(id?, move |dossier_id, occurred_at| {
        ProcedureCommand::Decide {
            dossier_id,
            occurred_at,
            outcome,
            decided_on,
            decision_no: decision_no.clone(),
            note: note.clone(),
        }
    }))
}

/// The dossier as the wire's answer.
pub fn dossier(
    id: Uuid,
    d: &AdministrativeProcedure,
    version: u64,
    rules: &kcn_domain::LegalRules,
) -> proto::GetDossierResponse {
    proto::GetDossierResponse {
        dossier_id: id.to_string(),
        version,
        received: d.received.as_ref().map(|x| proto::DossierReceived {
            procedure_code: x.procedure_code.to_string(),
            authority_id: x.authority_id.to_string(),
            tenant_id: x.tenant_id.to_string(),
            park_id: x.park_id.to_string(),
            dossier_no: x.dossier_no.as_ref().map(ToString::to_string),
            received_on: x.received_on.to_string(),
            promised_days: x.promised_days,
        }),
        decided: d.decided.as_ref().map(|x| proto::DossierDecided {
            outcome: dossier_outcome_to_proto(x.outcome),
            decided_on: x.decided_on.to_string(),
            decision_no: x.decision_no.as_ref().map(ToString::to_string),
            note: x.note.as_ref().map(ToString::to_string),
        }),
        processing_days: d
            .processing_days(rules)
            .and_then(|days| u32::try_from(days).ok()),
    }
}
