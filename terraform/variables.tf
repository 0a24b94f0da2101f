# ---------------------------------------------------------------------------------------
# General
# ---------------------------------------------------------------------------------------

variable "name" {
  description = "Prefix of every resource name (queues, tables, bucket, ALB, ASG). Lower case letters, digits and hyphens."
  type        = string
  default     = "orderflow"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.name))
    error_message = "name must be 2-20 characters of lower-case letters, digits and hyphens, starting with a letter (it is part of the S3 bucket and ALB names)."
  }
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "environment" {
  description = "Environment name, used in tags (e.g. prod, staging). Not part of resource names: give a second stack in the same account its own `name`."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$", var.environment))
    error_message = "environment must be 1-32 letters, digits, dots, underscores or hyphens (e.g. prod, staging)."
  }
}

variable "tags" {
  description = "Extra tags added to every resource through the provider's default_tags."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Protect the ALB and the DynamoDB tables against deletion. Set to false and apply before `terraform destroy`."
  type        = bool
  default     = true
}

# ---------------------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR block of the VPC; each AZ gets one public and one private subnet 4 bits longer (a /16 gives /20s)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be a valid IPv4 CIDR block of /20 or larger."
  }
}

variable "availability_zone_suffixes" {
  description = "Availability zones to spread subnets and instances over, as letters appended to the region (us-east-1 + a). Pinned so the set never changes on its own."
  type        = list(string)
  default     = ["a", "b"]

  validation {
    condition     = length(var.availability_zone_suffixes) >= 2 && length(var.availability_zone_suffixes) <= 4 && alltrue([for s in var.availability_zone_suffixes : can(regex("^[a-z]$", s))])
    error_message = "availability_zone_suffixes must list 2-4 single letters (the ALB needs at least two AZs)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets (cheaper) instead of one per AZ (survives an AZ outage)."
  type        = bool
  default     = true
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow logs in CloudWatch Logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be one of the values CloudWatch Logs accepts (e.g. 30, 90, 365)."
  }
}

variable "app_log_retention_days" {
  description = "Retention of the instances' logs (serve and worker JSON logs, cloud-init output) in the CloudWatch Logs group /<name>/app."
  type        = number
  default     = 90

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.app_log_retention_days)
    error_message = "app_log_retention_days must be one of the values CloudWatch Logs accepts (e.g. 30, 90, 365)."
  }
}

# ---------------------------------------------------------------------------------------
# Load balancer
# ---------------------------------------------------------------------------------------

variable "certificate_arn" {
  description = "ACM certificate ARN for an HTTPS listener. When set, HTTP redirects to HTTPS; when null, the ALB serves plain HTTP only."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (arn:aws:acm:...)."
  }
}

variable "allowed_ingress_cidrs" {
  description = "CIDR blocks allowed to reach the ALB on ports 80/443 (the public storefront: 0.0.0.0/0)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.allowed_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "allowed_ingress_cidrs must contain valid IPv4 CIDR blocks."
  }
}

variable "deregistration_delay_secs" {
  description = "Seconds the ALB keeps sending in-flight requests to a draining target; also orderflow's http.drain_secs (on SIGTERM /readyz fails and requests are served this long). User data sets the serve unit's TimeoutStopSec to this + 30 (drop-in drain.conf)."
  type        = number
  default     = 30

  validation {
    condition     = var.deregistration_delay_secs >= 0 && var.deregistration_delay_secs <= 300
    error_message = "deregistration_delay_secs must be between 0 and 300 (it is also orderflow's http.drain_secs, at most 300)."
  }
}

variable "alb_log_retention_days" {
  description = "Days the ALB access logs are kept in their bucket."
  type        = number
  default     = 90

  validation {
    condition     = var.alb_log_retention_days >= 1
    error_message = "alb_log_retention_days must be at least 1."
  }
}

# ---------------------------------------------------------------------------------------
# Instances
# ---------------------------------------------------------------------------------------

variable "ami_id" {
  description = "AMI built by packer/ (the deploy workflow pins the one it built). When null, the newest AMI named `ami_name_prefix*` owned by this account for the instance type's architecture is used, so any new build changes the next plan: pin it in production."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0."
  }
}

variable "ami_name_prefix" {
  description = "Name prefix of the Packer AMI, used when ami_id is null."
  type        = string
  default     = "orderflow-"

  validation {
    condition     = can(regex("^[A-Za-z0-9()\\[\\]./_-]{3,128}$", var.ami_name_prefix))
    error_message = "ami_name_prefix must be 3-128 characters allowed in AMI names (letters, digits, ( ) [ ] . / - _), with no wildcard."
  }
}

