#!/usr/bin/env bash
# Packer step 1 (as root): OS updates, the service user, the staging directory.
set -euo pipefail

dnf -y -q upgrade --releasever=latest || dnf -y -q upgrade
# curl and the AWS CLI are on Amazon Linux 2023 already; the drain watcher and user data use them.
command -v aws >/dev/null || dnf -y -q install awscli-2
# Ships /var/log/orderflow/orderflow.log* and cloud-init's output to CloudWatch Logs; user
# data writes its config (the log group Terraform creates) and starts it.
dnf -y -q install amazon-cloudwatch-agent
test -x /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl

getent group orderflow >/dev/null || groupadd --system orderflow
getent passwd orderflow >/dev/null ||
    useradd --system --gid orderflow --home-dir /var/lib/orderflow --no-create-home \
        --shell /sbin/nologin --comment "Orderflow service" orderflow

install -d -m 0777 /tmp/orderflow-stage
install -d -m 0777 /tmp/orderflow-stage/static /tmp/orderflow-stage/systemd
