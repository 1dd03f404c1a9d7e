# Container Apps (managed TLS on every ingress): the Prefect worker (no ingress), the MLflow server and
# the dashboard, each reachable only from var.allowed_cidrs, secrets pulled from Key Vault by identity.
resource "azurerm_container_app_environment" "main" {
  name                           = "${var.project}-apps"
  location                       = azurerm_resource_group.main.location
  resource_group_name            = azurerm_resource_group.main.name
  log_analytics_workspace_id     = azurerm_log_analytics_workspace.main.id
  infrastructure_subnet_id       = azurerm_subnet.apps.id
  internal_load_balancer_enabled = false
  tags                           = local.tags
}

locals {
  common_env = {
    TORCHTRADER_LAKE           = local.lake_uri
    AZURE_STORAGE_ACCOUNT_NAME = azurerm_storage_account.data.name
    PREFECT_API_URL            = var.prefect_api_url
    DO_NOT_TRACK               = "true"
  }
  app_specs = {
    worker = {
      image   = var.worker_image
      command = ["prefect", "worker", "start", "--pool", var.work_pool_name, "--type", "azure-container-instance"]
      port    = null
      secrets = { PREFECT_API_KEY = "prefect-api-key", TORCHTRADER_STATE_DB = "state-db-url" }
    }
    mlflow = {
      image   = var.mlflow_image
      command = ["sh", "-c", "exec mlflow server --backend-store-uri \"$MLFLOW_DB_URL\" --artifacts-destination ${local.artifacts_uri} --host 0.0.0.0 --port 5000 --allowed-hosts '*.azurecontainerapps.io'"]
      port    = 5000
      secrets = { MLFLOW_DB_URL = "mlflow-db-url" }
    }
    dashboard = {
      image   = var.worker_image
      command = ["torchtrader", "ui", "--host", "0.0.0.0", "--port", "8050", "--insecure"]
      port    = 8050
      secrets = { TORCHTRADER_STATE_DB = "state-db-url", TORCHTRADER_UI_SIGNING_KEY = "dashboard-signing-key" }
    }
  }
}

resource "azurerm_container_app" "main" {
  for_each                     = local.app_specs
  name                         = "${var.project}-${each.key}"
  container_app_environment_id = azurerm_container_app_environment.main.id
  resource_group_name          = azurerm_resource_group.main.name
  revision_mode                = "Single"
  tags                         = local.tags
  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app[each.key].id]
  }
  dynamic "secret" {
    for_each = each.value.secrets
    content {
      name                = secret.value
      key_vault_secret_id = azurerm_key_vault_secret.managed[secret.value].versionless_id
      identity            = azurerm_user_assigned_identity.app[each.key].id
    }
  }
  dynamic "ingress" {
    for_each = each.value.port == null ? [] : [each.value.port]
    content {
      external_enabled           = true
      target_port                = ingress.value
      allow_insecure_connections = false
      traffic_weight {
        latest_revision = true
        percentage      = 100
      }
      dynamic "ip_security_restriction" {
        for_each = var.allowed_cidrs
        content {
          name             = "allowed-${ip_security_restriction.key}"
          action           = "Allow"
          ip_address_range = ip_security_restriction.value
        }
      }
    }
  }
  template {
    min_replicas = 1
    max_replicas = each.key == "dashboard" ? 3 : 1
    container {
      name    = each.key
      image   = each.value.image
      command = each.value.command
      cpu     = each.key == "mlflow" ? 1.0 : 0.5
      memory  = each.key == "mlflow" ? "2Gi" : "1Gi"
      dynamic "env" {
        for_each = merge(local.common_env, { AZURE_CLIENT_ID = azurerm_user_assigned_identity.app[each.key].client_id })
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = each.value.secrets
        content {
          name        = env.key
          secret_name = env.value
        }
      }
    }
  }
  depends_on = [azurerm_role_assignment.secret]
}
