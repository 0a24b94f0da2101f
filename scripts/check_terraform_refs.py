#!/usr/bin/env python3
"""Static checks of terraform/ with a real HCL parser (python-hcl2), no terraform binary.

    check_terraform_refs.py check [TFDIR]
        Every `var.*`, `local.*`, `data.*.*` and resource reference resolves; resources with
        `count`/`for_each` are referenced with an index; every output has a description and
        a value that references something real; every variable is typed, described and
        used; every local is used; every `templatefile()` names an existing template whose
        `${...}` placeholders are exactly the keys passed to it.

    check_terraform_refs.py render [TFDIR] OUTDIR
        Renders templates/orderflow.toml.tftpl (twice: with and without aws.email_from) and
        templates/user-data.sh.tftpl with sample values into OUTDIR: orderflow.toml,
        orderflow-no-email.toml, user-data.sh. Values that Terraform takes straight from a
        variable (`var.X`) or a literal local use their real defaults; resource attributes use
        the SAMPLE values below. scripts/check-deploy.sh runs `orderflow check-config` on the
        results, so Terraform and the binary agree on every key.

    check_terraform_refs.py extract TESTJSON OUTDIR
        Reads the output of `terraform test -json -verbose` (TESTJSON) and writes, for every
        run block that applied, OUTDIR/FILE.RUN.toml (the `orderflow_toml` output) and
        OUTDIR/FILE.RUN.user-data.sh (the mocked launch template's user data, decoded).
        scripts/check-deploy.sh runs `orderflow check-config` on each .toml: every value
        the variables accept at their edges must render a config the binary accepts.
        Prints one line per file written; exit status 1 when no run applied.

Exit status 1 with one line per problem when a check fails.
"""

import json
import pathlib
import re
import sys

# Sample values for template keys whose Terraform value is a resource attribute or an
# expression (names as Terraform would create them with name = "orderflow").
SAMPLE = {
    "http_addr": "0.0.0.0:8080",
    "region": "us-east-1",
    "queue_url": "https://sqs.us-east-1.amazonaws.com/111122223333/orderflow-orders",
    "dlq_url": "https://sqs.us-east-1.amazonaws.com/111122223333/orderflow-orders-dlq",
    "orders_table": "orderflow-orders",
    "products_table": "orderflow-products",
    "state_table": "orderflow-state",
    "receipts_bucket": "orderflow-receipts-111122223333-us-east-1",
    "events_topic_arn": "arn:aws:sns:us-east-1:111122223333:orderflow-events.fifo",
    "alarms_topic_arn": "arn:aws:sns:us-east-1:111122223333:orderflow-alarms",
    "kms_key_id": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "email_from_line": 'email_from = "orders@example.com"',
    "admin_keys_parameter": "/orderflow/admin-api-keys",
    "asg_name": "orderflow-app",
    "lifecycle_hook_name": "orderflow-drain",
    "cors_allowed_origins": '["https://shop.example.com"]',
    "stuck_after_secs": 300,
    "invoice_hold_secs": 259200,
    "invoice_customers": '["acme-ltd"]',
    "serve_dropin_dir": "/etc/systemd/system/orderflow-serve.service.d",
    "drain_secs": 55,
    "keep_alive_secs": 75,
    "serve_stop_timeout_secs": 85,
    "health_url": "http://127.0.0.1:8080/healthz",
    "health_grace_secs": 180,
    "app_log_group": "/orderflow/app",
}
EMAIL_OFF = "# email_from unset: no customer e-mail"

IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"
REF_RES = re.compile(r"(?<![\w.\-/])((?:aws|random|tls|null|local|time|archive)_[a-z0-9_]+)\.(" + IDENT + r")")
REF_DATA = re.compile(r"(?<![\w.\-/])data\.([a-z0-9_]+)\.(" + IDENT + r")")
REF_VAR = re.compile(r"(?<![\w.\-/])var\.(" + IDENT + r")")
REF_LOCAL = re.compile(r"(?<![\w.\-/])local\.(" + IDENT + r")")
REF_MODULE = re.compile(r"(?<![\w.\-/])module\.(" + IDENT + r")")
TEMPLATEFILE = re.compile(r'templatefile\(\s*"\$\{path\.module\}/([^"]+)"\s*,\s*\{')
PLACEHOLDER = re.compile(r"(?<!\$)\$\{([^}]*)\}")


