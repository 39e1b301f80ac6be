#!/usr/bin/env python3
"""Every AWS call the served functions made is allowed by their roles, in both templates.

  permissions.py CALLS_JSONL SAM_TEMPLATE CDK_TEMPLATE_JSON

CALLS_JSONL is what the recording proxies in front of the local services wrote while the tests
drove the functions (tests/src/recorder.rs): one line per call, with the function, the action
and the local resource. The local emulators do not enforce IAM, so a missing grant would pass
every local test and fail in AWS; this check fails instead. Local resources map to the
templates' as the local provisioning names them: table `served-messages` is the messages table,
`served-messages-outbox` the outbox, `served-messages-parts` the parts table,
queue `served-<channel>` the channel's queue, secret `served/<channel>` its secret, bucket
`served-blobs` the blobs bucket. Run with the SAM CLI venv's Python (samtranslator, cfn-lint).
"""

import fnmatch
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from consistency import Model, sam_resources  # noqa: E402


def required(call):
    """The `action on resource` a call needs, in the identities Model.permissions uses."""
    action = f"{call['service']}:{call['action']}"
    kind, _, name = call["resource"].partition(":")
    if kind == "table":
        table, _, index = name.partition("/index/")
        identity = "outbox" if table.endswith("-outbox") else "parts" if table.endswith("-parts") else "table"
        return action, identity + (f"/index/{index}" if index else "")
    if kind == "stream":
        return action, "outbox/stream"
    if kind == "queue":
        channel = name.rsplit("/", 1)[-1].removeprefix("served-").removesuffix(".fifo")
        return action, f"queue:{channel}.fifo"
    if kind == "secret":
        channel = name.removeprefix("served/")
        return action, f"secret:{channel}"
    if kind == "object":
        _bucket, _, key = name.partition("/")
        return action, f"bucket/{key}"
    if kind == "listing":
        # A listing needs the bucket, under the condition on the prefix it lists.
        _bucket, _, prefix = name.partition("/")
        return action, f"bucket when s3:prefix={prefix}"
    return action, call["resource"]


def allowed(granted, action, resource):
    resource, _, wanted = resource.partition(" when ")
    for grant in granted:
        g_action, _, g_resource = grant.partition(" on ")
        if g_action != action:
            continue
        g_resource, _, g_when = g_resource.partition(" when ")
        # The bucket's identity is the S3 bucket resource type; an object grant is `<it>/prefix/*`.
        g_resource = g_resource.replace("AWS::S3::Bucket", "bucket")
        if not fnmatch.fnmatchcase(resource, g_resource):
            continue
        if g_when and not condition_holds(g_when, wanted):
            continue
        return True
    return False


def condition_holds(granted_when, wanted):
    """Whether a call's condition values (`key=value`) satisfy a grant's condition, as
    consistency.condition renders it (`<key> StringLike <patterns>`, `and`-joined)."""
    values = dict(part.split("=", 1) for part in wanted.split(" and ") if "=" in part)
    for clause in granted_when.split(" and "):
        key, operator, patterns = clause.split(" ", 2)
        if key not in values:
            return False
        if operator == "StringLike":
            if not any(fnmatch.fnmatchcase(values[key], p) for p in patterns.split(",")):
                return False
        elif operator == "StringEquals":
            if values[key] not in patterns.split(","):
                return False
        else:
            return False
    return True


def main(calls_path, sam_path, cdk_path):
    calls = [json.loads(line) for line in open(calls_path) if line.strip()]
    needed = {}
    for call in calls:
        needed.setdefault(call["function"], set()).add(required(call))
    if not needed:
        raise SystemExit("no AWS calls were recorded: the recording proxies saw nothing")
    failures = 0
    for name, model in (("SAM", Model(sam_resources(sam_path))), ("CDK", Model(json.load(open(cdk_path))))):
        functions = model.functions()
        for function, wanted in sorted(needed.items()):
            granted = functions.get(function, {}).get("permissions", [])
            for action, resource in sorted(wanted):
                if not allowed(granted, action, resource):
                    failures += 1
                    print(f"FAIL {name}: the {function} function called {action} on {resource}, "
                          f"which its role does not allow (it allows: {', '.join(granted)})")
    total = sum(len(w) for w in needed.values())
    print(f"{len(calls)} AWS calls recorded: {total} distinct (function, action, resource), "
          f"{'all allowed in both templates' if not failures else f'{failures} not allowed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    sys.exit(main(*sys.argv[1:]))
