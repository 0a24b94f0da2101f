# The instance role: exactly the calls the aws adapter family makes (src/adapters/aws/),
# scoped to this stack's ARNs, plus SSM Session Manager for shell access (no SSH, no key
# pairs, no port 22) unless session_manager_enabled = false.

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "app" {
  name               = "${local.name}-app"
  description        = "Orderflow instances: serve + worker"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_instance_profile" "app" {
  name = "${local.name}-app"
  role = aws_iam_role.app.name
}

# Session Manager (shell access, port forwarding) instead of SSH: only what the SSM agent
# needs for sessions (the actions of AWS's own Session-Manager-only policy,
# AWSCloud9SSMInstanceProfile). Not AmazonSSMManagedInstanceCore: that also grants
# ssm:GetParameter(s) on every parameter of the account (which made AdminKeysParameter
# below moot), documents, inventory and patching. Run Command, State Manager and inventory
# are not granted; the agent logs AccessDenied for them and sessions work.
data "aws_iam_policy_document" "session_manager" {
  statement {
    sid       = "RegisterInstance"
    actions   = ["ssm:UpdateInstanceInformation"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"]
  }

  # The ssmmessages actions have no resource type: "*" is the only valid resource.
  statement {
    sid = "SessionChannels"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "session_manager" {
  count = var.session_manager_enabled ? 1 : 0

  name   = "${local.name}-session-manager"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.session_manager.json
}

data "aws_iam_policy_document" "app" {
  # Order queue: SendMessageBatch (intake), ReceiveMessage, DeleteMessageBatch,
  # ChangeMessageVisibility (heartbeat), GetQueueAttributes (readiness, DLQ monitor).
  statement {
    sid = "OrderQueue"
    actions = [
      "sqs:SendMessage",
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = [aws_sqs_queue.orders.arn]
  }

  # DLQ: poison messages are sent here; `dlq list` receives, `dlq redrive` deletes after
  # re-sending to the order queue; the monitor reads its attributes.
  statement {
    sid = "DeadLetterQueue"
    actions = [
      "sqs:SendMessage",
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = [aws_sqs_queue.dlq.arn]
  }

  # Tables: TransactWriteItems is authorised per item as PutItem/UpdateItem/ConditionCheckItem;
  # BatchGetItem reads stock levels and ledger pages.
  statement {
    sid = "Tables"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:Query",
      "dynamodb:Scan",
      "dynamodb:DescribeTable",
    ]
    resources = [
      aws_dynamodb_table.orders.arn,
      "${aws_dynamodb_table.orders.arn}/index/*",
      aws_dynamodb_table.products.arn,
      aws_dynamodb_table.state.arn,
    ]
  }

  # Receipts (PutObject, GetObject, HeadObject = GetObject) and the event archive (PutObject).
  statement {
    sid     = "ReceiptsAndEvents"
    actions = ["s3:PutObject", "s3:GetObject"]
    resources = [
      "${aws_s3_bucket.receipts.arn}/receipts/*",
      "${aws_s3_bucket.receipts.arn}/events/*",
    ]
  }

  # Without ListBucket a HeadObject on a missing receipt answers 403 instead of 404, which
  # the "render only if absent" check would treat as an error.
  statement {
    sid       = "ReceiptsBucketList"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.receipts.arn]
  }

  statement {
    sid       = "Topics"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.events.arn, aws_sns_topic.alarms.arn]
  }

  # The CMK behind the queues, topics and tables.
  statement {
    sid       = "Kms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.this.arn]
  }

  # The watcher completes the termination lifecycle hook of its own group and reports a
  # dead serve or worker (SetInstanceHealth Unhealthy).
  statement {
    sid       = "OwnAutoScalingGroup"
    actions   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:SetInstanceHealth"]
    resources = ["arn:${local.partition}:autoscaling:${local.region}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.asg_name}"]
  }

  # The CloudWatch agent ships the instance's logs into the app log group (which exists:
  # no CreateLogGroup).
  statement {
    sid       = "AppLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.app.arn}:*"]
  }

  dynamic "statement" {
    for_each = local.ses_enabled ? [1] : []

    content {
      sid       = "SesSend"
      actions   = ["ses:SendEmail", "ses:SendRawEmail"]
      resources = ["arn:${local.partition}:ses:${local.region}:${local.account_id}:identity/*"]

      condition {
        test     = "StringEquals"
        variable = "ses:FromAddress"
        values   = [var.ses_email_from]
      }
    }
  }

  dynamic "statement" {
    for_each = var.admin_api_keys_ssm_parameter == null ? [] : [1]

    content {
      sid       = "AdminKeysParameter"
      actions   = ["ssm:GetParameter"]
      resources = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(coalesce(var.admin_api_keys_ssm_parameter, "unset"), "/")}"]
    }
  }

  # A SecureString under a customer-managed key: without kms:Decrypt on it, the boot-time
  # `aws ssm get-parameter --with-decryption` fails and user data stops (set -e).
  dynamic "statement" {
    for_each = var.admin_api_keys_ssm_parameter != null && var.admin_api_keys_kms_key_arn != null ? [var.admin_api_keys_kms_key_arn] : []

    content {
      sid       = "AdminKeysParameterKey"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "app" {
  name   = "${local.name}-app"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.app.json
}

# VPC flow logs delivery role.
data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${local.name}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    actions   = ["logs:DescribeLogGroups"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
  }

  statement {
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "${local.name}-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs.json
}
