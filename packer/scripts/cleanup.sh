#!/usr/bin/env bash
# Packer step 4 (as root): leave no build state in the AMI.
set -euo pipefail

rm -rf /tmp/orderflow-stage
dnf clean all
rm -f /etc/ssh/ssh_host_*
rm -f /home/ec2-user/.ssh/authorized_keys /root/.ssh/authorized_keys
cloud-init clean --logs
# Every instance must get its own machine id (journal, networkd DUID, the CloudWatch agent):
# systemd generates one at first boot when the file is empty. An empty file, not a missing
# one: a missing /etc/machine-id makes systemd treat the first boot as "first boot"
# (presets applied again).
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
journalctl --rotate >/dev/null 2>&1 || true
journalctl --vacuum-time=1s >/dev/null 2>&1 || true
rm -f /var/log/orderflow/* 2>/dev/null || true
