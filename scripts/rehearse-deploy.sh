#!/usr/bin/env bash
# The deployment rehearsal: the whole deploy path on one machine, no AWS account.
#
#   1 emulator   moto's server (scripts/rehearsal/moto_server.py) on a bridge the instances reach
#   2 apply      terraform init + apply of terraform/ as it is, plus only a provider override
#                (endpoints to the emulator, dummy credentials, path-style S3)
#                and only these variables: an AMI id, the admin keys' SSM parameter, an
#                SES sender and alarm address, a per-client order rate for one test client
#   3 image      a Debian root file system made the way packer/ makes the AMI: the same
#                prepare/install/cleanup scripts, units, static files, catalog, release binary
#   4 instances  two copies booted with systemd as PID 1 (systemd-nspawn -b), each in its own
#                network namespace, each running the user data terraform rendered into the
#                launch template (read back from the emulator)
#   5 lb         HAProxy standing in for the ALB: the target group's health check and
#                deregistration delay, X-Forwarded-For/-Proto like the ALB
#   6 journey    headless Chromium through the LB on the ALB's DNS name: an order and its
#                receipt; the admin console signs in and redrives a dead-lettered message
#   7 chaos      500 orders while a worker restarts, a serve unit drains, an instance is
#                replaced and workers are SIGKILLed; then every acknowledged order is checked
#                final exactly once in the emulator (stock, receipts, events, charges)
#   8 destroy    the documented teardown (apply -var deletion_protection=false, destroy);
#                the emulator must hold nothing of the stack
#
# Cleans up (instances, namespaces, bridge, emulator, LB) on every exit. Work files are in
# .rehearsal/ (the Debian base file system is cached there between runs).
#
# Needs root (network namespaces, nspawn), terraform and its provider mirror, the Rust
# toolchain. Installs where missing: debootstrap, systemd-container, haproxy (apt), moto
# (PyPI into .venv-moto). With CI=true a missing tool is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

WORK="$ROOT/.rehearsal"
RUN="$WORK/run"
BASE="$WORK/base-bookworm"
IMAGE="$RUN/image"
BRIDGE=ofrh-br
NET=10.213.0
HOST_IP="$NET.1"
MOTO_PORT="${REHEARSAL_MOTO_PORT:-4599}"
LB_PORT="${REHEARSAL_LB_PORT:-18080}"
ENDPOINT="http://$HOST_IP:$MOTO_PORT"
ADMIN_KEY="rehearsal-admin-key-0123456789abcdef"
ADMIN_PARAM="/orderflow/admin-api-keys"
MOTO_SPEC='moto[server]>=5.1,<6'
ORDERS="${REHEARSAL_ORDERS:-500}"
PY="$ROOT/.venv-moto/bin/python"
export AWS_ACCESS_KEY_ID=rehearsal AWS_SECRET_ACCESS_KEY=rehearsal AWS_DEFAULT_REGION=us-east-1
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1

T0=$(date +%s)
STAGE_T=$T0
STAGE=""
stage() {
    local now
    now=$(date +%s)
    [ -n "$STAGE" ] && printf '    (%s: %ss)\n' "$STAGE" "$((now - STAGE_T))"
    STAGE="$1"
    STAGE_T=$now
    printf '\n==> rehearsal [%4ss] %s\n' "$((now - T0))" "$*"
}
die() {
    echo "rehearsal FAILED: $*" >&2
    exit 1
}
ci() { [ "${CI:-}" = "true" ]; }

