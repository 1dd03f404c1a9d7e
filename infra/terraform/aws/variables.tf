variable "project" {
  description = "Name prefix of every resource (bucket names must be globally unique)."
  type        = string
  default     = "torchtrader"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.project))
    error_message = "project: 3-31 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of every resource."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; split into one public and one private /20 per availability zone."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zone_suffixes" {
  description = "Zones (suffixes of var.region) that subnets, RDS Multi-AZ and services spread over: two or three."
  type        = list(string)
  default     = ["a", "b"]
  validation {
    condition     = length(var.availability_zone_suffixes) >= 2 && length(var.availability_zone_suffixes) <= 3
    error_message = "availability_zone_suffixes: give two or three zones, e.g. [\"a\", \"b\"]."
  }
}

variable "domain_name" {
  description = "DNS zone the services live under: mlflow.<domain_name> and dashboard.<domain_name>."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate (in var.region) covering mlflow.<domain_name> and dashboard.<domain_name>; TLS ends at the load balancer."
  type        = string
}

variable "allowed_cidrs" {
  description = "Client CIDR blocks allowed to reach the HTTPS load balancer (office or VPN ranges)."
  type        = list(string)
}

variable "worker_image" {
  description = "Container image of the Torch Trader worker (the repository's Dockerfile), e.g. <account>.dkr.ecr.<region>.amazonaws.com/torchtrader:<sha>."
  type        = string
}

variable "mlflow_image" {
  description = "Container image that runs `mlflow server` (the worker image works: it has mlflow and psycopg)."
  type        = string
}

variable "worker_cpu" {
  description = "Fargate CPU units of the Prefect worker and of each flow-run task (1024 = 1 vCPU)."
  type        = number
  default     = 2048
}

variable "worker_memory" {
  description = "Fargate memory (MiB) of the Prefect worker and of each flow-run task."
  type        = number
  default     = 8192
}

variable "db_instance_class" {
  description = "RDS instance class of both Postgres databases (MLflow and bot state)."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "Initial storage (GiB) of each Postgres database; autoscaling up to 4x."
  type        = number
  default     = 50
}

variable "log_retention_days" {
  description = "Retention of CloudWatch logs and VPC flow logs (days)."
  type        = number
  default     = 365
}

variable "noncurrent_version_days" {
  description = "Days a replaced lake/artifact object version is kept (Delta time travel needs the log and the files it names)."
  type        = number
  default     = 90
}

variable "prefect_api_url" {
  description = "Prefect API URL: https://api.prefect.cloud/api for Prefect Cloud, or a self-hosted server's /api URL."
  type        = string
  default     = "https://api.prefect.cloud/api"
}

variable "prefect_api_key" {
  description = "Prefect API key (Cloud) used by Terraform and stored in Secrets Manager for the worker; empty for a self-hosted server without auth."
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
  description = "Name of the ECS work pool the deployments in deployments/prefect.yaml target in the cloud."
  type        = string
  default     = "ecs"
}

variable "exchange_secret_names" {
  description = "Names of the exchange/broker API secrets to create empty (values are set out of band, never in Terraform state); bots name them in their config."
  type        = set(string)
  default     = ["binance-api", "alpaca-api"]
}
