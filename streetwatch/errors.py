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
    """InfluxDB could not be reached or answered 5xx/timeout: retrying later may succeed."""


class InfluxRejected(InfluxError):
    """InfluxDB refused the request (4xx: bad line protocol, type conflict, auth): retrying won't help."""

    def __init__(self, message: str, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
