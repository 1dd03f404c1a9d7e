# Two Cloud SQL Postgres instances (MLflow and bot state each own their migrations), private IP only,
# TLS required, regional HA, point-in-time recovery, CMEK.
locals {
  databases = {
    mlflow = { name = "mlflow" }
    state  = { name = "torchtrader_state" }
  }
}

resource "random_password" "db" {
  for_each = local.databases
  length   = 32
  special  = false
}

resource "google_sql_database_instance" "main" {
  #checkov:skip=CKV_GCP_6: TLS is required (ENCRYPTED_ONLY) on a private IP; client certificates would need the Cloud SQL Auth Proxy inside every container
  for_each            = local.databases
  name                = "${var.project}-${each.key}"
  database_version    = "POSTGRES_18"
  region              = var.region
  encryption_key_name = google_kms_crypto_key.main.id
  deletion_protection = true
  settings {
    tier              = var.db_tier
    availability_type = "REGIONAL"
    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.main.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }
    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
    }
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_duration"
      value = "on"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
  }
  depends_on = [google_service_networking_connection.sql, google_kms_crypto_key_iam_member.agents]
}

resource "google_sql_database" "main" {
  for_each = local.databases
  name     = each.value.name
  instance = google_sql_database_instance.main[each.key].name
}

resource "google_sql_user" "main" {
  for_each = local.databases
  name     = "torchtrader"
  instance = google_sql_database_instance.main[each.key].name
  password = random_password.db[each.key].result
}