variable "instance_type" {
  description = "EC2 instance type. Must match the AMI's architecture (t4g/m7g/c7g: arm64; t3/m7i: x86_64); the AMI lookup and a launch-template precondition check it."
  type        = string
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like t3.small or m7g.large."
  }
}

variable "session_manager_enabled" {
  description = "Grant the instances the SSM Session Manager actions (shell and port forwarding without SSH). Only the session actions, not AmazonSSMManagedInstanceCore."
  type        = bool
  default     = true
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted gp3 root volume in GiB."
  type        = number
  default     = 16

  validation {
    condition     = var.root_volume_size_gb >= 8 && var.root_volume_size_gb <= 1024
    error_message = "root_volume_size_gb must be between 8 and 1024."
  }
}

variable "min_size" {
  description = "Minimum number of instances (each runs `serve` and `worker`)."
  type        = number
  default     = 2

  validation {
    condition     = var.min_size >= 1
    error_message = "min_size must be at least 1."
  }
}

variable "max_size" {
  description = "Maximum number of instances."
  type        = number
  default     = 6

  validation {
    condition     = var.max_size >= 1 && var.max_size <= 100
    error_message = "max_size must be between 1 and 100."
  }
}

variable "cpu_target_percent" {
  description = "Target average CPU utilisation of the Auto Scaling group (target tracking)."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 90
    error_message = "cpu_target_percent must be between 10 and 90."
  }
}

variable "backlog_per_instance_target" {
  description = "Target number of visible order-queue messages per in-service instance (target tracking). About worker.concurrency x acceptable latency / seconds per order."
  type        = number
  default     = 100

  validation {
    condition     = var.backlog_per_instance_target >= 1
    error_message = "backlog_per_instance_target must be at least 1."
  }
}

variable "drain_timeout_secs" {
  description = "Termination lifecycle hook heartbeat: how long a terminating instance may take to stop `serve` (no drain window: the ALB drained it already) and drain `worker` (TimeoutStopSec 120 s) before it is terminated anyway."
  type        = number
  default     = 300

  validation {
    condition     = var.drain_timeout_secs >= 180 && var.drain_timeout_secs <= 7200
    error_message = "drain_timeout_secs must be between 180 (serve's stop, the worker unit's TimeoutStopSec of 120 s and the API calls, one after the other) and 7200."
  }
}

# ---------------------------------------------------------------------------------------
# Application (written into /etc/orderflow/orderflow.toml by user data)
# ---------------------------------------------------------------------------------------

variable "worker_concurrency" {
  description = "worker.concurrency: orders one worker processes at once (each mostly waits on AWS requests)."
  type        = number
  default     = 64

  validation {
    condition     = var.worker_concurrency >= 1 && var.worker_concurrency <= 256
    error_message = "worker_concurrency must be between 1 and 256 (the app's limit)."
  }
}

variable "worker_visibility_timeout_secs" {
  description = "worker.visibility_timeout_secs and the queue's visibility timeout. Longer than one order's processing time (a few seconds); the worker also extends it while working."
  type        = number
  default     = 60

  validation {
    condition     = var.worker_visibility_timeout_secs >= 30 && var.worker_visibility_timeout_secs <= 43200
    error_message = "worker_visibility_timeout_secs must be between 30 and 43200."
  }
}

variable "max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue (redrive policy and worker.max_receive_count)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "message_retention_secs" {
  description = "How long the order queue keeps a message; the DLQ keeps messages for 14 days."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_secs >= 60 && var.message_retention_secs <= 1209600
    error_message = "message_retention_secs must be between 60 and 1209600 (14 days)."
  }
}

variable "shop_name" {
  description = "orders.shop_name: printed on receipts."
  type        = string
  default     = "Orderflow Shop"

  validation {
    condition     = length(trimspace(var.shop_name)) > 0 && !can(regex("[\"\\\\\\x00-\\x1f\\x7f]", var.shop_name))
    error_message = "shop_name must not be empty and must not contain quotes, backslashes, tabs, newlines or other control characters (it goes into a TOML string and the e-mail Subject)."
  }
}

variable "invoice_enabled" {
  description = "orders.invoice_enabled: accept orders without a card (pay on invoice). Off: every order needs a card, so nobody takes stock or makes the shop send e-mail without paying."
  type        = bool
  default     = false
}

variable "invoice_customers" {
  description = "orders.invoice_customers: with invoice_enabled, the customer ids that may order on invoice (empty: anyone). Customer ids are sent by the client, not verified: hand them out like account numbers."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.invoice_customers : can(regex("^[[:graph:]]{1,128}$", c)) && !can(regex("[\"\\\\]", c))])
    error_message = "invoice_customers: each a customer id of 1-128 visible ASCII characters, without spaces, quotes or backslashes."
  }
}

