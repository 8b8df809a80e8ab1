"""The crew console's pages as text: every label goes through the catalogue (no words written
into a template), every label key a template names exists, and every text colour of the
stylesheet reaches WCAG AA contrast (4.5:1) on the background it is declared with."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from api.console.catalogue import CATALOGUE

FOLDER = Path(__file__).resolve().parents[2] / "api" / "templates" / "console"
TEMPLATES = sorted(FOLDER.glob("*.html"))
CONSOLE_PY = sorted((FOLDER.parents[1] / "console").glob("*.py"))
JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.S)
WORDS = re.compile(r"[A-Za-z\u4e00-\u9fff]")
SHOWN_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "value")
AA_RATIO = 4.5
# Label keys the code builds from a value (f"kind.{alert.kind}"): every value has one (tested in
# test_console_parts.py for kinds, severities, states and events).
BUILT_KEYS = ("kind.", "severity.", "state.", "event.", "role.", "lang.", "reason.", "mark.",
              "rate.why.", "unit.")


class _Text(HTMLParser):
    """Collects what a reader sees: text and shown attributes (outside script and style)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        self._skip += tag in ("script", "style")
        hidden = ("type", "hidden") in attrs  # a hidden field's value is data, never shown
        self.seen += [value or "" for name, value in attrs
                      if name in SHOWN_ATTRIBUTES and not (hidden and name == "value")]

    def handle_endtag(self, tag):  # noqa: ANN001
        self._skip -= tag in ("script", "style")

    def handle_data(self, data):  # noqa: ANN001
        if not self._skip:
            self.seen.append(data)


def test_templates_write_no_words_of_their_own():
    assert len(TEMPLATES) >= 8
    for template in TEMPLATES:
        parser = _Text()
        parser.feed(JINJA.sub(" ", template.read_text(encoding="utf-8")))
        stray = [text.strip() for text in parser.seen if WORDS.search(text)]
        assert not stray, f"{template.name} shows words not from the catalogue: {stray}"


def test_every_label_key_used_exists_and_every_label_is_used():
    sources = "\n".join(p.read_text(encoding="utf-8") for p in TEMPLATES + CONSOLE_PY)
    called = set(re.findall(r'\bt\(\s*["\']([a-z_]+(?:\.[a-z_]+)+)["\']', sources))
    called |= set(re.findall(r'text\(\s*lang,\s*["\']([a-z_]+(?:\.[a-z_]+)+)["\']', sources))
    assert len(called) > 20 and called <= set(CATALOGUE), sorted(called - set(CATALOGUE))
    quoted = set(re.findall(r'["\']([a-z_]+(?:\.[a-z_]+)+)["\']', sources))
    unused = [key for key in CATALOGUE if key not in quoted and not key.startswith(BUILT_KEYS)]
    assert not unused, f"labels nothing shows: {unused}"


# Contrast -------------------------------------------------------------------------------------
def _luminance(colour: str) -> float:
    """WCAG 2 relative luminance of #rgb or #rrggbb."""
    hex_digits = colour.lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(c * 2 for c in hex_digits)
    channels = [int(hex_digits[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colour_rules(css: str) -> list[tuple[str, dict[str, str]]]:
    """(selector, {property: value}) of every rule that sets `color` or `background-color`."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    found = []
    for selector, body in re.findall(r"([^{}]+){([^{}]*)}", css):
        props = dict((name.strip(), value.strip()) for name, _, value in
                     (decl.partition(":") for decl in body.split(";") if ":" in decl))
        colours = {k: v for k, v in props.items() if k in ("color", "background-color")}
        if colours:
            found.append((" ".join(selector.split()), colours))
    return found


def test_contrast_is_computed_as_wcag_says():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # just fails AA
    assert contrast("#fff", "#ffffff") == pytest.approx(1.0)


def test_every_text_colour_reaches_aa_on_its_background():
    rules = colour_rules((FOLDER / "console.css").read_text(encoding="utf-8"))
    assert len(rules) >= 20
    for selector, colours in rules:
        assert set(colours) == {"color", "background-color"}, (
            f"{selector}: set color and background-color together (house rule)")
        for value in colours.values():
            assert re.fullmatch(r"#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}", value), (selector, value)
        ratio = contrast(colours["color"], colours["background-color"])
        assert ratio >= AA_RATIO, f"{selector}: {ratio:.2f}:1 is below {AA_RATIO}:1"
    shorthand = re.findall(r"(?<![-\w])background\s*:", (FOLDER / "console.css").read_text())
    assert not shorthand, "use background-color (the test reads it)"
