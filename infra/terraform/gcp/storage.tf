# GCS: the Delta lake and MLflow artifacts, versioned, CMEK-encrypted, uniform access, public access
# prevented, access-logged into a log bucket.
resource "google_kms_key_ring" "main" {
  name     = "${var.project}-keys"
  location = var.region
}

resource "google_kms_crypto_key" "main" {
  name            = "${var.project}-data"
  key_ring        = google_kms_key_ring.main.id
  rotation_period = "7776000s"
  lifecycle {
    prevent_destroy = true
  }
}

# GCS and Cloud SQL encrypt with the key through their service agents.
resource "google_project_service_identity" "sql" {
  provider = google-beta
  service  = "sqladmin.googleapis.com"
}

data "google_storage_project_service_account" "gcs" {}

resource "google_kms_crypto_key_iam_member" "agents" {
  for_each = {
    gcs = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
    sql = "serviceAccount:${google_project_service_identity.sql.email}"
  }
  crypto_key_id = google_kms_crypto_key.main.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}

locals {
  buckets = {
    lake      = "${var.project}-lake"
    artifacts = "${var.project}-mlflow-artifacts"
  }
}

resource "google_storage_bucket" "logs" {
  #checkov:skip=CKV_GCP_62: this is the access-log bucket itself; logging it into itself would loop
  name                        = "${var.project}-access-logs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels
  versioning {
    enabled = true
  }
  encryption {
    default_kms_key_name = google_kms_crypto_key.main.id
  }
  lifecycle_rule {
    condition {
      age = var.log_retention_days
    }
    action {
      type = "Delete"
    }
  }
  depends_on = [google_kms_crypto_key_iam_member.agents]
}

resource "google_storage_bucket" "data" {
  for_each                    = local.buckets
  name                        = each.value
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = local.labels
  versioning {
    enabled = true
  }
  encryption {
    default_kms_key_name = google_kms_crypto_key.main.id
  }
  logging {
    log_bucket        = google_storage_bucket.logs.name
    log_object_prefix = each.key
  }
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_days
    }
    action {
      type = "Delete"
    }
  }
  depends_on = [google_kms_crypto_key_iam_member.agents]
}
