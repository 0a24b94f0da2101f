# Values the variables must refuse because the binary (src/config.rs) or AWS would: each
# one used to pass `terraform plan` and then fail at boot or at apply.

mock_provider "aws" {
  source = "./tests/mocks"
}

# H6: the app allows only [A-Za-z0-9.-] in the host and a numeric port.
run "cors_underscore_host" {
  command = plan
  variables {
    cors_allowed_origins = ["https://shop_x.example.com"]
  }
  expect_failures = [var.cors_allowed_origins]
}

# L-14: "*" reflects any Origin; the app refuses it.
run "cors_wildcard" {
  command = plan
  variables {
    cors_allowed_origins = ["*"]
  }
  expect_failures = [var.cors_allowed_origins]
}

run "cors_path" {
  command = plan
  variables {
    cors_allowed_origins = ["https://shop.example.com/"]
  }
  expect_failures = [var.cors_allowed_origins]
}

run "cors_port_too_big" {
  command = plan
  variables {
    cors_allowed_origins = ["https://shop.example.com:65536"]
  }
  expect_failures = [var.cors_allowed_origins]
}

run "cors_port_not_numeric" {
  command = plan
  variables {
    cors_allowed_origins = ["https://shop.example.com:https"]
  }
  expect_failures = [var.cors_allowed_origins]
}

run "cors_scheme" {
  command = plan
  variables {
    cors_allowed_origins = ["ftp://shop.example.com"]
  }
  expect_failures = [var.cors_allowed_origins]
}

# The app's e-mail rule: top-level domain of two or more characters, no empty labels.
run "email_short_tld" {
  command = plan
  variables {
    ses_email_from = "orders@example.c"
  }
  expect_failures = [var.ses_email_from]
}

run "email_double_dot" {
  command = plan
  variables {
    ses_email_from = "or..ders@example.com"
  }
  expect_failures = [var.ses_email_from]
}

# A control character cannot go into a TOML basic string.
run "shop_name_control_character" {
  command = plan
  variables {
    shop_name = "Shop\u0001"
  }
  expect_failures = [var.shop_name]
}

# A tab too: the binary refuses every control character (the name goes into the Subject).
run "shop_name_tab" {
  command = plan
  variables {
    shop_name = "Bob's\tShop"
  }
  expect_failures = [var.shop_name]
}

# H4: serve's stop, then the worker's 120 s, then the API calls: 150 s was too short.
run "drain_timeout_150" {
  command = plan
  variables {
    drain_timeout_secs = 150
  }
  expect_failures = [var.drain_timeout_secs]
}

# tracing's EnvFilter: TARGET=LEVEL needs a real level.
run "log_level_unknown_level" {
  command = plan
  variables {
    log_level = "orderflow=loud"
  }
  expect_failures = [var.log_level]
}

run "log_level_bare_equals" {
  command = plan
  variables {
    log_level = "="
  }
  expect_failures = [var.log_level]
}

run "ses_domain_without_address" {
  command = plan
  variables {
    ses_identity_domain = "example.com"
  }
  expect_failures = [var.ses_identity_domain]
}

run "ses_domain_other_than_address" {
  command = plan
  variables {
    ses_email_from      = "orders@example.com"
    ses_identity_domain = "example.org"
  }
  expect_failures = [var.ses_identity_domain]
}

run "instance_type_malformed" {
  command = plan
  variables {
    instance_type = "t3small"
  }
  expect_failures = [var.instance_type]
}

run "ami_name_prefix_wildcard" {
  command = plan
  variables {
    ami_name_prefix = "orderflow-*"
  }
  expect_failures = [var.ami_name_prefix]
}

run "environment_with_space" {
  command = plan
  variables {
    environment = "prod 2"
  }
  expect_failures = [var.environment]
}

# H-2: a cap on units held below the per-order maximum would refuse every order on invoice
# above it; the binary refuses that config too.
run "invoice_cap_below_the_order_maximum" {
  command = plan
  variables {
    invoice_max_units          = 30
    invoice_units_per_customer = 30
    invoice_units_per_email    = 20
  }
  expect_failures = [var.invoice_units_per_email]
}

# A hold record keeps one entry per order: caps stay far below DynamoDB's item limit.
run "invoice_cap_too_large" {
  command = plan
  variables {
    invoice_units_per_client = 2001
  }
  expect_failures = [var.invoice_units_per_client]
}
