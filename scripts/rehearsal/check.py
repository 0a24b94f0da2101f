"""The deploy rehearsal's client and judge (scripts/rehearse-deploy.sh).

Everything it checks it reads from the emulator directly (DynamoDB tables, S3 object
versions, the SNS subscriber queue, the e-mails SES accepted), never through Orderflow's
own API, except to place orders as a shopper does.

    check.py --endpoint URL COMMAND [options]
"""

import argparse
import base64
import collections
import concurrent.futures
import json
import random
import re
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import boto3

SUBSCRIBER_QUEUE = "rehearsal-events-subscriber"
FINAL = {"COMPLETED", "FAILED"}
DECLINED_CARD = "4000000000000002"
GOOD_CARD = "4242 4242 4242 4242"


def client(args, service):
    return boto3.client(
        service,
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        aws_access_key_id="rehearsal",
        aws_secret_access_key="rehearsal",
    )


def outputs(args):
    with open(args.outputs) as f:
        return {k: v["value"] for k, v in json.load(f).items()}


def scan(ddb, table):
    items, start = [], None
    while True:
        kw = {"TableName": table, "ConsistentRead": True}
        if start:
            kw["ExclusiveStartKey"] = start
        page = ddb.scan(**kw)
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def orders_in_table(args, out):
    ddb = client(args, "dynamodb")
    orders = {}
    for item in scan(ddb, out["orders_table"]):
        body = json.loads(item["body"]["S"])
        orders[item["orderId"]["S"]] = body
    return orders


def stock(args, out):
    ddb = client(args, "dynamodb")
    return {i["productId"]["S"]: int(i["stock"]["N"]) for i in scan(ddb, out["products_table"])}


# --- set-up ---------------------------------------------------------------------------


def cmd_put_parameter(args):
    client(args, "ssm").put_parameter(Name=args.name, Value=args.value, Type="SecureString", Overwrite=True)


def cmd_ami(args):
    images = client(args, "ec2").describe_images(
        Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}]
    )["Images"]
    linux = [i for i in images if i.get("Name", "").startswith("amzn") and i.get("VirtualizationType") == "hvm"]
    print(sorted(linux or images, key=lambda i: i["ImageId"])[0]["ImageId"])


def cmd_user_data(args):
    out = outputs(args)
    versions = client(args, "ec2").describe_launch_template_versions(
        LaunchTemplateId=out["launch_template_id"], Versions=["$Latest"]
    )["LaunchTemplateVersions"]
    sys.stdout.write(base64.b64decode(versions[0]["LaunchTemplateData"]["UserData"]).decode())


