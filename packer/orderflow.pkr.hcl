# Orderflow AMI: Amazon Linux 2023 + the release binary, the storefront, the systemd units.
# Packer 1.6.6 (Debian) has the amazon builder built in; a current Packer needs it installed
# once: `packer plugins install github.com/hashicorp/amazon` (see packer/README.md). No
# `packer { required_plugins }` block here: 1.6.6 rejects it.

locals {
  timestamp     = regex_replace(timestamp(), "[- TZ:]", "")
  ami_name      = "${var.ami_name_prefix}${var.arch}-${local.timestamp}"
  instance_type = var.instance_type != "" ? var.instance_type : (var.arch == "arm64" ? "t4g.small" : "t3.small")
  tags = {
    Project      = "orderflow"
    Name         = local.ami_name
    AppVersion   = var.app_version
    Architecture = var.arch
    BaseAMI      = "{{ .SourceAMIName }}"
    ManagedBy    = "packer"
  }
}

source "amazon-ebs" "orderflow" {
  region          = var.region
  instance_type   = local.instance_type
  subnet_id       = var.subnet_id
  ssh_username    = "ec2-user"
  ami_name        = local.ami_name
  ami_description = "Orderflow ${var.app_version} (${var.arch}) on Amazon Linux 2023"
  tags            = local.tags
  run_tags        = local.tags

  associate_public_ip_address = true
  # The temporary security group Packer creates for SSH: only from where Packer runs (the
  # deploy workflow passes the runner's address/32). A current Packer can use
  # temporary_security_group_source_public_ip = true instead; 1.6.6 rejects it.
  temporary_security_group_source_cidrs = var.ssh_source_cidrs

  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-kernel-6.1-${var.arch}"
      architecture        = var.arch
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["amazon"]
    most_recent = true
  }

  # IMDSv2: Packer 1.6.6's amazon-ebs has no `metadata_options` (the plugin gained it later),
  # so the short-lived builder instance runs with the account default. Every production
  # instance requires IMDSv2 with hop limit 1 through the launch template
  # (terraform/asg.tf). On a current Packer add here:
  #   metadata_options { http_tokens = "required"  http_put_response_hop_limit = 1 }
  #   imds_support = "v2.0"

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_type           = "gp3"
    throughput            = 125
    iops                  = 3000
    volume_size           = var.root_volume_size_gb
    encrypted             = true
    delete_on_termination = true
  }
}

build {
  sources = ["source.amazon-ebs.orderflow"]

  # 1. Service user and staging directory.
  provisioner "shell" {
    script          = "${path.root}/scripts/prepare.sh"
    execute_command = "chmod +x {{ .Path }}; sudo -E bash '{{ .Path }}'"
  }

  # 2. Payload: binary, storefront, units, drain watcher, example config.
  provisioner "file" {
    source      = var.binary_path
    destination = "/tmp/orderflow-stage/orderflow"
  }

  provisioner "file" {
    source      = "${path.root}/../static/"
    destination = "/tmp/orderflow-stage/static"
  }

  provisioner "file" {
    source      = "${path.root}/../catalog/products.json"
    destination = "/tmp/orderflow-stage/products.json"
  }

  provisioner "file" {
    source      = "${path.root}/../systemd/"
    destination = "/tmp/orderflow-stage/systemd"
  }

  provisioner "file" {
    source      = "${path.root}/files/orderflow-lifecycle.sh"
    destination = "/tmp/orderflow-stage/orderflow-lifecycle"
  }

  provisioner "file" {
    source      = "${path.root}/../docs/operations.md"
    destination = "/tmp/orderflow-stage/operations.md"
  }

  provisioner "file" {
    source      = "${path.root}/files/orderflow.toml.example"
    destination = "/tmp/orderflow-stage/orderflow.toml.example"
  }

  # 3. Install into place and enable the units (they start once user data writes the config).
  provisioner "shell" {
    script          = "${path.root}/scripts/install.sh"
    execute_command = "chmod +x {{ .Path }}; sudo -E bash '{{ .Path }}'"
  }

  # 4. Remove build traces (cloud-init state, SSH host keys, logs) so every instance starts fresh.
  provisioner "shell" {
    script          = "${path.root}/scripts/cleanup.sh"
    execute_command = "chmod +x {{ .Path }}; sudo -E bash '{{ .Path }}'"
  }

  post-processor "manifest" {
    output     = "${path.root}/manifest.json"
    strip_path = true
    custom_data = {
      app_version = var.app_version
      arch        = var.arch
    }
  }
}
