"""The two ingest endpoint types of template.yaml (IngestEndpointType), each resolved the way
CloudFormation deploys it (tests/template/cfn.py, `resolve_conditions`):

Run: .venv/bin/python -m pytest tests/template -q

- FunctionUrl: no API Gateway resource at all; a public function URL with exactly the two
  permissions such a URL needs; no Cors on the URL (the function answers CORS, as behind the API);
  reserved concurrency as the throttle, with the HTTP API's alarm threshold; alarms and dashboard on
  the URL's metrics; a custom domain through CloudFront; IngestEndpoint pointing at the URL; cfn-lint
  and the SAM transform accept it; the roles are those of the HttpApi variant.
- HttpApi: the default, unchanged (tests/template/test_template.py reads it); the two variants
  differ only in the endpoint's resources and in the few resources that watch or throttle it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cfn import referenced_names, resolve_conditions, without_unused_parameters
from test_template import (
    WITH_DOMAIN,
    allow_statements,
    dashboard_widgets,
    flat,
    function_props,
    resources,
    sam_transform,
)

ROOT = Path(__file__).resolve().parents[2]

URL = {"IngestEndpointType": "FunctionUrl"}

# The resources only one endpoint type has (without a custom domain, then what a domain adds).
API_ONLY = {
    "HttpApi", "IngestIntegration", "IngestPostRoute", "IngestOptionsRoute", "ApiAccessLogGroup",
    "IngestStage", "IngestInvokePermission", "ApiThrottledMetricFilter", "ApiThrottlesAlarm",
}
URL_ONLY = {"IngestUrl", "IngestUrlPublicAccess", "IngestUrlInvokePermission"}
API_DOMAIN = {"CustomDomain", "CustomDomainMapping", "CustomDomainRecord"}
URL_DOMAIN = {"IngestDistribution", "IngestOriginRequestPolicy", "CustomDomainRecord"}
# Resources of both whose properties follow the endpoint: what throttles, watches or names it.
FOLLOW_THE_ENDPOINT = {"IngestFunction", "IngestThrottlesAlarm", "Api5xxAlarm", "IngestLatencyAlarm", "Dashboard"}


@pytest.fixture(scope="module")
def api(source) -> dict:
    return resolve_conditions(source, {})


@pytest.fixture(scope="module")
def url(source) -> dict:
    return resolve_conditions(source, URL)


@pytest.fixture(scope="module")
def url_domain(source) -> dict:
    return resolve_conditions(source, {**URL, **WITH_DOMAIN})


def api_gateway_traces(doc: dict) -> list[str]:
    """Everything in `doc` that is API Gateway: resource types, principals, metrics, references."""
    text = json.dumps(doc)
    found = [f"{name}: {r['Type']}" for name, r in doc["Resources"].items() if r["Type"].startswith("AWS::ApiGateway")]
    found += [word for word in ("apigateway.amazonaws.com", "AWS/ApiGateway", "execute-api") if word in text]
    found += sorted(referenced_names(doc) & API_ONLY)
    return found


# --------------------------------------------------------------------------- no API Gateway


@pytest.mark.parametrize("domain", [False, True], ids=["no-domain", "custom-domain"])
def test_the_function_url_variant_has_no_api_gateway_resource(source, domain):
    doc = resolve_conditions(source, {**URL, **(WITH_DOMAIN if domain else {})})
    assert api_gateway_traces(doc) == []
    translated = sam_transform(without_unused_parameters(doc))
    assert api_gateway_traces(translated) == []
    assert {r["Type"] for r in translated["Resources"].values()} >= {"AWS::Lambda::Url", "AWS::Lambda::Function"}


def test_the_variants_differ_only_in_the_endpoint(api, url, source):
    assert set(api["Resources"]) - set(url["Resources"]) == API_ONLY
    assert set(url["Resources"]) - set(api["Resources"]) == URL_ONLY
    for name in set(api["Resources"]) & set(url["Resources"]):
        if name not in FOLLOW_THE_ENDPOINT:
            assert api["Resources"][name] == url["Resources"][name], f"{name} changes with the endpoint type"
    api_domain = resolve_conditions(source, WITH_DOMAIN)
    url_domain = resolve_conditions(source, {**URL, **WITH_DOMAIN})
    assert set(api_domain["Resources"]) - set(api["Resources"]) == API_DOMAIN
    assert set(url_domain["Resources"]) - set(url["Resources"]) == URL_DOMAIN
    # Nothing of the function URL reaches the default deployment.
    assert not resources(api, "AWS::Lambda::Url") and not resources(api_domain, "AWS::CloudFront::Distribution")
    assert "ReservedConcurrentExecutions" not in function_props(api, "IngestFunction")


# --------------------------------------------------------------------------- least privilege


def permissions(doc: dict) -> list[dict]:
    return [r["Properties"] for r in resources(doc, "AWS::Lambda::Permission").values()]


def test_a_public_function_url_has_exactly_its_two_permissions(url):
    """AuthType NONE needs lambda:InvokeFunctionUrl (for that auth type) and, for URLs made since
    October 2025, lambda:InvokeFunction limited to calls through the URL; nothing else invokes it."""
    fn = {"Ref": "IngestFunction"}
    assert sorted(permissions(url), key=lambda p: p["Action"]) == [
        {"Action": "lambda:InvokeFunction", "FunctionName": fn, "Principal": "*", "InvokedViaFunctionUrl": True},
        {"Action": "lambda:InvokeFunctionUrl", "FunctionName": fn, "Principal": "*", "FunctionUrlAuthType": "NONE"},
    ]
    (props,) = [r["Properties"] for r in resources(url, "AWS::Lambda::Url").values()]
    assert props == {"TargetFunctionArn": {"Fn::GetAtt": ["IngestFunction", "Arn"]}, "AuthType": "NONE", "InvokeMode": "BUFFERED"}


def test_the_sam_transform_adds_no_permission_to_the_function_url_variant(url):
    translated = sam_transform(without_unused_parameters(url))
    assert sorted(p["Action"] for p in permissions(translated)) == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]


def test_the_http_api_may_invoke_only_through_its_route(api):
    (perm,) = permissions(api)
    assert perm["Principal"] == "apigateway.amazonaws.com" and perm["Action"] == "lambda:InvokeFunction"
    assert perm["SourceArn"]["Fn::Sub"].endswith(":${HttpApi}/*/*${IngestPath}")


def test_both_variants_grant_the_same_identity_policies(api, url):
    def policies(doc):
        return sorted((owner, json.dumps(st, sort_keys=True)) for owner, st in allow_statements(doc))

    assert policies(url) == policies(api)
    assert len(policies(url)) >= 6


# --------------------------------------------------------------------------- behaviour


def test_the_function_answers_cors_behind_both_endpoints(api, url):
    # A URL with a Cors configuration answers preflights itself and overrides the function's CORS
    # headers; without one, OPTIONS reaches the function, as through the HTTP API's OPTIONS route.
    (props,) = [r["Properties"] for r in resources(url, "AWS::Lambda::Url").values()]
    assert "Cors" not in props
    (http_api,) = resources(api, "AWS::ApiGatewayV2::Api").values()
    assert "CorsConfiguration" not in http_api["Properties"]
    routes = {r["Properties"]["RouteKey"]["Fn::Sub"] for r in resources(api, "AWS::ApiGatewayV2::Route").values()}
    assert "OPTIONS ${IngestPath}" in routes
    for doc in (api, url):
        env = function_props(doc, "IngestFunction")["Environment"]["Variables"]
        assert env["DRIFTLESS_ALLOWED_ORIGINS"] == {"Fn::Join": [",", {"Ref": "AllowedOrigins"}]}


def test_reserved_concurrency_throttles_the_function_url(source, url, api):
    assert function_props(url, "IngestFunction")["ReservedConcurrentExecutions"] == {"Ref": "IngestReservedConcurrency"}
    param = source["Parameters"]["IngestReservedConcurrency"]
    assert param["Default"] >= 1 and param["MinValue"] == 0
    unreserved = resolve_conditions(source, {**URL, "IngestReservedConcurrency": 0})
    assert "ReservedConcurrentExecutions" not in function_props(unreserved, "IngestFunction"), "0 = no reservation"
    # Throttles are the URL's 429s: they get the HTTP API's throttle threshold; behind the API any
    # Lambda throttle means the account ran out of concurrency.
    assert url["Resources"]["IngestThrottlesAlarm"]["Properties"]["Threshold"] == {"Ref": "ApiThrottleAlarmCount"}
    assert api["Resources"]["IngestThrottlesAlarm"]["Properties"]["Threshold"] == 0
    stage = resources(api, "AWS::ApiGatewayV2::Stage")["IngestStage"]["Properties"]["DefaultRouteSettings"]
    assert stage == {"ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"}, "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"}}


def test_alarms_and_dashboard_watch_the_function_url(url):
    alarms = url["Resources"]
    fn_dim = [{"Name": "FunctionName", "Value": {"Ref": "IngestFunction"}}]
    for alarm, metric in (("Api5xxAlarm", "Url5xxCount"), ("IngestLatencyAlarm", "UrlRequestLatency")):
        props = alarms[alarm]["Properties"]
        assert (props["Namespace"], props["MetricName"], props["Dimensions"]) == ("AWS/Lambda", metric, fn_dim), alarm
    shown = dashboard_widgets(url)
    for metric in ("UrlRequestCount", "Url4xxCount", "Url5xxCount", "UrlRequestLatency", "Throttles", "HandlerLatencyMs"):
        assert f'"{metric}"' in shown, metric


def test_the_custom_domain_of_the_function_url_is_cloudfront(url_domain):
    (cf,) = resources(url_domain, "AWS::CloudFront::Distribution").values()
    cfg = cf["Properties"]["DistributionConfig"]
    assert cfg["Aliases"] == [{"Ref": "DomainName"}]
    assert cfg["ViewerCertificate"]["AcmCertificateArn"] == {"Ref": "CertificateArn"}
    assert cfg["ViewerCertificate"]["SslSupportMethod"] == "sni-only"
    (origin,) = cfg["Origins"]
    assert origin["DomainName"] == {"Fn::Select": [2, {"Fn::Split": ["/", {"Fn::GetAtt": ["IngestUrl", "FunctionUrl"]}]}]}
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    behaviour = cfg["DefaultCacheBehavior"]
    assert behaviour["TargetOriginId"] == origin["Id"]
    assert {"POST", "OPTIONS"} <= set(behaviour["AllowedMethods"])
    assert behaviour["ViewerProtocolPolicy"] == "https-only"  # a redirect would turn a POST into a GET
    assert behaviour["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
    assert behaviour["OriginRequestPolicyId"] == {"Ref": "IngestOriginRequestPolicy"}
    # The headers the function reads and the viewer's address; never Host, which a function URL
    # refuses when it is not its own name.
    policy = url_domain["Resources"]["IngestOriginRequestPolicy"]["Properties"]["OriginRequestPolicyConfig"]
    headers = policy["HeadersConfig"]
    assert headers["HeaderBehavior"] == "whitelist"
    forwarded = {h.lower() for h in headers["Headers"]}
    assert forwarded >= {"origin", "content-type", "content-encoding", "user-agent", "accept-language", "x-driftless-key",
                         "access-control-request-method", "access-control-request-headers", "cloudfront-viewer-address"}
    assert "host" not in forwarded
    assert len(forwarded) <= 10, "CloudFront's quota of headers per origin request policy"
    env = function_props(url_domain, "IngestFunction")["Environment"]["Variables"]
    assert env["DRIFTLESS_CLIENT_IP_HEADER"] == "cloudfront-viewer-address"
    record = url_domain["Resources"]["CustomDomainRecord"]["Properties"]["AliasTarget"]
    assert record == {"DNSName": {"Fn::GetAtt": ["IngestDistribution", "DomainName"]}, "HostedZoneId": "Z2FDTNDATAQYW2",
                      "EvaluateTargetHealth": False}
    assert url_domain["Outputs"]["CustomDomainTarget"]["Value"] == {"Fn::GetAtt": ["IngestDistribution", "DomainName"]}
    assert url_domain["Outputs"]["CustomDomainEndpoint"]["Value"] == {"Fn::Sub": "https://${DomainName}${IngestPath}"}


def evaluate(value, attributes: dict[str, str], parameters: dict[str, str]) -> str:
    """A value of Fn::Sub, Fn::Select, Fn::Split, Fn::GetAtt and Ref, given attributes and parameters."""
    if isinstance(value, str):
        return value
    (fn, arg), = value.items()
    if fn == "Ref":
        return parameters[arg]
    if fn == "Fn::GetAtt":
        return attributes[".".join(arg)]
    if fn == "Fn::Select":
        index, listed = arg
        return evaluate(listed, attributes, parameters)[index]
    if fn == "Fn::Split":
        sep, text = arg
        return evaluate(text, attributes, parameters).split(sep)
    if fn == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        known = {**parameters, **attributes, **{k: evaluate(v, attributes, parameters) for k, v in variables.items()}}
        return re.sub(r"\$\{([^}]+)\}", lambda m: known[m.group(1)], text)
    raise AssertionError(f"cannot evaluate {fn}")


def test_ingest_endpoint_is_the_sdk_url_on_both(api, url):
    attributes = {
        "HttpApi.ApiEndpoint": "https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com",
        # A function URL ends with "/" (CloudFormation's FunctionUrl attribute).
        "IngestUrl.FunctionUrl": "https://a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.lambda-url.eu-central-1.on.aws/",
    }
    params = {"IngestPath": api["Parameters"]["IngestPath"]["Default"]}
    assert evaluate(api["Outputs"]["IngestEndpoint"]["Value"], attributes, params) == \
        "https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/v1/batch"
    assert evaluate(url["Outputs"]["IngestEndpoint"]["Value"], attributes, params) == \
        "https://a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6.lambda-url.eu-central-1.on.aws/v1/batch"


# --------------------------------------------------------------------------- tools


@pytest.mark.parametrize("domain", [False, True], ids=["no-domain", "custom-domain"])
def test_cfn_lint_reports_nothing_on_the_function_url_variant(source, domain, tmp_path):
    doc = without_unused_parameters(resolve_conditions(source, {**URL, **(WITH_DOMAIN if domain else {})}))
    # The variant's values become defaults, as a deployment with them would see them. The endpoint
    # type stays only for the Rules, which CloudFormation checks before the conditions.
    assert set(referenced_names(doc["Resources"])) & {"IngestEndpointType"} == set()
    for name, value in {**URL, **(WITH_DOMAIN if domain else {})}.items():
        doc["Parameters"][name]["Default"] = value
    path = tmp_path / "function-url.template.json"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", "--", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == ""


def test_without_unused_parameters_keeps_what_the_variant_uses(url):
    doc = without_unused_parameters(url)
    assert "ThrottlingRateLimit" not in doc["Parameters"] and "IngestReservedConcurrency" in doc["Parameters"]
    groups = doc["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    listed = {p for g in groups for p in g["Parameters"]}
    assert listed <= set(doc["Parameters"]) and "ThrottlingRateLimit" not in listed
    assert flat(doc["Outputs"]["BucketName"]["Value"]) == "${Bucket}"
