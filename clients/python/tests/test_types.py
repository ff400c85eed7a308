"""The generated types under ``mypy --strict``: the package itself type-checks, a correct call
passes, and each mistake (unknown event, unknown property, wrong type, wrong enum value, missing
required property, unknown option) is rejected on its line, while the same call without the
mistake passes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HEADER = '''from datetime import datetime, timezone
from driftless import Client
from driftless.events import CheckoutCompletedProperties

client = Client("http://127.0.0.1:9/v1/batch")
'''

GOOD = '''
client.track("checkout_completed", {"order_id": "o-1", "total": 10.5, "currency": "EUR",
             "items": [{"product_id": "p-1", "quantity": 2, "price": 5.25}], "shipping_method": "express"},
             user_id="u-1", timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc))
client.track("signed_up", {"method": "github"}, anonymous_id="a-1", user_id=None)
client.track("page_viewed", {"path": "/"}, anonymous_id="a-1", context={"locale": "de-DE", "page": {"url": "https://x/"}})
event_id: str = client.track("product_viewed", {"product_id": "p", "price": 9, "currency": "EUR"}, user_id="u")
order: CheckoutCompletedProperties = {"order_id": "o", "total": 1, "currency": "EUR", "items": []}
'''

# (file, the mistake, the same call without it, what mypy must say)
CASES = [
    ("unknown_property",
     'client.track("checkout_completed", {"order_id": "o", "total": 1, "currency": "EUR", "items": [], "colour": "red"}, user_id="u")',
     'client.track("checkout_completed", {"order_id": "o", "total": 1, "currency": "EUR", "items": []}, user_id="u")',
     'No overload variant of "track"'),
    ("unknown_property_annotated",
     'order: CheckoutCompletedProperties = {"order_id": "o", "total": 1, "currency": "EUR", "items": [], "colour": "red"}',
     'order: CheckoutCompletedProperties = {"order_id": "o", "total": 1, "currency": "EUR", "items": []}',
     'Extra key "colour" for TypedDict "CheckoutCompletedProperties"'),
    ("wrong_type",
     'client.track("product_viewed", {"product_id": "p", "price": "9.90", "currency": "EUR"}, user_id="u")',
     'client.track("product_viewed", {"product_id": "p", "price": 9.90, "currency": "EUR"}, user_id="u")',
     'No overload variant of "track"'),
    ("wrong_nested_type",
     'client.track("checkout_completed", {"order_id": "o", "total": 1, "currency": "EUR", "items": [{"product_id": "p", "quantity": "2", "price": 1}]}, user_id="u")',
     'client.track("checkout_completed", {"order_id": "o", "total": 1, "currency": "EUR", "items": [{"product_id": "p", "quantity": 2, "price": 1}]}, user_id="u")',
     'No overload variant of "track"'),
    ("wrong_enum",
     'client.track("signed_up", {"method": "myspace"}, user_id="u")',
     'client.track("signed_up", {"method": "apple"}, user_id="u")',
     'No overload variant of "track"'),
    ("missing_required",
     'client.track("page_viewed", {"title": "Home"}, user_id="u")',
     'client.track("page_viewed", {"title": "Home", "path": "/"}, user_id="u")',
     'No overload variant of "track"'),
    ("unknown_event",
     'client.track("page_view", {"path": "/"}, user_id="u")',
     'client.track("page_viewed", {"path": "/"}, user_id="u")',
     'No overload variant of "track"'),
    ("unknown_option",
     'client.track("page_viewed", {"path": "/"}, anon_id="u")',
     'client.track("page_viewed", {"path": "/"}, anonymous_id="u")',
     'Unexpected keyword argument "anon_id"'),
    ("naive_option_type",
     'client.track("page_viewed", {"path": "/"}, user_id="u", timestamp="2026-01-01T00:00:00Z")',
     'client.track("page_viewed", {"path": "/"}, user_id="u", timestamp=datetime.now(timezone.utc))',
     'No overload variant of "track"'),
]


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
                           "--no-incremental", "--show-error-codes", *args],
                          capture_output=True, text=True, timeout=600)


def test_the_package_passes_mypy_strict() -> None:
    out = mypy("-p", "driftless")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One mypy run over every snippet: the good one, each mistake and its fixed twin."""
    root = tmp_path_factory.mktemp("snippets")
    (root / "good.py").write_text(HEADER + GOOD)
    for name, bad, fixed, _ in CASES:
        (root / f"{name}.py").write_text(HEADER + bad + "\n")
        (root / f"{name}_fixed.py").write_text(HEADER + fixed + "\n")
    out = mypy(*sorted(str(p) for p in root.glob("*.py")))
    return root, out.stdout + out.stderr


def errors_in(output: str, file: str) -> list[tuple[int, str]]:
    found = []
    for line in output.splitlines():
        m = re.match(rf".*[/\\]{re.escape(file)}:(\d+): error: (.*)", line)
        if m:
            found.append((int(m.group(1)), m.group(2)))
    return found


def test_correct_calls_type_check(results: tuple[Path, str]) -> None:
    _, output = results
    assert errors_in(output, "good.py") == [], output


@pytest.mark.parametrize("name, bad, fixed, message", CASES, ids=[c[0] for c in CASES])
def test_a_mistake_is_rejected_and_its_fix_passes(results: tuple[Path, str], name: str, bad: str,
                                                  fixed: str, message: str) -> None:
    _, output = results
    line = HEADER.count("\n") + 1
    errors = errors_in(output, f"{name}.py")
    assert errors, f"{name}.py type-checked:\n{bad}"
    assert all(at == line for at, _ in errors), errors
    assert any(message in text for _, text in errors), errors
    assert errors_in(output, f"{name}_fixed.py") == [], output
