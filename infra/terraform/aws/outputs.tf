output "lake_uri" {
  description = "Set TORCHTRADER_LAKE to this on workers and clients (deltalake needs AWS_S3_LOCKING_PROVIDER=dynamodb and DELTA_DYNAMO_TABLE_NAME)."
  value       = local.lake_uri
}

output "mlflow_artifacts_uri" {
  description = "Where the MLflow server stores artifacts (clients go through the server, not the bucket)."
  value       = local.artifacts_uri
}

output "mlflow_url" {
  description = "MLflow tracking URI for TORCHTRADER_MLFLOW_URI (HTTPS through the load balancer)."
  value       = local.mlflow_url
}

output "dashboard_url" {
  description = "The Torch Trader dashboard."
  value       = local.dashboard_url
}

output "load_balancer_dns" {
  description = "Point CNAMEs mlflow.<domain_name> and dashboard.<domain_name> at this name."
  value       = aws_lb.main.dns_name
}

output "delta_lock_table" {
  description = "DynamoDB table for deltalake's S3 locking provider (DELTA_DYNAMO_TABLE_NAME)."
  value       = aws_dynamodb_table.delta_lock.name
}

output "state_db_secret_arn" {
  description = "Secrets Manager secret holding the bot state store's SQLAlchemy URL (TORCHTRADER_STATE_DB)."
  value       = aws_secretsmanager_secret.db_url["state"].arn
}

output "mlflow_db_secret_arn" {
  description = "Secrets Manager secret holding the MLflow backend store URL."
  value       = aws_secretsmanager_secret.db_url["mlflow"].arn
}

output "exchange_secret_arns" {
  description = "Empty secrets for exchange/broker keys, by name: put their values with `aws secretsmanager put-secret-value`."
  value       = { for name, s in aws_secretsmanager_secret.exchange : name => s.arn }
}

output "ecs_cluster" {
  description = "ECS cluster running the worker, MLflow, the dashboard and every flow-run task."
  value       = aws_ecs_cluster.main.name
}

output "work_pool" {
  description = "Prefect ECS work pool name: deployments/prefect.yaml's cloud deployments target it."
  value       = prefect_work_pool.ecs.name
}

output "worker_role_arn" {
  description = "IAM role of the worker and of flow-run tasks (lake and artifacts read/write)."
  value       = aws_iam_role.task["worker"].arn
}
