# Least privilege: one service account per kind of container, bound on the individual buckets and
# secrets it needs (never project-wide storage or secret roles).
locals {
  accounts = ["worker", "mlflow", "dashboard"]
  bucket_roles = {
    "worker-lake"         = { sa = "worker", bucket = "lake", role = "roles/storage.objectAdmin" }
    "worker-artifacts"    = { sa = "worker", bucket = "artifacts", role = "roles/storage.objectAdmin" }
    "mlflow-artifacts"    = { sa = "mlflow", bucket = "artifacts", role = "roles/storage.objectAdmin" }
    "dashboard-lake"      = { sa = "dashboard", bucket = "lake", role = "roles/storage.objectViewer" }
    "dashboard-artifacts" = { sa = "dashboard", bucket = "artifacts", role = "roles/storage.objectViewer" }
  }
  secret_access = merge(
    {
      "worker-state"     = { sa = "worker", secret = "state-db-url" }
      "worker-prefect"   = { sa = "worker", secret = "prefect-api-key" }
      "mlflow-db"        = { sa = "mlflow", secret = "mlflow-db-url" }
      "dashboard-state"  = { sa = "dashboard", secret = "state-db-url" }
      "dashboard-signer" = { sa = "dashboard", secret = "dashboard-signing-key" }
    }
  )
}

resource "google_service_account" "main" {
  for_each     = toset(local.accounts)
  account_id   = "${var.project}-${each.key}"
  display_name = "Torch Trader ${each.key}"
}

resource "google_storage_bucket_iam_member" "access" {
  for_each = local.bucket_roles
  bucket   = google_storage_bucket.data[each.value.bucket].name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.main[each.value.sa].email}"
}

resource "google_secret_manager_secret_iam_member" "managed" {
  for_each  = local.secret_access
  secret_id = google_secret_manager_secret.managed[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.main[each.value.sa].email}"
}

resource "google_secret_manager_secret_iam_member" "exchange" {
  for_each  = var.exchange_secret_names
  secret_id = google_secret_manager_secret.exchange[each.value].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.main["worker"].email}"
}

# The worker launches each flow run as a Cloud Run job running as itself.
resource "google_project_iam_member" "worker_runs_jobs" {
  project = var.gcp_project
  role    = "roles/run.developer"
  member  = "serviceAccount:${google_service_account.main["worker"].email}"
}

resource "google_service_account_iam_member" "worker_acts_as_itself" {
  service_account_id = google_service_account.main["worker"].name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.main["worker"].email}"
}

resource "google_cloud_run_v2_service_iam_member" "mlflow_invokers" {
  for_each = toset(concat(var.mlflow_invokers, ["serviceAccount:${google_service_account.main["worker"].email}", "serviceAccount:${google_service_account.main["dashboard"].email}"]))
  name     = google_cloud_run_v2_service.main["mlflow"].name
  location = var.region
  role     = "roles/run.invoker"
  member   = each.value
}

# The dashboard authenticates its users itself (login, roles): anyone may reach its login page.
resource "google_cloud_run_v2_service_iam_member" "dashboard_public" {
  #checkov:skip=CKV_GCP_102: the dashboard has its own login (hashed passwords, short-lived tokens, roles)
  name     = google_cloud_run_v2_service.main["dashboard"].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "allUsers"
}