# ---------------------------------------------------------------------------------------
# Clean-up: on every exit, whatever stage failed.
# ---------------------------------------------------------------------------------------
instance_pid() { # the PID (on this host) of instance N's systemd, or nothing
    local f="$RUN/i$1.leader"
    [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}
in_instance() { # in_instance N CMD...: run CMD inside instance N's namespaces
    local n="$1" pid
    shift
    pid="$(instance_pid "$n")" || die "instance $n is not running"
    nsenter -t "$pid" -m -u -i -n -p -- "$@"
}
stop_instance() { # stop_instance N [graceful]: poweroff (units stop as on EC2) or kill at once
    local n="$1" pid nspawn
    pid="$(instance_pid "$n" || true)"
    nspawn="$(cat "$RUN/i$n.nspawn" 2>/dev/null || true)"
    if [ -n "$pid" ] && [ "${2:-}" = graceful ]; then
        nsenter -t "$pid" -m -u -i -n -p -- systemctl poweroff --no-block >/dev/null 2>&1 || true
        # serve drains http.drain_secs on SIGTERM, within its TimeoutStopSec.
        for _ in $(seq 1 240); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.5; done
    fi
    if [ -n "$nspawn" ]; then
        # Killing the container's PID 1 ends every process in its PID namespace.
        if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
        kill -9 "$nspawn" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.25; done
    fi
    rm -f "$RUN/i$n.leader" "$RUN/i$n.nspawn"
    ip netns del "ofrh-i$n" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    set +e
    if [ $rc -ne 0 ] && [ -d "$RUN" ]; then
        echo "--- rehearsal failed (exit $rc); last lines of the logs in $RUN:" >&2
        # The logs the failed stage wrote (newest first), briefly.
        # shellcheck disable=SC2012 # our own file names, no spaces
        for f in $(ls -t "$RUN"/*.log 2>/dev/null | sed '/moto.log$/d' | head -n 2); do
            echo "--- $f" >&2
            tail -n 20 "$f" >&2
        done
    fi
    if [ $rc -ne 0 ] && [ -n "${REHEARSAL_KEEP_ON_FAILURE:-}" ]; then
        touch "$RUN/keep"
        echo "--- kept for inspection (in_instance: nsenter -t \$(cat $RUN/iN.leader) -m -u -i -n -p); rm $RUN/keep to clean up" >&2
        while [ -e "$RUN/keep" ]; do sleep 2; done
    fi
    for n in 1 2 3; do stop_instance "$n"; done
    [ -f "$RUN/haproxy.pid" ] && kill "$(cat "$RUN/haproxy.pid")" 2>/dev/null
    if [ -f "$RUN/moto.pid" ]; then
        local moto
        moto="$(cat "$RUN/moto.pid")"
        kill "$moto" 2>/dev/null
        for _ in $(seq 1 20); do kill -0 "$moto" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$moto" 2>/dev/null
    fi
    ip link del "$BRIDGE" 2>/dev/null
    # Never follow a bind mount of the host's /dev, /proc or /sys into rm.
    for m in dev sys proc; do mountpoint -q "$IMAGE/$m" 2>/dev/null && umount -l "$IMAGE/$m"; done
    rm -rf --one-file-system "$IMAGE" "$RUN"/i[0-9]
    printf '\n==> rehearsal %s after %ss\n' "$([ $rc -eq 0 ] && echo passed || echo FAILED)" "$(($(date +%s) - T0))"
    exit $rc
}

# ---------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------
stage "tools"
[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces, systemd-nspawn)"
apt_install() {
    apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
for pair in debootstrap:debootstrap systemd-nspawn:systemd-container haproxy:haproxy objdump:binutils \
    chromium:chromium chromedriver:chromium-driver; do
    cmd="${pair%%:*}" pkg="${pair#*:}"
    command -v "$cmd" >/dev/null || { echo "installing $pkg"; apt_install "$pkg" || true; }
    command -v "$cmd" >/dev/null || die "$cmd is missing and $pkg could not be installed"
done
command -v terraform >/dev/null || die "terraform is not on PATH (see ../shared/MACHINE-NOTES.md)"
MIRROR="${TF_PROVIDER_MIRROR:-}"
if [ -z "$MIRROR" ]; then
    found="$(find / -maxdepth 6 -path '*registry.terraform.io/hashicorp/aws' -type d 2>/dev/null | head -n1 || true)"
    [ -n "$found" ] && MIRROR="${found%/registry.terraform.io/hashicorp/aws}"
fi
[ -n "$MIRROR" ] || die "no filesystem mirror of the hashicorp/aws provider found (set TF_PROVIDER_MIRROR)"
if [ ! -x .venv-moto/bin/moto_server ]; then
    echo "installing $MOTO_SPEC into .venv-moto"
    { python3 -m venv .venv-moto && .venv-moto/bin/pip install -q "$MOTO_SPEC"; } || die "moto could not be installed"
fi
echo "terraform $(terraform version | head -n1 | cut -d' ' -f2), provider mirror $MIRROR, $(.venv-moto/bin/pip show moto 2>/dev/null | grep ^Version)"

# A previous run that was killed may have left mounts below .rehearsal/.
awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l
rm -rf --one-file-system "$RUN"
mkdir -p "$RUN"
trap cleanup EXIT
trap 'exit 130' INT TERM

# The release binary, as the deploy workflow builds it, and the glibc it needs: Amazon
# Linux 2023 has 2.34, so no symbol may be newer.
# REHEARSAL_BINARY rehearses a binary built elsewhere (e.g. the deploy workflow's artefact).
if [ -n "${REHEARSAL_BINARY:-}" ]; then
    BINARY="$REHEARSAL_BINARY"
else
    # The production build: without the `bench` feature (Cargo.toml).
    cargo build --release --locked --no-default-features --bin orderflow 2>&1 | tail -n 2
    BINARY="$ROOT/target/release/orderflow"
fi
[ -x "$BINARY" ] || die "no binary at $BINARY"
# What ships carries no benchmark harness (the `bench` feature is for development).
if "$BINARY" bench --help >/dev/null 2>&1; then
    die "$BINARY has the bench command: build it with --no-default-features"
fi
newest="$(objdump -T "$BINARY" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1)"
echo "release binary needs $newest at most"
[ "$(printf '%s\n%s\n' "$newest" GLIBC_2.34 | sort -V | tail -n1)" = GLIBC_2.34 ] ||
    die "the release binary needs $newest; Amazon Linux 2023 has glibc 2.34"

# ---------------------------------------------------------------------------------------
stage "emulator: moto on $ENDPOINT (bridge $BRIDGE)"
# ---------------------------------------------------------------------------------------
ip link del "$BRIDGE" 2>/dev/null || true
! curl -fsS -m 2 -o /dev/null "$ENDPOINT/moto-api/" 2>/dev/null || die "something already answers on $ENDPOINT"
ip link add "$BRIDGE" type bridge
ip addr add "$HOST_IP/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
nohup "$PY" scripts/rehearsal/moto_server.py --host "$HOST_IP" --port "$MOTO_PORT" >"$RUN/moto.log" 2>&1 &
echo $! >"$RUN/moto.pid"
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$ENDPOINT/moto-api/" 2>/dev/null && break
    sleep 0.2
done
curl -fsS -o /dev/null "$ENDPOINT/moto-api/" || die "moto did not start"
aws_py() { "$PY" scripts/rehearsal/check.py --endpoint "$ENDPOINT" "$@"; }

# The operator's steps before the first apply (docs/operations.md): the admin keys in SSM,
# and an AMI to launch (moto knows Amazon's public images; the rehearsal boots its own).
aws_py put-parameter --name "$ADMIN_PARAM" --value "$ADMIN_KEY"
AMI_ID="$(aws_py ami)"

# ---------------------------------------------------------------------------------------
stage "apply: terraform init + apply against the emulator"
# ---------------------------------------------------------------------------------------
TF="$RUN/terraform"
mkdir -p "$TF"
cp -R terraform/. "$TF/"
rm -rf "$TF/.terraform" "$TF"/*.tfstate* "$TF/terraform.tfvars"
cat >"$RUN/terraformrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
EOF
export TF_CLI_CONFIG_FILE="$RUN/terraformrc"
{
    echo '# Test-time only (scripts/rehearse-deploy.sh): every AWS API at the emulator.'
    echo 'provider "aws" {'
    echo '  access_key                  = "rehearsal"'
    echo '  secret_key                  = "rehearsal"'
    echo '  skip_credentials_validation = true'
    echo '  skip_metadata_api_check     = true'
    echo '  skip_requesting_account_id  = true'
    echo '  s3_use_path_style           = true'
    echo '  endpoints {'
    for svc in autoscaling cloudwatch cloudwatchlogs dynamodb ec2 elbv2 iam kms s3 ses sesv2 sns sqs ssm sts; do
        printf '    %-14s = "%s"\n' "$svc" "$ENDPOINT"
    done
    echo '  }'
    echo '}'
} >"$TF/rehearsal_override.tf"
TF_VARS=(-var "ami_id=$AMI_ID" -var "admin_api_keys_ssm_parameter=$ADMIN_PARAM"
    -var "ses_email_from=orders@shop.example.com" -var "alarm_email=ops@shop.example.com"
    # Every rehearsal order comes from one client address (the LB's X-Forwarded-For is
    # 127.0.0.1): the per-client limit is raised, as a shop would for a known B2B client.
    -var "rate_limit_orders_per_minute=20000" -var "rate_limit_burst=500")
(
    cd "$TF"
    terraform init -backend=false -input=false -no-color >"$RUN/terraform-init.log"
    timeout 900 terraform apply -auto-approve -input=false -no-color "${TF_VARS[@]}" >"$RUN/terraform-apply.log" 2>&1 ||
        { tail -n 40 "$RUN/terraform-apply.log"; exit 1; }
    grep -E '^Apply complete' "$RUN/terraform-apply.log"
    terraform output -json >"$RUN/outputs.json"
) || die "terraform apply failed"
ALB_DNS="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["alb_dns_name"]["value"])' "$RUN/outputs.json")"
aws_py user-data --outputs "$RUN/outputs.json" >"$RUN/user-data.sh"
aws_py target-group --outputs "$RUN/outputs.json" >"$RUN/target-group.env"
# shellcheck disable=SC1091
. "$RUN/target-group.env"
echo "ALB $ALB_DNS; user data $(wc -c <"$RUN/user-data.sh") bytes from the launch template;" \
    "health check $HC_PATH every ${HC_INTERVAL}s (healthy $HC_HEALTHY, unhealthy $HC_UNHEALTHY), deregistration delay ${DEREG_DELAY}s"

# ---------------------------------------------------------------------------------------
stage "image: Debian root file system the way packer/ makes the AMI"
# ---------------------------------------------------------------------------------------
if [ ! -x "$BASE/usr/bin/aws" ]; then
    rm -rf --one-file-system "$BASE.tmp"
    # Amazon Linux 2023 has systemd, curl and the AWS CLI; the Debian stand-in gets the same.
    debootstrap --variant=minbase \
        --include=systemd,systemd-sysv,dbus,iproute2,curl,ca-certificates,procps,awscli,python3-cffi-backend \
        bookworm "$BASE.tmp" http://deb.debian.org/debian >"$RUN/debootstrap.log" 2>&1 ||
        die "debootstrap failed (see $RUN/debootstrap.log)"
    # debootstrap can end 0 with packages left unconfigured: trust only a working CLI.
    chroot "$BASE.tmp" /usr/bin/aws --version >/dev/null 2>&1 || die "the image's AWS CLI does not run"
    mv "$BASE.tmp" "$BASE"
fi
cp -a "$BASE" "$IMAGE"
# packer/scripts/ target Amazon Linux (dnf, cloud-init): on the Debian stand-in those two
# commands are no-ops, so the scripts run unchanged. The CloudWatch agent has no Debian
# package: a stand-in `amazon-cloudwatch-agent-ctl` takes its place and records how user
# data configures it (the rehearsal checks that; it cannot check that logs are shipped).
cat >"$IMAGE/usr/local/bin/dnf" <<'DNF'
#!/bin/sh
echo "(rehearsal image: dnf $*: skipped on Debian)"
case " $* " in
*" install "*amazon-cloudwatch-agent*)
    install -d /opt/aws/amazon-cloudwatch-agent/bin /opt/aws/amazon-cloudwatch-agent/etc
    cat >/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl <<'CTL'
#!/bin/sh
# Rehearsal stand-in for the CloudWatch agent: records the call and the config it was given.
{
    echo "amazon-cloudwatch-agent-ctl $*"
    for a in "$@"; do case "$a" in file:*) cat "${a#file:}" ;; esac; done
} >>/var/log/rehearsal-cloudwatch-agent.log
CTL
    chmod 0755 /opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl
    ;;
esac
DNF
printf '#!/bin/sh\necho "(rehearsal image: cloud-init $*: skipped on Debian)"\n' >"$IMAGE/usr/local/bin/cloud-init"
chmod 0755 "$IMAGE/usr/local/bin/dnf" "$IMAGE/usr/local/bin/cloud-init"
# As root in the image, as Packer's shell provisioner runs them (`sudo bash script`).
in_image() {
    local rc=0 m
    for m in proc sys dev; do mount --bind "/$m" "$IMAGE/$m"; done
    # Not booted: systemctl acts on the files only (enable works, daemon-reload is a no-op).
    chroot "$IMAGE" env SYSTEMD_OFFLINE=1 "$@" || rc=$?
    for m in dev sys proc; do umount -l "$IMAGE/$m"; done
    return $rc
}
in_image bash -s <packer/scripts/prepare.sh >"$RUN/image.log" 2>&1 || die "prepare.sh failed"
# The file provisioners of packer/orderflow.pkr.hcl, same sources, same destinations.
stagedir="$IMAGE/tmp/orderflow-stage"
cp "$BINARY" "$stagedir/orderflow"
cp -R static/. "$stagedir/static/"
cp catalog/products.json "$stagedir/products.json"
cp -R systemd/. "$stagedir/systemd/"
cp packer/files/orderflow-lifecycle.sh "$stagedir/orderflow-lifecycle"
cp docs/operations.md "$stagedir/operations.md"
cp packer/files/orderflow.toml.example "$stagedir/orderflow.toml.example"
in_image bash -s <packer/scripts/install.sh >>"$RUN/image.log" 2>&1 || die "install.sh failed"
in_image bash -s <packer/scripts/cleanup.sh >>"$RUN/image.log" 2>&1 || die "cleanup.sh failed"
rm -f "$IMAGE/usr/local/bin/dnf" "$IMAGE/usr/local/bin/cloud-init"
[ ! -s "$IMAGE/etc/machine-id" ] || die "the image carries a machine-id: every instance would share it"
enabled=("$IMAGE"/etc/systemd/system/multi-user.target.wants/orderflow-*)
{ [ ${#enabled[@]} -eq 3 ] && [ -L "${enabled[0]}" ]; } || die "install.sh did not enable the three units"
echo "enabled in the image: ${enabled[*]##*/}"

# ---------------------------------------------------------------------------------------
# Instances
# ---------------------------------------------------------------------------------------
# What EC2 gives an instance and Debian lacks, and nothing else:
#  - cloud-init's part: run the launch template's user data once, at first boot
#    (rehearsal-user-data.service stands in for cloud-final.service);
#  - IMDS's part: credentials (dummy) and the emulator's endpoint, as drop-ins on the units
#    that call AWS, and an `aws` on user data's PATH that adds --endpoint-url (the CLI
#    version in Debian ignores AWS_ENDPOINT_URL).
boot_instance() { # boot_instance N: a fresh copy of the image, booted, in netns ofrh-iN
    local n="$1" root="$RUN/i$1" ip="$NET.$((10 + $1))"
    rm -rf --one-file-system "$root"
    cp -a "$IMAGE" "$root"
    install -d "$root/var/lib/cloud/instance" "$root/usr/local/lib/rehearsal/bin" "$root/etc/rehearsal"
    install -m 0700 "$RUN/user-data.sh" "$root/var/lib/cloud/instance/user-data.txt"
    cat >"$root/etc/rehearsal/aws.env" <<EOF
AWS_ENDPOINT_URL=$ENDPOINT
AWS_ACCESS_KEY_ID=rehearsal
AWS_SECRET_ACCESS_KEY=rehearsal
AWS_REGION=us-east-1
EOF
    chmod 0600 "$root/etc/rehearsal/aws.env"
    cat >"$root/usr/local/lib/rehearsal/bin/aws" <<'EOF'
#!/bin/sh
exec /usr/bin/aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"
EOF
    chmod 0755 "$root/usr/local/lib/rehearsal/bin/aws"
    cat >"$root/etc/systemd/system/rehearsal-user-data.service" <<'EOF'
[Unit]
Description=Rehearsal stand-in for cloud-init: the launch template's user data, once per instance
After=network-online.target
Wants=network-online.target
ConditionPathExists=!/var/lib/cloud/instance/user-data.done

[Service]
Type=oneshot
RemainAfterExit=yes
EnvironmentFile=/etc/rehearsal/aws.env
Environment=PATH=/usr/local/lib/rehearsal/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
ExecStart=/bin/bash /var/lib/cloud/instance/user-data.txt
ExecStartPost=/usr/bin/touch /var/lib/cloud/instance/user-data.done
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF
    ln -sf ../rehearsal-user-data.service "$root/etc/systemd/system/multi-user.target.wants/rehearsal-user-data.service"
    for unit in orderflow-serve orderflow-worker orderflow-lifecycle; do
        install -d "$root/etc/systemd/system/$unit.service.d"
        {
            echo '# Rehearsal only: on EC2 credentials come from IMDS and endpoints are AWS.'
            echo '[Service]'
            echo 'EnvironmentFile=/etc/rehearsal/aws.env'
            [ "$unit" = orderflow-lifecycle ] &&
                echo 'Environment=PATH=/usr/local/lib/rehearsal/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin'
        } >"$root/etc/systemd/system/$unit.service.d/rehearsal.conf"
    done
    # Own network namespace: a veth pair to the bridge (the emulator and the LB are there).
    ip netns del "ofrh-i$n" 2>/dev/null || true
    ip netns add "ofrh-i$n"
    ip link del "ofrh-v$n" 2>/dev/null || true
    ip link add "ofrh-v$n" type veth peer name eth0 netns "ofrh-i$n"
    ip link set "ofrh-v$n" master "$BRIDGE" up
    ip -n "ofrh-i$n" addr add "$ip/24" dev eth0
    ip -n "ofrh-i$n" link set lo up
    ip -n "ofrh-i$n" link set eth0 up
    ip -n "ofrh-i$n" route add default via "$HOST_IP"
    nohup systemd-nspawn -q -D "$root" --register=no --keep-unit -b --machine="ofrh-i$n" \
        --network-namespace-path="/run/netns/ofrh-i$n" </dev/null >"$RUN/i$n-console.log" 2>&1 &
    echo $! >"$RUN/i$n.nspawn"
    local pid=""
    for _ in $(seq 1 100); do
        for p in $(pgrep -x systemd); do
            [ "$(ip netns identify "$p" 2>/dev/null)" = "ofrh-i$n" ] && pid="$p" && break
        done
        [ -n "$pid" ] && break
        sleep 0.2
    done
    [ -n "$pid" ] || die "instance $n: systemd did not start"
    echo "$pid" >"$RUN/i$n.leader"
    echo "instance $n booting: $ip, systemd PID $pid"
}
wait_instance() { # wait_instance N: boot finished, user data ran, serve answers /readyz
    local n="$1" ip="$NET.$((10 + $1))" state=""
    for _ in $(seq 1 240); do
        state="$(in_instance "$n" systemctl is-system-running 2>/dev/null || true)"
        case "$state" in running | degraded) break ;; esac
        sleep 0.5
    done
    case "$state" in running | degraded) ;; *) die "instance $n: boot did not finish ($state)" ;; esac
    for _ in $(seq 1 120); do
        curl -fsS -m 2 -o /dev/null "http://$ip:8080/readyz" 2>/dev/null && break
        sleep 0.5
    done
    if ! curl -fsS -m 2 -o /dev/null "http://$ip:8080/readyz"; then
        in_instance "$n" systemctl --no-pager status rehearsal-user-data orderflow-serve orderflow-worker >&2 || true
        in_instance "$n" journalctl --no-pager -n 40 >&2 || true
        die "instance $n: /readyz never answered 200"
    fi
    [ "$state" = running ] || {
        in_instance "$n" systemctl --no-pager --failed >&2
        die "instance $n: a unit failed at boot"
    }
    echo "instance $n up: system $state, /readyz 200"
}
units_active() { # units_active N: every orderflow unit active (a restart may take RestartSec)
    local n="$1" u st=""
    for u in orderflow-serve orderflow-worker orderflow-lifecycle; do
        for _ in $(seq 1 60); do
            st="$(in_instance "$n" systemctl is-active "$u" 2>/dev/null || true)"
            [ "$st" = active ] && break
            sleep 0.5
        done
        [ "$st" = active ] || die "instance $n: $u is $st"
    done
}

