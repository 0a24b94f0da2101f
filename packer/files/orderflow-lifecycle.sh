#!/usr/bin/env bash
# Orderflow drain watcher (installed as /usr/local/libexec/orderflow/orderflow-lifecycle,
# run by orderflow-lifecycle.service). Polls the instance metadata service for the Auto
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
# stop at once (src/main.rs, watch_signals), then wait for the stop job.
#
# Needs: ASG_NAME, LIFECYCLE_HOOK_NAME, AWS_REGION (from /etc/orderflow/lifecycle.env),
# curl and the AWS CLI (both on Amazon Linux 2023).
set -euo pipefail

: "${ASG_NAME:?}" "${LIFECYCLE_HOOK_NAME:?}" "${AWS_REGION:?}"
imds="http://169.254.169.254/latest"
poll_secs="${POLL_SECS:-5}"

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

while :; do
    state="$(metadata autoscaling/target-lifecycle-state 2>/dev/null || true)"
    if [ "$state" = "Terminated" ]; then
        break
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
