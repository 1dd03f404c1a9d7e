# Key Vault secrets (expiring, typed): database URLs, the Prefect key, the dashboard signing key.
# Exchange/broker keys are added by the operator (`az keyvault secret set`), never through Terraform.
resource "random_password" "dashboard_signing_key" {
  length  = 64
  special = false
}

locals {
  secret_values = merge(
    { for k, v in local.databases : "${k}-db-url" => "postgresql+psycopg://torchtrader:${random_password.db[k].result}@${azurerm_postgresql_flexible_server.main[k].fqdn}/${v.name}?sslmode=require" },
    {
      "prefect-api-key"       = var.prefect_api_key
      "dashboard-signing-key" = random_password.dashboard_signing_key.result
    }
  )
}

resource "azurerm_key_vault_secret" "managed" {
  for_each        = local.secret_values
  name            = each.key
  value           = each.value
  key_vault_id    = azurerm_key_vault.main.id
  content_type    = "text/plain"
  expiration_date = var.secret_expiry
}
