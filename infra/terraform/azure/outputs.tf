output "lake_uri" {
  description = "Set TORCHTRADER_LAKE to this (with AZURE_STORAGE_ACCOUNT_NAME = storage_account) on workers and clients."
  value       = local.lake_uri
}

output "storage_account" {
  description = "Storage account holding the lake and artifacts containers (AZURE_STORAGE_ACCOUNT_NAME)."
  value       = azurerm_storage_account.data.name
}

output "mlflow_artifacts_uri" {
  description = "Where the MLflow server stores artifacts."
  value       = local.artifacts_uri
}

output "mlflow_url" {
  description = "MLflow tracking URI (Container Apps ingress, TLS, allowed CIDRs only)."
  value       = "https://${azurerm_container_app.main["mlflow"].ingress[0].fqdn}"
}

output "dashboard_url" {
  description = "The Torch Trader dashboard."
  value       = "https://${azurerm_container_app.main["dashboard"].ingress[0].fqdn}"
}

output "key_vault" {
  description = "Key Vault holding the database URLs and keys; add exchange keys here (`az keyvault secret set`)."
  value       = azurerm_key_vault.main.name
}

output "work_pool" {
  description = "Prefect Azure Container Instances work pool targeted by the cloud deployments."
  value       = prefect_work_pool.aci.name
}

output "worker_identity" {
  description = "Client id of the managed identity of the worker and of every flow-run container group."
  value       = azurerm_user_assigned_identity.app["worker"].client_id
}
