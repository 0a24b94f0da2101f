variable "region" {
  type        = string
  description = "AWS region to build the AMI in (the Terraform stack's region)."
  default     = "us-east-1"
}

variable "arch" {
  type        = string
  description = "CPU architecture: x86_64 (t3/m7i instances) or arm64 (t4g/m7g). Build the binary for the same target."
  default     = "x86_64"

  validation {
    condition     = var.arch == "x86_64" || var.arch == "arm64"
    error_message = "The arch must be x86_64 or arm64."
  }
}

variable "instance_type" {
  type        = string
  description = "Builder instance type; empty picks t3.small for x86_64 and t4g.small for arm64."
  default     = ""
}

variable "ami_name_prefix" {
  type        = string
  description = "AMI name prefix; Terraform looks the newest AMI up by it when ami_id is unset."
  default     = "orderflow-"
}

variable "app_version" {
  type        = string
  description = "Version label of the binary (git describe or the commit), recorded as an AMI tag."
  default     = "dev"
}

variable "binary_path" {
  type        = string
  description = "The release binary built beforehand (cargo build --release), for the AMI's architecture."
  default     = "../target/release/orderflow"
}

variable "subnet_id" {
  type        = string
  description = "Subnet for the builder instance (needs outbound internet); empty uses the default VPC."
  default     = ""
}

variable "ssh_source_cidrs" {
  type        = list(string)
  description = "Where Packer's SSH to the builder comes from: the temporary security group allows port 22 from these only. The deploy workflow passes the runner's public address/32; the default allows any address (some SCPs and Config rules refuse that)."
  default     = ["0.0.0.0/0"]
}

variable "root_volume_size_gb" {
  type        = number
  description = "Root volume of the AMI (gp3, encrypted)."
  default     = 8
}
