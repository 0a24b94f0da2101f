# One customer-managed key for the queues, topics, tables and log groups. The S3 buckets use
# SSE-S3 instead: the ALB can only write access logs to SSE-S3 buckets, and the app writes
# receipts and the event archive with an explicit `x-amz-server-side-encryption: AES256`.

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A KMS key policy's Resource "*" means this key only; the account root statement is AWS's default key policy.
  #checkov:skip=CKV_AWS_111:A KMS key policy's Resource "*" means this key only.
  #checkov:skip=CKV_AWS_356:A KMS key policy's Resource "*" means this key only.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/${local.name}/*"]
    }
  }

  # CloudWatch alarms publish to the encrypted alarms topic (the statement AWS documents for
  # alarm actions on SSE topics).
  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${local.name}: SQS, SNS, DynamoDB and CloudWatch Logs encryption"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}
