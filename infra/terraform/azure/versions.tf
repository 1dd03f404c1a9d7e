# Torch Trader on Azure: the same footprint as ../aws with Azure's equivalents — the lake and MLflow
# artifacts on Blob Storage (versioned, customer-managed key), Prefect workers for an Azure Container
# Instances work pool, Azure Database for PostgreSQL (flexible) for MLflow and the bot state, the
# MLflow server and the dashboard on Container Apps (managed TLS).
terraform {
  required_version = ">= 1.6"
  required_providers {
    azurerm = { source = "hashicorp/azurerm", version = "~> 4.10" }
    random  = { source = "hashicorp/random", version = "~> 3.6" }
    prefect = { source = "PrefectHQ/prefect", version = "~> 2.13" }
  }
}

provider "azurerm" {
  features {
    key_vault {
      purge_soft_delete_on_destroy = false
    }
  }
  subscription_id = var.subscription_id
}

provider "prefect" {
  endpoint     = var.prefect_api_url
  api_key      = var.prefect_api_key
  account_id   = var.prefect_account_id
  workspace_id = var.prefect_workspace_id
}

data "azurerm_client_config" "current" {}

locals {
  tags = { project = var.project, managed_by = "terraform" }
  # Storage account names: 3-24 lowercase letters and digits, globally unique.
  storage_account = substr(replace("${var.project}lake", "-", ""), 0, 24)
  # deltalake reads the account from AZURE_STORAGE_ACCOUNT_NAME and authenticates with the app's
  # managed identity (AZURE_CLIENT_ID), so the URI names only container and path.
  lake_uri        = "az://lake/lake"
  artifacts_uri   = "wasbs://artifacts@${azurerm_storage_account.data.name}.blob.core.windows.net/mlflow"
}

resource "azurerm_resource_group" "main" {
  name     = "${var.project}-rg"
  location = var.location
  tags     = local.tags
}
