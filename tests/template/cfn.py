"""Loading CloudFormation YAML in the template tests: short tags (`!Ref`, `!Sub`, ...) become
their long JSON form, as CloudFormation sees them; and a template resolved for given parameter
values (conditions evaluated), the way the other tests resolve Fn::Sub."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags into their long JSON form."""


def _construct_tag(loader: CfnLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_cfn(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


# --------------------------------------------------------------------------- conditions

_NO_VALUE = object()  # what {"Ref": "AWS::NoValue"} leaves: the key or list item is removed


def resolve_conditions(doc: dict, values: dict[str, object]) -> dict:
    """The template as CloudFormation deploys it with these parameter values (the others at their
    defaults): every condition evaluated, resources and outputs whose condition is false left out,
    each Fn::If replaced by the branch it picks (AWS::NoValue removes the key), Conditions gone.
    Refs to parameters stay as they are: other checks read them."""
    params = doc.get("Parameters", {})
    unknown = set(values) - set(params)
    assert not unknown, f"no such parameters: {sorted(unknown)}"
    chosen = {name: values.get(name, p.get("Default")) for name, p in params.items()}
    for name, value in values.items():
        allowed = params[name].get("AllowedValues")
        assert allowed is None or value in allowed, f"{name}={value!r} is not one of {allowed}"
    conditions = doc.get("Conditions", {})
    known: dict[str, bool] = {}

    def operand(x):
        if isinstance(x, dict) and set(x) == {"Ref"}:
            return chosen[x["Ref"]]
        if isinstance(x, dict) and set(x) == {"Fn::Select"}:
            index, listed = x["Fn::Select"]
            return operand(listed)[int(index)]
        if isinstance(x, dict) and set(x) == {"Fn::Split"}:
            sep, text = x["Fn::Split"]
            return str(operand(text)).split(sep)
        assert not isinstance(x, (dict, list)), f"cannot evaluate {x!r} in a condition"
        return x

    def evaluate(expr) -> bool:
        (fn, args), = expr.items()
        if fn == "Condition":
            return condition(args)
        if fn == "Fn::Equals":
            a, b = (operand(x) for x in args)
            return str(a) == str(b)  # CloudFormation compares the strings
        if fn == "Fn::Not":
            (inner,) = args
            return not evaluate(inner)
        if fn == "Fn::And":
            return all(evaluate(a) for a in args)
        if fn == "Fn::Or":
            return any(evaluate(a) for a in args)
        raise AssertionError(f"unknown condition function {fn}")

    def condition(name: str) -> bool:
        if name not in known:
            known[name] = evaluate(conditions[name])
        return known[name]

    def prune(node):
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, then, otherwise = node["Fn::If"]
                return prune(then if condition(name) else otherwise)
            if node == {"Ref": "AWS::NoValue"}:
                return _NO_VALUE
            out = {}
            for key, value in node.items():
                value = prune(value)
                if value is not _NO_VALUE:
                    out[key] = value
            return out
        if isinstance(node, list):
            return [v for v in (prune(x) for x in node) if v is not _NO_VALUE]
        return node

    out = copy.deepcopy(doc)
    out.pop("Conditions", None)
    for section in ("Resources", "Outputs"):
        kept = {}
        for name, entry in doc.get(section, {}).items():
            if "Condition" in entry and not condition(entry["Condition"]):
                continue
            entry = {k: v for k, v in entry.items() if k != "Condition"}
            kept[name] = prune(entry)
        out[section] = kept
    return out


def referenced_names(node) -> set[str]:
    """Every name a Ref, Fn::GetAtt or ${X} of Fn::Sub (variable maps included) points at."""
    out: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                out.add(value)
            elif key == "Fn::GetAtt":
                out.add((value.split(".", 1) if isinstance(value, str) else value)[0])
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else value
                out |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)} - set(variables)
                out |= referenced_names(variables)
            else:
                out |= referenced_names(value)
    elif isinstance(node, list):
        for value in node:
            out |= referenced_names(value)
    return out


def without_unused_parameters(doc: dict) -> dict:
    """A resolved variant keeps only the parameters it still uses (and the console groups of those):
    the others belong to the other variant."""
    used = referenced_names({k: doc.get(k, {}) for k in ("Resources", "Outputs", "Rules")})
    out = copy.deepcopy(doc)
    out["Parameters"] = {k: v for k, v in doc["Parameters"].items() if k in used}
    groups = out.get("Metadata", {}).get("AWS::CloudFormation::Interface", {}).get("ParameterGroups", [])
    for group in groups:
        group["Parameters"] = [p for p in group["Parameters"] if p in used]
    if groups:
        out["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"] = [g for g in groups if g["Parameters"]]
    return out


def inline_sub(value) -> str:
    """The text of a Fn::Sub argument with its variable map (if any) put in place, each variable a
    string or a Fn::Sub itself: every ${X} left names a parameter, resource or attribute."""
    if isinstance(value, str):
        return value
    text, variables = value
    for name, var in variables.items():
        if isinstance(var, dict) and set(var) == {"Fn::Sub"}:
            var = inline_sub(var["Fn::Sub"])
        assert isinstance(var, str), f"${{{name}}}: cannot inline {var!r}"
        text = text.replace("${%s}" % name, var)
    return text


# --------------------------------------------------------------------------- rules


def failed_rules(doc: dict, values: dict[str, object], region: str = "eu-central-1") -> list[str]:
    """The names of the template's Rules whose assertions fail for these parameter values (the
    others at their defaults) in `region`: what CloudFormation refuses before it creates anything."""
    params = doc.get("Parameters", {})
    chosen: dict[str, object] = {name: values.get(name, p.get("Default")) for name, p in params.items()}
    chosen["AWS::Region"] = region

    def value(x):
        if isinstance(x, dict) and set(x) == {"Ref"}:
            return chosen[x["Ref"]]
        assert not isinstance(x, (dict, list)), f"cannot evaluate {x!r} in a rule"
        return x

    def holds(expr) -> bool:
        (fn, args), = expr.items()
        if fn == "Fn::Equals":
            a, b = (value(x) for x in args)
            return str(a) == str(b)
        if fn == "Fn::Not":
            (inner,) = args
            return not holds(inner)
        if fn == "Fn::And":
            return all(holds(a) for a in args)
        if fn == "Fn::Or":
            return any(holds(a) for a in args)
        raise AssertionError(f"unknown rule function {fn}")

    failed = []
    for name, rule in doc.get("Rules", {}).items():
        if "RuleCondition" in rule and not holds(rule["RuleCondition"]):
            continue
        if not all(holds(a["Assert"]) for a in rule["Assertions"]):
            failed.append(name)
    return failed
