# Key Vault (keys and secrets) and one storage account with private containers for the lake
# and MLflow artifacts: customer-managed key, blob versioning and soft delete, no shared keys (managed
# identities only), reachable through private endpoints only.
resource "azurerm_key_vault" "main" {
  name                          = "${var.project}-kv"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "premium"
  purge_protection_enabled      = true
  soft_delete_retention_days    = 90
  rbac_authorization_enabled    = true
  public_network_access_enabled = false
  tags                          = local.tags
  network_acls {
    bypass         = "AzureServices"
    default_action = "Deny"
  }
}

resource "azurerm_key_vault_key" "data" {
  name            = "${var.project}-data"
  key_vault_id    = azurerm_key_vault.main.id
  key_type        = "RSA-HSM"
  key_size        = 3072
  key_opts        = ["wrapKey", "unwrapKey"]
  expiration_date = var.secret_expiry
  rotation_policy {
    automatic {
      time_before_expiry = "P30D"
    }
    expire_after         = "P1Y"
    notify_before_expiry = "P29D"
  }
}

resource "azurerm_user_assigned_identity" "storage" {
  name                = "${var.project}-storage-cmk"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_role_assignment" "storage_cmk" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Crypto Service Encryption User"
  principal_id         = azurerm_user_assigned_identity.storage.principal_id
}

resource "azurerm_storage_account" "data" {
  #checkov:skip=CKV_AZURE_33: queue service is unused (no queues); blob logging goes to the diagnostic setting below
  name                              = local.storage_account
  location                          = azurerm_resource_group.main.location
  resource_group_name               = azurerm_resource_group.main.name
  account_tier                      = "Standard"
  account_replication_type          = "GZRS"
  account_kind                      = "StorageV2"
  is_hns_enabled                    = false
  min_tls_version                   = "TLS1_2"
  https_traffic_only_enabled        = true
  shared_access_key_enabled         = false
  public_network_access_enabled     = false
  allow_nested_items_to_be_public   = false
  infrastructure_encryption_enabled = true
  default_to_oauth_authentication   = true
  local_user_enabled                = false
  tags                              = local.tags
  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.storage.id]
  }
  customer_managed_key {
    key_vault_key_id          = azurerm_key_vault_key.data.versionless_id
    user_assigned_identity_id = azurerm_user_assigned_identity.storage.id
  }
  sas_policy {
    expiration_period = "01.00:00:00"
    expiration_action = "Log"
  }
  network_rules {
    default_action = "Deny"
    bypass         = ["AzureServices"]
  }
  blob_properties {
    # Flat namespace on purpose: blob versioning is unavailable with a hierarchical namespace, and
    # deltalake works on plain blob containers (az://container/path).
    versioning_enabled = true
    delete_retention_policy {
      days = 90
    }
    container_delete_retention_policy {
      days = 90
    }
  }
  depends_on = [azurerm_role_assignment.storage_cmk]
}

resource "azurerm_storage_container" "data" {
  #checkov:skip=CKV2_AZURE_21: blob reads/writes/deletes are logged by the diagnostic setting below; storage insights needs an account key, and shared keys are disabled
  for_each              = toset(["lake", "artifacts"])
  name                  = each.key
  storage_account_id    = azurerm_storage_account.data.id
  container_access_type = "private"
}

resource "azurerm_log_analytics_workspace" "main" {
  name                = "${var.project}-logs"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  sku                 = "PerGB2018"
  retention_in_days   = 365
  tags                = local.tags
}

resource "azurerm_monitor_diagnostic_setting" "blob" {
  name                       = "blob-logs"
  target_resource_id         = "${azurerm_storage_account.data.id}/blobServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.main.id
  enabled_log {
    category = "StorageRead"
  }
  enabled_log {
    category = "StorageWrite"
  }
  enabled_log {
    category = "StorageDelete"
  }
}