def cmd_target_group(args):
    elb = client(args, "elbv2")
    asg = client(args, "autoscaling")
    out = outputs(args)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[out["autoscaling_group_name"]])[
        "AutoScalingGroups"
    ][0]
    arn = group["TargetGroupARNs"][0]
    tg = elb.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    attrs = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]}
    print(f"HC_PATH={tg['HealthCheckPath']}")
    print(f"HC_INTERVAL={tg['HealthCheckIntervalSeconds']}")
    print(f"HC_TIMEOUT={tg['HealthCheckTimeoutSeconds']}")
    print(f"HC_HEALTHY={tg['HealthyThresholdCount']}")
    print(f"HC_UNHEALTHY={tg['UnhealthyThresholdCount']}")
    print(f"HC_MATCHER={tg['Matcher']['HttpCode']}")
    print(f"DEREG_DELAY={attrs.get('deregistration_delay.timeout_seconds', '300')}")
    # The events subscriber the checks read (an SQS queue on the events topic, raw delivery;
    # a FIFO queue on a FIFO topic, as AWS requires).
    sqs = client(args, "sqs")
    if out["events_topic_arn"].endswith(".fifo"):
        url = sqs.create_queue(QueueName=SUBSCRIBER_QUEUE + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    else:
        url = sqs.create_queue(QueueName=SUBSCRIBER_QUEUE)["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client(args, "sns").subscribe(
        TopicArn=out["events_topic_arn"],
        Protocol="sqs",
        Endpoint=qarn,
        Attributes={"RawMessageDelivery": "true"},
    )


# --- shopper --------------------------------------------------------------------------


def order_body(product, card):
    body = {
        "customerId": f"cust-{random.randint(1, 50)}",
        "customerEmail": f"shopper{random.randint(1, 50)}@example.com",
        "items": [{"productId": product, "quantity": 1}],
        "shippingAddress": {
            "name": "Ann Lee",
            "line1": "1 Main St",
            "city": "Springfield",
            "postalCode": "12345",
            "country": "US",
        },
        "payment": {"cardNumber": card},
    }
    return json.dumps(body).encode()


def http(method, url, host, body=None, headers=None, timeout=30):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Host", host)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# Answers other than 201 seen by the shopper's client, by status ("conn" for no answer).
ANSWERS = collections.Counter()
ANSWERS_LOCK = threading.Lock()


def place(lb, host, product, card, deadline_secs=180):
    """POST one order, retrying the same Idempotency-Key until it is acknowledged."""
    key = str(uuid.uuid4())
    body = order_body(product, card)
    deadline = time.monotonic() + deadline_secs
    attempts, delay = 0, 0.2
    while True:
        attempts += 1
        try:
            status, raw = http("POST", f"{lb}/api/orders", host, body, {"Idempotency-Key": key})
        except (OSError, urllib.error.URLError) as e:
            status, raw = None, str(e).encode()
        if status != 201:
            with ANSWERS_LOCK:
                ANSWERS[status or "conn"] += 1
        if status in (200, 201):
            created = json.loads(raw)
            return {"orderId": created["orderId"], "token": created["accessToken"], "key": key, "attempts": attempts}
        if status is not None and 400 <= status < 500 and status not in (408, 409, 425, 429):
            raise RuntimeError(f"order refused with {status}: {raw[:300]!r}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not acknowledged after {attempts} attempts: {status} {raw[:200]!r}")
        time.sleep(delay)
        delay = min(delay * 2, 3.0)


def cmd_place_order(args):
    placed = place(args.lb, args.host, "sku-notebook", GOOD_CARD)
    if args.wait_final:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status, raw = http(
                "GET",
                f"{args.lb}/api/orders/{placed['orderId']}",
                args.host,
                headers={"Authorization": f"Bearer {placed['token']}"},
            )
            if status == 200 and json.loads(raw).get("status") in FINAL:
                break
            time.sleep(0.5)
        else:
            sys.exit(f"order {placed['orderId']} never became final")
    print(placed["orderId"])


def cmd_dead_letter(args):
    out = outputs(args)
    client(args, "sqs").send_message(QueueUrl=out["dlq_url"], MessageBody=json.dumps({"orderId": args.order}))


def cmd_snapshot(args):
    out = outputs(args)
    print(json.dumps({"stock": stock(args, out), "orders": sorted(orders_in_table(args, out))}))


def cmd_load(args):
    # Products with stock to spare, and a few that run out, so both outcomes occur; every
    # 25th order uses the card the simulated gateway declines.
    products = ["sku-beans", "sku-notebook", "sku-socks", "sku-tee", "sku-tote", "sku-mug", "sku-limited"]
    weights = [20, 16, 14, 12, 10, 8, 2]
    lock = threading.Lock()
    acked, failed = [], []
    started = time.monotonic()

    def one(i):
        product = random.choices(products, weights)[0]
        card = DECLINED_CARD if i % 25 == 0 else GOOD_CARD
        try:
            r = place(args.lb, args.host, product, card)
        except Exception as e:  # noqa: BLE001 - reported below
            with lock:
                failed.append(str(e))
            return
        with lock:
            acked.append(r)
            with open(args.acked, "a") as f:
                f.write(json.dumps(r) + "\n")
            if len(acked) % 50 == 0:
                print(f"{len(acked)} acknowledged after {time.monotonic() - started:.0f}s", flush=True)

    # Paced over about a minute and a half so the restarts, drain and replacement happen
    # while orders flow.
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = []
        for i in range(args.orders):
            futures.append(pool.submit(one, i))
            time.sleep(args.pace)
        concurrent.futures.wait(futures)
    retried = sum(1 for r in acked if r["attempts"] > 1)
    print(f"{len(acked)}/{args.orders} orders acknowledged in {time.monotonic() - started:.0f}s ({retried} after retries)")
    print(f"answers other than 201 (each retried with the same Idempotency-Key): {dict(ANSWERS) or 'none'}")
    for e in failed[:10]:
        print("not acknowledged:", e)
    if failed:
        sys.exit(1)
    errors = {k: n for k, n in ANSWERS.items() if k == "conn" or (isinstance(k, int) and k >= 500)}
    if errors and not args.allow_errors:
        sys.exit(f"the shopper saw errors while instances restarted, drained and were replaced: {errors}")


# --- the judge ------------------------------------------------------------------------


def subscriber_queue_url(sqs):
    urls = sqs.list_queues(QueueNamePrefix=SUBSCRIBER_QUEUE).get("QueueUrls", [])
    if len(urls) != 1:
        sys.exit(f"expected one events subscriber queue, found {urls}")
    return urls[0]


def drain_queue(sqs, url):
    bodies = []
    empty = 0
    while empty < 3:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not msgs:
            empty += 1
            continue
        empty = 0
        for m in msgs:
            bodies.append(m["Body"])
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
        )
    return bodies


