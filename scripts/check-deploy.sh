#!/usr/bin/env bash
# Static checks of the deploy files (nothing here reaches AWS):
#   packer     packer fmt -check + packer validate (Debian's packer 1.6.6 works offline)
#   refs       scripts/check_terraform_refs.py: python-hcl2 parses terraform/; every var./local./
#              data./resource reference resolves, outputs point at something real
#   checkov    checkov over terraform/, offline (--skip-download): zero failed checks; the few
#              skips are inline `#checkov:skip=ID:reason` comments
#   systemd    systemd-analyze verify on the units (a copy whose ExecStart points at
#              target/debug/orderflow, as /usr/local/bin/orderflow only exists on the AMI) and
#              systemd-analyze security --offline=yes: app units must score <= 2.0
#   config     renders the user-data config template with sample values and runs
#              `target/debug/orderflow --config RENDERED check-config` (Terraform and the
#              binary agree on every key), also on packer/files/orderflow.toml.example
#   terraform  terraform fmt -check -recursive, init -backend=false (against the committed
#              .terraform.lock.hcl, read-only), validate, and `terraform test` (terraform/tests/,
#              mock_provider "aws": no AWS call). The provider comes from a filesystem mirror
#              when one is on disk (TF_PLUGIN_MIRROR, else found under /opt, /usr/share,
#              ~/.terraform.d), through a CLI config written to a temp dir for these commands
#              only; without a mirror, from the registry.
#   tf-config  every config the terraform tests rendered (each variable at its edges: the
#              `orderflow_toml` output of each applied run) → `orderflow check-config`; the
#              rendered user data of each run → bash -n and shellcheck
#   lifecycle  packer/files/orderflow-lifecycle.sh against stub curl/systemctl/aws: the exact
#              calls it makes when the instance terminates
#   lint       shellcheck on every *.sh in scripts/ and packer/, and on the rendered user data
#
# Needs target/debug/orderflow (scripts/test.sh runs this after `cargo test`). Installs where
# missing: packer and shellcheck (apt), terraform (never: with CI=true it must be on PATH), checkov into ./.venv-checkov and python-hcl2 into
# ./.venv-hcl (PyPI, one venv each: checkov ships its own `hcl2` module). With CI=true a tool
# that cannot be installed is a failure; otherwise its step is reported as SKIPPED.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_SPEC='checkov==3.3.30'
HCL2_SPEC='python-hcl2==8.1.4'
BINARY="$PWD/target/debug/orderflow"
MAX_EXPOSURE_APP=2.0
MAX_EXPOSURE_HELPER=3.0
export CHECKPOINT_DISABLE=1 # packer: no version check over the network

log() { printf '\n==> %s\n' "$*"; }
ci() { [ "${CI:-}" = "true" ]; }

missing_tool() { # missing_tool WHAT: fatal in CI, else a loud warning
    if ci; then
        echo "error: $1 is required in CI and could not be installed" >&2
        exit 1
    fi
    echo "warning: $1 could not be installed; its check is SKIPPED" >&2
}

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    command -v apt-get >/dev/null || return 1
    $sudo apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

need_cmd() { # need_cmd COMMAND PACKAGE → 0 when available
    command -v "$1" >/dev/null && return 0
    log "installing $2 (for $1)"
    if apt_install "$2" && command -v "$1" >/dev/null; then
        return 0
    fi
    missing_tool "$1"
    return 1
}

need_venv() { # need_venv DIR SPEC EXECUTABLE → 0 when DIR/bin/EXECUTABLE works
    local dir="$1" spec="$2" exe="$3"
    [ -x "$dir/bin/$exe" ] && return 0
    log "installing $spec into $dir"
    if python3 -m venv "$dir" && "$dir/bin/pip" install -q "$spec" && [ -x "$dir/bin/$exe" ]; then
        return 0
    fi
    rm -rf "$dir"
    missing_tool "$spec"
    return 1
}

have_packer=0 have_shellcheck=0 have_analyze=0 have_checkov=0 have_hcl=0 have_terraform=0
if command -v terraform >/dev/null; then
    have_terraform=1
else
    missing_tool terraform # not in Debian: CI installs it (hashicorp/setup-terraform)
fi
need_cmd packer packer && have_packer=1
need_cmd shellcheck shellcheck && have_shellcheck=1
need_cmd systemd-analyze systemd && have_analyze=1
need_venv .venv-checkov "$CHECKOV_SPEC" checkov && have_checkov=1
need_venv .venv-hcl "$HCL2_SPEC" python && .venv-hcl/bin/python -c 'import hcl2' && have_hcl=1