def unq(s):
    """python-hcl2 8 keeps the quotes of block labels and string literals."""
    if isinstance(s, str) and len(s) >= 2 and s[0] == s[-1] == '"':
        return s[1:-1]
    return s


def load(tfdir):
    import hcl2  # only needed for `check`

    docs = {}
    for path in sorted(tfdir.glob("*.tf")):
        with open(path) as f:
            try:
                docs[path.name] = hcl2.load(f)
            except Exception as e:  # noqa: BLE001 - any parse error is a finding
                sys.exit(f"{path}: HCL parse error: {e}")
    if not docs:
        sys.exit(f"{tfdir}: no .tf files")
    return docs


def interpolations(text):
    """Yield the inside of every top-level ${...} in text (braces balanced)."""
    i = 0
    while True:
        start = text.find("${", i)
        if start < 0:
            return
        if start > 0 and text[start - 1] == "$":  # $${ is an escaped literal
            i = start + 2
            continue
        depth, j = 0, start + 1
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        yield text[start + 2 : j]
        i = j + 1


def walk(node, where, out, key=None):
    """Collect (where, key, string) for every string value, skipping comments."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k.startswith("__"):
                continue
            walk(v, where, out, k)
    elif isinstance(node, list):
        for v in node:
            walk(v, where, out, key)
    elif isinstance(node, str):
        out.append((where, key, node))


def map_keys(expr, start):
    """Top-level keys of the object literal whose '{' is at expr[start-1]."""
    keys, depth, i, token_start = [], 0, start, start
    in_str = False
    while i < len(expr):
        c = expr[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "{([":
            depth += 1
        elif c in "})]":
            if depth == 0:
                break
            depth -= 1
        elif c == "=" and depth == 0 and expr[i + 1 : i + 2] != "=" and expr[i - 1 : i] not in "!<>=":
            m = re.search(r"(" + IDENT + r")\s*$", expr[token_start:i])
            if m:
                keys.append(m.group(1))
        elif c == "," and depth == 0:
            token_start = i + 1
        i += 1
    return keys


def template_calls(strings):
    """[(template relative path, [keys], where)] for every templatefile() call."""
    calls = []
    for where, _key, s in strings:
        for m in TEMPLATEFILE.finditer(s):
            calls.append((m.group(1), map_keys(s, m.end()), where))
    return calls


def placeholders(text):
    return PLACEHOLDER.findall(text)


def check(tfdir):
    docs = load(tfdir)
    errors = []
    variables, locals_, resources, datas, modules, outputs = {}, {}, {}, {}, set(), {}
    strings, var_strings = [], []

    for fname, doc in docs.items():
        for block in doc.get("variable", []):
            for name, body in block.items():
                variables[unq(name)] = (fname, body)
        for block in doc.get("locals", []):
            for name, value in block.items():
                if not name.startswith("__"):
                    if name in locals_:
                        errors.append(f"{fname}: local.{name} is defined twice")
                    locals_[name] = (fname, value)
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for rname, body in named.items():
                    key = (unq(rtype), unq(rname))
                    if key in resources:
                        errors.append(f"{fname}: resource {key[0]}.{key[1]} is defined twice")
                    resources[key] = (fname, body)
        for block in doc.get("data", []):
            for dtype, named in block.items():
                for dname, body in named.items():
                    datas[(unq(dtype), unq(dname))] = (fname, body)
        for block in doc.get("module", []):
            for name in block:
                modules.add(unq(name))
        for block in doc.get("output", []):
            for name, body in block.items():
                outputs[unq(name)] = (fname, body)
        walk({k: v for k, v in doc.items() if k not in ("output", "variable")}, fname, strings)
        # A variable's own validation does not count as a use of it.
        walk(doc.get("variable", []), f"{fname} (variable validation)", var_strings)

    counted = {k for k, (_f, b) in resources.items() if "count" in b or "for_each" in b}
    counted_data = {k for k, (_f, b) in datas.items() if "count" in b or "for_each" in b}
    used_vars, used_locals = set(), set()

    def resolve(where, key, text, count_use=True):
        found = 0
        for expr in interpolations(text):
            for m in REF_VAR.finditer(expr):
                found += 1
                if count_use:
                    used_vars.add(m.group(1))
                if m.group(1) not in variables:
                    errors.append(f"{where}: var.{m.group(1)} is not declared")
            for m in REF_LOCAL.finditer(expr):
                found += 1
                used_locals.add(m.group(1))
                if m.group(1) not in locals_:
                    errors.append(f"{where}: local.{m.group(1)} is not defined")
            for m in REF_DATA.finditer(expr):
                found += 1
                k = (m.group(1), m.group(2))
                if k not in datas:
                    errors.append(f"{where}: data.{k[0]}.{k[1]} is not declared")
                elif k in counted_data and key not in ("depends_on", "for_each") and expr[m.end() : m.end() + 1] != "[":
                    errors.append(f"{where}: data.{k[0]}.{k[1]} has count/for_each: index it")
            for m in REF_RES.finditer(expr):
                found += 1
                k = (m.group(1), m.group(2))
                if k not in resources:
                    errors.append(f"{where}: resource {k[0]}.{k[1]} is not declared")
                elif k in counted and key not in ("depends_on", "for_each") and expr[m.end() : m.end() + 1] != "[":
                    errors.append(f"{where}: {k[0]}.{k[1]} has count/for_each: index it")
            for m in REF_MODULE.finditer(expr):
                found += 1
                if m.group(1) not in modules:
                    errors.append(f"{where}: module.{m.group(1)} is not declared")
        return found

    for where, key, text in strings:
        resolve(where, key, text)
    for where, key, text in var_strings:
        resolve(where, key, text, count_use=False)

    for name, (fname, body) in outputs.items():
        where = f"{fname}: output.{name}"
        if not unq(body.get("description", "")):
            errors.append(f"{where}: no description")
        if "value" not in body:
            errors.append(f"{where}: no value")
            continue
        texts = []
        walk(body["value"], where, texts, "value")
        if sum(resolve(w, k, t) for w, k, t in texts) == 0:
            errors.append(f"{where}: value references no resource, data source, variable or local")

    for name, (fname, body) in variables.items():
        if "type" not in body:
            errors.append(f"{fname}: variable {name} has no type")
        if not unq(body.get("description", "")):
            errors.append(f"{fname}: variable {name} has no description")
        if name not in used_vars:
            errors.append(f"{fname}: variable {name} is never used")
    for name, (fname, _v) in locals_.items():
        if name not in used_locals:
            errors.append(f"{fname}: local.{name} is never used")

    calls = template_calls(strings)
    if not calls:
        errors.append("no templatefile() call found (the user data must be rendered from templates/)")
    for rel, keys, where in calls:
        path = tfdir / rel
        if not path.is_file():
            errors.append(f"{where}: templatefile {rel} does not exist")
            continue
        holders = set(placeholders(path.read_text()))
        bad = [h for h in holders if not re.fullmatch(IDENT, h)]
        if bad:
            errors.append(f"{rel}: only plain ${{name}} placeholders are supported, found {bad}")
        for h in sorted(holders - set(keys)):
            errors.append(f"{rel}: ${{{h}}} is not passed by templatefile() in {where}")
        for k in sorted(set(keys) - holders):
            errors.append(f"{where}: templatefile key {k} is not used in {rel}")

    summary = (
        f"{len(docs)} files, {len(resources)} resources, {len(datas)} data sources, "
        f"{len(variables)} variables, {len(locals_)} locals, {len(outputs)} outputs, "
        f"{len(calls)} templates"
    )
    return errors, summary, calls, variables, locals_


def render_text(template, values):
    def sub(m):
        name = m.group(1)
        if name not in values:
            raise KeyError(f"no sample value for ${{{name}}}")
        value = values[name]
        if isinstance(value, bool):  # as Terraform renders a bool
            return "true" if value else "false"
        return str(value)

    out = PLACEHOLDER.sub(sub, template)
    return out.replace("$${", "${").replace("%%{", "%{")


def default_of(body):
    """A variable's default as a Python value (None when absent or null)."""
    d = body.get("default")
    if isinstance(d, str):
        if d in ("${null}", "null"):
            return None
        return unq(d)
    return d


