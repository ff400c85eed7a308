"""The Lambda event fixtures (tests/fixtures/events) against the triggers of template.yaml, and the
`sam local invoke` commands of docs/deploy.md that use them.

Run: .venv/bin/python -m pytest tests/template -q

`sam local invoke <Function> --event <fixture>` needs Docker, which these machines lack, so what it
would show is checked here instead: every trigger of every function has a fixture shaped like
what that trigger sends, and the docs invoke each function with the fixture of each of its
triggers. (tests/e2e/test_fixture_invocations.py hands the same fixtures to the real functions.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from cfn import resolve_conditions
from test_template import function_props, resources

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "events"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"

# The fixture of each kind of trigger the template gives a function.
FIXTURE_OF_TRIGGER = {
    "http-api": "apigw-v2-batch.json",
    "function-url": "function-url-batch.json",
    "ScheduleV2": "scheduler.json",
}


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def triggers(source: dict) -> dict[str, set[str]]:
    """function -> the kinds of trigger that invoke it, over both endpoint types."""
    out: dict[str, set[str]] = {}
    for values in ({}, {"IngestEndpointType": "FunctionUrl"}):
        doc = resolve_conditions(source, values)
        for integration in resources(doc, "AWS::ApiGatewayV2::Integration").values():
            target = integration["Properties"]["IntegrationUri"]["Fn::GetAtt"][0]
            out.setdefault(target, set()).add("http-api")
        for url in resources(doc, "AWS::Lambda::Url").values():
            target = url["Properties"]["TargetFunctionArn"]["Fn::GetAtt"][0]
            out.setdefault(target, set()).add("function-url")
        for fn in resources(doc, "AWS::Serverless::Function"):
            for event in function_props(doc, fn).get("Events", {}).values():
                out.setdefault(fn, set()).add(event["Type"])
    return out


def test_every_trigger_has_a_fixture(source):
    found = triggers(source)
    assert found == {"IngestFunction": {"http-api", "function-url"}, "CompactFunction": {"ScheduleV2"}}
    for kinds in found.values():
        for kind in kinds:
            assert (FIXTURES / FIXTURE_OF_TRIGGER[kind]).is_file(), kind


def test_the_http_api_fixture_is_what_the_integration_sends(source):
    doc = resolve_conditions(source, {})
    (integration,) = resources(doc, "AWS::ApiGatewayV2::Integration").values()
    (stage,) = resources(doc, "AWS::ApiGatewayV2::Stage").values()
    ev = load(FIXTURE_OF_TRIGGER["http-api"])
    assert ev["version"] == integration["Properties"]["PayloadFormatVersion"] == "2.0"
    assert ev["requestContext"]["stage"] == stage["Properties"]["StageName"]
    assert ev["requestContext"]["domainName"].endswith(".execute-api.eu-central-1.amazonaws.com")


def test_the_function_url_fixture_is_what_the_url_sends(source):
    doc = resolve_conditions(source, {"IngestEndpointType": "FunctionUrl"})
    (url,) = resources(doc, "AWS::Lambda::Url").values()
    assert url["Properties"]["AuthType"] == "NONE"
    ev = load(FIXTURE_OF_TRIGGER["function-url"])
    ctx = ev["requestContext"]
    path = doc["Parameters"]["IngestPath"]["Default"]
    # A function URL sends the HTTP API's payload format 2.0 with the route and stage "$default";
    # a URL without IAM auth has an anonymous caller.
    assert ev["version"] == "2.0" and ev["routeKey"] == ctx["routeKey"] == "$default" and ctx["stage"] == "$default"
    assert ctx["accountId"] == "anonymous"
    host = ev["headers"]["host"]
    assert re.fullmatch(r"[a-z0-9]{32}\.lambda-url\.[a-z0-9-]+\.on\.aws", host) and ctx["domainName"] == host
    assert ctx["domainPrefix"] == host.split(".", 1)[0] == ctx["apiId"]
    assert ev["rawPath"] == ctx["http"]["path"] == path and ctx["http"]["method"] == "POST"
    assert ev["isBase64Encoded"] is False and int(ev["headers"]["content-length"]) == len(ev["body"].encode())
    # The same batch as the HTTP API fixture: one request, either way in.
    assert ev["body"] == load(FIXTURE_OF_TRIGGER["http-api"])["body"]


def sam_local_invokes() -> list[tuple[str, str]]:
    """(function, fixture file) of every `sam local invoke` in docs/deploy.md."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    return re.findall(r"sam local invoke (\w+)[^\n]*?--event tests/fixtures/events/([\w.-]+\.json)", text)


def test_the_deploy_doc_invokes_each_function_with_each_of_its_triggers(source):
    shown = sam_local_invokes()
    assert shown, "docs/deploy.md shows no `sam local invoke ... --event tests/fixtures/events/...`"
    functions = set(resources(source, "AWS::Serverless::Function"))
    for fn, fixture in shown:
        assert fn in functions, f"docs/deploy.md invokes {fn}, which template.yaml does not define"
        assert (FIXTURES / fixture).is_file(), f"docs/deploy.md uses a missing fixture {fixture}"
    for fn, kinds in triggers(source).items():
        for kind in kinds:
            assert (fn, FIXTURE_OF_TRIGGER[kind]) in shown, f"docs/deploy.md: no `sam local invoke {fn}` with {FIXTURE_OF_TRIGGER[kind]}"

