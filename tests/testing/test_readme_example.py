"""The README's example suite for apps built on this one runs, in a fresh pytest process that
finds the kit only through its pytest11 entry point (no conftest of this project)."""

from __future__ import annotations

import re

import pytest

from tests.support.servers import PROJECT_ROOT

SECTION = "## Testing an app built on this"


def readme_example() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(SECTION) :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's test kit section has no python example"
    return match.group(1)


def test_the_readme_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=readme_example())
    result = pytester.runpytest_subprocess("-o", "asyncio_mode=auto", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_a_broken_example_fails(pytester: pytest.Pytester) -> None:
    """The run above can fail: a wrong expectation in the same set-up is reported as a failure."""
    broken = readme_example().replace("status_code == 401", "status_code == 200")
    pytester.makepyfile(test_example=broken)
    result = pytester.runpytest_subprocess("-o", "asyncio_mode=auto", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
