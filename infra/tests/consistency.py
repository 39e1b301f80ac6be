#!/usr/bin/env python3
"""The SAM template and the CDK stack must describe the same system.

  consistency.py SAM_TEMPLATE CDK_TEMPLATE_JSON

The SAM template is expanded offline with the SAM translator (as CloudFormation would), the CDK
template is `cdk synth` output; both are reduced to the same model and compared: per function
(identified by its `function` tag), its runtime, architecture, environment variable names and
IAM permissions (action on which resource); the HTTP routes and the function each calls; every
queue's FIFO and redrive settings; the table's keys, indexes and TTL; the secrets; the alarms'
metrics; and the outputs. Run with the SAM CLI venv's Python (it has samtranslator and cfn-lint).
"""

import json
import os
import re
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """SAM only needs this for managed policy names; the templates use ARNs and statements."""

    def load(self):
        return {}


def sam_resources(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template, matches = decode(path)
    if matches:
        raise SystemExit(f"cannot read {path}: {matches}")
    params = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
              "AWS::Partition": "aws", "AWS::StackName": "gateway", "AWS::URLSuffix": "amazonaws.com"}
    template = json.loads(json.dumps(template, default=str))
    for logical, res in template["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            # What `sam package` does to local code before CloudFormation sees it.
            res["Properties"]["CodeUri"] = f"s3://artifacts/{logical}.zip"
    return transform(template, params, NoManagedPolicies())


class Model:
    """A template reduced to what both implementations must agree on."""

    def __init__(self, template):
        self.t = template
        self.r = template["Resources"]

    def of_type(self, kind):
        return {k: v for k, v in self.r.items() if v["Type"] == kind}

    def props(self, logical):
        return self.r[logical].get("Properties", {})

    def identity(self, logical):
        """A name for a resource that does not depend on logical ids."""
        res = self.r[logical]
        p = res.get("Properties", {})
        kind = res["Type"]
        if kind == "AWS::SQS::Queue":
            return "queue:" + name_after_stack(p.get("QueueName"))
        if kind == "AWS::DynamoDB::Table":
            keys = [k["AttributeName"] for k in p.get("KeySchema", [])]
            return "outbox" if "conversation" in keys else "parts" if "group" in keys else "table"
        if kind == "AWS::SecretsManager::Secret":
            return "secret:" + name_after_stack(p.get("Name"))
        if kind == "AWS::Lambda::Function":
            return "function:" + self.binary(logical)
        if kind in ("AWS::ApiGatewayV2::Api", "AWS::Serverless::HttpApi"):
            return "api"
        return kind

    def binary(self, logical):
        tags = self.props(logical).get("Tags", [])
        for tag in tags:
            if tag.get("Key") == "function":
                return tag["Value"]
        raise SystemExit(f"function {logical} has no function tag")

    def resolve(self, value):
        """A resource reference as `identity[/suffix]`."""
        if isinstance(value, dict):
            if "Ref" in value:
                return self.identity(value["Ref"]) if value["Ref"] in self.r else "param:" + value["Ref"]
            if "Fn::GetAtt" in value:
                target = value["Fn::GetAtt"]
                target = target if isinstance(target, list) else target.split(".")
                suffix = "/stream" if target[1:] == ["StreamArn"] else ""
                return self.identity(target[0]) + suffix
            if "Fn::Sub" in value:
                text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
                m = re.match(r"^\$\{(\w+)(\.\w+)?\}(.*)$", text)
                if m and m.group(1) in self.r:
                    return self.identity(m.group(1)) + m.group(3)
                return "sub:" + text
            if "Fn::Join" in value:
                parts = value["Fn::Join"][1]
                head = self.resolve(parts[0])
                return head + "".join(p for p in parts[1:] if isinstance(p, str))
        return str(value)

    def functions(self):
        out = {}
        for logical, fn in self.of_type("AWS::Lambda::Function").items():
            p = fn["Properties"]
            try:
                name = self.binary(logical)
            except SystemExit:
                continue  # helper functions a construct library adds (log retention, ...)
            env = p.get("Environment", {}).get("Variables", {})
            out[name] = {
                "runtime": p.get("Runtime"),
                "architectures": p.get("Architectures"),
                "environment": {k: self.resolve(v) if isinstance(v, dict) and ("Ref" in v or "Fn::GetAtt" in v) else "<value>"
                                for k, v in env.items()},
                "memory": self.resolve(p.get("MemorySize")),
                "timeout": self.resolve(p.get("Timeout")),
                "reserved_concurrency": self.resolve(p.get("ReservedConcurrentExecutions")),
                "permissions": sorted(self.permissions(logical)),
                "schedules": self.schedules(logical),
            }
        return out

    def permissions(self, function_logical):
        role = self.props(function_logical)["Role"]
        role_logical = role["Fn::GetAtt"][0] if isinstance(role["Fn::GetAtt"], list) else role["Fn::GetAtt"].split(".")[0]
        statements = []
        for policy in self.props(role_logical).get("Policies", []):
            statements += policy["PolicyDocument"]["Statement"]
        for logical, pol in self.of_type("AWS::IAM::Policy").items():
            roles = pol["Properties"].get("Roles", [])
            if any(isinstance(r, dict) and r.get("Ref") == role_logical for r in roles):
                statements += pol["Properties"]["PolicyDocument"]["Statement"]
        found = set()
        for st in statements:
            if st.get("Effect") != "Allow":
                continue
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            when = condition(st.get("Condition"))
            for action in actions:
                if action.startswith(("logs:", "xray:")):
                    continue  # logging and tracing plumbing differs by construct library
                for resource in resources:
                    found.add(f"{action} on {self.resolve(resource)}{when}")
        return found

    def schedules(self, function_logical):
        """`<schedule expression> <input>` of every rule that invokes the function."""
        out = []
        for rule in self.of_type("AWS::Events::Rule").values():
            p = rule["Properties"]
            for target in p.get("Targets", []):
                if self.function_in(json.dumps(target["Arn"])) == self.identity(function_logical):
                    given = target.get("Input")
                    given = json.dumps(json.loads(given), sort_keys=True) if given else "-"
                    out.append(f'{p.get("ScheduleExpression")} {given}')
        return sorted(out)

    def routes(self):
        """`METHOD /path` → the function it invokes, from Route resources (CDK) or from the
        API's OpenAPI body (SAM)."""
        out = {}
        for route in self.of_type("AWS::ApiGatewayV2::Route").values():
            p = route["Properties"]
            out[p["RouteKey"]] = self.integration_function(p["Target"])
        for api in self.of_type("AWS::ApiGatewayV2::Api").values():
            for path, methods in api["Properties"].get("Body", {}).get("paths", {}).items():
                for method, op in methods.items():
                    uri = json.dumps(op["x-amazon-apigateway-integration"]["uri"])
                    out[f"{method.upper()} {path}"] = self.function_in(uri)
        return out

    def function_in(self, text):
        for logical in self.of_type("AWS::Lambda::Function"):
            if f'"{logical}"' in text or f"${{{logical}." in text:
                return self.identity(logical)
        return "?"

    def integration_function(self, target):
        # Target is "integrations/<IntegrationId>" built with Join or Sub.
        ref = None
        if "Fn::Join" in target:
            ref = next(p["Ref"] for p in target["Fn::Join"][1] if isinstance(p, dict) and "Ref" in p)
        elif "Fn::Sub" in target:
            ref = re.search(r"\$\{(\w+)\}", target["Fn::Sub"]).group(1)
        return self.function_in(json.dumps(self.props(ref)["IntegrationUri"]))

    def queues(self):
        out = {}
        for logical, q in self.of_type("AWS::SQS::Queue").items():
            p = q["Properties"]
            redrive = p.get("RedrivePolicy")
            out[self.identity(logical)] = {
                "fifo": p.get("FifoQueue"),
                "content_based_dedup": p.get("ContentBasedDeduplication", False),
                "dedup_scope": p.get("DeduplicationScope"),
                "throughput": p.get("FifoThroughputLimit"),
                "dead_letter": self.resolve(redrive["deadLetterTargetArn"]) if redrive else None,
                "max_receive": redrive["maxReceiveCount"] if redrive else None,
            }
        return out

    def table(self):
        out = {}
        for logical, t in self.of_type("AWS::DynamoDB::Table").items():
            p = t["Properties"]
            out[self.identity(logical)] = {
                "keys": p["KeySchema"],
                "indexes": sorted((i["IndexName"], json.dumps(i["KeySchema"])) for i in p.get("GlobalSecondaryIndexes", [])),
                "ttl": p.get("TimeToLiveSpecification"),
                "pitr": p["PointInTimeRecoverySpecification"],
                "billing": p["BillingMode"],
                "stream": p.get("StreamSpecification"),
            }
        return out

    def stream_sources(self):
        """The stream event source mappings: the function, and how the stream is read."""
        out = []
        for m in self.of_type("AWS::Lambda::EventSourceMapping").values():
            p = m["Properties"]
            out.append({
                "function": self.function_in(json.dumps(p["FunctionName"])),
                "source": self.resolve(p["EventSourceArn"]),
                **{k: p.get(k) for k in (
                    "StartingPosition", "BatchSize", "BisectBatchOnFunctionError", "FunctionResponseTypes",
                    "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "ParallelizationFactor", "FilterCriteria",
                )},
                "on_failure": self.resolve(p.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")),
            })
        return out

    def secrets(self):
        return sorted(self.identity(k) for k in self.of_type("AWS::SecretsManager::Secret"))

    def alarms(self):
        out = []
        for a in self.of_type("AWS::CloudWatch::Alarm").values():
            p = a["Properties"]
            if "MetricName" in p:
                out.append(f'{p["Namespace"]}/{p["MetricName"]}')
            else:
                out.append("math:" + next(m["Expression"] for m in p["Metrics"] if "Expression" in m))
        return sorted(out)

    def outputs(self):
        return sorted(self.t.get("Outputs", {}))


def condition(cond):
    """An IAM condition as ` when <key> <operator> <values>` (empty when none)."""
    if not cond:
        return ""
    parts = []
    for operator, pairs in sorted(cond.items()):
        for key, values in sorted(pairs.items()):
            values = values if isinstance(values, list) else [values]
            parts.append(f"{key} {operator} {','.join(sorted(map(str, values)))}")
    return " when " + " and ".join(parts)


def name_after_stack(name):
    """`${AWS::StackName}-<channel>.fifo` (a Sub) or `gateway-<channel>.fifo` → `<channel>.fifo`."""
    if isinstance(name, dict):
        name = name.get("Fn::Sub") or "".join(p if isinstance(p, str) else "" for p in name.get("Fn::Join", ["", []])[1])
    return re.sub(r"^(\$\{AWS::StackName\}|gateway)?[-/]", "", str(name))


def main(sam_path, cdk_path):
    sam = Model(sam_resources(sam_path))
    with open(cdk_path) as f:
        cdk = Model(json.load(f))
    checks = [
        ("functions", Model.functions),
        ("routes", Model.routes),
        ("queues", Model.queues),
        ("table", Model.table),
        ("stream", Model.stream_sources),
        ("secrets", Model.secrets),
        ("alarms", Model.alarms),
        ("outputs", Model.outputs),
    ]
    failed = 0
    for name, get in checks:
        a, b = get(sam), get(cdk)
        if a == b:
            print(f"ok   {name}: the SAM and CDK stacks agree")
        else:
            failed += 1
            print(f"FAIL {name}:\n  SAM: {json.dumps(a, indent=1, sort_keys=True)}\n  CDK: {json.dumps(b, indent=1, sort_keys=True)}")
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