def render(tfdir, outdir):
    errors, _summary, calls, variables, locals_ = check(tfdir)
    if errors:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    outdir.mkdir(parents=True, exist_ok=True)
    by_template = {}
    for rel, keys, where in calls:
        by_template[pathlib.Path(rel).name] = (rel, keys, where)

    # Real defaults where Terraform passes a variable or a literal local straight through.
    docs = load(tfdir)
    exprs = {}
    for doc in docs.values():
        for block in doc.get("locals", []):
            for name, value in block.items():
                if isinstance(value, str):
                    for rel, keys, _w in calls:
                        if f"{pathlib.Path(rel).name}" in value:
                            for k in keys:
                                m = re.search(r"(?<![\w.\-/])" + k + r"\s*=\s*(var|local)\.(" + IDENT + r")\s*[,}]", value)
                                if m:
                                    exprs[k] = (m.group(1), m.group(2))
    values = dict(SAMPLE)
    for k, (kind, ref) in exprs.items():
        if kind == "var":
            d = default_of(variables[ref][1])
            if d is not None:
                values[k] = d
        else:
            lv = locals_[ref][1]
            if isinstance(lv, (int, float)) or (isinstance(lv, str) and lv.startswith('"') and "${" not in lv):
                values[k] = unq(lv)

    toml_rel = by_template["orderflow.toml.tftpl"][0]
    ud_rel = by_template["user-data.sh.tftpl"][0]
    toml_t = (tfdir / toml_rel).read_text()
    toml = render_text(toml_t, values)
    (outdir / "orderflow.toml").write_text(toml)
    (outdir / "orderflow-no-email.toml").write_text(render_text(toml_t, {**values, "email_from_line": EMAIL_OFF}))
    values["config_toml"] = toml
    (outdir / "user-data.sh").write_text(render_text((tfdir / ud_rel).read_text(), values))
    print(json.dumps({k: v for k, v in values.items() if k != "config_toml"}, indent=1, default=str))


