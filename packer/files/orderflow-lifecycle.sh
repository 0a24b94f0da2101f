#!/usr/bin/env bash
# Orderflow drain and liveness watcher (installed as
# /usr/local/libexec/orderflow/orderflow-lifecycle, run by orderflow-lifecycle.service).
#
# Liveness: the ASG's health check type is EC2, the ALB's /readyz only routes traffic (a
# DynamoDB or SQS incident must not make the ASG replace every instance). While the
# instance is InService (IMDS autoscaling/target-lifecycle-state) and HEALTH_URL is set,
# every HEALTH_CHECK_SECS, after HEALTH_GRACE_SECS from the watcher's start, it checks that
# serve answers HEALTH_URL (/healthz: liveness, no AWS call) and that orderflow-worker is
# active. After HEALTH_FAILURES failed checks in a row it calls
# `aws autoscaling set-instance-health --health-status Unhealthy` (again at every further
# failed check, until the ASG replaces the instance; the ASG ignores it during its own
# health check grace period).
#
# Termination: polls the instance metadata service for the Auto
# Scaling target lifecycle state; when this instance is being terminated (the ASG's
# termination lifecycle hook holds it in Terminating:Wait) it stops `serve` WITHOUT its
# drain window, stops `worker` (which stops receiving and finishes its in-flight orders
# within TimeoutStopSec) and completes the lifecycle action so the termination proceeds.
#
# No second drain: the ASG deregisters the instance from the target group and waits the
# deregistration delay BEFORE Terminating:Wait, so by now the ALB sends nothing. A plain
# `systemctl stop` (SIGTERM) would fail /readyz and serve for http.drain_secs again.
# Instead: `systemctl stop --no-block` (a stop job, so Restart= does not bring it back),
# then SIGINT to the main process, which makes `serve` skip (or cut short) the drain and
# stop at once (src/startup.rs, Shutdown::on_signals), then wait for the stop job.
#
# Needs: ASG_NAME, LIFECYCLE_HOOK_NAME, AWS_REGION (from /etc/orderflow/lifecycle.env),
# curl and the AWS CLI (both on Amazon Linux 2023). Optional: HEALTH_URL (empty: no
# liveness reporting), HEALTH_CHECK_SECS (10), HEALTH_FAILURES (3), HEALTH_GRACE_SECS (180).
set -euo pipefail

: "${ASG_NAME:?}" "${LIFECYCLE_HOOK_NAME:?}" "${AWS_REGION:?}"
imds="http://169.254.169.254/latest"
poll_secs="${POLL_SECS:-5}"
health_url="${HEALTH_URL:-}"
health_check_secs="${HEALTH_CHECK_SECS:-10}"
health_failures="${HEALTH_FAILURES:-3}"
health_grace_secs="${HEALTH_GRACE_SECS:-180}"

metadata() {
    local token
    token="$(curl -fsS -m 2 -X PUT "$imds/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')"
    curl -fsS -m 2 -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/$1"
}

# serve without the drain window; bounded by the unit's TimeoutStopSec in any case.
stop_serve_now() {
    local unit=orderflow-serve.service
    systemctl stop --no-block "$unit"
    systemctl kill -s SIGINT --kill-who=main "$unit" 2>/dev/null || true
    systemctl stop "$unit" # waits for the stop job queued above
}

# Prints why this instance is not alive; status 1 then.
not_alive() {
    local worker
    worker="$(systemctl is-active orderflow-worker.service 2>/dev/null || true)"
    if [ "$worker" != active ]; then
        echo "orderflow-worker.service is ${worker:-unknown}"
        return 0
    fi
    if ! curl -fsS -m 3 -o /dev/null "$health_url" 2>/dev/null; then
        echo "serve does not answer $health_url"
        return 0
    fi
    return 1
}

report_unhealthy() {
    local id
    id="$(metadata instance-id 2>/dev/null || true)"
    if [ -z "$id" ]; then
        echo "no instance id from the metadata service: cannot report"
        return 0
    fi
    echo "marking $id Unhealthy in $ASG_NAME"
    aws autoscaling set-instance-health --region "$AWS_REGION" --instance-id "$id" \
        --health-status Unhealthy || echo "set-instance-health failed (retried at the next check)"
}

failures=0
next_check=$((SECONDS + health_grace_secs))
while :; do
    state="$(metadata autoscaling/target-lifecycle-state 2>/dev/null || true)"
    if [ "$state" = "Terminated" ]; then
        break
    fi
    if [ -n "$health_url" ] && [ "$state" = "InService" ] && [ "$SECONDS" -ge "$next_check" ]; then
        next_check=$((SECONDS + health_check_secs))
        if why="$(not_alive)"; then
            failures=$((failures + 1))
            echo "liveness check failed ($failures/$health_failures): $why"
            if [ "$failures" -ge "$health_failures" ]; then
                report_unhealthy
            fi
        elif [ "$failures" -gt 0 ]; then
            echo "alive again after $failures failed liveness checks"
            failures=0
        fi
    fi
    sleep "$poll_secs"
done

echo "instance is terminating (the ALB has drained it already): stopping orderflow"
stop_serve_now
systemctl stop orderflow-worker.service
instance_id="$(metadata instance-id)"
aws autoscaling complete-lifecycle-action \
    --region "$AWS_REGION" \
    --auto-scaling-group-name "$ASG_NAME" \
    --lifecycle-hook-name "$LIFECYCLE_HOOK_NAME" \
    --instance-id "$instance_id" \
    --lifecycle-action-result CONTINUE
echo "lifecycle action completed for $instance_id"
# Stay up (the instance is going away); exiting 0 would let Restart= stay quiet anyway.
exec sleep infinity
