"""A user-agent string as people name their device: "Chrome on Linux", "Mobile Safari on iOS".

ua-parser applies uap-core's rules (the browser and OS families a maintained project keeps up
to date) instead of regexes of our own. Its parser is built here, at import, so the first
sessions page does not pay for loading the rules. A parse then takes tens of microseconds with
the Rust matcher (the ``[regex]`` extra) and repeats are cached: naming a page's rows is light
enough for the event loop.
"""

from __future__ import annotations

import ua_parser

OPERATOR_PREFIX = "operator: "  # what an operator's command writes where a browser would be
_PARSER = ua_parser.parser
# uap-core's family names where people say something else.
_FRIENDLIER = {"Mac OS X": "macOS", "Other": ""}


def describe_user_agent(user_agent: str, unknown: str = "Unknown browser") -> str:
    """The browser and operating system by name, as much of that as is known, else ``unknown``.
    An operator's command (``users lock`` …) is named as such."""
    if user_agent.startswith(OPERATOR_PREFIX):
        return user_agent.removeprefix(OPERATOR_PREFIX).capitalize()
    result = _PARSER.parse(user_agent)
    browser = _FRIENDLIER.get(name := result.user_agent.family, name) if result.user_agent else ""
    system = _FRIENDLIER.get(name := result.os.family, name) if result.os else ""
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or unknown
