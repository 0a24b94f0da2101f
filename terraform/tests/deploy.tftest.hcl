# Inputs that plan fine but used to fail at apply (F1-F3) or in a rollout.

mock_provider "aws" {
  source = "./tests/mocks"
}

# F1: regions opened since August 2022 are unknown to aws_elb_service_account; only the
# log-delivery service principal is granted there.
run "region_opened_after_2022" {
  variables {
    region = "ap-southeast-5"
  }

  override_data {
    target = data.aws_region.current
    values = { name = "ap-southeast-5" }
  }

  override_data {
    target = data.aws_availability_zones.available
    values = { names = ["ap-southeast-5a", "ap-southeast-5b"] }
  }

  assert {
    condition     = length(data.aws_elb_service_account.this) == 0
    error_message = "aws_elb_service_account must not be read in a region the provider does not know"
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.logs_bucket.statement : s if s.sid == "AlbLogDeliveryAccount"]) == 0
    error_message = "no ELB-account statement in a new region"
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.logs_bucket.statement : s if s.sid == "AlbLogDeliveryService"]) == 1
    error_message = "the log-delivery service principal is granted everywhere"
  }
}

run "region_with_elb_account" {
  assert {
    condition     = length([for s in data.aws_iam_policy_document.logs_bucket.statement : s if s.sid == "AlbLogDeliveryAccount"]) == 1
    error_message = "us-east-1 grants the regional ELB account"
  }
}

# F2: expiration must come after the STANDARD_IA transition (30 days).
run "retention_30_days" {
  command = plan

  variables {
    receipts_retention_days = 30
  }

  assert {
    condition     = alltrue([for r in aws_s3_bucket_lifecycle_configuration.receipts.rule : length(r.transition) == 0])
    error_message = "no STANDARD_IA transition when objects are kept 30 days or less"
  }
}

run "retention_1_day" {
  command = plan

  variables {
    receipts_retention_days = 1
  }

  assert {
    condition     = alltrue([for r in aws_s3_bucket_lifecycle_configuration.receipts.rule : length(r.transition) == 0])
    error_message = "no STANDARD_IA transition when objects are kept 30 days or less"
  }
}

run "retention_31_days" {
  command = plan

  variables {
    receipts_retention_days = 31
  }

  assert {
    condition     = length(flatten([for r in aws_s3_bucket_lifecycle_configuration.receipts.rule : r.transition if r.id == "events"])) == 1
    error_message = "events/ moves to STANDARD_IA after 30 days when kept longer"
  }
}

# F3: the AMI lookup filters on the instance type's architecture ...
run "arm64_instance_type" {
  variables {
    instance_type = "t4g.small"
  }

  override_data {
    target = data.aws_ec2_instance_type.app
    values = { supported_architectures = ["arm64"] }
  }

  override_data {
    target = data.aws_ami.orderflow
    values = { id = "ami-0aaaaaaaaaaaaaaaa", architecture = "arm64" }
  }

  assert {
    condition     = anytrue([for f in data.aws_ami.orderflow.filter : f.name == "architecture" && f.values == toset(["arm64"])])
    error_message = "the AMI lookup must filter on the instance type's architecture"
  }

  assert {
    condition     = aws_launch_template.app.image_id == "ami-0aaaaaaaaaaaaaaaa"
    error_message = "the launch template uses the looked-up AMI"
  }
}

# ... and a pinned ami_id of the other architecture stops the plan.
run "ami_architecture_mismatch" {
  command = plan

  variables {
    ami_id        = "ami-0bbbbbbbbbbbbbbbb"
    instance_type = "t3.small"
  }

  override_data {
    target = data.aws_ami.orderflow
    values = { id = "ami-0bbbbbbbbbbbbbbbb", architecture = "arm64" }
  }

  expect_failures = [aws_launch_template.app]
}

run "ami_id_pinned" {
  variables {
    ami_id = "ami-0cccccccccccccccc"
  }

  override_data {
    target = data.aws_ami.orderflow
    values = { id = "ami-0cccccccccccccccc", architecture = "x86_64" }
  }

  assert {
    condition     = anytrue([for f in data.aws_ami.orderflow.filter : f.name == "image-id" && f.values == toset(["ami-0cccccccccccccccc"])])
    error_message = "a pinned ami_id is looked up by id (for its architecture)"
  }

  assert {
    condition     = aws_launch_template.app.image_id == "ami-0cccccccccccccccc"
    error_message = "the launch template uses the pinned AMI"
  }
}

# Instance refresh launches before it terminates: min_size 2 never drops to 1.
run "instance_refresh_launch_before_terminate" {
  command = plan

  assert {
    condition = (
      aws_autoscaling_group.app.instance_refresh[0].preferences[0].min_healthy_percentage == 100 &&
      aws_autoscaling_group.app.instance_refresh[0].preferences[0].max_healthy_percentage == 200
    )
    error_message = "instance refresh must keep 100 % healthy and may go to 200 %"
  }
}

