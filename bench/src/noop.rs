//! The no-op ceiling: a tonic server that implements `kcn.ledger.v1.RegistryService` and answers
//! the benchmarked command (`RegisterCompany`) at once with a canned outcome of the real shape,
//! every other method `UNIMPLEMENTED`. The same client code drives it at the same concurrency as
//! the real server, so the ratio of the two is what the ledger costs above gRPC, HTTP/2 and
//! protobuf on this machine. It runs as a child process (`kcn-bench noop-server`), so that its CPU
//! is separate from the harness's, as the real server's is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kcn_services::proto::{
    self,
    registry_service_server::{RegistryService, RegistryServiceServer},
};
use tokio::process::Command;

use crate::child::Listening;
use tonic::{Request, Response, Status};

/// The line the no-op server prints on stdout once it listens, followed by its address.
const LISTENING: &str = "noop-server listening on ";

/// The no-op registry.
#[derive(Debug, Default)]
struct Noop {
    position: AtomicU64,
}

fn unbenchmarked() -> Status {
    Status::unimplemented("the no-op server answers RegisterCompany only")
}

#[tonic::async_trait]
impl RegistryService for Noop {
    async fn register_company(
        &self,
        request: Request<proto::RegisterCompanyRequest>,
    ) -> Result<Response<proto::RegisterCompanyResponse>, Status> {
        // Touch the request as a handler would (its fields were decoded by tonic already).
        let code_len = request.get_ref().enterprise_code.len();
        let position = self.position.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Response::new(proto::RegisterCompanyResponse {
            outcome: Some(proto::CommandOutcome {
                aggregate_type: "InfrastructureCompany".to_owned(),
                aggregate_id: "0193c5a4-7d1e-7b3a-9f00-000000000000".to_owned(),
                first_position: position,
                last_position: position,
                aggregate_version: 1,
                event_ids: vec![format!("0193c5a4-7d1e-7b3a-9f00-{code_len:012}")],
                breaches: Vec::new(),
                replayed: false,
            }),
        }))
    }

    async fn establish_authority(
        &self,
        _: Request<proto::EstablishAuthorityRequest>,
    ) -> Result<Response<proto::EstablishAuthorityResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn get_authority(
        &self,
        _: Request<proto::GetAuthorityRequest>,
    ) -> Result<Response<proto::GetAuthorityResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn record_authority_succession(
        &self,
        _: Request<proto::RecordAuthoritySuccessionRequest>,
    ) -> Result<Response<proto::RecordAuthoritySuccessionResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn change_company_details(
        &self,
        _: Request<proto::ChangeCompanyDetailsRequest>,
    ) -> Result<Response<proto::ChangeCompanyDetailsResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn get_company(
        &self,
        _: Request<proto::GetCompanyRequest>,
    ) -> Result<Response<proto::GetCompanyResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn register_park(
        &self,
        _: Request<proto::RegisterParkRequest>,
    ) -> Result<Response<proto::RegisterParkResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn assign_jurisdiction(
        &self,
        _: Request<proto::AssignJurisdictionRequest>,
    ) -> Result<Response<proto::AssignJurisdictionResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn assign_infrastructure_company(
        &self,
        _: Request<proto::AssignInfrastructureCompanyRequest>,
    ) -> Result<Response<proto::AssignInfrastructureCompanyResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn get_park(
        &self,
        _: Request<proto::GetParkRequest>,
    ) -> Result<Response<proto::GetParkResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn set_park_industry_rules(
        &self,
        _: Request<proto::SetParkIndustryRulesRequest>,
    ) -> Result<Response<proto::SetParkIndustryRulesResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn submit_park_annual_environmental_report(
        &self,
        _: Request<proto::SubmitParkAnnualEnvironmentalReportRequest>,
    ) -> Result<Response<proto::SubmitParkAnnualEnvironmentalReportResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn report_environmental_infrastructure(
        &self,
        _: Request<proto::ReportEnvironmentalInfrastructureRequest>,
    ) -> Result<Response<proto::ReportEnvironmentalInfrastructureResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn report_occupancy(
        &self,
        _: Request<proto::ReportOccupancyRequest>,
    ) -> Result<Response<proto::ReportOccupancyResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn record_eco_park_evidence(
        &self,
        _: Request<proto::RecordEcoParkEvidenceRequest>,
    ) -> Result<Response<proto::RecordEcoParkEvidenceResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn certify_eco_park(
        &self,
        _: Request<proto::CertifyEcoParkRequest>,
    ) -> Result<Response<proto::CertifyEcoParkResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn revoke_eco_park_certification(
        &self,
        _: Request<proto::RevokeEcoParkCertificationRequest>,
    ) -> Result<Response<proto::RevokeEcoParkCertificationResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn register_tenant(
        &self,
        _: Request<proto::RegisterTenantRequest>,
    ) -> Result<Response<proto::RegisterTenantResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn record_environmental_permit(
        &self,
        _: Request<proto::RecordEnvironmentalPermitRequest>,
    ) -> Result<Response<proto::RecordEnvironmentalPermitResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn record_environmental_commitment(
        &self,
        _: Request<proto::RecordEnvironmentalCommitmentRequest>,
    ) -> Result<Response<proto::RecordEnvironmentalCommitmentResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn submit_annual_environmental_report(
        &self,
        _: Request<proto::SubmitAnnualEnvironmentalReportRequest>,
    ) -> Result<Response<proto::SubmitAnnualEnvironmentalReportResponse>, Status> {
        Err(unbenchmarked())
    }

    async fn get_tenant(
        &self,
        _: Request<proto::GetTenantRequest>,
    ) -> Result<Response<proto::GetTenantResponse>, Status> {
        Err(unbenchmarked())
    }
}

/// Serves the no-op registry on `127.0.0.1:0` until killed, printing its address on stdout
/// (the hidden `noop-server` subcommand).
pub async fn serve() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("{LISTENING}{addr}");
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(RegistryServiceServer::new(Noop::default()))
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}

/// Starts `kcn-bench noop-server` (this very binary) as a child process and waits for its address.
pub async fn spawn() -> anyhow::Result<Listening> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("noop-server");
    Listening::spawn(
        command,
        LISTENING,
        "the no-op server",
        Duration::from_secs(10),
    )
    .await
}
