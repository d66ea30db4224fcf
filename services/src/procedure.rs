//! The procedure service: dossiers enterprises file with the Board, from receipt to decision; a
//! decision slower than the promised processing time is accepted and its breach named.

use kcn_domain::procedure::{AdministrativeProcedure, DossierOutcome, ProcedureCommand};
use kcn_domain::values::Text;
use kcn_eventstore::Target;
use tonic::{Request, Response, Status};

use crate::fields::{self, Fields, optional_text};
use crate::proto::{self, procedure_service_server::ProcedureService};
use crate::wire_enum;
use crate::{Ledger, take};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Procedures(pub Ledger);

wire_enum!(
    dossier_outcome,
    dossier_outcome_to_proto,
    proto::DossierOutcome,
    DossierOutcome,
    "DOSSIER_OUTCOME",
    [Approved, Rejected, Returned]
);

#[tonic::async_trait]
impl ProcedureService for Procedures {
    async fn receive_dossier(
        &self,
        request: Request<proto::ReceiveDossierRequest>,
    ) -> Result<Response<proto::ReceiveDossierResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let procedure_code = f.check("procedure_code", Text::parse(&r.procedure_code, 64));
        let authority_id = f.check("authority_id", fields::uuid(&r.authority_id));
        let tenant_id = f.check("tenant_id", fields::uuid(&r.tenant_id));
        let park_id = f.check("park_id", fields::uuid(&r.park_id));
        let dossier_no = f.check("dossier_no", optional_text(&r.dossier_no, 100));
        let received_on = f.check("received_on", fields::optional_date(&r.received_on));
        f.finish()?;
        take!(
            header,
            procedure_code,
            authority_id,
            tenant_id,
            park_id,
            dossier_no,
            received_on
        );
        let (occurred_at, promised_days) = (header.occurred_at, r.promised_days);
        let o = self
            .0
            .run::<AdministrativeProcedure, _>(Target::New, header, move |dossier_id| {
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
            })
            .await?;
        Ok(Response::new(proto::ReceiveDossierResponse {
            outcome: Some(o),
        }))
    }

    async fn decide_dossier(
        &self,
        request: Request<proto::DecideDossierRequest>,
    ) -> Result<Response<proto::DecideDossierResponse>, Status> {
        let r = request.into_inner();
        let mut f = Fields::default();
        let header = self.0.header(r.header.as_ref(), &mut f);
        let dossier_id = f.check("dossier_id", fields::uuid(&r.dossier_id));
        let outcome = f.check("outcome", dossier_outcome(r.outcome));
        let decided_on = f.check("decided_on", fields::optional_date(&r.decided_on));
        let decision_no = f.check("decision_no", optional_text(&r.decision_no, 100));
        let note = f.check("note", optional_text(&r.note, 2_000));
        f.finish()?;
        take!(header, dossier_id, outcome, decided_on, decision_no, note);
        let occurred_at = header.occurred_at;
        let o = self
            .0
            .run::<AdministrativeProcedure, _>(
                Target::Existing(dossier_id),
                header,
                move |dossier_id| ProcedureCommand::Decide {
                    dossier_id,
                    occurred_at,
                    outcome,
                    decided_on,
                    decision_no: decision_no.clone(),
                    note: note.clone(),
                },
            )
            .await?;
        Ok(Response::new(proto::DecideDossierResponse {
            outcome: Some(o),
        }))
    }

    async fn get_dossier(
        &self,
        request: Request<proto::GetDossierRequest>,
    ) -> Result<Response<proto::GetDossierResponse>, Status> {
        let r = request.into_inner();
        let (id, d, version) = self
            .0
            .get::<AdministrativeProcedure>("dossier_id", &r.dossier_id)
            .await?;
        Ok(Response::new(proto::GetDossierResponse {
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
                outcome: dossier_outcome_to_proto(x.outcome) as i32,
                decided_on: x.decided_on.to_string(),
                decision_no: x.decision_no.as_ref().map(ToString::to_string),
                note: x.note.as_ref().map(ToString::to_string),
            }),
            processing_days: d
                .processing_days()
                .and_then(|days| u32::try_from(days).ok()),
        }))
    }
}
