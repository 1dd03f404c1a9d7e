# Cloud Run (managed TLS on every URL): the Prefect worker (always on, no ingress), the MLflow server
# (IAM-authenticated callers only) and the dashboard.
locals {
  common_env = {
    TORCHTRADER_LAKE       = local.lake_uri
    TORCHTRADER_MLFLOW_URI = "https://${var.project}-mlflow-${data.google_project.current.number}.${var.region}.run.app"
    PREFECT_API_URL        = var.prefect_api_url
    DO_NOT_TRACK           = "true"
  }
  services = {
    worker = {
      image   = var.worker_image
      args    = ["prefect", "worker", "start", "--pool", var.work_pool_name, "--type", "cloud-run-v2"]
      port    = 8080
      ingress = "INGRESS_TRAFFIC_INTERNAL_ONLY"
      secrets = { PREFECT_API_KEY = "prefect-api-key", TORCHTRADER_STATE_DB = "state-db-url" }
    }
    mlflow = {
      image   = var.mlflow_image
      args    = ["sh", "-c", "exec mlflow server --backend-store-uri \"$MLFLOW_DB_URL\" --artifacts-destination ${local.artifacts_uri} --host 0.0.0.0 --port 8080 --allowed-hosts '*.run.app'"]
      port    = 8080
      ingress = "INGRESS_TRAFFIC_ALL"
      secrets = { MLFLOW_DB_URL = "mlflow-db-url" }
    }
    dashboard = {
      image   = var.worker_image
      args    = ["torchtrader", "ui", "--host", "0.0.0.0", "--port", "8080", "--insecure"]
      port    = 8080
      ingress = "INGRESS_TRAFFIC_ALL"
      secrets = { TORCHTRADER_STATE_DB = "state-db-url", TORCHTRADER_UI_SIGNING_KEY = "dashboard-signing-key" }
    }
  }
}

resource "google_cloud_run_v2_service" "main" {
  for_each            = local.services
  name                = "${var.project}-${each.key}"
  location            = var.region
  ingress             = each.value.ingress
  deletion_protection = true
  labels              = local.labels
  template {
    service_account = google_service_account.main[each.key].email
    scaling {
      min_instance_count = 1
      max_instance_count = each.key == "dashboard" ? 3 : 1
    }
    vpc_access {
      egress = "ALL_TRAFFIC"
      network_interfaces {
        network    = google_compute_network.main.id
        subnetwork = google_compute_subnetwork.private.id
      }
    }
    containers {
      image = each.value.image
      args  = each.value.args
      ports {
        container_port = each.value.port
      }
      dynamic "env" {
        for_each = local.common_env
        content {
          name  = env.key
          value = env.value
        }
      }
      dynamic "env" {
        for_each = each.value.secrets
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.managed[env.value].secret_id
              version = "latest"
            }
          }
        }
      }
    }
  }
  depends_on = [google_secret_manager_secret_iam_member.managed]
}