stage "instances: two booted from the image with the launch template's user data"
boot_instance 1
boot_instance 2
wait_instance 1
wait_instance 2
units_active 1
units_active 2

# ---------------------------------------------------------------------------------------
stage "lb: HAProxy in front, the target group's health check and deregistration delay"
# ---------------------------------------------------------------------------------------
cat >"$RUN/haproxy.cfg" <<EOF
global
    stats socket $RUN/haproxy.sock mode 600 level admin
    log stdout format raw local0 info
defaults
    mode http
    log global
    option httplog
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    # The ALB keeps no retry of its own for a refused connection either.
    retries 0
frontend alb
    bind 127.0.0.1:$LB_PORT
    # As the ALB: the client's address appended to X-Forwarded-For, the listener's scheme.
    option forwardfor
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Port 80
    default_backend app
backend app
    balance roundrobin
    option httpchk GET $HC_PATH
    http-check expect status $HC_MATCHER
    default-server check inter ${HC_INTERVAL}s rise $HC_HEALTHY fall $HC_UNHEALTHY init-addr none
    timeout check ${HC_TIMEOUT}s
    # Registered below, one at a time, as the ASG registers instances with the target group.
    server i1 $NET.11:8080 disabled
    server i2 $NET.12:8080 disabled
    server i3 $NET.13:8080 disabled
