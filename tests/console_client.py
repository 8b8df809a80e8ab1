"""Browsers of the crew console for tests: each a TestClient of its own (its own cookie jar) on an
ApiWorld's app, signed in by posting a key as the sign-in form does."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from api_world import ZONE_CREW


def browser(world) -> TestClient:  # noqa: ANN001 - an ApiWorld
    """A fresh browser (cookie jar) on the world's app; redirects are not followed."""
    return TestClient(world.client.app, follow_redirects=False)


def signed_in(world, who: str = ZONE_CREW) -> TestClient:  # noqa: ANN001
    """A browser signed in with `who`'s key (a key name of the world)."""
    client = browser(world)
    answer = client.post("/console/signin", data={"key": world.keys[who]})
    assert answer.status_code == 303 and answer.headers["location"] == "/console", answer.text
    return client


def csrf_of(client: TestClient, path: str = "/console") -> str:
    """The session's CSRF token, as a page's forms carry it."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
