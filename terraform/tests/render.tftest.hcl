# Every variable that feeds /etc/orderflow/orderflow.toml, at the edges its validation
# accepts. Each run applies against the mocked provider; scripts/check-deploy.sh takes the
# `orderflow_toml` output (and the launch template's user data) of every run from
# `terraform test -json -verbose` and runs `orderflow check-config` on it: whatever
# Terraform accepts, the binary must accept too, or every instance fails at boot.

mock_provider "aws" {
  source = "./tests/mocks"
}

run "defaults" {
  # Security review H-2: no order on invoice unless the shop turns it on.
  assert {
    condition     = strcontains(output.orderflow_toml, "invoice_enabled = false\n")
    error_message = "orders.invoice_enabled must be rendered, false by default"
  }

  assert {
    condition     = strcontains(output.orderflow_toml, "stuck_after_secs = 300")
    error_message = "worker.stuck_after_secs must be rendered (max(300, 2 x visibility))"
  }

  # A serve stop the ALB learns of only by health checks (systemctl stop/restart): serving
  # must go on until the third failed 15 s check (5 s timeout) has marked the target down.
  assert {
    condition     = strcontains(output.orderflow_toml, "drain_secs = 55\n")
    error_message = "http.drain_secs must outlast the ALB's detection of a failing /readyz (3 x 15 s + 5 s + 5 s)"
  }

  # The ALB (idle timeout 60 s) must close idle connections before the app does, or it may
  # reuse one the app is closing and answer 502.
  assert {
    condition     = strcontains(output.orderflow_toml, "keep_alive_secs = 75\n")
    error_message = "http.keep_alive_secs must be longer than the ALB's idle timeout (60 s + 15 s)"
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.app.user_data), "TimeoutStopSec=85\n")
    error_message = "serve's TimeoutStopSec (drop-in) must cover drain_secs + in-flight requests"
  }
}

run "visibility_min" {
  variables {
    worker_visibility_timeout_secs = 30
  }
}

# Above the app's default stuck_after_secs (300): the config requires
# stuck_after_secs >= visibility_timeout_secs (src/config.rs).
run "visibility_600" {
  variables {
    worker_visibility_timeout_secs = 600
  }

  assert {
    condition     = strcontains(output.orderflow_toml, "stuck_after_secs = 1200")
    error_message = "stuck_after_secs must be 2 x visibility above 150 s"
  }
}

run "visibility_max" {
  variables {
    worker_visibility_timeout_secs = 43200
  }
}

run "deregistration_delay_max" {
  variables {
    deregistration_delay_secs = 300
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.app.user_data), "TimeoutStopSec=330\n")
    error_message = "serve's TimeoutStopSec (drop-in) must cover the 300 s drain"
  }
}

run "deregistration_delay_zero" {
  variables {
    deregistration_delay_secs = 0
  }
}

run "cors_edges" {
  variables {
    cors_allowed_origins = [
      "http://localhost:8080",
      "https://shop.example.com",
      "https://a-b.c.example.com:65535",
      "http://10.0.0.1:0",
    ]
  }
}

# name at its 20-character maximum: the ALB and target group names stay within AWS's 32.
run "name_max" {
  variables {
    name        = "a234567890123456789z"
    environment = "staging"
  }

  assert {
    condition     = length(aws_lb.this.name) <= 32 && length(aws_lb_target_group.app.name) <= 32
    error_message = "ALB and target group names must be at most 32 characters"
  }

  assert {
    condition     = length(aws_s3_bucket.receipts.bucket) <= 63 && length(aws_s3_bucket.logs.bucket) <= 63
    error_message = "bucket names must be at most 63 characters"
  }
}

run "minimums" {
  variables {
    worker_concurrency           = 1
    max_receive_count            = 1
    rate_limit_enabled           = false
    rate_limit_orders_per_minute = 1
    rate_limit_burst             = 1
    message_retention_secs       = 60
    log_level                    = "trace"
    shop_name                    = "X"
  }
}

run "maximums" {
  variables {
    worker_concurrency           = 256
    max_receive_count            = 1000
    rate_limit_orders_per_minute = 100000
    rate_limit_burst             = 100000
    message_retention_secs       = 1209600
    log_level                    = "orderflow=debug,aws_config=warn,info"
    shop_name                    = "Bob's Café & Bäckerei — Ünïcode (no tab: a control character)"
  }
}

# Every optional feature on.
run "all_options" {
  variables {
    certificate_arn              = "arn:aws:acm:us-east-1:111122223333:certificate/00000000-0000-0000-0000-000000000000"
    ses_email_from               = "o.r-d+e_rs@mail.example-shop.co"
    ses_identity_domain          = "example-shop.co"
    admin_api_keys_ssm_parameter = "/orderflow/admin-api-keys"
    alarm_email                  = "ops@example.com"
    single_nat_gateway           = false
    deletion_protection          = false
    availability_zone_suffixes   = ["a", "b", "c"]
    cors_allowed_origins         = ["https://shop.example.com"]
    invoice_enabled              = true
    invoice_customers            = ["acme-ltd", "b2b:42@example.com"]
    invoice_max_units            = 1500
    invoice_hold_hours           = 24
    invoice_units_per_customer   = 1600
    invoice_units_per_email      = 1700
    invoice_units_per_client     = 2000
  }

  override_data {
    target = data.aws_availability_zones.available
    values = {
      names = ["us-east-1a", "us-east-1b", "us-east-1c"]
    }
  }

  assert {
    condition     = strcontains(output.orderflow_toml, "email_from = \"o.r-d+e_rs@mail.example-shop.co\"")
    error_message = "aws.email_from must be rendered when ses_email_from is set"
  }

  assert {
    condition     = strcontains(output.orderflow_toml, "invoice_enabled = true\ninvoice_customers = [\"acme-ltd\",\"b2b:42@example.com\"]\ninvoice_max_units = 1500\n")
    error_message = "the invoice policy must be rendered"
  }

  assert {
    condition     = strcontains(output.orderflow_toml, "invoice_hold_secs = 86400\ninvoice_units_per_customer = 1600\ninvoice_units_per_email = 1700\ninvoice_units_per_client = 2000\n")
    error_message = "the invoice hold and its caps must be rendered (the hold in seconds)"
  }
}
