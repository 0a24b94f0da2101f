# Names, tags and the account/region facts every other file uses.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  state = "available"

  # Pin the zones by name so the set never grows on its own when AWS adds a zone.
  filter {
    name   = "zone-name"
    values = [for s in var.availability_zone_suffixes : "${var.region}${s}"]
  }
}

locals {
  name       = var.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  azs      = sort(data.aws_availability_zones.available.names)
  az_count = length(var.availability_zone_suffixes)

  tags = merge(
    {
      Project     = "orderflow"
      Name        = var.name
      Environment = var.environment
      ManagedBy   = "terraform"
    },
    var.tags,
  )

  # Where the Packer AMI installs things (packer/scripts/install.sh) and the units expect them.
  config_path = "/etc/orderflow/orderflow.toml"
  env_path    = "/etc/orderflow/orderflow.env"
  static_dir  = "/usr/local/share/orderflow/static"
  log_dir     = "/var/log/orderflow"
  app_port    = 8080

  lifecycle_hook_name = "${local.name}-drain"
  serve_dropin_dir    = "/etc/systemd/system/orderflow-serve.service.d"

  # Boot, user data and the first health checks; the ASG's grace period and the
  # watcher's before it judges liveness.
  health_check_grace_secs = 180

  # worker.stuck_after_secs: a PENDING order older than this is re-enqueued by the
  # reconciler. src/config.rs requires it to be >= worker.visibility_timeout_secs (an order
  # being worked on is not stuck); twice the visibility timeout, never below the app's 300.
  stuck_after_secs = max(300, 2 * var.worker_visibility_timeout_secs)
}