if [ ! -x "$BINARY" ]; then
    echo "error: $BINARY is missing: run \`cargo build\` (or \`cargo test\`) first" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------------------------------
# Steps. Each runs in a subshell with `set -e` in force (not in an `if`, where bash would
# ignore it); run_step records PASS/FAIL and goes on, so one run reports every problem.
# ---------------------------------------------------------------------------------------

step_packer() {
    # Every instance its own machine id; the CloudWatch agent on the image.
    grep -qx ': > /etc/machine-id' packer/scripts/cleanup.sh || {
        echo "packer/scripts/cleanup.sh must empty /etc/machine-id"
        return 1
    }
    grep -q 'dnf -y -q install amazon-cloudwatch-agent' packer/scripts/prepare.sh || {
        echo "packer/scripts/prepare.sh must install amazon-cloudwatch-agent"
        return 1
    }
    cd packer
    packer fmt -check -diff .
    echo "packer fmt: OK"
    # Offline; the binary must exist (the file provisioner checks), the debug one will do.
    packer validate -var "binary_path=$BINARY" -var app_version=check .
    packer validate -var "binary_path=$BINARY" -var arch=arm64 .
}

step_refs() {
    .venv-hcl/bin/python scripts/check_terraform_refs.py check terraform
}

step_checkov() {
    local out rc=0
    out="$(.venv-checkov/bin/checkov -d terraform --framework terraform --skip-download \
        --quiet --compact -o cli 2>&1)" || rc=$?
    printf '%s\n' "$out" | sed '/^$/d'
    printf '%s\n' "$out" | grep -Eo 'Passed checks: [0-9]+, Failed checks: [0-9]+, Skipped checks: [0-9]+' \
        > "$work/checkov-summary" || true
    [ "$rc" -eq 0 ]
    grep -q 'Failed checks: 0,' "$work/checkov-summary"
    echo "skips (inline, each with its reason):"
    grep -rhoE 'checkov:skip=[A-Z0-9_]+' terraform | sort | uniq -c | sed 's/checkov:skip=//'
}

