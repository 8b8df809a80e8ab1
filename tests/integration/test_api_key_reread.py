"""A key's row is read at most once a second per API process (api.keys REREAD_S): a key revoked
elsewhere (`streetwatch apikey revoke`, another API process) is refused within that second, one
revoked through the serving store at once; a second's reuse never lends the key to another."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from api.keys import REREAD_S, ApiKeyStore

from api_world import TEST_SCRYPT_N

ALERTS = "/api/v1/alerts"


@dataclass
class Seconds:
    """A monotonic clock the test moves."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def served(api):
    """The world's app serving keys through a store on the test's clock, and one viewer key."""
    clock = Seconds()
    api.res.keys = ApiKeyStore(api.res.engine, scrypt_n=TEST_SCRYPT_N, monotonic=clock)
    record, key = api.res.keys.create("reader", "viewer", None, api.clock())
    return api, clock, record.id, {"Authorization": f"Bearer {key}"}


def test_a_key_revoked_elsewhere_is_refused_once_its_row_is_a_second_old(served):
    api, clock, key_id, auth = served
    assert api.client.get(ALERTS, headers=auth).status_code == 200  # the row read at 1000.0
    elsewhere = ApiKeyStore(api.res.engine, scrypt_n=TEST_SCRYPT_N)  # as `apikey revoke` does
    assert elsewhere.revoke(key_id, api.clock())
    clock.now += REREAD_S * 0.9  # requests meanwhile do not push the next reading back
    assert api.client.get(ALERTS, headers=auth).status_code == 200
    clock.now += REREAD_S * 0.1
    refused = api.client.get(ALERTS, headers=auth)
    assert refused.status_code == 401 and refused.json() == {"detail": "the API key is not valid"}
    clock.now -= REREAD_S  # no going back to the remembered answer, whatever the clock does
    assert api.client.get(ALERTS, headers=auth).status_code == 401


def test_a_key_revoked_through_the_serving_store_is_refused_at_once(served):
    api, _, key_id, auth = served
    assert api.client.get(ALERTS, headers=auth).status_code == 200
    assert api.res.keys.revoke(key_id, api.clock())
    assert api.client.get(ALERTS, headers=auth).status_code == 401


def test_a_remembered_key_vouches_for_no_other_secret_with_its_prefix(served):
    api, _, _, auth = served
    assert api.client.get(ALERTS, headers=auth).status_code == 200
    key = auth["Authorization"].removeprefix("Bearer ")
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert api.client.get(ALERTS, headers={"Authorization": f"Bearer {forged}"}
                          ).status_code == 401
    assert api.client.get(ALERTS, headers=auth).status_code == 200
