output "lake_uri" {
  description = "Set TORCHTRADER_LAKE to this on workers and clients."
  value       = local.lake_uri
}

output "mlflow_artifacts_uri" {
  description = "Where the MLflow server stores artifacts."
  value       = local.artifacts_uri
}

output "mlflow_url" {
  description = "MLflow tracking URI (Cloud Run, IAM-authenticated callers only)."
  value       = google_cloud_run_v2_service.main["mlflow"].uri
}

output "dashboard_url" {
  description = "The Torch Trader dashboard (its own login)."
  value       = google_cloud_run_v2_service.main["dashboard"].uri
}

output "state_db_secret" {
  description = "Secret Manager secret with the bot state store's SQLAlchemy URL (TORCHTRADER_STATE_DB)."
  value       = google_secret_manager_secret.managed["state-db-url"].id
}

output "exchange_secrets" {
  description = "Empty exchange/broker secrets by name: add versions with `gcloud secrets versions add`."
  value       = { for name, s in google_secret_manager_secret.exchange : name => s.id }
}

output "work_pool" {
  description = "Prefect Cloud Run work pool name targeted by the cloud deployments."
  value       = prefect_work_pool.cloud_run.name
}

output "worker_service_account" {
  description = "Service account of the worker and of every flow-run job."
  value       = google_service_account.main["worker"].email
}
