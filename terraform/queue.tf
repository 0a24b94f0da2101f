# The order queue and its dead-letter queue. The worker extends a message's visibility while
# it works (heartbeat every half timeout), so the timeout only has to outlast one heartbeat
# gap; it is set above a normal order's processing time (a few seconds) all the same.

resource "aws_sqs_queue" "dlq" {
  name                      = "${local.name}-orders-dlq"
  message_retention_seconds = 1209600 # 14 days: time to notice, fix and redrive
  kms_master_key_id         = aws_kms_key.this.arn

  kms_data_key_reuse_period_seconds = 3600
}

resource "aws_sqs_queue" "orders" {
  name                       = "${local.name}-orders"
  visibility_timeout_seconds = var.worker_visibility_timeout_secs
  message_retention_seconds  = var.message_retention_secs
  receive_wait_time_seconds  = 20
  kms_master_key_id          = aws_kms_key.this.arn

  kms_data_key_reuse_period_seconds = 3600

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })
}

# Only the order queue may dead-letter into the DLQ (`orderflow dlq redrive` sends back
# through the API, which this does not restrict).
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.orders.arn]
  })
}

# TLS only on both queues.
data "aws_iam_policy_document" "queue_tls" {
  for_each = {
    orders = aws_sqs_queue.orders.arn
    dlq    = aws_sqs_queue.dlq.arn
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "orders" {
  queue_url = aws_sqs_queue.orders.id
  policy    = data.aws_iam_policy_document.queue_tls["orders"].json
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.queue_tls["dlq"].json
}
