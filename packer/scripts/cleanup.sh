#!/usr/bin/env bash
# Packer step 4 (as root): leave no build state in the AMI.
set -euo pipefail

rm -rf /tmp/orderflow-stage
dnf clean all
rm -f /etc/ssh/ssh_host_*
rm -f /home/ec2-user/.ssh/authorized_keys /root/.ssh/authorized_keys
cloud-init clean --logs
journalctl --rotate >/dev/null 2>&1 || true
journalctl --vacuum-time=1s >/dev/null 2>&1 || true
rm -f /var/log/orderflow/* 2>/dev/null || true
