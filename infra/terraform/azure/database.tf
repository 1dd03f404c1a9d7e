# Two PostgreSQL flexible servers (MLflow and bot state each own their migrations): private access in
# a delegated subnet, TLS enforced, zone-redundant HA, geo-redundant backups.
locals {
  databases = {
    mlflow = { name = "mlflow" }
    state  = { name = "torchtrader_state" }
  }
}

resource "random_password" "db" {
  for_each = local.databases
  length   = 32
  special  = false
}

resource "azurerm_postgresql_flexible_server" "main" {
  #checkov:skip=CKV2_AZURE_57: private access through VNet integration (delegated subnet, no public endpoint) — Azure's alternative to a private endpoint
  for_each                      = local.databases
  name                          = "${var.project}-${each.key}"
  location                      = azurerm_resource_group.main.location
  resource_group_name           = azurerm_resource_group.main.name
  version                       = "16"
  sku_name                      = var.db_sku
  storage_mb                    = 65536
  delegated_subnet_id           = azurerm_subnet.db.id
  private_dns_zone_id           = azurerm_private_dns_zone.main["postgres"].id
  public_network_access_enabled = false
  administrator_login           = "torchtrader"
  administrator_password        = random_password.db[each.key].result
  backup_retention_days         = 14
  geo_redundant_backup_enabled  = true
  zone                          = "1"
  tags                          = local.tags
  high_availability {
    mode                      = "ZoneRedundant"
    standby_availability_zone = "2"
  }
  depends_on = [azurerm_private_dns_zone_virtual_network_link.main]
}

resource "azurerm_postgresql_flexible_server_database" "main" {
  for_each  = local.databases
  name      = each.value.name
  server_id = azurerm_postgresql_flexible_server.main[each.key].id
  charset   = "UTF8"
  collation = "en_US.utf8"
}

resource "azurerm_postgresql_flexible_server_configuration" "tls" {
  for_each  = local.databases
  name      = "require_secure_transport"
  server_id = azurerm_postgresql_flexible_server.main[each.key].id
  value     = "on"
}

resource "azurerm_postgresql_flexible_server_configuration" "log_checkpoints" {
  for_each  = local.databases
  name      = "log_checkpoints"
  server_id = azurerm_postgresql_flexible_server.main[each.key].id
  value     = "on"
}