step_systemd() {
    local unit name copy out score max
    mkdir -p "$work/units"
    : > "$work/systemd-scores"
    for unit in systemd/*.service; do
        name="$(basename "$unit")"
        copy="$work/units/$name"
        # The units name the AMI's paths; verify a copy pointing at files that exist here.
        sed -e "s#/usr/local/bin/orderflow#$BINARY#g" \
            -e "s#/usr/local/libexec/orderflow/orderflow-lifecycle#$PWD/packer/files/orderflow-lifecycle.sh#g" \
            "$unit" > "$copy"
        out="$(systemd-analyze verify "$copy" 2>&1)" || {
            printf '%s\n' "$out"
            echo "systemd-analyze verify $name: FAILED"
            return 1
        }
        if printf '%s\n' "$out" | grep -F "$name"; then
            echo "systemd-analyze verify $name: warnings above"
            return 1
        fi
        echo "systemd-analyze verify $name: OK"
        # Never give up restarting (H3): a boot-time outage must not leave a unit failed.
        case "$name" in
        orderflow-serve.service | orderflow-worker.service)
            for line in StartLimitIntervalSec=0 Restart=always RestartSec=5s; do
                grep -qx "$line" "$unit" || {
                    echo "$name: needs $line"
                    return 1
                }
            done
            ;;
        esac

        out="$(systemd-analyze security --offline=yes "$unit" 2>&1)"
        score="$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')"
        [ -n "$score" ] || {
            printf '%s\n' "$out"
            return 1
        }
        case "$name" in
        orderflow-lifecycle.service) max="$MAX_EXPOSURE_HELPER" ;; # root: runs systemctl stop
        *) max="$MAX_EXPOSURE_APP" ;;
        esac
        printf '%s\n' "$out" | tail -n 1
        echo "$name $score" >> "$work/systemd-scores"
        awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' || {
            printf '%s\n' "$out" | grep '✗' || true
            echo "$name: exposure $score is above $max"
            return 1
        }
    done
}

step_config() {
    local f
    .venv-hcl/bin/python scripts/check_terraform_refs.py render terraform "$work/rendered" > /dev/null
    for f in "$work/rendered/orderflow.toml" "$work/rendered/orderflow-no-email.toml" \
        packer/files/orderflow.toml.example; do
        # A clean environment: no ORDERFLOW__* variable of the caller may mask a bad key.
        env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$BINARY" --config "$f" check-config \
            > "$work/effective.json" 2> "$work/check-config.err" || {
            cat "$work/check-config.err"
            echo "orderflow check-config $(basename "$f"): FAILED"
            return 1
        }
        grep -q '"backend": "aws"' "$work/effective.json"
        echo "orderflow check-config $(basename "$f"): OK"
    done
    grep -q '"email_from": "orders@example.com"' <(env -i PATH="$PATH" "$BINARY" --config "$work/rendered/orderflow.toml" check-config 2> /dev/null)
    bash -n "$work/rendered/user-data.sh"
    echo "user data (rendered): bash -n OK"
}

tf_mirror() { # the directory holding registry.terraform.io/hashicorp/aws/VERSION/OS_ARCH
    local d
    for d in "${TF_PLUGIN_MIRROR:-}" /opt/tf-plugins /usr/share/terraform/plugins \
        /usr/local/share/terraform/plugins "${HOME:-/root}/.terraform.d/plugins"; do
        [ -n "$d" ] && [ -d "$d/registry.terraform.io/hashicorp/aws" ] && {
            echo "$d"
            return 0
        }
    done
    d="$(find / -maxdepth 6 -type d -path '*/registry.terraform.io/hashicorp/aws' \
        -not -path '/proc/*' -not -path '*/.terraform/*' 2>/dev/null | head -n 1)"
    [ -n "$d" ] && dirname "$(dirname "$(dirname "$d")")"
}

step_terraform() {
    local mirror rc=0
    # A CLI config of our own, for these commands only (the caller's TF_CLI_CONFIG_FILE may
    # point at a file that does not exist, or at one with other settings).
    export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 TF_INPUT=0
    export TF_DATA_DIR="$work/tf-data" # not terraform/.terraform: leave the caller's alone
    if mirror="$(tf_mirror)" && [ -n "$mirror" ]; then
        cat > "$TF_CLI_CONFIG_FILE" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
EOF
        echo "provider mirror: $mirror"
    else
        : > "$TF_CLI_CONFIG_FILE"
        echo "no provider mirror on disk: terraform init downloads from the registry"
    fi
    terraform version | head -n 1
    terraform fmt -check -recursive -diff terraform
    echo "terraform fmt -check -recursive: OK"
    terraform -chdir=terraform init -backend=false -input=false -lockfile=readonly -no-color \
        > "$work/tf-init.log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$work/tf-init.log"
        echo "terraform init: FAILED (the committed .terraform.lock.hcl must match the provider)"
        return 1
    fi
    echo "terraform init -backend=false -lockfile=readonly: OK"
    terraform -chdir=terraform validate -no-color
    # -json -verbose: one test_state message per applied run, with its outputs and resources
    # (the rendered configs the next step checks).
    terraform -chdir=terraform test -no-color -json -verbose > "$work/tf-test.json" || rc=$?
    python3 - "$work/tf-test.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        print(line.rstrip())
        continue
    t = m.get("type")
    if t == "test_run" and m["test_run"].get("progress") == "complete":
        print(f"  {m['test_run']['status']:5} {m.get('@testfile')} :: {m.get('@testrun')}")
    elif t == "diagnostic" and m.get("@level") == "error":
        d = m["diagnostic"]
        print(f"  error in {m.get('@testfile')} :: {m.get('@testrun')}: {d.get('summary')}: {d.get('detail', '')}")
    elif t == "test_summary":
        s = m["test_summary"]
        print(f"terraform test: {s['status']} ({s['passed']} passed, {s['failed']} failed, {s['errored']} errored, {s['skipped']} skipped)")
PY
    [ "$rc" -eq 0 ]
}

step_tfconfig() {
    local f n=0 ud
    [ -s "$work/tf-test.json" ] || {
        echo "no terraform test output (the terraform step did not run)"
        return 1
    }
    python3 scripts/check_terraform_refs.py extract "$work/tf-test.json" "$work/tf-rendered" > /dev/null
    for f in "$work"/tf-rendered/*.toml; do
        # A clean environment: no ORDERFLOW__* variable of the caller may mask a bad key.
        env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$BINARY" --config "$f" check-config \
            > "$work/effective.json" 2> "$work/check-config.err" || {
            cat "$work/check-config.err"
            echo "orderflow check-config on the config terraform test rendered in $(basename "$f" .toml): FAILED"
            return 1
        }
        grep -q '"backend": "aws"' "$work/effective.json"
        echo "orderflow check-config $(basename "$f" .toml): OK"
        n=$((n + 1))
    done
    echo "orderflow check-config: OK on all $n configs rendered by terraform test"
    for ud in "$work"/tf-rendered/*.user-data.sh; do
        bash -n "$ud"
        # serve's TimeoutStopSec (the drop-in user data writes) must cover http.drain_secs
        # plus actix's 10 s shutdown, or systemd SIGKILLs serve mid-drain.
        f="${ud%.user-data.sh}.toml"
        local drain stop
        drain="$(sed -n 's/^drain_secs = \([0-9]*\)$/\1/p' "$f")"
        stop="$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$ud")"
        if [ -z "$stop" ] || [ "$stop" -lt $((drain + 10)) ]; then
            echo "$(basename "$ud"): serve's TimeoutStopSec '${stop:-unset}' does not cover drain_secs $drain + 10 s"
            return 1
        fi
    done
    echo "rendered user data: bash -n OK; serve's TimeoutStopSec drop-in covers drain_secs + 10 s in every run"
    # The CloudWatch agent config user data writes: valid JSON naming the log files.
    sed -n "/<<'CWAGENT_JSON'$/,/^CWAGENT_JSON$/p" "$work/tf-rendered/render.defaults.user-data.sh" |
        sed '1d;$d' > "$work/cwagent.json"
    python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); files = c["logs"]["logs_collected"]["files"]["collect_list"]; assert any(f["file_path"] == "/var/log/orderflow/orderflow.log*" for f in files), files' "$work/cwagent.json"
    echo "CloudWatch agent config in user data: valid JSON, ships /var/log/orderflow/orderflow.log*"
    # The drop-in as user data writes it, next to a copy of the unit: systemd-analyze accepts it.
    if command -v systemd-analyze > /dev/null; then
        mkdir -p "$work/dropin/orderflow-serve.service.d"
        sed -e "s#/usr/local/bin/orderflow#$BINARY#g" systemd/orderflow-serve.service \
            > "$work/dropin/orderflow-serve.service"
        sed -n "/^cat > .*drain.conf\" <<'DRAIN_CONF'$/,/^DRAIN_CONF$/p" \
            "$work/tf-rendered/render.deregistration_delay_max.user-data.sh" | sed '1d;$d' \
            > "$work/dropin/orderflow-serve.service.d/drain.conf"
        grep -qx 'TimeoutStopSec=330' "$work/dropin/orderflow-serve.service.d/drain.conf"
        systemd-analyze verify "$work/dropin/orderflow-serve.service" > "$work/dropin.out" 2>&1
        if grep . "$work/dropin.out"; then # it warns (exit 0) on an unknown key in a drop-in
            echo "systemd-analyze verify: the drain.conf drop-in has problems"
            return 1
        fi
        echo "drain.conf drop-in (deregistration delay 300 → TimeoutStopSec=330): systemd-analyze verify OK"
    fi

    # The user data's check-config block (between its `# --- check-config ---` markers) must
    # see the units' environment file: a key shorter than 32 characters fails there.
    ud="$work/tf-rendered/render.all_options.user-data.sh"
    sed -n '/^# --- check-config ---$/,/^# --- end check-config ---$/p' "$ud" |
        sed -e "s#/etc/orderflow/orderflow.env#$work/ud.env#g" \
            -e "s#/etc/orderflow/orderflow.toml#$work/tf-rendered/render.all_options.toml#g" \
            -e "s#/usr/local/bin/orderflow#$BINARY#g" > "$work/ud-check.sh"
    grep -q check-config "$work/ud-check.sh" || {
        echo "user data has no '# --- check-config ---' block"
        return 1
    }
    echo 'ORDERFLOW__AUTH__ADMIN_API_KEYS=short' > "$work/ud.env"
    if env -i PATH="$PATH" bash -euo pipefail "$work/ud-check.sh" 2> "$work/ud-check.err"; then
        echo "user data check-config passed with a 5-character admin key: it does not read the env file"
        return 1
    fi
    grep -q 'auth.admin_api_keys' "$work/ud-check.err"
    echo 'ORDERFLOW__AUTH__ADMIN_API_KEYS=0123456789abcdef0123456789abcdef,fedcba9876543210fedcba9876543210' > "$work/ud.env"
    env -i PATH="$PATH" bash -euo pipefail "$work/ud-check.sh"
    : > "$work/ud.env"
    env -i PATH="$PATH" bash -euo pipefail "$work/ud-check.sh"
    echo "user data check-config reads the env file: short admin key refused, 32+ characters and none accepted"
}

# packer/files/orderflow-lifecycle.sh with stub curl (IMDS), systemctl and aws on PATH:
# what it does on the termination path, in order.
step_lifecycle() {
    local lc="$work/lifecycle" rc=0
    mkdir -p "$lc/bin"
    cat > "$lc/bin/curl" <<'STUB'
#!/usr/bin/env bash
echo "curl $*" >> "$LC/calls"
case "$*" in
*api/token*) echo token ;;
*target-lifecycle-state*)
    n=$(($(cat "$LC/state-reads" 2>/dev/null || echo 0) + 1))
    echo "$n" > "$LC/state-reads"
    after="$(cat "$LC/terminate-after" 2>/dev/null || echo 0)" # 0: never
    if [ "$after" -gt 0 ] && [ "$n" -ge "$after" ]; then
        echo Terminated
    else
        cat "$LC/state"
    fi
    ;;
*instance-id*) echo i-0123456789abcdef0 ;;
*healthz*) [ "$(cat "$LC/healthz")" = ok ] || exit 22 ;;
*) exit 22 ;;
esac
STUB
    cat > "$lc/bin/systemctl" <<'STUB'
#!/usr/bin/env bash
echo "systemctl $*" >> "$LC/calls"
case "$1" in
is-active)
    unit="${*: -1}"
    s="$(cat "$LC/unit.$unit" 2>/dev/null || echo active)"
    [ "${2:-}" = --quiet ] || echo "$s"
    [ "$s" = active ]
    ;;
esac
STUB
    cat > "$lc/bin/aws" <<'STUB'
#!/usr/bin/env bash
echo "aws $*" >> "$LC/calls"
# The ASG's answer to Unhealthy: it terminates the instance.
case "$*" in *set-instance-health*) echo Terminated > "$LC/state" ;; esac
STUB
    cat > "$lc/bin/sleep" <<'STUB'
#!/usr/bin/env bash
[ "$1" = infinity ] && exit 0
exec /bin/sleep 0.05
STUB
    chmod +x "$lc/bin/"*
    watch() { # watch STATE HEALTHZ WORKER_STATE TERMINATE_AFTER: run the watcher to its end
        echo "$1" > "$lc/state"
        echo "$2" > "$lc/healthz"
        echo "$3" > "$lc/unit.orderflow-worker.service"
        echo "$4" > "$lc/terminate-after"
        rm -f "$lc/state-reads"
        : > "$lc/calls"
        rc=0
        env -i PATH="$lc/bin:$PATH" LC="$lc" ASG_NAME=orderflow-app LIFECYCLE_HOOK_NAME=orderflow-drain \
            AWS_REGION=us-east-1 POLL_SECS=0 HEALTH_URL=http://127.0.0.1:8080/healthz \
            HEALTH_CHECK_SECS=0 HEALTH_GRACE_SECS=0 HEALTH_FAILURES=3 \
            timeout 30 bash packer/files/orderflow-lifecycle.sh > "$lc/out" 2>&1 || rc=$?
        [ "$rc" -eq 0 ] || {
            cat "$lc/out" "$lc/calls"
            echo "lifecycle watcher exited $rc"
            return 1
        }
    }
    unhealthy='aws autoscaling set-instance-health --region us-east-1 --instance-id i-0123456789abcdef0 --health-status Unhealthy'

    # Alive (worker active, /healthz answers) for 30 polls, then terminated: never Unhealthy.
    watch InService ok active 30
    [ "$(grep -c '^curl .*healthz' "$lc/calls")" -ge 20 ] || {
        cat "$lc/out"
        echo "lifecycle watcher: no liveness checks while InService"
        return 1
    }
    if grep -qF "$unhealthy" "$lc/calls"; then
        cat "$lc/out"
        echo "lifecycle watcher reported a live instance Unhealthy"
        return 1
    fi
    echo "lifecycle watcher, alive: $(grep -c '^curl .*healthz' "$lc/calls") liveness checks, no SetInstanceHealth"

    # The worker unit failed: Unhealthy after exactly 3 failed checks.
    watch InService ok failed 0
    grep -qF "$unhealthy" "$lc/calls" || {
        cat "$lc/out" "$lc/calls"
        echo "lifecycle watcher did not report a failed worker"
        return 1
    }
    [ "$(sed -n "\#$unhealthy#q;p" "$lc/calls" | grep -c '^systemctl is-active orderflow-worker.service')" -eq 3 ] || {
        cat "$lc/calls"
        echo "lifecycle watcher: Unhealthy after other than 3 failed checks"
        return 1
    }
    echo "lifecycle watcher, worker failed: Unhealthy after 3 checks"

    # serve does not answer /healthz: Unhealthy.
    watch InService down active 0
    grep -qF "$unhealthy" "$lc/calls" || {
        cat "$lc/out" "$lc/calls"
        echo "lifecycle watcher did not report a dead serve"
        return 1
    }
    echo "lifecycle watcher, serve dead: Unhealthy"

    # Not InService (Standby, or no metadata service as in a container): no liveness checks.
    watch Standby down failed 10
    if grep -q 'healthz\|set-instance-health' "$lc/calls"; then
        cat "$lc/calls"
        echo "lifecycle watcher checked liveness outside InService"
        return 1
    fi
    echo "lifecycle watcher, Standby: no liveness checks"

    # Termination.
    watch Terminated ok active 1
    grep -E '^(systemctl (stop|kill)|aws) ' "$lc/calls" > "$lc/actions"
    cat > "$lc/expected" <<'EXPECTED'
systemctl stop --no-block orderflow-serve.service
systemctl kill -s SIGINT --kill-who=main orderflow-serve.service
systemctl stop orderflow-serve.service
systemctl stop orderflow-worker.service
aws autoscaling complete-lifecycle-action --region us-east-1 --auto-scaling-group-name orderflow-app --lifecycle-hook-name orderflow-drain --instance-id i-0123456789abcdef0 --lifecycle-action-result CONTINUE
EXPECTED
    diff -u "$lc/expected" "$lc/actions" || {
        echo "lifecycle watcher: termination path differs from the expected (left)"
        return 1
    }
    echo "lifecycle watcher, termination: serve stopped without the drain (stop job + SIGINT), worker stopped, lifecycle action completed"
}

step_shellcheck() {
    local files=()
    mapfile -t files < <(find scripts packer -name '*.sh' -type f | sort)
    [ -f "$work/rendered/user-data.sh" ] && files+=("$work/rendered/user-data.sh")
    [ -d "$work/tf-rendered" ] && files+=("$work"/tf-rendered/*.user-data.sh)
    shellcheck -x "${files[@]}"
    printf 'shellcheck OK: %s\n' "${files[*]#"$PWD"/}" | sed "s#$work/#(tmp)/#g"
}

declare -a summary=()
failed=0
run_step() { # run_step NAME AVAILABLE FUNCTION
    local name="$1" available="$2" fn="$3" rc
    log "$name"
    if [ "$available" != 1 ]; then
        summary+=("SKIPPED  $name (tool missing)")
        return 0
    fi
    set +e
    (
        set -e
        "$fn"
    )
    rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        summary+=("PASS     $name")
    else
        summary+=("FAIL     $name")
        failed=1
    fi
}

run_step "packer fmt -check + validate" "$have_packer" step_packer
run_step "terraform references (python-hcl2)" "$have_hcl" step_refs
run_step "checkov (terraform, offline)" "$have_checkov" step_checkov
run_step "systemd-analyze verify + security" "$have_analyze" step_systemd
run_step "user-data config → orderflow check-config" "$have_hcl" step_config
run_step "terraform fmt + init + validate + test (mock provider)" "$have_terraform" step_terraform
run_step "configs rendered by terraform test → orderflow check-config" "$have_terraform" step_tfconfig
run_step "lifecycle watcher (stub IMDS, systemctl, aws)" 1 step_lifecycle
run_step "shellcheck" "$have_shellcheck" step_shellcheck

log "deploy checks summary"
printf '  %s\n' "${summary[@]}"
[ -s "$work/checkov-summary" ] && printf '  checkov: %s\n' "$(cat "$work/checkov-summary")"
if [ -s "$work/systemd-scores" ]; then
    while read -r unit score; do
        printf '  systemd exposure: %s %s\n' "$unit" "$score"
    done < "$work/systemd-scores"
fi
if [ "$failed" -ne 0 ]; then
    echo "deploy checks FAILED" >&2
    exit 1
fi
echo "deploy checks passed"
