"""Fixtures of the template tests."""

from pathlib import Path

import pytest
from cfn import load_cfn

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture(scope="session")
def source() -> dict:
    """template.yaml as written: both endpoint types, every condition."""
    return load_cfn(TEMPLATE)
