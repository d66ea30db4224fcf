//! The procedure service: dossiers enterprises file with the Board, from receipt to decision; a
//! decision slower than the promised processing time is accepted and its breach named. Each method
//! hands its `wire::procedure` conversion to the ledger's generic path.

use tonic::{Request, Response, Status};

use crate::proto::{self, procedure_service_server::ProcedureService};
use crate::{Ledger, wire::procedure as wire};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Procedures(pub Ledger);

#[tonic::async_trait]
impl ProcedureService for Procedures {
    async fn receive_dossier(
        &self,
        request: Request<proto::ReceiveDossierRequest>,
    ) -> Result<Response<proto::ReceiveDossierResponse>, Status> {
        self.0.command(request, wire::receive).await
    }

    async fn decide_dossier(
        &self,
        request: Request<proto::DecideDossierRequest>,
    ) -> Result<Response<proto::DecideDossierResponse>, Status> {
        self.0.command(request, wire::decide).await
    }

    async fn get_dossier(
        &self,
        request: Request<proto::GetDossierRequest>,
    ) -> Result<Response<proto::GetDossierResponse>, Status> {
        let id = &request.get_ref().dossier_id;
        let rules = self.0.store.rules().clone();
        self.0
            .get(&request, "dossier_id", id, |id, d, v| {
                wire::dossier(id, d, v, &rules)
            })
            .await
    }
}
