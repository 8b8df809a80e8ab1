"""Who is using the console: the session cookie, its session, the role it needs, the language.

The cookie `sw_console` holds the session token: HttpOnly (no script reads it), SameSite=Strict
(no other site's page sends it), Path=/console, Secure when the page came over https, and no
longer-lived than its session. A request without a live session is sent to the sign-in page
(pages, actions) or answered 401 (the polled list). The principal is put on the request so the
access log names the key (never the token).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response

from api.console.catalogue import Language, choose_language
from api.console.sessions import Session, SessionStore
from api.resources import Res, Resources

COOKIE = "sw_console"
LANGUAGE_COOKIE = "sw_console_lang"
PATH = "/console"
SIGN_IN = "/console/signin"
ROLE = "crew"  # crews and everyone above them may work alerts here


def sessions(res: Resources) -> SessionStore:
    return res.memo("console.sessions", lambda: SessionStore(res.engine))


def find_session(request: Request, res: Resources) -> Session | None:
    """The request's live session with a crew-or-above key, or None."""
    session = sessions(res).find(request.cookies.get(COOKIE), res.clock())
    if session is None or not session.principal.has(ROLE):
        return None
    request.state.principal = session.principal  # the access log names the key
    return session


def signed_in(request: Request, res: Res) -> Session:
    """Dependency of pages and actions: the session, else a 303 to the sign-in page."""
    session = find_session(request, res)
    if session is None:
        raise HTTPException(303, "sign in first", headers={"Location": SIGN_IN})
    return session


def signed_in_or_401(request: Request, res: Res) -> Session:
    """Dependency of the polled alert list: the session, else 401 (the page's script then goes
    to the sign-in page)."""
    session = find_session(request, res)
    if session is None:
        raise HTTPException(401, "sign in first")
    return session


SignedIn = Annotated[Session, Depends(signed_in)]
SignedInOr401 = Annotated[Session, Depends(signed_in_or_401)]


def language(request: Request) -> Language:
    return choose_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE),
                           request.headers.get("accept-language"))


def remember_language(request: Request, response: Response) -> None:
    """`?lang=` chosen on this request is kept in a cookie for the pages after it."""
    chosen = request.query_params.get("lang")
    if chosen is not None and chosen == language(request):
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=365 * 86400, path=PATH,
                            samesite="strict", secure=_https(request), httponly=True)


def set_session_cookie(request: Request, response: Response, token: str, max_age_s: int) -> None:
    response.set_cookie(COOKIE, token, max_age=max_age_s, path=PATH, httponly=True,
                        samesite="strict", secure=_https(request))


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict",
                           secure=_https(request))


def _https(request: Request) -> bool:
    return request.url.scheme == "https"
