output "alb_dns_name" {
  description = "The ALB's DNS name: open it in a browser for the storefront, or point your domain (CNAME or Route 53 alias) at it."
  value       = aws_lb.this.dns_name
}

output "storefront_url" {
  description = "The storefront URL on the ALB's own name."
  value       = "${var.certificate_arn == null ? "http" : "https"}://${aws_lb.this.dns_name}/"
}

output "alb_zone_id" {
  description = "Hosted zone id of the ALB, for a Route 53 alias record."
  value       = aws_lb.this.zone_id
}

output "queue_url" {
  description = "aws.queue_url: the order queue."
  value       = aws_sqs_queue.orders.url
}

output "dlq_url" {
  description = "aws.dlq_url: the dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "orders_table" {
  description = "aws.orders_table."
  value       = aws_dynamodb_table.orders.name
}

output "products_table" {
  description = "aws.products_table."
  value       = aws_dynamodb_table.products.name
}

output "state_table" {
  description = "aws.state_table."
  value       = aws_dynamodb_table.state.name
}

output "receipts_bucket" {
  description = "aws.receipts_bucket: receipts/ and events/."
  value       = aws_s3_bucket.receipts.id
}

output "logs_bucket" {
  description = "ALB access logs (alb/) and S3 server access logs (s3/)."
  value       = aws_s3_bucket.logs.id
}

output "events_topic_arn" {
  description = "aws.events_topic_arn: subscribe consumers of OrderAwaitingPayment/OrderCompleted/OrderFailed here (ship only on OrderCompleted)."
  value       = aws_sns_topic.events.arn
}

output "alarms_topic_arn" {
  description = "aws.alarms_topic_arn: CloudWatch alarms and the app's DLQ alarm."
  value       = aws_sns_topic.alarms.arn
}

output "autoscaling_group_name" {
  description = "For `aws autoscaling start-instance-refresh` and for finding instances."
  value       = aws_autoscaling_group.app.name
}

output "launch_template_id" {
  description = "The instances' launch template."
  value       = aws_launch_template.app.id
}

output "ami_id" {
  description = "The AMI the instances run."
  value       = local.ami_id
}

output "instance_role_arn" {
  description = "The instances' IAM role."
  value       = aws_iam_role.app.arn
}

output "kms_key_arn" {
  description = "The CMK encrypting queues, topics, tables and log groups."
  value       = aws_kms_key.this.arn
}

output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "ses_dkim_tokens" {
  description = "SES DKIM tokens: publish each as a CNAME from TOKEN._domainkey.DOMAIN to TOKEN.dkim.amazonses.com (domain identities)."
  # The provider sets dkim_signing_attributes to null when SES returns no DkimAttributes.
  value = local.ses_enabled ? try(aws_sesv2_email_identity.this[0].dkim_signing_attributes[0].tokens, []) : []
}

output "warnings" {
  description = "What this configuration leaves open, in plain words (empty when nothing)."
  value = compact([
    var.alarm_email == null ? "alarm_email is unset: the CloudWatch alarms and the app's DLQ alarm go to ${aws_sns_topic.alarms.arn} with no subscriber, so nobody is told. Subscribe someone or set alarm_email." : "",
    var.certificate_arn == null ? "certificate_arn is unset: the ALB serves plain HTTP only, so checkout (card numbers included) crosses the internet unencrypted, and so do admin sign-ins and their session cookie. Set certificate_arn (ACM) before taking real orders." : "",
  ])
}

output "app_log_group" {
  description = "CloudWatch Logs group of the instances: streams <instance-id>/orderflow (serve and worker JSON logs) and <instance-id>/cloud-init."
  value       = aws_cloudwatch_log_group.app.name
}

output "orderflow_toml" {
  description = "The /etc/orderflow/orderflow.toml every instance gets (no secrets)."
  value       = local.orderflow_toml
}
