# Least privilege: one managed identity per kind of container, with data-plane roles scoped to the
# single container or secret it needs (never the account, vault or subscription).
locals {
  apps = ["worker", "mlflow", "dashboard"]
  container_roles = {
    "worker-lake"         = { app = "worker", container = "lake", role = "Storage Blob Data Contributor" }
    "worker-artifacts"    = { app = "worker", container = "artifacts", role = "Storage Blob Data Contributor" }
    "mlflow-artifacts"    = { app = "mlflow", container = "artifacts", role = "Storage Blob Data Contributor" }
    "dashboard-lake"      = { app = "dashboard", container = "lake", role = "Storage Blob Data Reader" }
    "dashboard-artifacts" = { app = "dashboard", container = "artifacts", role = "Storage Blob Data Reader" }
  }
  secret_roles = {
    "worker-state"     = { app = "worker", secret = "state-db-url" }
    "worker-prefect"   = { app = "worker", secret = "prefect-api-key" }
    "mlflow-db"        = { app = "mlflow", secret = "mlflow-db-url" }
    "dashboard-state"  = { app = "dashboard", secret = "state-db-url" }
    "dashboard-signer" = { app = "dashboard", secret = "dashboard-signing-key" }
  }
}

resource "azurerm_user_assigned_identity" "app" {
  for_each            = toset(local.apps)
  name                = "${var.project}-${each.key}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_role_assignment" "container" {
  for_each             = local.container_roles
  scope                = azurerm_storage_container.data[each.value.container].id
  role_definition_name = each.value.role
  principal_id         = azurerm_user_assigned_identity.app[each.value.app].principal_id
}

resource "azurerm_role_assignment" "secret" {
  for_each             = local.secret_roles
  scope                = azurerm_key_vault_secret.managed[each.value.secret].resource_versionless_id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.app[each.value.app].principal_id
}

# The worker starts each flow run as a container group in this resource group, as itself.
resource "azurerm_role_assignment" "worker_runs_flows" {
  scope                = azurerm_resource_group.main.id
  role_definition_name = "Contributor"
  principal_id         = azurerm_user_assigned_identity.app["worker"].principal_id
}