def extract(testjson, outdir):
    import base64

    outdir.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(testjson) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if msg.get("type") != "test_state":
                continue
            state = msg["test_state"]
            stem = f"{pathlib.Path(msg.get('@testfile', 'test')).name.removesuffix('.tftest.hcl')}.{msg.get('@testrun', 'run')}"
            toml = (state.get("outputs") or {}).get("orderflow_toml", {}).get("value")
            if isinstance(toml, str):
                (outdir / f"{stem}.toml").write_text(toml)
                print(outdir / f"{stem}.toml")
                written += 1
            for res in (state.get("root_module") or {}).get("resources", []):
                if res.get("address") == "aws_launch_template.app":
                    ud = (res.get("values") or {}).get("user_data")
                    if ud:
                        (outdir / f"{stem}.user-data.sh").write_text(base64.b64decode(ud).decode())
                        print(outdir / f"{stem}.user-data.sh")
    if not written:
        sys.exit(f"{testjson}: no applied run with an orderflow_toml output")


def main(argv):
    if len(argv) < 2 or argv[1] not in ("check", "render", "extract"):
        sys.exit(__doc__)
    if argv[1] == "extract":
        if len(argv) != 4:
            sys.exit(__doc__)
        extract(pathlib.Path(argv[2]), pathlib.Path(argv[3]))
        return 0
    if argv[1] == "check":
        tfdir = pathlib.Path(argv[2] if len(argv) > 2 else "terraform")
        errors, summary, *_ = check(tfdir)
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        if errors:
            print(f"terraform references: {len(errors)} problem(s) ({summary})", file=sys.stderr)
            return 1
        print(f"terraform references: OK ({summary})")
        return 0
    if len(argv) == 3:
        tfdir, outdir = pathlib.Path("terraform"), pathlib.Path(argv[2])
    elif len(argv) == 4:
        tfdir, outdir = pathlib.Path(argv[2]), pathlib.Path(argv[3])
    else:
        sys.exit(__doc__)
    render(tfdir, outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
