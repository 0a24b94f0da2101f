"""moto's server as the AWS endpoint of the deploy rehearsal (scripts/rehearse-deploy.sh).

Plain `moto_server` plus these changes, each for a documented moto limitation:

1. DynamoDB requests are served one at a time. moto's TransactWriteItems deep-copies the
   tables it touches and, when a transaction is cancelled (idempotent writes cancel all the
   time), restores those copies, wiping what concurrent requests wrote meanwhile. The
   rehearsal counts stock, orders and effects exactly, so DynamoDB must be linearizable.
   SNS, S3 and the rest stay concurrent.
   SQS operations run one at a time too (a lock around every SQSBackend method, see
   serialize_sqs below): moto's SQS model has no lock of its own, and a DeleteMessage that
   rebuilds the queue's message list while a SendMessage appends to it drops the new
   message (acknowledged to the sender, never delivered, not in the DLQ). A long poll
   holds the lock only while it looks at the queue, not while it waits, so workers still
   long-poll for up to 20 s.
2. SQS keeps the `RedriveAllowPolicy` queue attribute. moto 5.x drops it silently, so the
   provider's aws_sqs_queue_redrive_allow_policy waits forever for it to appear. moto does
   not enforce it (no emulated queue is refused as a redrive source).

3. A policy statement whose Condition names a key the request does not carry does not
   apply (IAM's rule). moto 5.x evaluates bucket policies without any condition keys and
   treats such a condition as true, so the stack's `DenyInsecureTransport` bucket
   statements (Deny when aws:SecureTransport is false) refuse every object PUT and GET,
   also over TLS. With the fix moto still cannot tell the transport, so it lets the
   rehearsal's plain-HTTP requests through where AWS would refuse them: on AWS every SDK
   call is HTTPS.

4. Auto Scaling answers StartInstanceRefresh and DescribeInstanceRefreshes (moto 5.x has
   neither, and the provider retries the 500 forever when a launch template change starts
   a refresh). The emulator runs no instances, so a refresh succeeds at once.

5. SNS reports a FIFO topic's `FifoThroughputScope` (moto 5.x keeps it but leaves it out of
   GetTopicAttributes, so every plan wanted to set it again).

AWS-managed IAM policies are loaded (MOTO_IAM_LOAD_MANAGED_POLICIES), as in a real account.
`GET /rehearsal/ses/sent` lists the e-mails SES accepted (moto keeps them in memory; AWS
would deliver them), so the rehearsal can count each customer's messages.

Usage: moto_server.py --host 127.0.0.1 --port PORT
"""

import argparse
import functools
import inspect
import os
import threading
import time
import uuid

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.server import DomainDispatcherApplication, create_backend_app  # noqa: E402
from moto.sqs import models as sqs_models  # noqa: E402
from werkzeug.serving import run_simple  # noqa: E402

if "RedriveAllowPolicy" not in sqs_models.Queue.BASE_ATTRIBUTES:
    sqs_models.Queue.BASE_ATTRIBUTES.append("RedriveAllowPolicy")
    # None for queues that never set it; setting "" removes it, as on AWS (the provider's
    # delete sets "" and waits for the attribute to go).
    sqs_models.Queue.redrive_allow_policy = property(
        lambda self: self.__dict__.get("_redrive_allow_policy"),
        lambda self, value: self.__dict__.__setitem__("_redrive_allow_policy", value or None),
    )



