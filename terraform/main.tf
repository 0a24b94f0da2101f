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

  # The target group's health check of /readyz.
  health_check = {
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  # How long `serve` keeps serving after SIGTERM with /readyz failing (http.drain_secs).
  # A stop that is not a deregistration (systemctl stop/restart, a reboot) is noticed by
  # the ALB only through failed health checks: the last of `unhealthy_threshold` checks
  # can start up to interval x threshold after the first failure, and take `timeout`.
  # Stopping sooner sends requests to a closed port (502s). Never shorter than the
  # deregistration delay. On the ASG's termination path the watcher skips this wait
  # (SIGINT): the ALB has already deregistered and drained the instance.
  serve_drain_secs = max(
    var.deregistration_delay_secs,
    local.health_check.interval * local.health_check.unhealthy_threshold + local.health_check.timeout + 5,
  )
  serve_dropin_dir = "/etc/systemd/system/orderflow-serve.service.d"

  # The ALB closes a client-side or target-side connection idle this long. serve's
  # keep-alive (http.keep_alive_secs) must be longer: if the app closed an idle connection
  # first, the ALB could send a request on it as it closes and answer that request 502.
  alb_idle_timeout_secs = 60
  serve_keep_alive_secs = local.alb_idle_timeout_secs + 15

  # Boot, user data and the first health checks; the ASG's grace period and the
  # watcher's before it judges liveness.
  health_check_grace_secs = 180

  # worker.stuck_after_secs: a PENDING order older than this is re-enqueued by the
  # reconciler. src/config.rs requires it to be >= worker.visibility_timeout_secs (an order
  # being worked on is not stuck); twice the visibility timeout, never below the app's 300.
  stuck_after_secs = max(300, 2 * var.worker_visibility_timeout_secs)
}
