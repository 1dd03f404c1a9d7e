# Everything secret lives in Secrets Manager, encrypted with the project key; containers read them at
# start through the task execution role, so no secret is in an image, a task definition or a log.
# Rotation: the database URLs embed a generated password that Terraform owns; rotating means
# `terraform apply -replace=random_password.db["state"]`, so managed rotation lambdas are not used.
resource "aws_secretsmanager_secret" "db_url" {
  #checkov:skip=CKV2_AWS_57: rotated by re-applying with a replaced random_password (see the comment above)
  for_each   = local.databases
  name       = "${var.project}/${each.key}-db-url"
  kms_key_id = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "db_url" {
  for_each      = local.databases
  secret_id     = aws_secretsmanager_secret.db_url[each.key].id
  secret_string = "postgresql+psycopg://torchtrader:${random_password.db[each.key].result}@${aws_db_instance.main[each.key].endpoint}/${each.value.name}?sslmode=require"
}

resource "aws_secretsmanager_secret" "prefect_api_key" {
  #checkov:skip=CKV2_AWS_57: a Prefect Cloud key is rotated in Prefect Cloud, then re-applied here
  name       = "${var.project}/prefect-api-key"
  kms_key_id = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "prefect_api_key" {
  secret_id     = aws_secretsmanager_secret.prefect_api_key.id
  secret_string = var.prefect_api_key
}

resource "random_password" "dashboard_signing_key" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "dashboard_signing_key" {
  #checkov:skip=CKV2_AWS_57: rotating the token signing key logs every user out; done by -replace on purpose
  name       = "${var.project}/dashboard-signing-key"
  kms_key_id = aws_kms_key.main.arn
}

resource "aws_secretsmanager_secret_version" "dashboard_signing_key" {
  secret_id     = aws_secretsmanager_secret.dashboard_signing_key.id
  secret_string = random_password.dashboard_signing_key.result
}

# Exchange and broker keys: empty containers. Their values are put by the operator
# (`aws secretsmanager put-secret-value`), never through Terraform, so they never reach its state.
resource "aws_secretsmanager_secret" "exchange" {
  #checkov:skip=CKV2_AWS_57: exchange keys are rotated at the exchange, then put here by the operator
  for_each   = var.exchange_secret_names
  name       = "${var.project}/${each.value}"
  kms_key_id = aws_kms_key.main.arn
}
