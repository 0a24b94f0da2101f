# Optional SES sender identity for customer e-mail (aws.email_from). Either the single
# address ses_email_from (SES mails a verification link) or the whole ses_identity_domain
# (publish the DKIM CNAMEs from the `ses_dkim_tokens` output). New SES accounts are in the
# sandbox: request production access before mailing real customers.

locals {
  ses_enabled  = var.ses_email_from != null
  ses_identity = var.ses_identity_domain != null ? var.ses_identity_domain : var.ses_email_from
}

resource "aws_sesv2_email_identity" "this" {
  count = local.ses_enabled ? 1 : 0

  email_identity = local.ses_identity
}
