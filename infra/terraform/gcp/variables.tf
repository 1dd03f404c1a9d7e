variable "project" {
  description = "Name prefix of every resource (bucket names must be globally unique)."
  type        = string
  default     = "torchtrader"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.project))
    error_message = "project: 3-21 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "gcp_project" {
  description = "Google Cloud project id that holds every resource."
  type        = string
}

variable "region" {
  description = "Region of every regional resource."
  type        = string
  default     = "europe-west1"
}

variable "subnet_cidr" {
  description = "CIDR of the private subnet (Cloud Run direct VPC egress and Cloud SQL private access)."
  type        = string
  default     = "10.50.0.0/20"
}

variable "worker_image" {
  description = "Container image of the Torch Trader worker (the repository's Dockerfile) in Artifact Registry."
  type        = string
}

variable "mlflow_image" {
  description = "Container image that runs `mlflow server` (the worker image works)."
  type        = string
}

variable "mlflow_invokers" {
  description = "Members allowed to call the MLflow server (it has no auth of its own), e.g. [\"group:quants@example.com\"]."
  type        = list(string)
}

variable "db_tier" {
  description = "Cloud SQL machine tier of both Postgres instances."
  type        = string
  default     = "db-custom-2-7680"
}

variable "log_retention_days" {
  description = "Days access logs are kept in the log bucket."
  type        = number
  default     = 365
}

variable "noncurrent_version_days" {
  description = "Days a replaced lake/artifact object version is kept (Delta time travel needs them)."
  type        = number
  default     = 90
}

variable "prefect_api_url" {
  description = "Prefect API URL (Prefect Cloud or a self-hosted server's /api URL)."
  type        = string
  default     = "https://api.prefect.cloud/api"
}

variable "prefect_api_key" {
  description = "Prefect API key used by Terraform and stored in Secret Manager for the worker."
  type        = string
  sensitive   = true
  default     = ""
}

variable "prefect_account_id" {
  description = "Prefect Cloud account id (null for a self-hosted server)."
  type        = string
  default     = null
}

variable "prefect_workspace_id" {
  description = "Prefect Cloud workspace id (null for a self-hosted server)."
  type        = string
  default     = null
}

variable "work_pool_name" {
  description = "Name of the Cloud Run work pool that cloud deployments target."
  type        = string
  default     = "cloud-run"
}

variable "exchange_secret_names" {
  description = "Exchange/broker API secrets to create empty (values added out of band, never through Terraform)."
  type        = set(string)
  default     = ["binance-api", "alpaca-api"]
}