variable "invoice_max_units" {
  description = "orders.invoice_max_units: the most units (all lines together) one invoice order may hold."
  type        = number
  default     = 10

  validation {
    condition     = var.invoice_max_units >= 1 && var.invoice_max_units <= 2000 && floor(var.invoice_max_units) == var.invoice_max_units
    error_message = "invoice_max_units must be a whole number from 1 to 2000."
  }
}

variable "invoice_hold_hours" {
  description = "orders.invoice_hold_secs (in hours here): how long an unpaid order on invoice holds its stock; past it the order becomes FAILED PAYMENT_OVERDUE and the stock goes back."
  type        = number
  default     = 72

  validation {
    condition     = var.invoice_hold_hours >= 1 && var.invoice_hold_hours <= 744 && floor(var.invoice_hold_hours) == var.invoice_hold_hours
    error_message = "invoice_hold_hours must be a whole number from 1 to 744 (31 days)."
  }
}

variable "invoice_units_per_customer" {
  description = "orders.invoice_units_per_customer: the most units unpaid orders on invoice may hold at once for one customer id."
  type        = number
  default     = 20

  validation {
    condition     = var.invoice_units_per_customer >= var.invoice_max_units && var.invoice_units_per_customer <= 2000 && floor(var.invoice_units_per_customer) == var.invoice_units_per_customer
    error_message = "invoice_units_per_customer must be a whole number from invoice_max_units to 2000 (a smaller cap refuses every order on invoice above it)."
  }
}

variable "invoice_units_per_email" {
  description = "orders.invoice_units_per_email: the most units unpaid orders on invoice may hold at once for one e-mail address."
  type        = number
  default     = 20

  validation {
    condition     = var.invoice_units_per_email >= var.invoice_max_units && var.invoice_units_per_email <= 2000 && floor(var.invoice_units_per_email) == var.invoice_units_per_email
    error_message = "invoice_units_per_email must be a whole number from invoice_max_units to 2000 (a smaller cap refuses every order on invoice above it)."
  }
}

variable "invoice_units_per_client" {
  description = "orders.invoice_units_per_client: the most units unpaid orders on invoice may hold at once from one client address (IPv4 address or IPv6 /64, as the ALB forwards it)."
  type        = number
  default     = 40

  validation {
    condition     = var.invoice_units_per_client >= var.invoice_max_units && var.invoice_units_per_client <= 2000 && floor(var.invoice_units_per_client) == var.invoice_units_per_client
    error_message = "invoice_units_per_client must be a whole number from invoice_max_units to 2000 (a smaller cap refuses every order on invoice above it)."
  }
}

variable "log_level" {
  description = "log.level: a tracing filter such as info or orderflow=debug,info."
  type        = string
  default     = "info"

  validation {
    # Comma-separated directives TARGET, LEVEL or TARGET=LEVEL (what tracing's EnvFilter
    # parses; `a=b` or `=` would stop the binary at start-up).
    condition     = length(var.log_level) > 0 && alltrue([for d in split(",", var.log_level) : can(regex("^([a-z0-9_:]+(=(trace|debug|info|warn|error|off))?)?$", d))])
    error_message = "log_level must be a tracing filter such as info or orderflow=debug,info (levels: trace, debug, info, warn, error, off)."
  }
}

variable "admin_api_keys_ssm_parameter" {
  description = "Name of an SSM SecureString parameter holding the admin API keys, comma-separated (each >= 32 characters with >= 10 distinct ones, e.g. from `openssl rand -base64 32`). User data reads it at boot into /etc/orderflow/orderflow.env (ORDERFLOW__AUTH__ADMIN_API_KEYS), so no key is in user data or Terraform state. Null: admin endpoints closed."
  type        = string
  default     = null

  validation {
    condition     = var.admin_api_keys_ssm_parameter == null || can(regex("^/?[a-zA-Z0-9_.\\-/]+$", var.admin_api_keys_ssm_parameter))
    error_message = "admin_api_keys_ssm_parameter must be an SSM parameter name such as /orderflow/admin-api-keys."
  }
}

variable "admin_api_keys_kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the admin_api_keys_ssm_parameter SecureString, if it is not the default aws/ssm key: the instances get kms:Decrypt on it (through SSM only). Null: aws/ssm, which needs no grant."
  type        = string
  default     = null

  validation {
    condition     = var.admin_api_keys_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.admin_api_keys_kms_key_arn))
    error_message = "admin_api_keys_kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

# ---------------------------------------------------------------------------------------
# Data retention, notifications, e-mail
# ---------------------------------------------------------------------------------------

