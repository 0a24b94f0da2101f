# Order events (OrderAwaitingPayment/OrderCompleted/OrderFailed, message attribute eventType) and alarms (the
# app's DLQ alarm and the CloudWatch alarms in alarms.tf), both encrypted with the CMK.

# FIFO by default: the worker gives each event its id as MessageDeduplicationId and its order
# as MessageGroupId, so SNS drops the repeat a worker crash between publishing and recording
# it would send (within 5 minutes). Deduplication per message group keeps the regional
# throughput quota instead of 3,000 messages/s per topic.
resource "aws_sns_topic" "events" {
  name                  = var.events_topic_fifo ? "${local.name}-events.fifo" : "${local.name}-events"
  fifo_topic            = var.events_topic_fifo
  fifo_throughput_scope = var.events_topic_fifo ? "MessageGroup" : null
  kms_master_key_id     = aws_kms_key.this.arn
}

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.this.arn
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "AccountManages"
    actions   = ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:ListSubscriptionsByTopic"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}
