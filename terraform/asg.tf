# The instances: every one runs `orderflow serve` (behind the ALB) and `orderflow worker`
# (on the queue) from the Packer AMI. User data writes /etc/orderflow/orderflow.toml with
# the resource names below and (re)starts the units.

# The architectures the instance type runs (x86_64 for t3/m7i, arm64 for t4g/m7g).
data "aws_ec2_instance_type" "app" {
  instance_type = var.instance_type
}

# ami_id when given (pinned: what the deploy workflow does), else the newest AMI of this
# account named ami_name_prefix* FOR THE INSTANCE TYPE'S ARCHITECTURE: Packer names them
# orderflow-<arch>-<timestamp>, so without the architecture filter an arm64 build would win
# on t3 instances. Unpinned, any new build (say for staging) becomes the next plan's
# image_id and starts an instance refresh: pin ami_id for production (H9).
data "aws_ami" "orderflow" {
  most_recent = true
  owners      = var.ami_id == null ? ["self"] : null

  dynamic "filter" {
    for_each = var.ami_id == null ? [] : [var.ami_id]

    content {
      name   = "image-id"
      values = [filter.value]
    }
  }

  dynamic "filter" {
    for_each = var.ami_id == null ? ["${var.ami_name_prefix}*"] : []

    content {
      name   = "name"
      values = [filter.value]
    }
  }

  dynamic "filter" {
    for_each = var.ami_id == null ? [1] : []

    content {
      name   = "architecture"
      values = local.instance_architectures
    }
  }

  filter {
    name   = "state"
    values = ["available"]
  }
}

locals {
  instance_architectures = [for a in data.aws_ec2_instance_type.app.supported_architectures : a if contains(["x86_64", "arm64"], a)]

  ami_id   = data.aws_ami.orderflow.id
  asg_name = "${local.name}-app"

  # Only keys the binary accepts (src/config.rs rejects unknown keys at start-up);
  # scripts/check-deploy.sh renders this with sample values and runs `orderflow check-config`.
  orderflow_toml = templatefile("${path.module}/templates/orderflow.toml.tftpl", {
    http_addr                    = "0.0.0.0:${local.app_port}"
    static_dir                   = local.static_dir
    drain_secs                   = local.serve_drain_secs
    keep_alive_secs              = local.serve_keep_alive_secs
    region                       = local.region
    queue_url                    = aws_sqs_queue.orders.url
    dlq_url                      = aws_sqs_queue.dlq.url
    orders_table                 = aws_dynamodb_table.orders.name
    products_table               = aws_dynamodb_table.products.name
    state_table                  = aws_dynamodb_table.state.name
    receipts_bucket              = aws_s3_bucket.receipts.id
    events_topic_arn             = aws_sns_topic.events.arn
    alarms_topic_arn             = aws_sns_topic.alarms.arn
    kms_key_id                   = aws_kms_key.this.arn
    email_from_line              = var.ses_email_from == null ? "# email_from unset: no customer e-mail" : "email_from = \"${var.ses_email_from}\""
    max_receive_count            = var.max_receive_count
    visibility_timeout_secs      = var.worker_visibility_timeout_secs
    stuck_after_secs             = local.stuck_after_secs
    concurrency                  = var.worker_concurrency
    log_dir                      = local.log_dir
    log_level                    = var.log_level
    shop_name                    = var.shop_name
    invoice_enabled              = var.invoice_enabled
    invoice_customers            = jsonencode(var.invoice_customers)
    invoice_max_units            = var.invoice_max_units
    invoice_hold_secs            = var.invoice_hold_hours * 3600
    invoice_units_per_customer   = var.invoice_units_per_customer
    invoice_units_per_email      = var.invoice_units_per_email
    invoice_units_per_client     = var.invoice_units_per_client
    rate_limit_enabled           = var.rate_limit_enabled
    rate_limit_orders_per_minute = var.rate_limit_orders_per_minute
    rate_limit_burst             = var.rate_limit_burst
    cors_allowed_origins         = jsonencode(var.cors_allowed_origins)
  })

  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", {
    config_path          = local.config_path
    env_path             = local.env_path
    config_toml          = local.orderflow_toml
    admin_keys_parameter = var.admin_api_keys_ssm_parameter == null ? "" : var.admin_api_keys_ssm_parameter
    region               = local.region
    asg_name             = local.asg_name
    lifecycle_hook_name  = local.lifecycle_hook_name
    serve_dropin_dir     = local.serve_dropin_dir
    health_url           = "http://127.0.0.1:${local.app_port}/healthz"
    health_grace_secs    = local.health_check_grace_secs
    app_log_group        = aws_cloudwatch_log_group.app.name
    log_dir              = local.log_dir
    # http.drain_secs + actix's 10 s for requests in flight + margin.
    serve_stop_timeout_secs = local.serve_drain_secs + 30
  })
}

