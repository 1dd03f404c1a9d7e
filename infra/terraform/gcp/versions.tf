# Torch Trader on Google Cloud: the same footprint as ../aws with GCP's equivalents — the lake and
# MLflow artifacts on GCS (CMEK), Prefect workers for a Cloud Run work pool, Cloud SQL Postgres for
# MLflow and the bot state, the MLflow server and the dashboard on Cloud Run (managed TLS).
terraform {
  required_version = ">= 1.6"
  required_providers {
    google      = { source = "hashicorp/google", version = "~> 6.10" }
    google-beta = { source = "hashicorp/google-beta", version = "~> 6.10" }
    random  = { source = "hashicorp/random", version = "~> 3.6" }
    prefect = { source = "PrefectHQ/prefect", version = "~> 2.13" }
  }
}

provider "google" {
  project = var.gcp_project
  region  = var.region
}

provider "google-beta" {
  project = var.gcp_project
  region  = var.region
}

provider "prefect" {
  endpoint     = var.prefect_api_url
  api_key      = var.prefect_api_key
  account_id   = var.prefect_account_id
  workspace_id = var.prefect_workspace_id
}

data "google_project" "current" {}

locals {
  labels        = { project = var.project, managed_by = "terraform" }
  lake_uri      = "gs://${google_storage_bucket.data["lake"].name}/lake"
  artifacts_uri = "gs://${google_storage_bucket.data["artifacts"].name}/mlflow"
}