EOF
haproxy -c -f "$RUN/haproxy.cfg" -q || die "haproxy config"
haproxy -f "$RUN/haproxy.cfg" -D -p "$RUN/haproxy.pid" >>"$RUN/haproxy.log" 2>&1
lb_cmd() { "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall((sys.argv[2] + "\n").encode())
print(b"".join(iter(lambda: s.recv(65536), b"")).decode().strip())' "$RUN/haproxy.sock" "$*"; }
lb_state() { lb_cmd "show servers state app" | awk -v s="$1" '$4 == s { print $6 }'; } # 2 = UP
wait_lb() { # wait_lb SERVER UP|DOWN
    local want=2 st=""
    [ "$2" = DOWN ] && want=0
    for _ in $(seq 1 $((HC_INTERVAL * (HC_HEALTHY + HC_UNHEALTHY) * 2 + 20))); do
        st="$(lb_state "$1")"
        [ "$st" = "$want" ] && return 0
        sleep 1
    done
    die "LB: $1 never became $2 (state $st)"
}
register() { # register SERVER: like a target registration, healthy after HC_HEALTHY checks
    local since=$SECONDS
    # A new target starts unhealthy and needs HC_HEALTHY passing checks, as on the ALB.
    lb_cmd "set server app/$1 state ready" >/dev/null
    lb_cmd "set server app/$1 health down" >/dev/null
    wait_lb "$1" UP
    echo "$1 registered and healthy after $((SECONDS - since))s"
}
register i1
register i2
LB_URL="http://127.0.0.1:$LB_PORT"
curl -fsS -m 5 -o /dev/null -H "Host: $ALB_DNS" "$LB_URL/" || die "the storefront does not answer through the LB"
echo "both targets healthy behind $LB_URL (as http://$ALB_DNS/)"

# ---------------------------------------------------------------------------------------
stage "journey: the storefront and the admin console in Chromium through the LB"
# ---------------------------------------------------------------------------------------
# A message in the dead-letter queue for the admin to redrive: a second copy of a
# completed order's message, as a duplicate delivery that ran out of receives leaves it.
dlq_order="$(aws_py place-order --lb "$LB_URL" --host "$ALB_DNS" --wait-final)"
aws_py dead-letter --outputs "$RUN/outputs.json" --order "$dlq_order"
REHEARSAL_URL="http://$ALB_DNS" REHEARSAL_RESOLVE="$ALB_DNS=127.0.0.1:$LB_PORT" \
    REHEARSAL_ADMIN_KEY="$ADMIN_KEY" REHEARSAL_DLQ_ORDER="$dlq_order" \
    timeout 600 cargo test --locked --test browser -- --ignored --exact rehearsal::journey_through_the_load_balancer \
    >"$RUN/journey.log" 2>&1 || { tail -n 40 "$RUN/journey.log"; die "browser journey"; }
grep -E '^test result' "$RUN/journey.log"

# ---------------------------------------------------------------------------------------
stage "chaos: $ORDERS orders through restarts, a drain, a replacement and SIGKILLs"
# ---------------------------------------------------------------------------------------
aws_py snapshot --outputs "$RUN/outputs.json" >"$RUN/before.json"
# An order whose message is lost (the API acknowledged it, no worker finished it) is
# re-enqueued by the reconciler once PENDING for worker.stuck_after_secs: wait that long.
stuck_after="$(sed -n 's/^stuck_after_secs = \([0-9]*\)$/\1/p' "$RUN/user-data.sh")"
VERIFY_SECS=$((${stuck_after:-300} + 120))
# Paced so the orders span every step below (about 4 minutes).
aws_py load --lb "$LB_URL" --host "$ALB_DNS" --orders "$ORDERS" --pace "$(awk -v n="$ORDERS" 'BEGIN { printf "%.3f", 300 / n }')" \
    --acked "$RUN/acked.jsonl" >"$RUN/load.log" 2>&1 &
load_pid=$!
sleep 5
echo "- systemctl restart orderflow-worker on instance 1"
in_instance 1 systemctl restart orderflow-worker
sleep 5
echo "- systemctl stop orderflow-serve on instance 2: the LB stops sending to it, in-flight requests finish"
in_instance 2 systemctl stop orderflow-serve
wait_lb i2 DOWN
in_instance 2 systemctl start orderflow-serve
wait_lb i2 UP
echo "- rolling replacement: instance 1 deregistered (${DEREG_DELAY}s), powered off; instance 3 booted"
lb_cmd "set server app/i1 state drain" >/dev/null
sleep "$DEREG_DELAY"
lb_cmd "set server app/i1 state maint" >/dev/null
stop_instance 1 graceful
boot_instance 3
wait_instance 3
register i3
kill -0 "$load_pid" 2>/dev/null || die "the orders were all placed before the replacement was over: pace them slower"
echo "- the worker on instance 2 SIGKILLed at random while the load lasts"
while kill -0 "$load_pid" 2>/dev/null; do
    sleep "$((RANDOM % 4 + 2))"
    # --kill-who=main: under nspawn on cgroup v1 signalling the whole cgroup reports EIO.
    in_instance 2 systemctl kill --kill-who=main -s SIGKILL orderflow-worker 2>/dev/null || true
done
wait "$load_pid" || { tail -n 20 "$RUN/load.log"; die "the order load failed"; }
tail -n 3 "$RUN/load.log"
kills="$(in_instance 2 journalctl -u orderflow-worker -o cat --no-pager | grep -c 'status=9/KILL' || true)"
[ "$kills" -gt 0 ] || die "the worker on instance 2 was never SIGKILLed"
echo "worker on instance 2 SIGKILLed $kills times (systemd restarted it each time)"
units_active 2
units_active 3
aws_py verify --outputs "$RUN/outputs.json" --before "$RUN/before.json" --acked "$RUN/acked.jsonl" \
    --extra-order "$dlq_order" --timeout "$VERIFY_SECS" || die "not every acknowledged order is final exactly once"
for n in 2 3; do
    lines="$(in_instance "$n" journalctl -u orderflow-serve -o cat --no-pager | grep -c '"request_id"' || true)"
    [ "$lines" -gt 0 ] || die "instance $n: no JSON log lines with a request id in journalctl -u orderflow-serve"
    echo "instance $n: journalctl -u orderflow-serve has $lines JSON lines with a request id"
    in_instance "$n" systemctl --no-pager status orderflow-serve orderflow-worker orderflow-lifecycle | grep -E '^[●○] |Active:'
done

# ---------------------------------------------------------------------------------------
stage "destroy: the documented teardown"
# ---------------------------------------------------------------------------------------
for n in 2 3; do stop_instance "$n"; done
(
    cd "$TF"
    timeout 600 terraform apply -auto-approve -input=false -no-color "${TF_VARS[@]}" -var deletion_protection=false \
        >"$RUN/terraform-unprotect.log" 2>&1 || { tail -n 30 "$RUN/terraform-unprotect.log"; exit 1; }
    timeout 900 terraform destroy -auto-approve -input=false -no-color "${TF_VARS[@]}" -var deletion_protection=false \
        >"$RUN/terraform-destroy.log" 2>&1 || { tail -n 30 "$RUN/terraform-destroy.log"; exit 1; }
    grep -E '^Destroy complete' "$RUN/terraform-destroy.log"
) || die "terraform destroy failed"
aws_py empty --outputs "$RUN/outputs.json" --keep-parameter "$ADMIN_PARAM" ||
    die "the emulator still holds part of the stack"

stage "done"
