"""The small exception tree every Streetwatch adapter raises (callers catch the base they need)."""


class StreetwatchError(Exception):
    """Base of every error Streetwatch raises on purpose."""


class ConfigError(StreetwatchError):
    """Settings or files are missing or inconsistent; the message says what to fix."""


class ServiceError(StreetwatchError):
    """A local service (mosquitto, influxd) could not be started, stopped or reached."""


class InfluxError(StreetwatchError):
    """Base of InfluxDB adapter errors."""


class InfluxUnavailable(InfluxError):
    """InfluxDB could not be reached, or answered 408, 429 or 5xx: retrying later may succeed.

    `retry_after_s` is the server's Retry-After, when it sent one: wait at least that long."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InfluxAuthError(InfluxError):
    """InfluxDB refused our credentials (401) or their rights (403): a configuration error that no
    retry and no dead letter can fix; the operator must correct the user or password."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class InfluxRejected(InfluxError):
    """InfluxDB refused the request itself (400 bad line / type conflict, 404 no database, 413 too
    large): retrying the same request won't help."""

    def __init__(self, message: str, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
