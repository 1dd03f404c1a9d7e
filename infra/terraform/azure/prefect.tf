# The Azure Container Instances work pool (each flow run is a container group from the worker image in
# the apps' resource group, running as the worker identity) and variables naming where data lives.
resource "prefect_work_pool" "aci" {
  name   = var.work_pool_name
  type   = "azure-container-instance"
  paused = false
  base_job_template = jsonencode({
    job_configuration = {
      command             = "{{ command }}"
      env                 = "{{ env }}"
      labels              = "{{ labels }}"
      name                = "{{ name }}"
      image               = var.worker_image
      resource_group_name = azurerm_resource_group.main.name
      subscription_id     = var.subscription_id
      identities          = [azurerm_user_assigned_identity.app["worker"].id]
      cpu                 = 2
      memory              = 8
      stream_output       = false
    }
    variables = {
      type = "object"
      properties = {
        command = { type = "string", title = "Command" }
        env     = { type = "object", title = "Environment", additionalProperties = { type = "string" } }
        labels  = { type = "object", title = "Labels", additionalProperties = { type = "string" } }
        name    = { type = "string", title = "Name" }
      }
    }
  })
}

resource "prefect_variable" "settings" {
  for_each = {
    torchtrader_lake       = local.lake_uri
    torchtrader_mlflow_uri = "https://${azurerm_container_app.main["mlflow"].ingress[0].fqdn}"
    torchtrader_work_pool  = var.work_pool_name
  }
  name  = each.key
  value = each.value
}
