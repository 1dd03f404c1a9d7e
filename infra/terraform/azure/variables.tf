variable "project" {
  description = "Name prefix of every resource."
  type        = string
  default     = "torchtrader"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,16}$", var.project))
    error_message = "project: 3-17 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "subscription_id" {
  description = "Azure subscription that holds every resource."
  type        = string
}

variable "location" {
  description = "Azure region of every resource."
  type        = string
  default     = "westeurope"
}

variable "vnet_cidr" {
  description = "Address space of the virtual network (apps, database and private-endpoint subnets are carved from it)."
  type        = string
  default     = "10.60.0.0/16"
}

variable "allowed_cidrs" {
  description = "Client CIDR blocks allowed to reach the MLflow server and the dashboard."
  type        = list(string)
}

variable "worker_image" {
  description = "Container image of the Torch Trader worker (the repository's Dockerfile) in a registry the apps can pull from."
  type        = string
}

variable "mlflow_image" {
  description = "Container image that runs `mlflow server` (the worker image works)."
  type        = string
}

variable "db_sku" {
  description = "SKU of both PostgreSQL flexible servers."
  type        = string
  default     = "GP_Standard_D2ds_v5"
}

variable "secret_expiry" {
  description = "Expiry (RFC 3339) set on Key Vault secrets and the data key; renew before it passes."
  type        = string
  default     = "2027-12-31T00:00:00Z"
}

variable "prefect_api_url" {
  description = "Prefect API URL (Prefect Cloud or a self-hosted server's /api URL)."
  type        = string
  default     = "https://api.prefect.cloud/api"
}

variable "prefect_api_key" {
  description = "Prefect API key used by Terraform and stored in Key Vault for the worker."
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
  description = "Name of the Azure Container Instances work pool that cloud deployments target."
  type        = string
  default     = "aci"
}
