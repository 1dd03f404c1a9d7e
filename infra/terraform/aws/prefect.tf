# Prefect side, through the Prefect Terraform provider: the ECS work pool the cloud deployments in
# deployments/prefect.yaml target (each flow run becomes a Fargate task from the worker image, in the
# private subnets, with the worker task role), and variables naming where the data lives.
resource "prefect_work_pool" "ecs" {
  name   = var.work_pool_name
  type   = "ecs"
  paused = false
  base_job_template = jsonencode({
    job_configuration = {
      command            = "{{ command }}"
      env                = "{{ env }}"
      labels             = "{{ labels }}"
      name               = "{{ name }}"
      aws_credentials    = "{{ aws_credentials }}"
      cluster            = aws_ecs_cluster.main.arn
      launch_type        = "FARGATE"
      vpc_id             = aws_vpc.main.id
      task_run_request   = { launchType = "FARGATE", cluster = aws_ecs_cluster.main.arn, overrides = { taskRoleArn = aws_iam_role.task["worker"].arn } }
      task_definition    = { cpu = tostring(var.worker_cpu), memory = tostring(var.worker_memory), executionRoleArn = aws_iam_role.execution.arn, containerDefinitions = [{ name = "prefect", image = var.worker_image }] }
      network_configuration = {
        awsvpcConfiguration = {
          subnets        = aws_subnet.private[*].id
          securityGroups = [aws_security_group.services.id]
          assignPublicIp = "DISABLED"
        }
      }
      configure_cloudwatch_logs = true
      cloudwatch_logs_options   = { "awslogs-group" = aws_cloudwatch_log_group.service["worker"].name, "awslogs-region" = var.region }
      stream_output             = false
    }
    variables = {
      type = "object"
      properties = {
        command         = { type = "string", title = "Command" }
        env             = { type = "object", title = "Environment", additionalProperties = { type = "string" } }
        labels          = { type = "object", title = "Labels", additionalProperties = { type = "string" } }
        name            = { type = "string", title = "Name" }
        aws_credentials = { title = "AWS credentials (empty: the task role)", default = null }
      }
    }
  })
}

resource "prefect_variable" "settings" {
  for_each = {
    torchtrader_lake       = local.lake_uri
    torchtrader_mlflow_uri = local.mlflow_url
    torchtrader_work_pool  = var.work_pool_name
  }
  name  = each.key
  value = each.value
}
