# The Cloud Run work pool (each flow run is a Cloud Run job from the worker image, as the worker's
# service account, egressing through the private network) and variables naming where data lives.
resource "prefect_work_pool" "cloud_run" {
  name   = var.work_pool_name
  type   = "cloud-run-v2"
  paused = false
  base_job_template = jsonencode({
    job_configuration = {
      command         = "{{ command }}"
      env             = "{{ env }}"
      labels          = "{{ labels }}"
      name            = "{{ name }}"
      region          = var.region
      credentials     = "{{ credentials }}"
      timeout         = 86400
      service_account = google_service_account.main["worker"].email
      job_body = {
        template = {
          template = {
            serviceAccount = google_service_account.main["worker"].email
            vpcAccess      = { networkInterfaces = [{ network = google_compute_network.main.name, subnetwork = google_compute_subnetwork.private.name }], egress = "ALL_TRAFFIC" }
            containers     = [{ image = var.worker_image, resources = { limits = { cpu = "2", memory = "8Gi" } } }]
          }
        }
      }
    }
    variables = {
      type = "object"
      properties = {
        command     = { type = "string", title = "Command" }
        env         = { type = "object", title = "Environment", additionalProperties = { type = "string" } }
        labels      = { type = "object", title = "Labels", additionalProperties = { type = "string" } }
        name        = { type = "string", title = "Name" }
        credentials = { title = "GCP credentials (empty: the job's service account)", default = null }
      }
    }
  })
}

resource "prefect_variable" "settings" {
  for_each = {
    torchtrader_lake       = local.lake_uri
    torchtrader_mlflow_uri = google_cloud_run_v2_service.main["mlflow"].uri
    torchtrader_work_pool  = var.work_pool_name
  }
  name  = each.key
  value = each.value
}
