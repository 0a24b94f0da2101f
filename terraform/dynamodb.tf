# The three tables the aws adapter family expects (src/adapters/aws/dynamo.rs), on demand,
# with point-in-time recovery and the customer-managed key.

resource "aws_dynamodb_table" "orders" {
  name                        = "${local.name}-orders"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "orderId"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "orderId"
    type = "S"
  }

  attribute {
    name = "status"
    type = "S"
  }

  attribute {
    name = "kind"
    type = "S"
  }

  global_secondary_index {
    name            = "by-status"
    hash_key        = "status"
    range_key       = "orderId"
    projection_type = "ALL"
  }

  global_secondary_index {
    name            = "by-time"
    hash_key        = "kind"
    range_key       = "orderId"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }
}

resource "aws_dynamodb_table" "products" {
  name                        = "${local.name}-products"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "productId"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "productId"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }
}

# Idempotency records, stock reservations, charges, event markers and leases; expired rows
# are removed by DynamoDB's TTL on `ttl` (epoch seconds).
resource "aws_dynamodb_table" "state" {
  name                        = "${local.name}-state"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }
}
