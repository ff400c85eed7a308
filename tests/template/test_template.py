"""Checks of template.yaml (AWS SAM) that cfn-lint cannot make.

Run: .venv/bin/python -m pytest tests/template -q

- least privilege: no "*" action, no "*" resource where an ARN or a key prefix fits, each role
  limited to what its owner needs (ingest: PutRecordBatch on its two streams; compaction:
  list/get/put/delete on its prefixes; each Firehose stream: its own prefixes);
- the bucket: TLS-only policy, Block Public Access, encryption, lifecycle;
- every function: arm64, provided.al2023, rust-cargolambda, JSON logs;
- every DRIFTLESS_* variable the Rust sources read is set on the function that reads it, from a
  parameter or resource of the template, with the defaults of docs/wire-format.md;
- the typed Athena views are the nested stack of the template codegen generates
  (tests/template/test_athena_views.py checks that template);
- the SAM transform accepts the template and cfn-lint reports nothing;
- the Lambda event fixtures under tests/fixtures/events match the template.

These tests read the default deployment: IngestEndpointType=HttpApi, no custom domain, conditions
resolved (`tpl`). tests/template/test_endpoint_types.py checks the FunctionUrl variant against it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfn import inline_sub, load_cfn, referenced_names, resolve_conditions

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "events"
WIRE_FORMAT = ROOT / "docs" / "wire-format.md"

# --------------------------------------------------------------------------- loading


def load_template() -> dict:
    return load_cfn(TEMPLATE)


# A custom domain, for the resources that exist only with one.
WITH_DOMAIN = {
    "DomainName": "in.shop.example",
    "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-0000-4000-8000-000000000000",
    "HostedZoneId": "Z0123456789ABCDEFGHIJ",
}


@pytest.fixture(scope="module")
def tpl(source) -> dict:
    """The default deployment: IngestEndpointType=HttpApi, no custom domain."""
    return resolve_conditions(source, {})


@pytest.fixture(scope="module")
def translated(source) -> dict:
    """The whole template (every condition kept) after the SAM transform."""
    return sam_transform(source)


def sam_transform(template: dict) -> dict:
    """A template after the SAM transform, as CloudFormation would deploy it."""
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:  # the template names no managed policy: nothing to look up
        def load(self):
            return {}

    doc = copy.deepcopy(template)
    for res in doc["Resources"].values():  # what `sam package` does: upload, point at S3
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = "s3://artifacts/code.zip"
        if res["Type"] == "AWS::Serverless::Application" and isinstance(res["Properties"]["Location"], str):
            res["Properties"]["Location"] = "https://s3.amazonaws.com/artifacts/nested.template"
    old = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "eu-central-1"
    try:
        return transform(doc, {}, NoManagedPolicies())
    except InvalidDocumentException as e:  # pragma: no cover - the failure message is the point
        pytest.fail("SAM transform rejected the template: " + "; ".join(c.message for c in e.causes))
    finally:
        if old is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = old


# --------------------------------------------------------------------------- helpers


def resources(doc: dict, rtype: str) -> dict[str, dict]:
    return {k: v for k, v in doc["Resources"].items() if v["Type"] == rtype}


def function_props(doc: dict, name: str) -> dict:
    """A function's properties with SAM Globals merged in (the function's own win)."""
    merged = copy.deepcopy(doc.get("Globals", {}).get("Function", {}))
    for key, value in doc["Resources"][name].get("Properties", {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def flat(value) -> str:
    """An ARN-like value as a ${...} string: Ref X -> ${X}, GetAtt X.A -> ${X.A}."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            return "${%s}" % arg
        if key == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else arg
            return "${%s.%s}" % (parts[0], parts[1])
        if key == "Fn::Sub":
            return arg if isinstance(arg, str) else arg[0]
        if key == "Fn::Join":
            return arg[0].join(flat(v) for v in arg[1])
    raise AssertionError(f"cannot read {value!r} as an ARN or string")


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def policy_documents(doc: dict):
    """(owner, policy document) for every identity policy in the template."""
    for name, res in doc["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::IAM::Role":
            for pol in props.get("Policies", []):
                yield f"{name}/{pol['PolicyName']}", pol["PolicyDocument"]
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield name, props["PolicyDocument"]


def statements(pdoc: dict) -> list[dict]:
    """A policy's statements; a statement that exists only under a condition (Fn::If, in a template
    whose conditions are not resolved) counts as each branch that is a statement."""
    out = []
    for st in as_list(pdoc["Statement"]):
        if set(st) == {"Fn::If"}:
            out += [b for b in st["Fn::If"][1:] if b != {"Ref": "AWS::NoValue"}]
        else:
            out.append(st)
    return out


def allow_statements(doc: dict):
    for owner, pdoc in policy_documents(doc):
        for st in statements(pdoc):
            if st["Effect"] == "Allow":
                yield owner, st


def role_statements(doc: dict, role: str) -> list[dict]:
    props = doc["Resources"][role]["Properties"]
    return [st for pol in props.get("Policies", []) for st in as_list(pol["PolicyDocument"]["Statement"])]


def role_of_function(doc: dict, fn: str) -> str:
    role = function_props(doc, fn)["Role"]
    assert "Fn::GetAtt" in role and role["Fn::GetAtt"][1] == "Arn", f"{fn}: Role must be a role of this template"
    return role["Fn::GetAtt"][0]


def serverless_functions(doc: dict) -> list[str]:
    return sorted(resources(doc, "AWS::Serverless::Function"))


def binary_of(doc: dict, fn: str) -> str:
    return doc["Resources"][fn]["Metadata"]["BuildProperties"]["Binary"]


def function_by_binary(doc: dict) -> dict[str, str]:
    return {binary_of(doc, fn): fn for fn in serverless_functions(doc)}


# A resource may end in a wildcard only as "<ARN>/<non-empty key prefix>/*".
PREFIX_WILDCARD = re.compile(r"^\$\{[A-Za-z0-9]+\.Arn\}/[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*/\*$")

# --------------------------------------------------------------------------- least privilege


@pytest.mark.parametrize("which", ["source", "translated"])
def test_no_wildcard_action_or_resource(tpl, translated, which):
    doc = tpl if which == "source" else translated
    seen = 0
    for owner, st in allow_statements(doc):
        seen += 1
        assert "NotAction" not in st and "NotResource" not in st, f"{owner}: Allow with NotAction/NotResource"
        for action in as_list(st["Action"]):
            assert "*" not in action, f"{owner}: wildcard action {action}"
        for res in as_list(st["Resource"]):
            text = flat(res)
            assert text != "*", f"{owner}: Resource '*' for {st['Action']}"
            if "*" in text:
                assert PREFIX_WILDCARD.match(text), f"{owner}: wildcard resource {text} is not ARN/<prefix>/*"
    assert seen >= 6


@pytest.mark.parametrize("which", ["source", "translated"])
def test_no_managed_policies_and_functions_use_template_roles(tpl, translated, which):
    doc = tpl if which == "source" else translated
    for name, role in resources(doc, "AWS::IAM::Role").items():
        # Managed policies (e.g. AWSLambdaBasicExecutionRole: logs on "*") cannot be checked here.
        assert not role["Properties"].get("ManagedPolicyArns"), f"{name} attaches managed policies"
    for fn in serverless_functions(tpl):
        props = function_props(tpl, fn)
        assert "Policies" not in props, f"{fn}: SAM Policies would make SAM generate a role"
        role_of_function(tpl, fn)


def test_ingest_may_only_put_record_batch_on_its_two_streams(tpl):
    fn = function_by_binary(tpl)["ingest"]
    role = role_of_function(tpl, fn)
    log_group = function_props(tpl, fn)["LoggingConfig"]["LogGroup"]["Ref"]
    actions, targets = set(), set()
    for st in role_statements(tpl, role):
        assert st["Effect"] == "Allow"
        acts = set(as_list(st["Action"]))
        if all(a.startswith("logs:") for a in acts):
            assert acts <= {"logs:CreateLogStream", "logs:PutLogEvents"}
            assert [flat(r) for r in as_list(st["Resource"])] == ["${%s.Arn}" % log_group]
            continue
        actions |= acts
        targets |= {flat(r) for r in as_list(st["Resource"])}
    assert actions == {"firehose:PutRecordBatch"}
    assert targets == {"${EventsStream.Arn}", "${QuarantineStream.Arn}"}
    assert set(resources(tpl, "AWS::KinesisFirehose::DeliveryStream")) == {"EventsStream", "QuarantineStream"}


COMPACT_PREFIXES = ("raw/events/", "raw/quarantine/", "lake/events/", "lake/quarantine/",
                    "unreadable/raw/", "rejected/", "erasure/")


def test_compaction_only_lists_gets_puts_deletes_its_prefixes(tpl):
    fn = function_by_binary(tpl).get("compact")
    assert fn, "no function builds the compact binary"
    role = role_of_function(tpl, fn)
    log_group = function_props(tpl, fn)["LoggingConfig"]["LogGroup"]["Ref"]
    dlq = function_props(tpl, fn)["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
    s3_allowed = {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                  "s3:DeleteObjectVersion"}
    writes = set()
    for st in role_statements(tpl, role):
        assert st["Effect"] == "Allow"
        acts = set(as_list(st["Action"]))
        res = [flat(r) for r in as_list(st["Resource"])]
        if all(a.startswith("logs:") for a in acts):
            assert res == ["${%s.Arn}" % log_group]
        elif acts == {"sqs:SendMessage"}:
            assert res == [flat(dlq)]
        elif acts in ({"s3:ListBucket"}, {"s3:ListBucketVersions"}):
            assert res == ["${Bucket.Arn}"]
            prefixes = as_list(st["Condition"]["StringLike"]["s3:prefix"])
            assert prefixes and all(p.rstrip("*") in COMPACT_PREFIXES for p in prefixes), prefixes
        else:
            assert acts <= s3_allowed, acts
            for r in res:
                key = r.removeprefix("${Bucket.Arn}/")
                assert key != r and key.endswith("/*") and key[:-1] in COMPACT_PREFIXES, r
                if acts & {"s3:PutObject", "s3:AbortMultipartUpload"}:
                    writes.add(key[:-1])
    # Compaction reads and deletes raw/, but writes only the lake, what it sets aside and the
    # erasure records.
    assert writes == {"lake/events/", "lake/quarantine/", "unreadable/raw/", "rejected/", "erasure/"}


def _static(prefix: str) -> str:
    return prefix.split("!{", 1)[0]


def test_firehose_writes_only_its_prefixes(tpl):
    owned = {}
    for name, stream in resources(tpl, "AWS::KinesisFirehose::DeliveryStream").items():
        dest = stream["Properties"]["ExtendedS3DestinationConfiguration"]
        role = dest["RoleARN"]["Fn::GetAtt"][0]
        expected = {_static(dest["Prefix"]), _static(dest["ErrorOutputPrefix"])}
        writes = set()
        for st in role_statements(tpl, role):
            acts = set(as_list(st["Action"]))
            res = [flat(r) for r in as_list(st["Resource"])]
            if acts & {"s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"}:
                assert acts <= {"s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"}
                writes |= {r.removeprefix("${Bucket.Arn}/").removesuffix("*") for r in res}
            elif any(a.startswith("s3:") for a in acts):
                # bucket-level calls Firehose makes (location, list), on the bucket ARN only
                assert acts <= {"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"}
                assert res == ["${Bucket.Arn}"]
            else:
                assert acts == {"logs:PutLogEvents"}, acts
                assert all(":log-stream:" in r for r in res)
        assert writes == expected, f"{name}: writes {writes}, owns {expected}"
        owned[name] = writes
    events, quarantine = owned["EventsStream"], owned["QuarantineStream"]
    assert not any(a.startswith(b) or b.startswith(a) for a in events for b in quarantine)


# --------------------------------------------------------------------------- bucket


def test_bucket_policy_denies_non_tls(tpl):
    (policy,) = resources(tpl, "AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == {"Ref": "Bucket"}
    statements = as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    assert all(st["Effect"] == "Deny" for st in statements), "the bucket policy only denies"
    tls = [st for st in statements if st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)]
    assert len(tls) == 1
    st = tls[0]
    assert st["Principal"] == "*" and as_list(st["Action"]) == ["s3:*"]
    assert {flat(r) for r in as_list(st["Resource"])} == {"${Bucket.Arn}", "${Bucket.Arn}/*"}


def test_bucket_blocks_public_access_and_is_encrypted(tpl):
    (name,) = resources(tpl, "AWS::S3::Bucket")
    props = tpl["Resources"][name]["Properties"]
    bpa = props["PublicAccessBlockConfiguration"]
    assert bpa == {"BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] in ("AES256", "aws:kms", "aws:kms:dsse")
    assert tpl["Resources"][name]["DeletionPolicy"] == "Retain"


def test_the_lake_outlives_the_stack(tpl):
    """Deleting the stack, or an update that replaces the bucket, keeps the bucket and its lake
    (docs/deploy.md, tearing down); the other resources that hold data are operational only."""
    (name,) = resources(tpl, "AWS::S3::Bucket")
    bucket = tpl["Resources"][name]
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"
    for rname, res in tpl["Resources"].items():
        if res["Type"] in ("AWS::Logs::LogGroup", "AWS::SQS::Queue"):
            assert res.get("DeletionPolicy") == "Delete", f"{rname}: say what stack deletion does to it"


def test_bucket_lifecycle(tpl):
    rules = {r["Id"]: r for r in tpl["Resources"]["Bucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    mpu = [r for r in rules.values() if "AbortIncompleteMultipartUpload" in r]
    assert mpu and "Prefix" not in mpu[0] and "Filter" not in mpu[0], "abort incomplete uploads bucket-wide"
    expiring = {r.get("Prefix"): r for r in rules.values() if "ExpirationInDays" in r}
    # raw/ expires (safety net, a parameter of at least a week); the lake never expires.
    assert expiring["raw/"]["ExpirationInDays"] == {"Ref": "RawExpirationDays"}
    assert tpl["Parameters"]["RawExpirationDays"]["MinValue"] >= 7
    assert not any(p and p.startswith("lake") for p in expiring)
    # What compaction sets aside for inspection expires after its own retention.
    for prefix in ("unreadable/", "rejected/"):
        assert expiring[prefix]["ExpirationInDays"] == {"Ref": "SetAsideRetentionDays"}
    (lake,) = [r for r in rules.values() if r.get("Prefix") == "lake/"]
    (tr,) = lake["Transitions"]
    assert tr["TransitionInDays"] == {"Ref": "LakeTransitionDays"}
    assert tr["StorageClass"] == {"Ref": "LakeStorageClass"}
    assert tpl["Parameters"]["LakeTransitionDays"]["MinValue"] >= 30


# --------------------------------------------------------------------------- functions


@pytest.mark.parametrize("which", ["source", "translated"])
def test_every_function_is_arm64_al2023(tpl, translated, which):
    doc = tpl if which == "source" else translated
    fns = {**resources(doc, "AWS::Serverless::Function"), **resources(doc, "AWS::Lambda::Function")}
    assert len(fns) >= 2
    for name in fns:
        props = function_props(doc, name)
        assert props["Runtime"] == "provided.al2023", name
        assert props["Architectures"] == ["arm64"], name
        assert props["Handler"] == "bootstrap", name
        assert props["LoggingConfig"]["LogFormat"] == "JSON", name


def test_logs_are_json_without_per_invocation_platform_lines(tpl):
    """Both functions: JSON logs in their own group, the application level a parameter, and the
    platform's system logs at WARN, which leaves out the START and REPORT lines of every
    invocation (docs/cost.md)."""
    groups = set()
    for fn in serverless_functions(tpl):
        cfg = function_props(tpl, fn)["LoggingConfig"]
        assert cfg["LogFormat"] == "JSON", fn
        assert cfg["SystemLogLevel"] == "WARN", fn
        assert cfg["ApplicationLogLevel"] == {"Ref": "ApplicationLogLevel"}, fn
        groups.add(cfg["LogGroup"]["Ref"])
    assert len(groups) == len(serverless_functions(tpl)), "each function logs to its own group"
    level = tpl["Parameters"]["ApplicationLogLevel"]
    # Lambda counts a JSON line without "level" as INFO: above INFO the EMF metric documents go.
    assert level["Default"] == "INFO"
    assert set(level["AllowedValues"]) <= {"TRACE", "DEBUG", "INFO"}, "WARN and above drop the EMF metrics"


def test_functions_build_with_cargo_lambda_from_the_workspace(tpl):
    binaries = set()
    for fn in serverless_functions(tpl):
        meta = tpl["Resources"][fn]["Metadata"]
        assert meta["BuildMethod"] == "rust-cargolambda"
        assert function_props(tpl, fn)["CodeUri"] == "."
        binaries.add(meta["BuildProperties"]["Binary"])
    assert binaries == {"ingest", "compact"}
    members = (ROOT / "Cargo.toml").read_text(encoding="utf-8")
    assert "functions/ingest" in members or "functions/*" in members


def test_memory_budget_fits_the_function(tpl):
    p = tpl["Parameters"]
    assert p["CompactMemoryBudgetMb"]["Default"] + 512 <= p["CompactMemorySize"]["Default"]
    assert p["IngestTimeout"]["MaxValue"] < 30, "must answer before the 30 s HTTP API integration limit"


# --------------------------------------------------------------------------- environment

ENV_NAME = re.compile(r'"(DRIFTLESS_[A-Z0-9_]+)"')

# The names the functions read, as agreed (shared/src/config.rs). Used to attribute names that
# live in shared/ to a function, and as the whole list while the Rust sources do not exist yet.
KNOWN = {
    "ingest": {
        "DRIFTLESS_EVENTS_STREAM", "DRIFTLESS_QUARANTINE_STREAM", "DRIFTLESS_ALLOWED_ORIGINS",
        "DRIFTLESS_IP_POLICY", "DRIFTLESS_MAX_BODY_BYTES", "DRIFTLESS_MAX_DECOMPRESSED_BYTES",
        "DRIFTLESS_MAX_EVENTS_PER_BATCH", "DRIFTLESS_MAX_EVENT_BYTES", "DRIFTLESS_MAX_DEPTH",
        "DRIFTLESS_MAX_STRING_LENGTH", "DRIFTLESS_MAX_PROPERTIES", "DRIFTLESS_MAX_EVENT_AGE_SECS",
        "DRIFTLESS_METRICS_FLUSH_INVOCATIONS", "DRIFTLESS_METRICS_FLUSH_SECS",
        "DRIFTLESS_SOURCE_KEYS", "DRIFTLESS_SOURCE_KEYS_PARAMETER", "DRIFTLESS_GEOIP_DATABASE",
        "DRIFTLESS_CLIENT_IP_HEADER",
    },
    "compact": {
        "DRIFTLESS_BUCKET", "DRIFTLESS_CLOSE_AFTER_SECS", "DRIFTLESS_MEMORY_BUDGET_MB",
        "DRIFTLESS_TARGET_FILE_MB", "DRIFTLESS_READ_CONCURRENCY", "DRIFTLESS_DEDUP_WINDOW_HOURS",
        "DRIFTLESS_VACUUM_RETENTION_HOURS", "DRIFTLESS_OPTIMIZE_LOOKBACK_DAYS", "DRIFTLESS_MAX_RUN_MB",
    },
}

# Names the code reads that are deliberately not set in AWS (local-only switches), each with why.
NOT_DEPLOYED: dict[str, str] = {
    # Defaults to the temp dir, which is Lambda's /tmp (sized by CompactEphemeralStorageMb).
    "DRIFTLESS_SCRATCH_DIR": "local runs and benchmarks only",
}


# Names set only when configured, because unset has a meaning of its own (keyless mode, no geo
# fields, the request's own source IP): each with parameter values of a deployment that sets it.
CONFIGURED_ONLY: dict[str, dict[str, object]] = {
    "DRIFTLESS_SOURCE_KEYS": {"SourceKeys": '[{"key":"dk_web_1","source":"web","origins":["https://shop.example"]}]'},
    "DRIFTLESS_SOURCE_KEYS_PARAMETER": {"SourceKeysParameter": "/driftless/source-keys"},
    "DRIFTLESS_GEOIP_DATABASE": {"GeoIpDatabase": "/opt/geoip/GeoLite2-City.mmdb"},
    # Behind the CloudFront front only (FunctionUrl with a custom domain).
    "DRIFTLESS_CLIENT_IP_HEADER": {"IngestEndpointType": "FunctionUrl", **WITH_DOMAIN},
}


def _names_in(paths) -> set[str]:
    names = set()
    for path in paths:
        names |= set(ENV_NAME.findall(path.read_text(encoding="utf-8", errors="replace")))
    return names


def discovered_env(root: Path = ROOT) -> tuple[dict[str, set[str]], set[str], bool]:
    """(names each binary's crate reads itself, names in shared/, whether any source exists)."""
    per_crate = {}
    for src in sorted((root / "functions").glob("*/src")):
        per_crate[src.parent.name] = _names_in(src.rglob("*.rs"))
    shared = _names_in((root / "shared" / "src").rglob("*.rs")) if (root / "shared" / "src").is_dir() else set()
    any_source = bool(shared) or any(per_crate.values())
    return per_crate, shared, any_source


def required_env(doc: dict, root: Path = ROOT) -> dict[str, set[str]]:
    """binary -> DRIFTLESS_* names its function must have in Environment."""
    per_crate, shared, any_source = discovered_env(root)
    binaries = set(function_by_binary(doc))
    if not any_source:
        return {b: set(KNOWN.get(b, set())) for b in binaries}
    need = {b: set(per_crate.get(b, set())) for b in binaries}
    for name in shared:
        owners = [b for b in binaries if name in KNOWN.get(b, set())]
        for b in owners:
            need[b].add(name)
    # A function whose crate has no source yet still needs its agreed names.
    for b in binaries:
        if not per_crate.get(b):
            need[b] |= KNOWN.get(b, set())
    return {b: names - set(NOT_DEPLOYED) for b, names in need.items()}


def env_of(doc: dict, fn: str) -> dict:
    return function_props(doc, fn).get("Environment", {}).get("Variables", {})


def test_every_env_var_the_functions_read_is_wired(tpl):
    by_binary = function_by_binary(tpl)
    required = required_env(tpl)
    total = 0
    for binary, names in required.items():
        env = env_of(tpl, by_binary[binary])
        missing = sorted(names - set(env) - set(CONFIGURED_ONLY))
        assert not missing, f"{binary}: {missing} read by the code but not set in template.yaml"
        total += len(names)
    # Every name found anywhere in the sources is set on some function (or listed as local-only),
    # the configured-only names in a deployment that configures them.
    per_crate, shared, _ = discovered_env()
    everywhere = set().union(*per_crate.values(), shared) - set(NOT_DEPLOYED)
    set_somewhere = set().union(*(env_of(tpl, fn) for fn in by_binary.values()))
    source = load_template()
    for values in CONFIGURED_ONLY.values():
        variant = resolve_conditions(source, values)
        set_somewhere |= set().union(*(env_of(variant, fn) for fn in by_binary.values()))
    assert not sorted(everywhere - set_somewhere), "read by the code, set on no function"
    assert total >= 16


@pytest.mark.parametrize("name", sorted(CONFIGURED_ONLY))
def test_a_configured_only_variable_is_unset_by_default_and_set_when_configured(tpl, source, name):
    ingest = function_by_binary(tpl)["ingest"]
    assert name not in env_of(tpl, ingest), f"{name} must stay unset in the default deployment"
    variant = resolve_conditions(source, CONFIGURED_ONLY[name])
    value = env_of(variant, ingest)[name]
    params = {k for k in CONFIGURED_ONLY[name] if k in variant["Parameters"]}
    if name == "DRIFTLESS_CLIENT_IP_HEADER":
        # The header CloudFront puts the viewer's address in (ip:port).
        assert value == "cloudfront-viewer-address"
    else:
        assert referenced_names(value) == params, (name, value)


def test_env_values_come_from_parameters_or_resources(tpl):
    known = set(tpl["Parameters"]) | set(tpl["Resources"]) | {"AWS::Region", "AWS::StackName", "AWS::Partition", "AWS::AccountId", "AWS::URLSuffix"}
    for fn in serverless_functions(tpl):
        for name, value in env_of(tpl, fn).items():
            refs = referenced_names(value)
            assert refs, f"{fn}.{name} is a literal; make it a parameter"
            assert refs <= known, f"{fn}.{name} refers to {refs - known}"


def test_no_stale_env_vars(tpl):
    per_crate, shared, any_source = discovered_env()
    if not any_source:
        pytest.skip("no Rust sources yet: nothing to compare against")
    readable = set(shared).union(*per_crate.values())
    for binary, fn in function_by_binary(tpl).items():
        if not per_crate.get(binary):
            readable |= KNOWN.get(binary, set())
    for fn in serverless_functions(tpl):
        stale = sorted(n for n in env_of(tpl, fn) if n.startswith("DRIFTLESS_") and n not in readable)
        assert not stale, f"{fn} sets {stale}, which no source reads"


def test_env_discovery_would_catch_a_missing_name(tpl, tmp_path):
    """The wiring test is real: a name only the sources know makes it fail."""
    (tmp_path / "functions" / "ingest" / "src").mkdir(parents=True)
    (tmp_path / "functions" / "ingest" / "src" / "main.rs").write_text(
        'const A: &str = "DRIFTLESS_EVENTS_STREAM"; const B: &str = "DRIFTLESS_NOT_IN_TEMPLATE";\n'
    )
    (tmp_path / "shared" / "src").mkdir(parents=True)
    (tmp_path / "shared" / "src" / "config.rs").write_text('env::var("DRIFTLESS_BUCKET")\n')
    need = required_env(tpl, tmp_path)
    assert need["ingest"] == {"DRIFTLESS_EVENTS_STREAM", "DRIFTLESS_NOT_IN_TEMPLATE"}
    assert "DRIFTLESS_BUCKET" in need["compact"]
    assert "DRIFTLESS_NOT_IN_TEMPLATE" not in env_of(tpl, function_by_binary(tpl)["ingest"])


def test_defaults_match_the_wire_format_doc(tpl):
    doc = WIRE_FORMAT.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\|\s*`(DRIFTLESS_[A-Z_]+)`\s*\|\s*([\d,]+)", doc, flags=re.M))
    assert len(rows) >= 7, "limits table not found in docs/wire-format.md"
    env = env_of(tpl, function_by_binary(tpl)["ingest"])
    for name, default in rows.items():
        param = env[name]["Ref"]
        assert tpl["Parameters"][param]["Default"] == int(default.replace(",", "")), name
    assert "(default 30 days" in doc
    assert tpl["Parameters"][env["DRIFTLESS_MAX_EVENT_AGE_SECS"]["Ref"]]["Default"] == 30 * 86400
    assert "`drop` (default" in doc
    assert tpl["Parameters"][env["DRIFTLESS_IP_POLICY"]["Ref"]]["Default"] == "drop"
    assert set(tpl["Parameters"]["IpPolicy"]["AllowedValues"]) == {"drop", "truncate", "keep"}


# --------------------------------------------------------------------------- API


def test_http_api_route_cors_throttling(tpl, source):
    params = tpl["Parameters"]
    path = params["IngestPath"]["Default"]
    assert path == "/v1/batch" and re.match(params["IngestPath"]["AllowedPattern"], path)
    for word in ("/analytics", "/v1/track", "/collect"):
        assert not re.match(params["IngestPath"]["AllowedPattern"], word), word
    routes = {r["Properties"]["RouteKey"]["Fn::Sub"] for r in resources(tpl, "AWS::ApiGatewayV2::Route").values()}
    assert routes == {"POST ${IngestPath}", "OPTIONS ${IngestPath}"}
    (api,) = resources(tpl, "AWS::ApiGatewayV2::Api").values()
    # CORS is answered by the function alone (preflight included), from DRIFTLESS_ALLOWED_ORIGINS.
    assert "CorsConfiguration" not in api["Properties"]
    targets = {r["Properties"]["Target"]["Fn::Sub"] for r in resources(tpl, "AWS::ApiGatewayV2::Route").values()}
    assert targets == {"integrations/${IngestIntegration}"}
    (stage,) = resources(tpl, "AWS::ApiGatewayV2::Stage").values()
    throttle = stage["Properties"]["DefaultRouteSettings"]
    assert throttle["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    assert throttle["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}
    (integration,) = resources(tpl, "AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    (perm,) = resources(tpl, "AWS::Lambda::Permission").values()
    assert perm["Properties"]["SourceArn"]["Fn::Sub"].endswith(":${HttpApi}/*/*${IngestPath}")
    with_domain = resolve_conditions(source, WITH_DOMAIN)["Resources"]
    for name in ("CustomDomain", "CustomDomainMapping", "CustomDomainRecord"):
        assert name not in tpl["Resources"] and name in with_domain, name
    assert with_domain["CustomDomainRecord"]["Properties"]["AliasTarget"]["DNSName"] == {"Fn::GetAtt": ["CustomDomain", "RegionalDomainName"]}


# --------------------------------------------------------------------------- Firehose


def test_firehose_streams(tpl):
    streams = resources(tpl, "AWS::KinesisFirehose::DeliveryStream")
    layout = {"EventsStream": "raw/events/", "QuarantineStream": "raw/quarantine/"}
    assert set(streams) == set(layout)
    for name, stream in streams.items():
        props = stream["Properties"]
        assert props["DeliveryStreamType"] == "DirectPut"
        dest = props["ExtendedS3DestinationConfiguration"]
        assert dest["BucketARN"] == {"Fn::GetAtt": ["Bucket", "Arn"]}
        assert dest["CompressionFormat"] == "GZIP"
        # DESIGN.md: raw/<stream>/YYYY/MM/DD/HH/ (the Firehose default time prefix, UTC)
        assert dest["Prefix"] == layout[name] + "!{timestamp:yyyy/MM/dd/HH}/"
        # an expression in Prefix needs an ErrorOutputPrefix holding the error type
        assert "!{firehose:error-output-type}" in dest["ErrorOutputPrefix"]
        assert dest["ErrorOutputPrefix"].startswith("raw/errors/")
        hints = dest["BufferingHints"]
        for key in ("IntervalInSeconds", "SizeInMBs"):
            assert hints[key]["Ref"] in tpl["Parameters"], (name, key)
        logging = dest["CloudWatchLoggingOptions"]
        assert logging["Enabled"] is True and logging["LogGroupName"] and logging["LogStreamName"]


def test_days_close_after_the_firehose_buffers(tpl):
    p = tpl["Parameters"]
    longest = max(p["EventsBufferIntervalSecs"]["Default"], p["QuarantineBufferIntervalSecs"]["Default"])
    assert p["CloseAfterSecs"]["Default"] > longest


# --------------------------------------------------------------------------- compaction


def test_compaction_schedule_retries_and_dlq(tpl):
    fn = function_by_binary(tpl)["compact"]
    props = function_props(tpl, fn)
    cfg = props["EventInvokeConfig"]
    assert cfg["MaximumRetryAttempts"] == {"Ref": "CompactMaxRetryAttempts"}
    assert cfg["MaximumEventAgeInSeconds"] == {"Ref": "CompactMaxEventAgeSecs"}
    on_failure = cfg["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    dlq = on_failure["Destination"]["Fn::GetAtt"][0]
    assert tpl["Resources"][dlq]["Type"] == "AWS::SQS::Queue"
    schedules = [e for e in props["Events"].values() if e["Type"] in ("Schedule", "ScheduleV2")]
    assert len(schedules) == 1
    assert schedules[0]["Properties"]["ScheduleExpression"] == {"Ref": "CompactSchedule"}


def test_scheduler_fixture_is_what_the_schedule_sends(tpl):
    fn = function_by_binary(tpl)["compact"]
    (event,) = function_props(tpl, fn)["Events"].values()
    template_input = json.loads(event["Properties"]["Input"])
    fixture = json.loads((FIXTURES / "scheduler.json").read_text())
    assert set(fixture) == set(template_input)
    for key, value in template_input.items():
        if value.startswith("<aws.scheduler."):
            assert not fixture[key].startswith("<"), f"{key}: fixture must hold a substituted value"
        else:
            assert fixture[key] == value


# --------------------------------------------------------------------------- Glue / Athena

CATALOG = ROOT / "queries" / "athena" / "catalog.template.yaml"


def test_glue_tables_are_the_delta_tables_with_the_lake_columns():
    """Both lake tables live in the generated catalog template as Delta tables (Athena reads the
    transaction log: only committed files), their columns exactly the column tables of
    shared/src/record (through `driftless columns`), never typed by hand."""
    sys.path.insert(0, str(Path(__file__).parent))
    from columns import hive_columns, lake_columns

    catalog = load_cfn(CATALOG)
    partition = lake_columns()["partition"]
    for logical, name in [("EventsTable", "events"), ("QuarantineTable", "quarantine")]:
        ti = catalog["Resources"][logical]["Properties"]["TableInput"]
        assert ti["Name"] == name
        cols = [(c["Name"], c["Type"]) for c in ti["StorageDescriptor"]["Columns"]]
        assert cols == hive_columns(name)
        assert [(c["Name"], c["Type"]) for c in ti["PartitionKeys"]] == [(partition, "string")]
        assert ti["StorageDescriptor"]["Location"] == {"Fn::Sub": f"s3://${{BucketName}}/lake/{name}/"}
        assert ti["Parameters"]["table_type"] == "DELTA"
        assert not any(k.startswith("projection.") for k in ti["Parameters"]), "no partition projection"


def test_the_catalog_is_a_nested_stack_of_the_generated_template(tpl, translated):
    app = tpl["Resources"]["AthenaCatalog"]
    assert app["Type"] == "AWS::Serverless::Application"
    location = app["Properties"]["Location"]
    assert location == "queries/athena/catalog.template.yaml"  # generated by `driftless codegen`
    nested = load_cfn(ROOT / location)
    assert "Transform" not in nested
    assert app["Properties"]["Parameters"] == {
        "GlueDatabase": {"Ref": "GlueDatabase"},
        "BucketName": {"Ref": "Bucket"},
    }
    assert set(nested["Parameters"]) == set(app["Properties"]["Parameters"])
    assert {r["Type"] for r in nested["Resources"].values()} == {"AWS::Glue::Table"}
    assert not [r for r in tpl["Resources"].values() if r["Type"] == "AWS::Glue::Table"], \
        "Glue tables live in the generated catalog only"
    stack = translated["Resources"]["AthenaCatalog"]
    assert stack["Type"] == "AWS::CloudFormation::Stack"


# --------------------------------------------------------------------------- observability

INGEST_METRICS = ["EventsAccepted", "EventsRejected", "BatchSize", "FirehoseRetries", "FirehoseFailures", "HandlerLatencyMs"]
COMPACT_METRICS = ["EventsIn", "DuplicatesDropped", "RowsOut", "BytesIn", "BytesOut", "DurationMs", "Completeness", "LagDays", "CompactionFailures",
                   "OldestOpenErasureDays", "ErasedRows"]


def _alarm_metrics(alarm: dict) -> set[tuple[str, str]]:
    props = alarm["Properties"]
    if "MetricName" in props:
        return {(props["Namespace"], props["MetricName"])}
    return {
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
        for m in props["Metrics"] if "MetricStat" in m
    }


def test_alarms_cover_the_pipeline(tpl):
    alarms = resources(tpl, "AWS::CloudWatch::Alarm")
    covered = set().union(*(_alarm_metrics(a) for a in alarms.values()))
    for needed in [
        ("Driftless", "EventsAccepted"), ("Driftless", "EventsRejected"),  # quarantine rate
        ("AWS/Lambda", "Errors"), ("AWS/ApiGateway", "5xx"), ("AWS/ApiGateway", "Latency"),
        ("Driftless", "ApiThrottled"), ("Driftless", "FirehoseFailures"),
        ("AWS/Firehose", "DeliveryToS3.DataFreshness"), ("AWS/Firehose", "DeliveryToS3.Success"),
        ("Driftless", "CompactionFailures"), ("AWS/Lambda", "Duration"), ("Driftless", "LagDays"),
        ("Driftless", "Completeness"), ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("Driftless", "OldestOpenErasureDays"),
    ]:
        assert needed in covered, needed
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
    # both streams watched for freshness and failures
    for metric in ("DeliveryToS3.DataFreshness", "DeliveryToS3.Success"):
        streams = {a["Properties"]["Dimensions"][0]["Value"]["Ref"] for a in alarms.values() if a["Properties"].get("MetricName") == metric}
        assert streams == {"EventsStream", "QuarantineStream"}, metric
    # the throttle metric exists: it comes from the API access log
    (mf,) = resources(tpl, "AWS::Logs::MetricFilter").values()
    assert mf["Properties"]["MetricTransformations"][0]["MetricName"] == "ApiThrottled"
    assert "429" in mf["Properties"]["FilterPattern"]


def dashboard_widgets(doc: dict) -> str:
    """The dashboard's widgets as JSON text, after checking that the body is JSON, that each of its
    ${X} names a parameter or resource of `doc`, and that it shows every alarm of `doc`."""
    (dash,) = resources(doc, "AWS::CloudWatch::Dashboard").values()
    body = inline_sub(dash["Properties"]["DashboardBody"]["Fn::Sub"])
    for ref in set(re.findall(r"\$\{([^}]+)\}", body)):
        base = ref.split(".", 1)[0]
        assert base in doc["Parameters"] or base in doc["Resources"] or base.startswith("AWS::"), ref
    parsed = json.loads(re.sub(r"\$\{[^}]+\}", "0", body))
    on_dashboard = set(re.findall(r"\$\{(\w+)\.Arn\}", body)) & set(resources(doc, "AWS::CloudWatch::Alarm"))
    assert on_dashboard == set(resources(doc, "AWS::CloudWatch::Alarm"))
    return json.dumps(parsed["widgets"])


def test_dashboard_is_json_and_shows_every_metric_and_alarm(tpl):
    metrics_shown = dashboard_widgets(tpl)
    for name in INGEST_METRICS + COMPACT_METRICS + ["ApiThrottled"]:
        assert f'"{name}"' in metrics_shown, name


def test_outputs(tpl):
    outputs = tpl["Outputs"]
    assert outputs["IngestEndpoint"]["Value"] == {"Fn::Sub": "${HttpApi.ApiEndpoint}${IngestPath}"}
    assert outputs["BucketName"]["Value"] == {"Ref": "Bucket"}
    assert outputs["AthenaDatabase"]["Value"] == {"Ref": "GlueDatabase"}
    assert outputs["AthenaTable"]["Value"] == {"Fn::GetAtt": ["AthenaCatalog", "Outputs.EventsTable"]}


# --------------------------------------------------------------------------- fixtures


def test_apigw_fixture_is_a_valid_text_plain_batch(tpl):
    ev = json.loads((FIXTURES / "apigw-v2-batch.json").read_text())
    path = tpl["Parameters"]["IngestPath"]["Default"]
    assert ev["version"] == "2.0" and ev["routeKey"] == f"POST {path}" and ev["rawPath"] == path
    ctx = ev["requestContext"]
    assert ctx["http"]["method"] == "POST" and ctx["http"]["path"] == path and ctx["stage"] == "$default"
    assert ev["headers"]["content-type"].startswith("text/plain")
    assert ev["isBase64Encoded"] is False
    assert int(ev["headers"]["content-length"]) == len(ev["body"].encode())
    body = json.loads(ev["body"])
    assert body["sent_at"] and 0 < len(body["events"]) <= tpl["Parameters"]["MaxEventsPerBatch"]["Default"]
    for e in body["events"]:
        assert (ROOT / "schema" / e["event_type"] / f"{e['schema_version']}.json").is_file()


def test_other_fixtures():
    sched = json.loads((FIXTURES / "schedule.json").read_text())
    assert sched["source"] == "aws.events" and sched["detail-type"] == "Scheduled Event"
    date = json.loads((FIXTURES / "compact-date.json").read_text())
    assert set(date) == {"date"} and re.fullmatch(r"\d{4}-\d{2}-\d{2}", date["date"])
    optimize = json.loads((FIXTURES / "compact-optimize.json").read_text())
    assert set(optimize) == {"optimize"} and re.fullmatch(r"\d{4}-\d{2}-\d{2}", optimize["optimize"])


# --------------------------------------------------------------------------- tools


def test_sam_transform_accepts_the_template(translated):
    types = {r["Type"] for r in translated["Resources"].values()}
    assert "AWS::Lambda::Function" in types and "AWS::Scheduler::Schedule" in types
    assert not any(t.startswith("AWS::Serverless::") for t in types)


def test_cfn_lint_reports_nothing():
    proc = subprocess.run(
        # the cfn-lint console script of this interpreter's environment (no global cfn-lint)
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", "--", str(TEMPLATE)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == ""


def test_erasure_alarm_and_retention_are_parameters_with_the_documented_defaults(tpl):
    params = tpl["Parameters"]
    assert params["ErasureAlarmDays"]["Default"] == 25
    assert params["QuarantineRetentionDays"]["Default"] == 90
    assert params["EventsRetentionDays"]["Default"] == 0, "the events table is kept by default"
    assert params["RawExpirationDays"]["Default"] == 30
    alarm = tpl["Resources"]["ErasureOverdueAlarm"]["Properties"]
    assert alarm["MetricName"] == "OldestOpenErasureDays"
    assert alarm["Threshold"] == {"Ref": "ErasureAlarmDays"}
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    env = env_of(tpl, function_by_binary(tpl)["compact"])
    for var, param in [
        ("DRIFTLESS_ERASURE_ALARM_DAYS", "ErasureAlarmDays"),
        ("DRIFTLESS_QUARANTINE_RETENTION_DAYS", "QuarantineRetentionDays"),
        ("DRIFTLESS_EVENTS_RETENTION_DAYS", "EventsRetentionDays"),
    ]:
        assert env[var] == {"Ref": param}, var