def cmd_verify(args):
    out = outputs(args)
    with open(args.before) as f:
        before = json.load(f)
    acked = [json.loads(line) for line in open(args.acked)]
    acked_ids = {a["orderId"] for a in acked}
    problems = []

    # 1. Every order in the table (acknowledged or not) becomes final.
    deadline = time.monotonic() + args.timeout
    while True:
        orders = orders_in_table(args, out)
        pending = [i for i, o in orders.items() if o["status"] not in FINAL]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(2)
    for i in pending:
        problems.append(f"order {i} is still {orders[i]['status']}")
    missing = acked_ids - set(orders)
    for i in sorted(missing):
        problems.append(f"acknowledged order {i} is not in the orders table (lost)")
    statuses = collections.Counter(o["status"] for o in orders.values())
    reasons = collections.Counter(o.get("failureReason") for o in orders.values() if o["status"] == "FAILED")
    completed = {i for i, o in orders.items() if o["status"] == "COMPLETED"}
    final = {i for i, o in orders.items() if o["status"] in FINAL}

    # 2. Stock: what the new completed orders took, exactly.
    after = stock(args, out)
    new = set(orders) - set(before["orders"])
    taken = collections.Counter()
    for i in new & completed:
        for line in orders[i]["items"]:
            taken[line["productId"]] += int(line["quantity"])
    for product, was in before["stock"].items():
        if after.get(product) != was - taken[product]:
            problems.append(f"stock of {product}: {was} - {taken[product]} taken = {was - taken[product]}, emulator has {after.get(product)}")
        if after.get(product, 0) < 0:
            problems.append(f"stock of {product} is negative")

    # 3. Receipts: one object, one version, for every completed order; none for failed ones.
    s3 = client(args, "s3")
    versions = collections.Counter()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=out["receipts_bucket"], Prefix="receipts/"):
        for v in page.get("Versions", []):
            versions[v["Key"]] += 1
    expected_keys = {f"receipts/{i}.pdf" for i in completed}
    for key in expected_keys - set(versions):
        problems.append(f"no receipt {key}")
    for key in set(versions) - expected_keys:
        problems.append(f"receipt {key} for an order that did not complete")
    for key, n in versions.items():
        if n > 1:
            problems.append(f"receipt {key} rendered {n} times")

    # 4. Charges: one ledger entry per completed order, none for out-of-stock failures.
    ddb = client(args, "dynamodb")
    charges = collections.Counter()
    for item in scan(ddb, out["state_table"]):
        pk = item["pk"]["S"]
        if pk.startswith("charge#"):
            charges[pk[len("charge#"):]] += 1
    for i in completed:
        if charges[i] != 1:
            problems.append(f"completed order {i} has {charges[i]} charges")
    for i, o in orders.items():
        if o["status"] == "FAILED" and o.get("failureReason") == "OUT_OF_STOCK" and charges[i]:
            problems.append(f"out-of-stock order {i} was charged")

    # 5. Events on SNS, as the subscriber queue received them.
    sqs = client(args, "sqs")
    url = subscriber_queue_url(sqs)
    deliveries = collections.Counter()
    kinds = collections.defaultdict(set)
    for body in drain_queue(sqs, url):
        e = json.loads(body)
        deliveries[e["eventId"]] += 1
        kinds[e["orderId"]].add(e["eventType"])
    repeated = {k: n for k, n in deliveries.items() if n > 1}
    for i in final:
        want = "OrderCompleted" if i in completed else "OrderFailed"
        if kinds.get(i) != {want}:
            problems.append(f"order {i} ({orders[i]['status']}): events {sorted(kinds.get(i, []))}")
    for k, n in repeated.items():
        problems.append(f"event {k} delivered {n} times")

    # 6. E-mails SES accepted: one per final order.
    with urllib.request.urlopen(f"{args.endpoint}/rehearsal/ses/sent", timeout=30) as r:
        sent = json.load(r)
    mails = collections.Counter()
    for m in sent:
        found = re.search(r"Message-ID: <([^>]+)@orderflow>", m.get("raw") or "")
        if found:
            mails[found.group(1).split(".")[0]] += 1
    for i in final:
        if mails[i] != 1:
            problems.append(f"order {i} ({orders[i]['status']}): {mails[i]} e-mails")

    requeued = sorted(i for i in new if orders[i].get("requeued"))
    print(
        f"{len(orders)} orders in the emulator ({dict(statuses)}; failures {dict(reasons)}); "
        f"{len(acked_ids)} acknowledged by this run, {len(acked_ids & final)} of them final; "
        f"stock moved by {sum(taken.values())} units; {len(versions)} receipts; {sum(charges.values())} charges; "
        f"{sum(deliveries.values())} event deliveries ({len(repeated)} repeated); {sum(mails.values())} e-mails"
    )
    if requeued:
        # Acknowledged, but no worker finished its message: the reconciler re-enqueued it.
        print(f"{len(requeued)} order(s) re-enqueued by the reconciler: {', '.join(requeued[:10])}")
    if args.extra_order and args.extra_order in orders:
        print(f"redriven order {args.extra_order}: {orders[args.extra_order]['status']}, {charges[args.extra_order]} charge(s)")
    for p in problems[:40]:
        print("PROBLEM:", p)
    if problems:
        print(f"{len(problems)} problems")
        sys.exit(1)
    print("every order is final exactly once")


