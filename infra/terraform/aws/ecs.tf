# ECS Fargate: a long-running Prefect worker for the ECS work pool (it launches each flow run as its
# own task from the same image), the MLflow server and the dashboard.
resource "aws_ecs_cluster" "main" {
  name = "${var.project}-workers"
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

locals {
  lake_uri      = "s3://${aws_s3_bucket.data["lake"].bucket}/lake"
  artifacts_uri = "s3://${aws_s3_bucket.data["artifacts"].bucket}/mlflow"
  mlflow_url    = "https://mlflow.${var.domain_name}"
  dashboard_url = "https://dashboard.${var.domain_name}"
  common_env = [
    { name = "TORCHTRADER_LAKE", value = local.lake_uri },
    { name = "TORCHTRADER_MLFLOW_URI", value = local.mlflow_url },
    { name = "AWS_S3_LOCKING_PROVIDER", value = "dynamodb" },
    { name = "DELTA_DYNAMO_TABLE_NAME", value = aws_dynamodb_table.delta_lock.name },
    { name = "AWS_REGION", value = var.region },
    { name = "PREFECT_API_URL", value = var.prefect_api_url },
    { name = "DO_NOT_TRACK", value = "true" },
  ]
  services = {
    worker = {
      image   = var.worker_image
      command = ["prefect", "worker", "start", "--pool", var.work_pool_name, "--type", "ecs"]
      port    = null
      cpu     = 512
      memory  = 1024
      secrets = [
        { name = "PREFECT_API_KEY", valueFrom = aws_secretsmanager_secret.prefect_api_key.arn },
        { name = "TORCHTRADER_STATE_DB", valueFrom = aws_secretsmanager_secret.db_url["state"].arn },
      ]
    }
    mlflow = {
      image = var.mlflow_image
      # --allowed-hosts: the server only answers for its own public name (MLflow 3 host check).
      command = ["sh", "-c", "exec mlflow server --backend-store-uri \"$MLFLOW_DB_URL\" --artifacts-destination ${local.artifacts_uri} --host 0.0.0.0 --port 5000 --allowed-hosts mlflow.${var.domain_name}"]
      port    = 5000
      cpu     = 1024
      memory  = 2048
      secrets = [{ name = "MLFLOW_DB_URL", valueFrom = aws_secretsmanager_secret.db_url["mlflow"].arn }]
    }
    dashboard = {
      image = var.worker_image
      # TLS ends at the load balancer; the app sees plain HTTP from inside the VPC only.
      command = ["torchtrader", "ui", "--host", "0.0.0.0", "--port", "8050", "--insecure"]
      port    = 8050
      cpu     = 512
      memory  = 1024
      secrets = [
        { name = "TORCHTRADER_STATE_DB", valueFrom = aws_secretsmanager_secret.db_url["state"].arn },
        { name = "TORCHTRADER_UI_SIGNING_KEY", valueFrom = aws_secretsmanager_secret.dashboard_signing_key.arn },
      ]
    }
  }
}

resource "aws_cloudwatch_log_group" "service" {
  for_each          = local.services
  name              = "/${var.project}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_ecs_task_definition" "service" {
  for_each                 = local.services
  family                   = "${var.project}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task[each.key].arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  container_definitions = jsonencode([{
    name                   = each.key
    image                  = each.value.image
    command                = each.value.command
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001"
    environment            = local.common_env
    secrets                = each.value.secrets
    portMappings           = each.value.port == null ? [] : [{ containerPort = each.value.port, protocol = "tcp" }]
    mountPoints            = [{ sourceVolume = "scratch", containerPath = "/tmp", readOnly = false }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = var.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
  # Read-only root filesystem: scratch space (Prefect home, temp files) is an ephemeral volume.
  volume {
    name = "scratch"
  }
}

resource "aws_ecs_service" "service" {
  for_each               = local.services
  name                   = each.key
  cluster                = aws_ecs_cluster.main.id
  task_definition        = aws_ecs_task_definition.service[each.key].arn
  desired_count          = 1
  launch_type            = "FARGATE"
  enable_execute_command = false
  propagate_tags         = "SERVICE"
  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.services.id]
    assign_public_ip = false
  }
  dynamic "load_balancer" {
    for_each = each.value.port == null ? [] : [each.value.port]
    content {
      target_group_arn = aws_lb_target_group.service[each.key].arn
      container_name   = each.key
      container_port   = load_balancer.value
    }
  }
  depends_on = [aws_lb_listener.https]
}
