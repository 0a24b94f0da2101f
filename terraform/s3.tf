# Two buckets: receipts + event archive (`receipts/`, `events/`), and the log bucket for the
# ALB access logs and the receipts bucket's server access logs. Both private, versioned,
# TLS-only, SSE-S3 (see kms.tf for why not KMS), with lifecycle rules. With
# deletion_protection = false they are force-destroyed (emptied) by `terraform destroy`.

locals {
  receipts_bucket = "${local.name}-receipts-${local.account_id}-${local.region}"
  logs_bucket     = "${local.name}-logs-${local.account_id}-${local.region}"
}

# ---------------------------------------------------------------------------------------
# Receipts and event archive
# ---------------------------------------------------------------------------------------

resource "aws_s3_bucket" "receipts" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice left to the operator; versioning protects against overwrites and deletes within the region.
  #checkov:skip=CKV2_AWS_62:Nothing consumes S3 event notifications; order events go through the SNS events topic.
  #checkov:skip=CKV_AWS_145:The app writes with an explicit SSE-S3 (AES256) header and serves receipts through the app (GetObject); SSE-S3 is the effective encryption.
  bucket        = local.receipts_bucket
  force_destroy = !var.deletion_protection
}

resource "aws_s3_bucket_ownership_controls" "receipts" {
  bucket = aws_s3_bucket.receipts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "receipts" {
  bucket = aws_s3_bucket.receipts.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "receipts" {
  bucket = aws_s3_bucket.receipts.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "receipts" {
  bucket = aws_s3_bucket.receipts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_logging" "receipts" {
  bucket        = aws_s3_bucket.receipts.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${local.receipts_bucket}/"

  # S3 checks at PutBucketLogging that the target bucket's policy lets the logging service
  # write under exactly this prefix (moto does too: it answers 400 without it).
  depends_on = [aws_s3_bucket_policy.logs]
}

resource "aws_s3_bucket_lifecycle_configuration" "receipts" {
  bucket = aws_s3_bucket.receipts.id

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  rule {
    id     = "receipts"
    status = "Enabled"

    filter {
      prefix = "receipts/"
    }

    expiration {
      days = var.receipts_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }

  rule {
    id     = "events"
    status = "Enabled"

    filter {
      prefix = "events/"
    }

    # S3 refuses an expiration that is not later than a transition (InvalidArgument), and
    # STANDARD_IA needs objects of 30 days or more: only when they are kept longer.
    dynamic "transition" {
      for_each = var.receipts_retention_days > 30 ? [1] : []

      content {
        days          = 30
        storage_class = "STANDARD_IA"
      }
    }

    expiration {
      days = var.receipts_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }

  depends_on = [aws_s3_bucket_versioning.receipts]
}

data "aws_iam_policy_document" "receipts_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.receipts.arn,
      "${aws_s3_bucket.receipts.arn}/*",
    ]

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

resource "aws_s3_bucket_policy" "receipts" {
  bucket = aws_s3_bucket.receipts.id
  policy = data.aws_iam_policy_document.receipts_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.receipts]
}

# ---------------------------------------------------------------------------------------
# Logs: ALB access logs (alb/) and S3 server access logs (s3/)
# ---------------------------------------------------------------------------------------

resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log bucket; logging it into itself would loop.
  #checkov:skip=CKV_AWS_144:Access logs do not need cross-region replication.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of the log bucket.
  #checkov:skip=CKV_AWS_145:ALB access logs can only be delivered to SSE-S3 (AES256) buckets.
  bucket        = local.logs_bucket
  force_destroy = !var.deletion_protection
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket = aws_s3_bucket.logs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.alb_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}

# Regions launched before August 2022 deliver ALB logs from a regional ELB account; newer
# regions from the log-delivery service principal. The service principal is granted
# everywhere; the ELB account only in the older regions. The provider's
# aws_elb_service_account knows exactly those and fails with "unsupported AWS Region"
# anywhere else (ap-south-2, ap-southeast-4/5/7, eu-central-2, eu-south-2, il-central-1,
# me-central-1, ca-west-1, mx-central-1, ...), so it is only read for them.
locals {
  elb_account_regions = [
    "af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ca-central-1",
    "cn-north-1", "cn-northwest-1", "eu-central-1", "eu-north-1", "eu-south-1", "eu-west-1",
    "eu-west-2", "eu-west-3", "me-south-1", "sa-east-1", "us-east-1", "us-east-2",
    "us-gov-east-1", "us-gov-west-1", "us-west-1", "us-west-2",
  ]
}

data "aws_elb_service_account" "this" {
  count = contains(local.elb_account_regions, var.region) ? 1 : 0
}

data "aws_iam_policy_document" "logs_bucket" {
  dynamic "statement" {
    for_each = data.aws_elb_service_account.this

    content {
      sid       = "AlbLogDeliveryAccount"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.logs.arn}/alb/AWSLogs/${local.account_id}/*"]

      principals {
        type        = "AWS"
        identifiers = [statement.value.arn]
      }
    }
  }

  statement {
    sid       = "AlbLogDeliveryService"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/${local.receipts_bucket}/*"]

    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.logs.arn,
      "${aws_s3_bucket.logs.arn}/*",
    ]

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

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.logs]
}
