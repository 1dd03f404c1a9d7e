output "lake_uri" {
  description = "Set TORCHTRADER_LAKE to this on workers and clients."
  value       = "s3://${aws_s3_bucket.lake.bucket}/lake"
}

output "delta_lock_table" {
  description = "DynamoDB table for deltalake's S3 locking provider (AWS_S3_LOCKING_PROVIDER=dynamodb, DELTA_DYNAMO_TABLE_NAME)."
  value       = aws_dynamodb_table.delta_lock.name
}

output "worker_role_arn" {
  value = aws_iam_role.worker.arn
}

output "ecs_cluster" {
  value = aws_ecs_cluster.workers.name
}
