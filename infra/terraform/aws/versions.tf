# Torch Trader on AWS: the lake and MLflow artifacts on S3, Prefect workers on ECS Fargate for an ECS
# work pool, Postgres (RDS) for MLflow and the bot state, the MLflow server and the dashboard behind an
# HTTPS load balancer. See README.md in this folder and docs/deployment.md.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws     = { source = "hashicorp/aws", version = "~> 5.80" }
    random  = { source = "hashicorp/random", version = "~> 3.6" }
    prefect = { source = "PrefectHQ/prefect", version = "~> 2.13" }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = local.tags
  }
}

# Prefect Cloud (account + workspace) or a self-hosted server (endpoint only).
provider "prefect" {
  endpoint     = var.prefect_api_url
  api_key      = var.prefect_api_key
  account_id   = var.prefect_account_id
  workspace_id = var.prefect_workspace_id
}

data "aws_caller_identity" "current" {}

# Zones are named, not discovered, so the subnet layout never shifts when AWS adds a zone.
data "aws_availability_zones" "available" {
  state = "available"
  filter {
    name   = "zone-name"
    values = [for suffix in var.availability_zone_suffixes : "${var.region}${suffix}"]
  }
}

locals {
  tags       = { project = var.project, managed_by = "terraform" }
  account_id = data.aws_caller_identity.current.account_id
  azs        = data.aws_availability_zones.available.names
  az_count   = length(var.availability_zone_suffixes)
}
