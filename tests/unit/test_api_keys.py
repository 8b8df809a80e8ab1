"""api.keys without a server: the key format, the production scrypt cost, hostile zone names,
what a principal may see."""

from __future__ import annotations

import pytest

from api.keys import KEY_PATTERN, SCRYPT_N, Principal, _new_key, check_zones, hash_key, key_matches


def test_a_new_key_has_a_findable_prefix_and_256_random_bits():
    prefix, key = _new_key()
    match = KEY_PATTERN.fullmatch(key)
    assert match and match.group(1) == prefix and len(match.group(2)) == 43
    assert _new_key()[1] != key


def test_the_stored_hash_is_scrypt_at_the_production_cost_and_salted():
    key = _new_key()[1]
    stored = hash_key(key)
    assert stored.startswith(f"scrypt${SCRYPT_N}$8$1$") and key not in stored
    assert key_matches(key, stored)
    assert not key_matches(key[:-1] + "x", stored)
    assert hash_key(key) != stored  # a fresh salt each time


@pytest.mark.parametrize("stored", ["", "md5$x", "scrypt$16$8$1$!!$!!", "scrypt$a$b$c$d$e"])
def test_a_damaged_hash_matches_nothing(stored):
    assert not key_matches("sw_000000000000_" + "A" * 43, stored)


@pytest.mark.parametrize("zone", ["", "a b", "north;DROP TABLE", "x" * 65, "zone/1", "é"])
def test_hostile_zone_names_are_refused(zone):
    with pytest.raises(ValueError, match="not a valid id"):
        check_zones([zone])


def test_zones_are_sorted_once():
    assert check_zones(["south", "north", "south"]) == ("north", "south")


def test_roles_rank_and_zones_bind():
    crew = Principal(1, "c", "crew", frozenset({"north"}))
    admin = Principal(2, "a", "admin", None)
    assert crew.has("viewer") and crew.has("crew") and not crew.has("manager")
    assert admin.has("manager") and admin.sees("south") and admin.sees(None)
    assert crew.sees("north") and not crew.sees("south") and not crew.sees(None)