variable "receipts_retention_days" {
  description = "Days receipts and archived events are kept in S3 (noncurrent versions: 30 days)."
  type        = number
  default     = 365

  validation {
    condition     = var.receipts_retention_days >= 1
    error_message = "receipts_retention_days must be at least 1."
  }
}

variable "events_topic_fifo" {
  description = "Order events on an SNS FIFO topic: SNS drops an event a worker publishes again within 5 minutes (after a crash between publishing and recording it), but only SQS queues can subscribe. false: a standard topic (Lambda, HTTPS, e-mail subscribers), where a subscriber may see an eventId twice and must drop it. Changing it replaces the topic and its subscriptions."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarms topic (confirm the subscription e-mail). Null: no subscription."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address."
  }
}

variable "ses_email_from" {
  description = "aws.email_from: sender of customer e-mail through SES. Terraform creates the SES identity for it (or for ses_identity_domain). Null: no customer e-mail."
  type        = string
  default     = null

  # The app's rule (src/domain/values.rs, Email::parse): a local part of up to 64 of
  # A-Za-z0-9!#$%&'*+/=?^_`{|}~.- without leading, trailing or doubled dots; a domain of two
  # or more labels (letters, digits, inner hyphens, up to 63 each), the last of two or more
  # characters; at most 254 in all.
  validation {
    condition = var.ses_email_from == null || (
      length(coalesce(var.ses_email_from, "x")) <= 254 &&
      can(regex("^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])$", coalesce(var.ses_email_from, "x"))) &&
      length(split("@", coalesce(var.ses_email_from, "x@"))[0]) <= 64
    )
    error_message = "ses_email_from must be an e-mail address like orders@example.com (the rule orderflow applies: no doubled dots, a top-level domain of 2+ characters)."
  }
}

variable "ses_identity_domain" {
  description = "Verify this whole domain in SES (DKIM records to publish are in the outputs) instead of the single ses_email_from address. Needs ses_email_from (an address in this domain or a subdomain)."
  type        = string
  default     = null

  validation {
    condition = var.ses_identity_domain == null || (
      can(regex("^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])$", coalesce(var.ses_identity_domain, "x"))) &&
      var.ses_email_from != null && (
        endswith(lower(coalesce(var.ses_email_from, "x")), "@${lower(coalesce(var.ses_identity_domain, "x"))}") ||
        endswith(lower(coalesce(var.ses_email_from, "x")), ".${lower(coalesce(var.ses_identity_domain, "x"))}")
      )
    )
    error_message = "ses_identity_domain must be a domain name such as example.com, and ses_email_from must be an address in it or in a subdomain (the identity is only created for ses_email_from)."
  }
}

variable "oldest_message_alarm_secs" {
  description = "Alarm when the oldest message in the order queue is older than this (the workers are not keeping up or are down)."
  type        = number
  default     = 600

  validation {
    condition     = var.oldest_message_alarm_secs >= 60
    error_message = "oldest_message_alarm_secs must be at least 60."
  }
}

variable "rate_limit_enabled" {
  description = "Per-client-IP limit on order placement (rate_limit.enabled). Switch off only for load tests."
  type        = bool
  default     = true
}

variable "rate_limit_orders_per_minute" {
  description = "Sustained orders per minute one client IP may place (rate_limit.orders_per_minute)."
  type        = number
  default     = 60

  validation {
    condition     = var.rate_limit_orders_per_minute >= 1 && var.rate_limit_orders_per_minute <= 100000
    error_message = "rate_limit_orders_per_minute must be between 1 and 100000."
  }
}

variable "rate_limit_burst" {
  description = "Orders one client IP may place at once before the per-minute rate applies (rate_limit.burst)."
  type        = number
  default     = 20

  validation {
    condition     = var.rate_limit_burst >= 1 && var.rate_limit_burst <= 100000
    error_message = "rate_limit_burst must be between 1 and 100000."
  }
}

variable "cors_allowed_origins" {
  description = "Origins (scheme://host[:port], each listed; \"*\" is refused) of storefronts elsewhere that may call the API from a browser (cors.allowed_origins). Empty: none."
  type        = list(string)
  default     = []

  # The app's rule (src/config.rs, valid_origin): http(s)://HOST[:PORT] with HOST made of
  # letters, digits, dots and hyphens and PORT a number up to 65535; nothing after. "*" is
  # refused: it would let any site's pages call the API.
  validation {
    condition = alltrue([for o in var.cors_allowed_origins : (
      can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", o)) &&
      alltrue([for p in regexall(":([0-9]{1,5})$", o) : tonumber(p[0]) <= 65535])
    )])
    error_message = "cors_allowed_origins entries must be origins like https://shop.example.com or http://localhost:8080: http or https, a host of letters, digits, dots and hyphens, an optional port up to 65535, no path; \"*\" is refused (list each origin)."
  }
}