def serialize_sqs():
    """Every SQSBackend method under one lock (SNS deliveries to SQS go through them too).

    moto 5.x SQS has no lock: Queue.delete_message rebuilds `_messages` from a copy and
    assigns it back, so a message appended meanwhile by SendMessage/SendMessageBatch is
    lost; concurrent receives can also hand out the same message twice. ReceiveMessage is
    re-implemented as one locked pass at a time (moto's own code with WaitTimeSeconds=0)
    with the long-poll wait outside the lock, so a waiting receive blocks nobody.
    """
    lock = threading.RLock()
    backend = sqs_models.SQSBackend

    def locked(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with lock:
                return fn(*args, **kwargs)

        return wrapper

    for name, fn in list(vars(backend).items()):
        if not name.startswith("_") and inspect.isfunction(fn) and name != "receive_message":
            setattr(backend, name, locked(fn))

    receive_one_pass = backend.receive_message

    @functools.wraps(receive_one_pass)
    def receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names=None):
        deadline = time.time() + (wait_seconds_timeout or 0)
        while True:
            with lock:
                result = receive_one_pass(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
                queue = self.get_queue(queue_name)
            remaining = deadline - time.time()
            if result or remaining <= 0:
                return result
            # Wakes on a send (add_message notifies) or after at most a second.
            queue.wait_for_messages(min(1.0, remaining))
            if queue.messages:
                # Visible messages another receive may take first: do not spin on them.
                time.sleep(0.01)

    backend.receive_message = receive_message


serialize_sqs()

from moto.autoscaling.responses import AutoScalingResponse  # noqa: E402
from moto.core.responses import ActionResult  # noqa: E402


def _start_instance_refresh(self):
    # The emulator runs no instances, so a refresh has nothing to replace: it succeeds at once.
    refresh_id = str(uuid.uuid4())
    _REFRESHES.setdefault(self._get_param("AutoScalingGroupName"), []).insert(0, refresh_id)
    return ActionResult({"InstanceRefreshId": refresh_id})


def _describe_instance_refreshes(self):
    group = self._get_param("AutoScalingGroupName")
    refreshes = [
        {"InstanceRefreshId": r, "AutoScalingGroupName": group, "Status": "Successful", "PercentageComplete": 100}
        for r in _REFRESHES.get(group, [])
    ]
    return ActionResult({"InstanceRefreshes": refreshes})


_REFRESHES = {}
if not hasattr(AutoScalingResponse, "start_instance_refresh"):
    AutoScalingResponse.start_instance_refresh = _start_instance_refresh
    AutoScalingResponse.describe_instance_refreshes = _describe_instance_refreshes

from moto.sns.responses import SNSResponse  # noqa: E402

_get_topic_attributes = SNSResponse.get_topic_attributes


def _get_topic_attributes_with_fifo_scope(self):
    # moto keeps FifoThroughputScope (set on create) but does not report it, so the provider
    # would plan to set it again on every apply.
    res = _get_topic_attributes(self)
    scope = getattr(self.backend.get_topic(self._get_param("TopicArn")), "fifo_throughput_scope", None)
    if scope:
        res.result["Attributes"]["FifoThroughputScope"] = scope
    return res


SNSResponse.get_topic_attributes = _get_topic_attributes_with_fifo_scope

from moto.iam import access_control  # noqa: E402

_is_action_permitted = access_control.IAMPolicyStatement.is_action_permitted


def _statement_applies_only_when_its_condition_holds(
    self, action, resource="*", principal=None, incoming_condition_values=None
):
    # IAM: a condition on a key the request does not carry is false (unless the operator is
    # ...IfExists or Null), so the statement does not apply.
    known = {k.lower() for k in (incoming_condition_values or {})}
    for operator, keys in (self._statement.get("Condition") or {}).items():
        if operator.endswith("IfExists") or operator == "Null":
            continue
        if any(k.lower() not in known for k in keys):
            return access_control.PermissionResult.NEUTRAL
    return _is_action_permitted(self, action, resource, principal, incoming_condition_values)


access_control.IAMPolicyStatement.is_action_permitted = _statement_applies_only_when_its_condition_holds


class SerializedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, the response read inside the lock."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with self.lock:
                body = self.app(environ, start_response)
                try:
                    return [b"".join(body)]
                finally:
                    close = getattr(body, "close", None)
                    if close:
                        close()
        return self.app(environ, start_response)


class SentMail:
    """WSGI middleware: GET /rehearsal/ses/sent -> [{"source", "destinations", "raw"}]."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != "/rehearsal/ses/sent":
            return self.app(environ, start_response)
        import json

        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        sent = []
        for region, backend in ses_backends[DEFAULT_ACCOUNT_ID].items():
            for m in backend.sent_messages:
                sent.append(
                    {
                        "region": region,
                        "source": getattr(m, "source", None),
                        "destinations": getattr(m, "destinations", None),
                        "raw": getattr(m, "raw_data", None),
                        "subject": getattr(m, "subject", None),
                    }
                )
        body = json.dumps(sent).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = SentMail(SerializedDynamoDB(DomainDispatcherApplication(create_backend_app)))
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False, use_debugger=False)


if __name__ == "__main__":
    main()