resource "aws_security_group" "app" {
  name        = "${local.name}-app"
  description = "Orderflow instances: the app port from the ALB only, HTTPS out to AWS APIs"
  vpc_id      = aws_vpc.this.id

  ingress {
    description     = "orderflow serve from the ALB"
    from_port       = local.app_port
    to_port         = local.app_port
    protocol        = "tcp"
    security_groups = [aws_security_group.alb.id]
  }

  egress {
    description = "HTTPS to AWS APIs (SQS, SNS, SES, SSM via NAT; S3, DynamoDB via gateway endpoints) and OS updates"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = { Name = "${local.name}-app" }
}

resource "aws_launch_template" "app" {
  name                   = "${local.name}-app"
  description            = "Orderflow serve + worker from the Packer AMI"
  image_id               = local.ami_id
  instance_type          = var.instance_type
  update_default_version = true
  user_data              = base64encode(local.user_data)

  iam_instance_profile {
    arn = aws_iam_instance_profile.app.arn
  }

  network_interfaces {
    associate_public_ip_address = false
    delete_on_termination       = true
    security_groups             = [aws_security_group.app.id]
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_size_gb
      encrypted             = true
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = local.asg_name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = local.asg_name })
  }

  lifecycle {
    # An arm64 AMI on an x86_64 instance type (or the reverse) fails every launch; the ASG
    # would wait out wait_for_capacity_timeout and the apply fail 10 minutes later.
    precondition {
      condition     = contains(data.aws_ec2_instance_type.app.supported_architectures, data.aws_ami.orderflow.architecture)
      error_message = "AMI ${data.aws_ami.orderflow.id} is ${data.aws_ami.orderflow.architecture}, but instance_type ${var.instance_type} runs ${join("/", data.aws_ec2_instance_type.app.supported_architectures)}: build the AMI with packer -var arch=... or pick a matching instance type."
    }
  }
}

resource "aws_autoscaling_group" "app" {
  name                = local.asg_name
  vpc_zone_identifier = aws_subnet.private[*].id
  min_size            = var.min_size
  max_size            = var.max_size
  target_group_arns   = [aws_lb_target_group.app.arn]
  # Liveness for the ASG, readiness for the ALB: EC2 status checks, plus the watcher on each
  # instance (orderflow-lifecycle) calling SetInstanceHealth Unhealthy when serve's /healthz
  # or the worker unit stays down (3 checks, 10 s apart). /readyz (which calls DynamoDB and
  # SQS) only takes a target out of the ALB's rotation: with ELB health checks an AWS
  # incident made the ASG replace every instance in a loop, and a dead worker went unseen.
  health_check_type         = "EC2"
  health_check_grace_period = local.health_check_grace_secs
  default_instance_warmup   = 120
  termination_policies      = ["OldestLaunchTemplate", "Default"]

  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
  ]

  launch_template {
    id      = aws_launch_template.app.id
    version = aws_launch_template.app.latest_version
  }

  # A new AMI (or any launch template change) replaces instances: launch first, then
  # terminate (min 100 % healthy, up to 200 % during the refresh), so min_size 2 never runs
  # on one instance; a failed refresh rolls back to the previous version.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
      instance_warmup        = 120
      auto_rollback          = true
    }
  }

  # Terminating instances wait here while packer/files/orderflow-lifecycle.sh stops `serve`
  # and lets `worker` finish its in-flight orders, then completes the action.
  initial_lifecycle_hook {
    name                 = local.lifecycle_hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
    heartbeat_timeout    = var.drain_timeout_secs
    default_result       = "CONTINUE"
  }

  tag {
    key                 = "Name"
    value               = local.asg_name
    propagate_at_launch = true
  }

  lifecycle {
    ignore_changes = [desired_capacity]
  }

  # The role's permissions outlive the instances: created before them, deleted after the
  # group has drained (without this, destroy removes the policies while workers drain and
  # CompleteLifecycleAction is denied: every instance waits the full heartbeat).
  depends_on = [
    aws_nat_gateway.this,
    aws_route_table_association.private,
    aws_iam_role_policy.app,
    aws_iam_role_policy.session_manager,
  ]
}

resource "aws_autoscaling_policy" "cpu" {
  name                   = "${local.name}-cpu"
  autoscaling_group_name = aws_autoscaling_group.app.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.cpu_target_percent

    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
  }
}

# Backlog per instance: visible order messages / in-service instances.
resource "aws_autoscaling_policy" "backlog" {
  name                   = "${local.name}-queue-backlog"
  autoscaling_group_name = aws_autoscaling_group.app.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.backlog_per_instance_target

    customized_metric_specification {
      metrics {
        id          = "backlog"
        label       = "Visible messages in the order queue"
        return_data = false

        metric_stat {
          stat = "Sum"

          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"

            dimensions {
              name  = "QueueName"
              value = aws_sqs_queue.orders.name
            }
          }
        }
      }

      metrics {
        id          = "instances"
        label       = "In-service instances"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "AWS/AutoScaling"
            metric_name = "GroupInServiceInstances"

            dimensions {
              name  = "AutoScalingGroupName"
              value = aws_autoscaling_group.app.name
            }
          }
        }
      }

      metrics {
        id          = "backlog_per_instance"
        label       = "Order messages per instance"
        expression  = "backlog / IF(instances > 0, instances, 1)"
        return_data = true
      }
    }
  }
}
