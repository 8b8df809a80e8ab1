"""`streetwatch dashboards push`: folder, datasource and boards into a running Grafana through
grafana-client, idempotently (fixed uids; what is already there and equal is left alone).

Errors come out as PushError with a message fit to print: Grafana unreachable, the token refused
(401) or short of rights (403, and for what), anything else Grafana refused. The token never
appears in a message.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaServerError

from dashboards.panels import Json
from dashboards.provisioning import FOLDER_UID
from streetwatch.errors import StreetwatchError
from streetwatch.settings import redact_url

TIMEOUT_S = 10.0
COMMIT_MESSAGE = "streetwatch dashboards push"
RIGHTS = {"folder": "Editor (folders:create, folders:write)",
          "datasource": "Admin (datasources:create, datasources:write)",
          "dashboard": "Editor (dashboards:create, dashboards:write)"}


class PushError(StreetwatchError):
    """Grafana could not be reached or refused a step; the message says which and why."""


class GrafanaPush:
    """One push to the Grafana at `url`; `secret` (the token or a password in `url`) is only
    used to scrub messages."""

    def __init__(self, api: GrafanaApi, url: str, secret: str | None) -> None:
        self.api, self.url, self.secret = api, redact_url(url), secret

    @classmethod
    def connect(cls, url: str, token: str | None) -> GrafanaPush:
        """A client for `url` with `token` (a service-account token), or the user:password the
        URL carries when there is no token."""
        parts = urlsplit(url)
        if parts.path and not parts.path.endswith("/"):  # Grafana under a sub-path: grafana-
            parts = parts._replace(path=parts.path + "/")  # client appends "api" to the path
        api = GrafanaApi.from_url(parts.geturl(), credential=token, timeout=TIMEOUT_S)
        return cls(api, url, token or parts.password)

    def run(self, folder_title: str, datasource: Json, boards: Sequence[Json]) -> list[str]:
        """Check the connection, then folder, datasource and boards; one report line each."""
        with self._step("sign in", "folder"):
            info = self.api.health.check() or {}
        lines = [f"Grafana {info.get('version', '?')} at {self.url}",
                 self.ensure_folder(folder_title), self.ensure_datasource(datasource)]
        lines += [self.ensure_board(board) for board in boards]
        return lines

    # Steps -----------------------------------------------------------------------------------
    def ensure_folder(self, title: str) -> str:
        with self._step("read the folder", "folder"):
            found = self._get(lambda: self.api.folder.get_folder(FOLDER_UID))
        if found is None:
            with self._step("create the folder", "folder"):
                self.api.folder.create_folder(title, uid=FOLDER_UID)
            return f"folder {title!r} ({FOLDER_UID}): created"
        if found.get("title") == title:
            return f"folder {title!r} ({FOLDER_UID}): unchanged"
        with self._step("rename the folder", "folder"):
            self.api.folder.update_folder(FOLDER_UID, title=title, overwrite=True)
        return f"folder {title!r} ({FOLDER_UID}): renamed from {found.get('title')!r}"

    def ensure_datasource(self, model: Json) -> str:
        uid, name = model["uid"], model["name"]
        with self._step("read the datasource", "datasource"):
            found = self._get(lambda: self.api.datasource.get_datasource_by_uid(uid))
        if found is None:
            with self._step("create the datasource", "datasource"):
                self.api.datasource.create_datasource(model)
            return f"datasource {name!r} ({uid}): created"
        if found.get("readOnly"):
            return (f"datasource {name!r} ({uid}): provisioned from files, left as it is "
                    "(edit the provisioning file instead)")
        if not _datasource_differs(found, model):
            return f"datasource {name!r} ({uid}): unchanged"
        with self._step("update the datasource", "datasource"):
            self.api.datasource.update_datasource_by_uid(uid, model)
        return f"datasource {name!r} ({uid}): updated"

    def ensure_board(self, board: Json) -> str:
        uid = board["uid"]
        with self._step(f"read dashboard {uid}", "dashboard"):
            found = self._get(lambda: self.api.dashboard.get_dashboard(uid))
        if found is not None and _same_board(found, board):
            return f"dashboard {uid}: unchanged (version {found['dashboard'].get('version')})"
        body = {"dashboard": {**board, "id": None}, "folderUid": FOLDER_UID, "overwrite": True,
                "message": COMMIT_MESSAGE}
        with self._step(f"save dashboard {uid}", "dashboard"):
            saved = self.api.dashboard.update_dashboard(body) or {}
        change = "created" if found is None else "updated"
        return f"dashboard {uid}: {change} (version {saved.get('version', '?')})"

    # Plumbing --------------------------------------------------------------------------------
    @staticmethod
    def _get(call: Any) -> Json | None:
        """The answer of a GET, or None for 404."""
        try:
            return call()
        except GrafanaClientError as exc:
            if exc.status_code == 404:
                return None
            raise

    @contextmanager
    def _step(self, what: str, kind: str) -> Iterator[None]:
        """Turn grafana-client's and the HTTP library's errors into PushError."""
        try:
            yield
        except GrafanaClientError as exc:
            raise PushError(self._scrub(self._refused(exc, what, kind))) from None
        except GrafanaServerError as exc:
            raise PushError(self._scrub(f"Grafana at {self.url} failed to {what} "
                                        f"({exc.status_code}): {_message(exc)}")) from None
        except (GrafanaException, OSError) as exc:  # timeouts, refused connections, DNS, TLS
            raise PushError(self._scrub(f"Grafana at {self.url} is unreachable (could not {what}):"
                                        f" {type(exc).__name__}: {str(exc)[:300]}")) from None

    def _refused(self, exc: GrafanaClientError, what: str, kind: str) -> str:
        if exc.status_code == 401:
            return (f"Grafana at {self.url} refused the credentials (401 Unauthorized) trying to "
                    f"{what}: set STREETWATCH_GRAFANA_TOKEN to a valid service-account token")
        if exc.status_code == 403:
            return (f"the token lacks the rights to {what} in Grafana at {self.url} (403 "
                    f"Forbidden): give its service account the role {RIGHTS[kind]}")
        return f"Grafana at {self.url} refused to {what} ({exc.status_code}): {_message(exc)}"

    def _scrub(self, message: str) -> str:
        return message.replace(self.secret, "***") if self.secret else message


def _message(exc: GrafanaException) -> str:
    response = exc.response
    if isinstance(response, dict) and "message" in response:
        return str(response["message"])[:300]
    return str(exc)[:300]


def _datasource_differs(found: Json, model: Json) -> bool:
    """Whether Grafana's datasource differs from `model` in a field we set (a password we send,
    which Grafana never shows back, counts as a difference)."""
    if "secureJsonData" in model:
        return True
    plain = {k: v for k, v in model.items() if k != "jsonData"}
    if any(found.get(k) != v for k, v in plain.items()):
        return True
    stored = found.get("jsonData") or {}
    return any(stored.get(k) != v for k, v in model["jsonData"].items())


def _same_board(found: Json, board: Json) -> bool:
    """Whether the stored board is `board` (ids and versions aside) in our folder."""
    stored = found.get("dashboard") or {}
    if (found.get("meta") or {}).get("folderUid") != FOLDER_UID:
        return False
    ignored = {"id", "version"}
    return ({k: v for k, v in stored.items() if k not in ignored}
            == {k: v for k, v in board.items() if k not in ignored})
