# Secret Manager, CMEK-encrypted: database URLs, the Prefect key, the dashboard signing key, and empty
# exchange secrets whose versions the operator adds (`gcloud secrets versions add`), never Terraform.
locals {
  secret_values = merge(
    { for k, v in local.databases : "${k}-db-url" => "postgresql+psycopg://torchtrader:${random_password.db[k].result}@${google_sql_database_instance.main[k].private_ip_address}/${v.name}?sslmode=require" },
    {
      "prefect-api-key"       = var.prefect_api_key
      "dashboard-signing-key" = random_password.dashboard_signing_key.result
    }
  )
}

resource "random_password" "dashboard_signing_key" {
  length  = 64
  special = false
}

resource "google_secret_manager_secret" "managed" {
  for_each  = local.secret_values
  secret_id = "${var.project}-${each.key}"
  labels    = local.labels
  replication {
    user_managed {
      replicas {
        location = var.region
        customer_managed_encryption {
          kms_key_name = google_kms_crypto_key.main.id
        }
      }
    }
  }
}

resource "google_secret_manager_secret_version" "managed" {
  for_each    = local.secret_values
  secret      = google_secret_manager_secret.managed[each.key].id
  secret_data = each.value
}

resource "google_secret_manager_secret" "exchange" {
  for_each  = var.exchange_secret_names
  secret_id = "${var.project}-${each.value}"
  labels    = local.labels
  replication {
    user_managed {
      replicas {
        location = var.region
        customer_managed_encryption {
          kms_key_name = google_kms_crypto_key.main.id
        }
      }
    }
  }
}