# Session Manager: the session actions only, no AWS-managed policy (it grants
# ssm:GetParameter on every parameter, and moto never finishes attaching it).
run "session_manager_least_privilege" {
  command = plan

  assert {
    condition     = length(aws_iam_role_policy.session_manager) == 1
    error_message = "Session Manager is on by default"
  }

  assert {
    condition = toset(flatten([for s in data.aws_iam_policy_document.session_manager.statement : s.actions])) == toset([
      "ssm:UpdateInstanceInformation",
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ])
    error_message = "the Session Manager policy holds exactly the session actions"
  }

  assert {
    condition     = !anytrue([for s in data.aws_iam_policy_document.app.statement : contains(s.actions, "ssm:GetParameters")])
    error_message = "no ssm:GetParameters anywhere"
  }
}

run "session_manager_disabled" {
  command = plan

  variables {
    session_manager_enabled = false
  }

  assert {
    condition     = length(aws_iam_role_policy.session_manager) == 0
    error_message = "session_manager_enabled = false grants no Session Manager action"
  }
}

# H3/H8: liveness for the ASG (EC2 + the watcher's SetInstanceHealth), readiness for the ALB.
run "health_checks" {
  assert {
    condition     = aws_autoscaling_group.app.health_check_type == "EC2"
    error_message = "the ASG must not replace instances on /readyz (it calls DynamoDB and SQS)"
  }

  assert {
    condition     = aws_lb_target_group.app.health_check[0].path == "/readyz"
    error_message = "the ALB routes on /readyz"
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.app.user_data), "HEALTH_URL=http://127.0.0.1:8080/healthz\n")
    error_message = "the watcher gets serve's liveness URL"
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.app.statement :
      contains(s.actions, "autoscaling:SetInstanceHealth") && alltrue([for r in s.resources : endswith(r, ":autoScalingGroupName/orderflow-app")])
    ])
    error_message = "the instance may call SetInstanceHealth on its own group only"
  }
}

# Plain warnings for what the defaults leave open.
run "warnings_defaults" {
  assert {
    condition     = length(output.warnings) == 2 && strcontains(output.warnings[0], "alarm_email is unset") && strcontains(output.warnings[1], "plain HTTP")
    error_message = "the defaults warn about alarm_email and certificate_arn"
  }
}

run "warnings_none" {
  variables {
    alarm_email     = "ops@example.com"
    certificate_arn = "arn:aws:acm:us-east-1:111122223333:certificate/00000000-0000-0000-0000-000000000000"
  }

  assert {
    condition     = length(output.warnings) == 0
    error_message = "no warning with alarm_email and certificate_arn set"
  }
}

# Logs: a log group with the CMK, the agent's config in user data, the agent's permissions.
run "app_logs" {
  assert {
    condition     = aws_cloudwatch_log_group.app.name == "/orderflow/app" && aws_cloudwatch_log_group.app.retention_in_days == 90 && aws_cloudwatch_log_group.app.kms_key_id == aws_kms_key.this.arn
    error_message = "the app log group: /<name>/app, app_log_retention_days, the CMK"
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.app.user_data), "\"file_path\": \"/var/log/orderflow/orderflow.log*\"") && strcontains(base64decode(aws_launch_template.app.user_data), "\"log_group_name\": \"/orderflow/app\"")
    error_message = "user data configures the CloudWatch agent for the orderflow log files"
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.app.statement :
      toset(s.actions) == toset(["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]) && s.resources == toset(["${aws_cloudwatch_log_group.app.arn}:*"])
    ])
    error_message = "the instances may write to the app log group only"
  }
}

# H2: a SecureString under a customer-managed key needs kms:Decrypt (via SSM) at boot.
run "admin_keys_customer_managed_key" {
  command = plan

  variables {
    admin_api_keys_ssm_parameter = "/orderflow/admin-api-keys"
    admin_api_keys_kms_key_arn   = "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555"
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.app.statement :
      s.sid == "AdminKeysParameterKey" && s.actions == toset(["kms:Decrypt"]) && s.resources == toset(["arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555"])
    ])
    error_message = "kms:Decrypt on the parameter's key"
  }
}

# The events topic is FIFO unless asked otherwise (the worker deduplicates by event id there).
run "events_topic_fifo" {
  command = plan

  assert {
    condition     = aws_sns_topic.events.fifo_topic && endswith(aws_sns_topic.events.name, ".fifo") && aws_sns_topic.events.fifo_throughput_scope == "MessageGroup"
    error_message = "the events topic is a FIFO topic with per-group deduplication by default"
  }

  assert {
    condition     = !coalesce(aws_sns_topic.alarms.fifo_topic, false)
    error_message = "the alarms topic stays standard: e-mail subscribers"
  }
}

run "events_topic_standard" {
  command = plan

  variables {
    events_topic_fifo = false
  }

  assert {
    condition     = !aws_sns_topic.events.fifo_topic && !endswith(aws_sns_topic.events.name, ".fifo")
    error_message = "events_topic_fifo = false gives a standard topic"
  }
}
