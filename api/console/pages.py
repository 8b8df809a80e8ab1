"""The console's HTML: Jinja2 templates under api/templates/console/, autoescaped, every label
from the catalogue; and its one stylesheet and one script, served from the same folder.

Pages are sent with a Content-Security-Policy that allows this site's own script, style and
forms only (no inline script, nothing from elsewhere), and are never cached: they show a crew's
live work behind a sign-in.
"""

from __future__ import annotations

from functools import lru_cache, partial
from importlib.resources import files
from typing import Any

from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined

from api.console.alert_cards import local_time
from api.console.catalogue import HTML_LANG, LANGUAGES, Language, text

FOLDER = "console"
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self'; connect-src 'self'; form-action 'self'; "
                           "base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # A map link tells the map site nothing; same-origin (not no-referrer), since under
    # no-referrer a browser sends `Origin: null` with the console's own form posts.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
ASSETS = {"console.css": "text/css; charset=utf-8",
          "console.js": "text/javascript; charset=utf-8"}


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("api", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["local_time"] = local_time  # epoch ms -> "YYYY-MM-DD HH:MM" in a zone
    return env


def render(template: str, lang: Language, **values: Any) -> str:
    """The template's HTML with `t(key, **fields)` bound to `lang`."""
    return environment().get_template(f"{FOLDER}/{template}").render(
        t=partial(text, lang), lang=lang, html_lang=HTML_LANG[lang], languages=LANGUAGES,
        **values)


def page(template: str, lang: Language, status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(render(template, lang, **values), status_code=status,
                        headers=PAGE_HEADERS)


def asset(name: str) -> Response:
    """console.css or console.js, from the package (cached by the browser for five minutes)."""
    body = _asset_bytes(name)
    return Response(body, media_type=ASSETS[name],
                    headers={"Cache-Control": "private, max-age=300",
                             "X-Content-Type-Options": "nosniff"})


@lru_cache(maxsize=len(ASSETS))
def _asset_bytes(name: str) -> bytes:
    return (files("api") / "templates" / FOLDER / name).read_bytes()
