# Cloud footprint of Torch Trader (AWS): an object-store lake, a Prefect work pool's workers on ECS
# Fargate and the state both need. MLflow server + database and the bot state store join in the
# deployment issue. `terraform init && terraform apply -var project=torchtrader-prod`.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.0" }
  }
}

provider "aws" {
  region = var.region
}

resource "aws_s3_bucket" "lake" {
  bucket = "${var.project}-lake"
  tags   = local.tags
}

resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration { status = "Enabled" }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Delta Lake on S3 needs a lock for concurrent writers; deltalake uses this DynamoDB table.
resource "aws_dynamodb_table" "delta_lock" {
  name         = "${var.project}-delta-lock"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "tablePath"
  range_key    = "fileName"
  attribute {
    name = "tablePath"
    type = "S"
  }
  attribute {
    name = "fileName"
    type = "S"
  }
  tags = local.tags
}

resource "aws_iam_role" "worker" {
  name = "${var.project}-worker"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "worker_lake" {
  name = "lake-access"
  role = aws_iam_role.worker.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]
        Resource = [aws_s3_bucket.lake.arn, "${aws_s3_bucket.lake.arn}/*"]
      },
      {
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"]
        Resource = [aws_dynamodb_table.delta_lock.arn]
      }
    ]
  })
}

resource "aws_ecs_cluster" "workers" {
  name = "${var.project}-workers"
  tags = local.tags
}

locals {
  tags = { project = var.project, managed_by = "terraform" }
}
