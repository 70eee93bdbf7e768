"""What the browser tests do on the site's pages, and the in-page checks they run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Protocol

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Response, expect

from tests.support.http import unique_password, unique_username

__all__ = [
    "GENERIC_LOGIN_ERROR",
    "RECORD_CSP_VIOLATIONS",
    "ColorScheme",
    "OpenPage",
    "contrast_problems",
    "csp_violations",
    "focus_ring_problems",
    "focused",
    "has_horizontal_scroll",
    "log_in",
    "log_out",
    "register",
    "screenshot",
    "submit",
    "unique_password",
    "unique_username",
]


ColorScheme = Literal["light", "dark"]


class OpenPage(Protocol):
    def __call__(
        self,
        *,
        width: int = ...,
        height: int = ...,
        color_scheme: ColorScheme = ...,
        javascript: bool = ...,
    ) -> Page: ...


GENERIC_LOGIN_ERROR = "Invalid username or password."

# Runs before any page script (an init script, so CSP does not apply to it): collects every
# securitypolicyviolation event the page fires.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI}`);
});
"""

# WCAG 2.x relative luminance and contrast ratio, on computed (sRGB) colours. The background is
# the nearest ancestor's opaque background colour; the stylesheet uses no translucent or image
# backgrounds, so that is what is painted behind the element.
_COLOUR_MATH = """
const parse = (value) => {
  const match = /rgba?\\(([^)]+)\\)/.exec(value);
  if (!match) return null;
  const [r, g, b, a = 1] = match[1].split(/[\\s,/]+/).filter(Boolean).map(Number);
  return { r, g, b, a };
};
const channel = (v) => {
  v /= 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
};
const luminance = ({ r, g, b }) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
const ratio = (x, y) => {
  const [light, dark] = [luminance(x), luminance(y)].sort((p, q) => q - p);
  return (light + 0.05) / (dark + 0.05);
};
const backgroundOf = (element) => {
  for (let node = element; node; node = node.parentElement) {
    const colour = parse(getComputedStyle(node).backgroundColor);
    if (colour && colour.a > 0) return colour;
  }
  return matchMedia("(prefers-color-scheme: dark)").matches
    ? { r: 18, g: 18, b: 18, a: 1 } : { r: 255, g: 255, b: 255, a: 1 };
};
const describe = (element) =>
  element.tagName.toLowerCase() + (element.id ? "#" + element.id : "")
  + (element.className && typeof element.className === "string"
     ? "." + element.className.trim().split(/\\s+/).join(".") : "");
"""

# WCAG 2.2 AA: 1.4.3 text (4.5:1, large text 3:1) and 1.4.11 input borders (3:1).
_CONTRAST_PROBLEMS = (
    "() => {"
    + _COLOUR_MATH
    + """
  const problems = [];
  const visible = (element) => {
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0
      && getComputedStyle(element).visibility !== "hidden";
  };
  for (const element of document.body.querySelectorAll("*")) {
    if (!visible(element)) continue;
    const style = getComputedStyle(element);
    const isField = element.matches("input[type=text], input[type=password]");
    const hasText = [...element.childNodes].some(
      (node) => node.nodeType === Node.TEXT_NODE && node.textContent.trim());
    if (hasText || isField) {
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      const needed = large ? 3 : 4.5;
      const got = ratio(parse(style.color), backgroundOf(element));
      if (got < needed) problems.push(`${describe(element)} text ${got.toFixed(2)} < ${needed}`);
    }
    if (isField) {
      const border = parse(style.borderTopColor);
      const got = ratio(border, backgroundOf(element.parentElement));
      if (got < 3) problems.push(`${describe(element)} border ${got.toFixed(2)} < 3`);
    }
  }
  return problems;
}"""
)

# WCAG 2.2 2.4.7 / 1.4.11: the focused element shows an outline of at least 2 px with 3:1
# contrast against what surrounds it.
_FOCUS_RING_PROBLEMS = (
    "() => {"
    + _COLOUR_MATH
    + """
  const element = document.activeElement;
  if (!element || element === document.body) return ["nothing has focus"];
  const style = getComputedStyle(element);
  const problems = [];
  if (style.outlineStyle === "none" || parseFloat(style.outlineWidth) < 2) {
    problems.push(`${describe(element)} outline ${style.outlineStyle} ${style.outlineWidth}`);
  } else {
    const got = ratio(parse(style.outlineColor), backgroundOf(element.parentElement));
    if (got < 3) problems.push(`${describe(element)} outline contrast ${got.toFixed(2)} < 3`);
  }
  return problems;
}"""
)


def screenshot(page: Page, path: Path, *, full_page: bool = True) -> Path:
    """Save a screenshot, asking twice: under load Chromium now and then refuses one capture
    ("Unable to capture screenshot") and takes the same picture a moment later."""
    try:
        page.screenshot(path=path, full_page=full_page)
    except PlaywrightError as error:
        if "Unable to capture screenshot" not in str(error):
            raise
        page.wait_for_timeout(250)
        page.screenshot(path=path, full_page=full_page)
    return path


def submit(page: Page, button: str) -> Response:
    """Click the form's submit button named ``button``; the final response of the navigation."""
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=button, exact=True).click()
    response = navigation.value
    assert response is not None
    return response


def register(page: Page, username: str, password: str) -> Response:
    page.goto("/register")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    return submit(page, "Create account")


def log_in(
    page: Page, username: str, password: str, *, remember: bool = False, path: str = "/login"
) -> Response:
    page.goto(path)
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label(re.compile("^Remember me")).set_checked(remember)
    return submit(page, "Log in")


def log_out(page: Page) -> Response:
    """Use the log-out button in the site header; the browser lands on the signed-out home."""
    with page.expect_navigation() as navigation:
        page.get_by_role("navigation").get_by_role("button", name="Log out").click()
    response = navigation.value
    assert response is not None
    expect(page.get_by_role("navigation").get_by_role("link", name="Log in")).to_be_visible()
    return response


def focused(page: Page) -> str:
    """What has keyboard focus: its id, else its tag and text ("button:Log in", "a:Register")."""
    return page.evaluate(
        """() => {
          const e = document.activeElement;
          if (!e || e === document.body) return "body";
          return e.id || `${e.tagName.toLowerCase()}:${e.textContent.trim()}`;
        }"""
    )


def has_horizontal_scroll(page: Page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )


def csp_violations(page: Page) -> list[str]:
    return page.evaluate("() => window.__cspViolations")


def contrast_problems(page: Page) -> list[str]:
    return page.evaluate(_CONTRAST_PROBLEMS)


def focus_ring_problems(page: Page) -> list[str]:
    return page.evaluate(_FOCUS_RING_PROBLEMS)
