//! The registry service: authorities, infrastructure companies, parks and tenants. Each method hands
//! its `wire::registry` conversion to the ledger's generic path.

use tonic::{Request, Response, Status};

use crate::proto::{self, registry_service_server::RegistryService};
use crate::{Ledger, wire::registry as wire};

/// The tonic service over a [`Ledger`].
#[derive(Debug, Clone)]
pub struct Registry(pub Ledger);

#[tonic::async_trait]
impl RegistryService for Registry {
    async fn establish_authority(
        &self,
        request: Request<proto::EstablishAuthorityRequest>,
    ) -> Result<Response<proto::EstablishAuthorityResponse>, Status> {
        self.0.command(request, wire::establish_authority).await
    }

    async fn record_authority_succession(
        &self,
        request: Request<proto::RecordAuthoritySuccessionRequest>,
    ) -> Result<Response<proto::RecordAuthoritySuccessionResponse>, Status> {
        self.0.command(request, wire::record_succession).await
    }

    async fn register_company(
        &self,
        request: Request<proto::RegisterCompanyRequest>,
    ) -> Result<Response<proto::RegisterCompanyResponse>, Status> {
        self.0.command(request, wire::register_company).await
    }

    async fn change_company_details(
        &self,
        request: Request<proto::ChangeCompanyDetailsRequest>,
    ) -> Result<Response<proto::ChangeCompanyDetailsResponse>, Status> {
        self.0.command(request, wire::change_company_details).await
    }

    async fn register_park(
        &self,
        request: Request<proto::RegisterParkRequest>,
    ) -> Result<Response<proto::RegisterParkResponse>, Status> {
        self.0.command(request, wire::register_park).await
    }

    async fn assign_jurisdiction(
        &self,
        request: Request<proto::AssignJurisdictionRequest>,
    ) -> Result<Response<proto::AssignJurisdictionResponse>, Status> {
        self.0.command(request, wire::assign_jurisdiction).await
    }

    async fn assign_infrastructure_company(
        &self,
        request: Request<proto::AssignInfrastructureCompanyRequest>,
    ) -> Result<Response<proto::AssignInfrastructureCompanyResponse>, Status> {
        self.0.command(request, wire::assign_company).await
    }

    async fn set_park_industry_rules(
        &self,
        request: Request<proto::SetParkIndustryRulesRequest>,
    ) -> Result<Response<proto::SetParkIndustryRulesResponse>, Status> {
        self.0.command(request, wire::set_industry_rules).await
    }

    async fn submit_park_annual_environmental_report(
        &self,
        request: Request<proto::SubmitParkAnnualEnvironmentalReportRequest>,
    ) -> Result<Response<proto::SubmitParkAnnualEnvironmentalReportResponse>, Status> {
        self.0.command(request, wire::submit_park_report).await
    }

    async fn report_environmental_infrastructure(
        &self,
        request: Request<proto::ReportEnvironmentalInfrastructureRequest>,
    ) -> Result<Response<proto::ReportEnvironmentalInfrastructureResponse>, Status> {
        self.0.command(request, wire::report_infrastructure).await
    }

    async fn report_occupancy(
        &self,
        request: Request<proto::ReportOccupancyRequest>,
    ) -> Result<Response<proto::ReportOccupancyResponse>, Status> {
        self.0.command(request, wire::report_occupancy).await
    }

    async fn record_eco_park_evidence(
        &self,
        request: Request<proto::RecordEcoParkEvidenceRequest>,
    ) -> Result<Response<proto::RecordEcoParkEvidenceResponse>, Status> {
        self.0.command(request, wire::record_eco_evidence).await
    }

    async fn certify_eco_park(
        &self,
        request: Request<proto::CertifyEcoParkRequest>,
    ) -> Result<Response<proto::CertifyEcoParkResponse>, Status> {
        self.0.command(request, wire::certify_eco_park).await
    }

    async fn revoke_eco_park_certification(
        &self,
        request: Request<proto::RevokeEcoParkCertificationRequest>,
    ) -> Result<Response<proto::RevokeEcoParkCertificationResponse>, Status> {
        self.0
            .command(request, wire::revoke_eco_certification)
            .await
    }

    async fn register_tenant(
        &self,
        request: Request<proto::RegisterTenantRequest>,
    ) -> Result<Response<proto::RegisterTenantResponse>, Status> {
        self.0.command(request, wire::register_tenant).await
    }

    async fn record_environmental_permit(
        &self,
        request: Request<proto::RecordEnvironmentalPermitRequest>,
    ) -> Result<Response<proto::RecordEnvironmentalPermitResponse>, Status> {
        self.0.command(request, wire::record_permit).await
    }

    async fn record_environmental_commitment(
        &self,
        request: Request<proto::RecordEnvironmentalCommitmentRequest>,
    ) -> Result<Response<proto::RecordEnvironmentalCommitmentResponse>, Status> {
        self.0.command(request, wire::record_commitment).await
    }

    async fn submit_annual_environmental_report(
        &self,
        request: Request<proto::SubmitAnnualEnvironmentalReportRequest>,
    ) -> Result<Response<proto::SubmitAnnualEnvironmentalReportResponse>, Status> {
        self.0.command(request, wire::submit_tenant_report).await
    }

    async fn get_authority(
        &self,
        request: Request<proto::GetAuthorityRequest>,
    ) -> Result<Response<proto::GetAuthorityResponse>, Status> {
        let id = &request.get_ref().authority_id;
        self.0
            .get(&request, "authority_id", id, wire::authority)
            .await
    }

    async fn get_company(
        &self,
        request: Request<proto::GetCompanyRequest>,
    ) -> Result<Response<proto::GetCompanyResponse>, Status> {
        let id = &request.get_ref().company_id;
        self.0.get(&request, "company_id", id, wire::company).await
    }

    async fn get_park(
        &self,
        request: Request<proto::GetParkRequest>,
    ) -> Result<Response<proto::GetParkResponse>, Status> {
        let id = &request.get_ref().park_id;
        self.0.get(&request, "park_id", id, wire::park).await
    }

    async fn get_tenant(
        &self,
        request: Request<proto::GetTenantRequest>,
    ) -> Result<Response<proto::GetTenantResponse>, Status> {
        let id = &request.get_ref().tenant_id;
        self.0.get(&request, "tenant_id", id, wire::tenant).await
    }
}