def cmd_empty(args):
    out = outputs(args)
    left = []
    sqs = client(args, "sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        if url.rsplit("/", 1)[-1] in (SUBSCRIBER_QUEUE, SUBSCRIBER_QUEUE + ".fifo"):
            sqs.delete_queue(QueueUrl=url)
        else:
            left.append(f"queue {url}")
    left += [f"table {t}" for t in client(args, "dynamodb").list_tables()["TableNames"]]
    left += [f"bucket {b['Name']}" for b in client(args, "s3").list_buckets().get("Buckets", [])]
    left += [f"topic {t['TopicArn']}" for t in client(args, "sns").list_topics().get("Topics", [])]
    left += [f"load balancer {lb['LoadBalancerName']}" for lb in client(args, "elbv2").describe_load_balancers()["LoadBalancers"]]
    left += [f"target group {tg['TargetGroupName']}" for tg in client(args, "elbv2").describe_target_groups()["TargetGroups"]]
    asg = client(args, "autoscaling")
    left += [f"autoscaling group {g['AutoScalingGroupName']}" for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]]
    ec2 = client(args, "ec2")
    left += [f"launch template {t['LaunchTemplateName']}" for t in ec2.describe_launch_templates()["LaunchTemplates"]]
    left += [f"vpc {v['VpcId']}" for v in ec2.describe_vpcs()["Vpcs"] if v.get("VpcId") == out.get("vpc_id")]
    left += [f"instance {i['InstanceId']}" for r in ec2.describe_instances()["Reservations"] for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    left += [f"nat gateway {n['NatGatewayId']}" for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] not in ("deleted", "deleting")]
    iam = client(args, "iam")
    left += [f"role {r['RoleName']}" for r in iam.list_roles()["Roles"] if not r["Path"].startswith("/aws-service-role/")]
    left += [f"instance profile {p['InstanceProfileName']}" for p in iam.list_instance_profiles()["InstanceProfiles"]]
    left += [f"policy {p['PolicyName']}" for p in iam.list_policies(Scope="Local")["Policies"]]
    left += [f"log group {g['logGroupName']}" for g in client(args, "logs").describe_log_groups()["logGroups"]]
    left += [f"alarm {a['AlarmName']}" for a in client(args, "cloudwatch").describe_alarms()["MetricAlarms"]]
    left += [f"e-mail identity {i['IdentityName']}" for i in client(args, "sesv2").list_email_identities()["EmailIdentities"]]
    kms = client(args, "kms")
    # moto makes the AWS-managed keys (alias/aws/dynamodb, …) on first use and reports them
    # as customer keys: they are the account's, not the stack's.
    aws_managed = {a["TargetKeyId"] for a in kms.list_aliases()["Aliases"] if a["AliasName"].startswith("alias/aws/") and "TargetKeyId" in a}
    for k in kms.list_keys()["Keys"]:
        if k["KeyId"] in aws_managed:
            continue
        meta = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
        if meta["KeyManager"] == "CUSTOMER" and meta["KeyState"] not in ("PendingDeletion",):
            left.append(f"kms key {k['KeyId']} ({meta['KeyState']})")
    params = [p["Name"] for p in client(args, "ssm").describe_parameters()["Parameters"]]
    left += [f"parameter {p}" for p in params if p != args.keep_parameter]
    for item in left:
        print("LEFT:", item)
    if left:
        sys.exit(1)
    print("the emulator holds nothing of the stack (the KMS key is pending deletion, as on AWS)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("put-parameter")
    s.add_argument("--name", required=True)
    s.add_argument("--value", required=True)
    sub.add_parser("ami")
    for name in ("user-data", "target-group", "snapshot"):
        sub.add_parser(name).add_argument("--outputs", required=True)
    s = sub.add_parser("place-order")
    s.add_argument("--lb", required=True)
    s.add_argument("--host", required=True)
    s.add_argument("--wait-final", action="store_true")
    s = sub.add_parser("dead-letter")
    s.add_argument("--outputs", required=True)
    s.add_argument("--order", required=True)
    s = sub.add_parser("load")
    s.add_argument("--lb", required=True)
    s.add_argument("--host", required=True)
    s.add_argument("--orders", type=int, default=500)
    s.add_argument("--pace", type=float, default=0.18)
    s.add_argument("--acked", required=True)
    s.add_argument("--allow-errors", action="store_true", help="report 5xx answers without failing")
    s = sub.add_parser("verify")
    s.add_argument("--outputs", required=True)
    s.add_argument("--before", required=True)
    s.add_argument("--acked", required=True)
    s.add_argument("--extra-order")
    s.add_argument("--timeout", type=int, default=300)
    s = sub.add_parser("empty")
    s.add_argument("--outputs", required=True)
    s.add_argument("--keep-parameter")
    args = p.parse_args()
    globals()["cmd_" + args.cmd.replace("-", "_")](args)


if __name__ == "__main__":
    main()
