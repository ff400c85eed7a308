"""Trusted traffic in template.yaml (issue #12): source keys, the GeoIP database, the AWS WAF rate
limits and the dashboard's refusals and bot share, each resolved for given parameter values the way
CloudFormation deploys them (tests/template/cfn.py, `resolve_conditions`; `failed_rules` for what
CloudFormation refuses before it creates anything).

Run: .venv/bin/python -m pytest tests/template -q

- Unset (the defaults), they add nothing: no variable, no permission, no layer, no web ACL.
- Each grant is exactly what its parameter names: ssm:GetParameter on that one parameter,
  kms:Decrypt of that one key through SSM, s3:GetObject on that one object; on both endpoints.
- WAF attaches to the CloudFront front of FunctionUrl + DomainName only: the template creates a
  CLOUDFRONT web ACL when the stack is in us-east-1, or takes an existing one's ARN elsewhere; its
  rate rules answer 429 with Retry-After, readable through CORS.
- cfn-lint and the SAM transform accept every variant with everything configured.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfn import failed_rules, inline_sub, resolve_conditions, without_unused_parameters
from test_endpoint_types import evaluate
from test_template import (
    WITH_DOMAIN,
    allow_statements,
    as_list,
    dashboard_widgets,
    env_of,
    flat,
    function_props,
    resources,
    role_statements,
    sam_transform,
)

ROOT = Path(__file__).resolve().parents[2]

URL = {"IngestEndpointType": "FunctionUrl"}
FRONT = {**URL, **WITH_DOMAIN}  # the CloudFront distribution in front of the function URL
ENDPOINTS = {"HttpApi": {}, "FunctionUrl": URL}

KEYS = '[{"key":"dk_web_2026a","source":"web","origins":["https://shop.example"]},{"key":"dk_srv_1","source":"backend"}]'
KEYS_PARAMETER = "/driftless/source-keys"
KMS_KEY = "arn:aws:kms:eu-central-1:123456789012:key/0a1b2c3d-0000-4000-8000-000000000000"
GEO_S3 = "s3://geo-bucket/geoip/GeoLite2-City.mmdb"
GEO_PATH = "/opt/geoip/GeoLite2-City.mmdb"
LAYER = "arn:aws:lambda:eu-central-1:123456789012:layer:geoip:3"
WEB_ACL = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/driftless/0a1b2c3d-0000-4000-8000-000000000000"

NEW_VARIABLES = {"DRIFTLESS_SOURCE_KEYS", "DRIFTLESS_SOURCE_KEYS_PARAMETER", "DRIFTLESS_GEOIP_DATABASE",
                 "DRIFTLESS_CLIENT_IP_HEADER"}

# What a deployed ARN evaluates to (the account, partition and region of these tests).
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-central-1", "AWS::AccountId": "123456789012",
          "AWS::URLSuffix": "amazonaws.com"}


def ingest_grants(doc: dict) -> dict[str, list[dict]]:
    """Sid -> statements of the ingest role, beyond its logs and its two streams."""
    out: dict[str, list[dict]] = {}
    for st in role_statements(doc, "IngestRole"):
        if st["Sid"] not in ("Logs", "ForwardToFirehose"):
            out.setdefault(st["Sid"], []).append(st)
    return out


def arn(value, parameters: dict[str, object]) -> str:
    """A Resource of a statement as deployed with these parameter values."""
    known = {**PSEUDO, **{k: str(v) for k, v in parameters.items()}}
    return evaluate(value, {}, known)


def ingest_env(doc: dict) -> dict:
    return env_of(doc, "IngestFunction")


# --------------------------------------------------------------------------- defaults


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_unset_parameters_add_nothing(source, endpoint):
    for extra in ({}, WITH_DOMAIN):
        doc = resolve_conditions(source, {**ENDPOINTS[endpoint], **extra})
        env = ingest_env(doc)
        # Only the CloudFront front names a header for the client IP.
        expected = {"DRIFTLESS_CLIENT_IP_HEADER"} if endpoint == "FunctionUrl" and extra else set()
        assert set(env) & NEW_VARIABLES == expected, "unset means keyless mode and no geo"
        assert ingest_grants(doc) == {}
        assert "Layers" not in function_props(doc, "IngestFunction")
        assert not resources(doc, "AWS::WAFv2::WebACL")
        if "IngestDistribution" in doc["Resources"]:
            assert "WebACLId" not in doc["Resources"]["IngestDistribution"]["Properties"]["DistributionConfig"]
    assert failed_rules(source, ENDPOINTS[endpoint]) == []


# --------------------------------------------------------------------------- source keys


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_inline_source_keys_reach_the_function_and_grant_nothing(source, endpoint):
    doc = resolve_conditions(source, {**ENDPOINTS[endpoint], "SourceKeys": KEYS})
    env = ingest_env(doc)
    assert env["DRIFTLESS_SOURCE_KEYS"] == {"Ref": "SourceKeys"}
    assert "DRIFTLESS_SOURCE_KEYS_PARAMETER" not in env
    assert ingest_grants(doc) == {}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_a_keys_parameter_is_readable_by_ingest_and_nothing_else(source, endpoint):
    values = {**ENDPOINTS[endpoint], "SourceKeysParameter": KEYS_PARAMETER}
    doc = resolve_conditions(source, values)
    assert ingest_env(doc)["DRIFTLESS_SOURCE_KEYS_PARAMETER"] == {"Ref": "SourceKeysParameter"}
    assert "DRIFTLESS_SOURCE_KEYS" not in ingest_env(doc)
    grants = ingest_grants(doc)
    assert set(grants) == {"ReadSourceKeys"}, "no kms:Decrypt for the default aws/ssm key"
    (st,) = grants["ReadSourceKeys"]
    assert st["Effect"] == "Allow" and as_list(st["Action"]) == ["ssm:GetParameter"]
    assert arn(st["Resource"], values) == "arn:aws:ssm:eu-central-1:123456789012:parameter/driftless/source-keys"
    # Only the ingest role reads parameters.
    readers = [owner for owner, s in allow_statements(doc) if any(a.startswith("ssm:") for a in as_list(s["Action"]))]
    assert readers == ["IngestRole/ingest"]


def test_a_customer_managed_key_is_decrypted_only_through_ssm(source):
    values = {"SourceKeysParameter": KEYS_PARAMETER, "SourceKeysKmsKeyArn": KMS_KEY}
    grants = ingest_grants(resolve_conditions(source, values))
    assert set(grants) == {"ReadSourceKeys", "DecryptSourceKeys"}
    (st,) = grants["DecryptSourceKeys"]
    assert as_list(st["Action"]) == ["kms:Decrypt"] and st["Resource"] == {"Ref": "SourceKeysKmsKeyArn"}
    via = st["Condition"]["StringEquals"]["kms:ViaService"]
    assert arn(via, values) == "ssm.eu-central-1.amazonaws.com"
    # A key without a parameter to decrypt grants nothing.
    assert ingest_grants(resolve_conditions(source, {"SourceKeysKmsKeyArn": KMS_KEY})) == {}


def test_a_keys_parameter_name_is_hierarchical(source):
    pattern = source["Parameters"]["SourceKeysParameter"]["AllowedPattern"]
    for ok in ("", "/driftless/source-keys", "/prod/driftless.keys_v2"):
        assert re.fullmatch(pattern, ok), ok
    # Without the leading slash the ARN would miss its separator; no wildcards or spaces.
    for bad in ("driftless/source-keys", "/driftless/*", "/a b"):
        assert not re.fullmatch(pattern, bad), bad


def test_keys_inline_and_in_a_parameter_are_refused_before_deploying(source):
    assert failed_rules(source, {"SourceKeys": KEYS, "SourceKeysParameter": KEYS_PARAMETER}) == ["SourceKeysOnce"]
    assert failed_rules(source, {"SourceKeys": KEYS}) == []
    assert failed_rules(source, {"SourceKeysParameter": KEYS_PARAMETER}) == []


# --------------------------------------------------------------------------- GeoIP


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_a_geoip_database_on_s3_is_the_one_object_ingest_may_get(source, endpoint):
    values = {**ENDPOINTS[endpoint], "GeoIpDatabase": GEO_S3}
    doc = resolve_conditions(source, values)
    assert ingest_env(doc)["DRIFTLESS_GEOIP_DATABASE"] == {"Ref": "GeoIpDatabase"}
    grants = ingest_grants(doc)
    assert set(grants) == {"ReadGeoIpDatabase"}
    (st,) = grants["ReadGeoIpDatabase"]
    assert as_list(st["Action"]) == ["s3:GetObject"]
    assert arn(st["Resource"], values) == "arn:aws:s3:::geo-bucket/geoip/GeoLite2-City.mmdb"


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_a_geoip_database_in_a_layer_needs_no_permission(source, endpoint):
    doc = resolve_conditions(source, {**ENDPOINTS[endpoint], "GeoIpDatabase": GEO_PATH, "GeoIpLayerArn": LAYER})
    assert ingest_env(doc)["DRIFTLESS_GEOIP_DATABASE"] == {"Ref": "GeoIpDatabase"}
    assert ingest_grants(doc) == {}
    assert function_props(doc, "IngestFunction")["Layers"] == [{"Ref": "GeoIpLayerArn"}]


def test_the_geoip_database_is_a_path_or_an_s3_uri(source):
    pattern = source["Parameters"]["GeoIpDatabase"]["AllowedPattern"]
    for ok in ("", GEO_PATH, GEO_S3, "/tmp/dbip-city-lite.mmdb"):
        assert re.fullmatch(pattern, ok), ok
    for bad in ("GeoLite2-City.mmdb", "s3://bucket-only", "s3://", "https://example.com/db.mmdb"):
        assert not re.fullmatch(pattern, bad), bad


# --------------------------------------------------------------------------- WAF

WAF_RULES = {"WafRateLimitPerIp": 2000, "WafRateLimitPerKey": 20000}


def test_waf_rate_rules_answer_429_with_retry_after_readable_by_browsers(source):
    doc = resolve_conditions(source, {**FRONT, **WAF_RULES})
    (acl,) = resources(doc, "AWS::WAFv2::WebACL").values()
    props = acl["Properties"]
    assert props["Scope"] == "CLOUDFRONT" and props["DefaultAction"] == {"Allow": {}}
    rules = {r["Name"]: r for r in props["Rules"]}
    assert set(rules) == {"per-ip", "per-key"}
    per_ip = rules["per-ip"]["Statement"]["RateBasedStatement"]
    assert per_ip["AggregateKeyType"] == "IP" and per_ip["Limit"] == {"Ref": "WafRateLimitPerIp"}
    per_key = rules["per-key"]["Statement"]["RateBasedStatement"]
    assert per_key["AggregateKeyType"] == "CUSTOM_KEYS" and per_key["Limit"] == {"Ref": "WafRateLimitPerKey"}
    assert [k["Header"]["Name"].lower() for k in per_key["CustomKeys"]] == ["x-driftless-key"]
    bodies = props["CustomResponseBodies"]
    for rule in rules.values():
        assert rule["Statement"]["RateBasedStatement"]["EvaluationWindowSec"] == {"Ref": "WafEvaluationWindowSecs"}
        response = rule["Action"]["Block"]["CustomResponse"]
        assert response["ResponseCode"] == 429
        headers = {h["Name"].lower(): h["Value"] for h in response["ResponseHeaders"]}
        # Retry the window later; the SDK can read it only if CORS lets the page see the answer.
        assert headers["retry-after"] == {"Ref": "WafEvaluationWindowSecs"}
        assert headers["access-control-allow-origin"] == "*"
        assert "Retry-After" in headers["access-control-expose-headers"]
        body = json.loads(bodies[response["CustomResponseBodyKey"]]["Content"])
        assert set(body["error"]) == {"code", "message"}, "the error body of docs/wire-format.md"
    assert len({r["Priority"] for r in rules.values()}) == 2
    distribution = doc["Resources"]["IngestDistribution"]["Properties"]["DistributionConfig"]
    assert distribution["WebACLId"] == {"Fn::GetAtt": ["IngestWebAcl", "Arn"]}
    assert failed_rules(source, {**FRONT, **WAF_RULES}, region="us-east-1") == []


@pytest.mark.parametrize("rule", sorted(WAF_RULES))
def test_each_waf_rate_rule_alone(source, rule):
    doc = resolve_conditions(source, {**FRONT, rule: WAF_RULES[rule]})
    (acl,) = resources(doc, "AWS::WAFv2::WebACL").values()
    assert [r["Name"] for r in acl["Properties"]["Rules"]] == ["per-ip" if rule == "WafRateLimitPerIp" else "per-key"]


def test_an_existing_web_acl_is_attached_as_given(source):
    doc = resolve_conditions(source, {**FRONT, "WafWebAclArn": WEB_ACL})
    assert not resources(doc, "AWS::WAFv2::WebACL")
    distribution = doc["Resources"]["IngestDistribution"]["Properties"]["DistributionConfig"]
    assert distribution["WebACLId"] == {"Ref": "WafWebAclArn"}
    # Outside us-east-1 too: only the ACL's creation is bound to it.
    assert failed_rules(source, {**FRONT, "WafWebAclArn": WEB_ACL}, region="eu-central-1") == []
    pattern = source["Parameters"]["WafWebAclArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, WEB_ACL)
    regional = WEB_ACL.replace("us-east-1:123456789012:global", "eu-central-1:123456789012:regional")
    assert not re.fullmatch(pattern, regional), "a REGIONAL web ACL cannot attach to CloudFront"


@pytest.mark.parametrize("waf", [{"WafRateLimitPerIp": 2000}, {"WafRateLimitPerKey": 2000}, {"WafWebAclArn": WEB_ACL}],
                         ids=["per-ip", "per-key", "existing"])
@pytest.mark.parametrize("endpoint", [{}, WITH_DOMAIN, URL], ids=["http-api", "http-api-domain", "function-url-no-domain"])
def test_waf_without_the_cloudfront_front_is_refused(source, waf, endpoint):
    assert "WafNeedsCloudFront" in failed_rules(source, {**endpoint, **waf}, region="us-east-1")
    assert not resources(resolve_conditions(source, {**endpoint, **waf}), "AWS::WAFv2::WebACL")


def test_waf_rules_outside_us_east_1_are_refused_with_the_way_out(source):
    assert failed_rules(source, {**FRONT, **WAF_RULES}, region="eu-central-1") == ["WafRulesInUsEast1"]
    (assertion,) = [a for a in source["Rules"]["WafRulesInUsEast1"]["Assertions"] if "Region" in json.dumps(a)]
    assert "WafWebAclArn" in assertion["AssertDescription"]
    assert "WafRulesInUsEast1" in failed_rules(source, {**FRONT, **WAF_RULES, "WafWebAclArn": WEB_ACL}, region="us-east-1")


def test_waf_limits_are_at_least_wafs_minimum_or_off(source):
    params = source["Parameters"]
    for name in WAF_RULES:
        assert params[name]["Default"] == 0 and params[name]["MinValue"] == 0, name
        assert "at least 10" in params[name]["Description"] or name == "WafRateLimitPerKey"
    assert params["WafEvaluationWindowSecs"]["AllowedValues"] == [60, 120, 300, 600]


# --------------------------------------------------------------------------- dashboard


def test_the_dashboard_shows_refusals_by_reason_and_the_bot_share(source):
    for values in ({}, URL):
        doc = resolve_conditions(source, values)
        shown = dashboard_widgets(doc)
        (dash,) = resources(doc, "AWS::CloudWatch::Dashboard").values()
        widgets = json.loads(re.sub(r"\$\{[^}]+\}", "0", inline_sub(dash["Properties"]["DashboardBody"]["Fn::Sub"])))["widgets"]
        (refused,) = [w for w in widgets if "refused by reason" in w["properties"].get("title", "")]
        (expr,) = [m[0]["expression"] for m in refused["properties"]["metrics"]]
        # One line per Reason the function reports (missing_key, unknown_key, origin_not_allowed...).
        assert expr.startswith("SEARCH('{Driftless,Function,Reason}") and 'MetricName="RequestsRejected"' in expr
        (share,) = [w for w in widgets if "Bot share" in w["properties"].get("title", "")]
        metrics = share["properties"]["metrics"]
        ids = {m[-1]["id"]: m[1] for m in metrics if isinstance(m[0], str)}
        assert ids == {"b": "BotEvents", "a": "EventsAccepted"}
        (math,) = [m[0]["expression"] for m in metrics if isinstance(m[0], dict)]
        assert "100*FILL(b,0)/FILL(a,0)" in math
        assert '"BotEvents"' in shown


# --------------------------------------------------------------------------- tools

EVERYTHING = {
    "front-waf": {**FRONT, **WAF_RULES, "SourceKeysParameter": KEYS_PARAMETER, "SourceKeysKmsKeyArn": KMS_KEY,
                  "GeoIpDatabase": GEO_S3},
    "front-existing-acl": {**FRONT, "WafWebAclArn": WEB_ACL, "SourceKeys": KEYS, "GeoIpDatabase": GEO_PATH,
                           "GeoIpLayerArn": LAYER},
    "http-api": {"SourceKeys": KEYS, "GeoIpDatabase": GEO_S3},
}


@pytest.mark.parametrize("name", sorted(EVERYTHING))
def test_cfn_lint_and_the_sam_transform_accept_every_configured_variant(source, name, tmp_path):
    values = EVERYTHING[name]
    assert failed_rules(source, values, region="us-east-1") == []
    doc = without_unused_parameters(resolve_conditions(source, values))
    for param, value in values.items():
        doc["Parameters"][param]["Default"] = value
        # A rate rule exists here, so its limit is not the 0 that turns it off: cfn-lint would
        # read MinValue 0 as a possible limit (linted whole, with its conditions, it knows better).
        if param in WAF_RULES:
            doc["Parameters"][param]["MinValue"] = 10
    translated = sam_transform(doc)
    for owner, st in allow_statements(translated):
        for res in as_list(st["Resource"]):
            assert flat(res) != "*", owner
    path = tmp_path / f"{name}.template.json"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())",
         "--regions", "us-east-1", "--", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == ""
