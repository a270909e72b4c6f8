"""opensearch_password_hashes: stable hashes for unchanged passwords."""

import bcrypt
import pytest

from ansible_collections.nospof.platform.plugins.filter.opensearch import (
    AnsibleFilterError, opensearch_password_hashes)

USERS = [{"name": "logwriter", "password": "writer-secret-123", "roles": ["nospof_log_writer"]},
         {"name": "logreader", "password": "reader-secret-123", "roles": ["nospof_log_reader"]}]


def test_new_users_get_verifiable_bcrypt_hashes():
    hashes = opensearch_password_hashes(USERS, rounds=4)
    assert set(hashes) == {"logwriter", "logreader"}
    assert bcrypt.checkpw(b"writer-secret-123", hashes["logwriter"].encode())
    assert hashes["logwriter"].startswith("$2b$04$")


def test_existing_hash_is_kept_while_the_password_matches():
    first = opensearch_password_hashes(USERS, rounds=4)
    existing = {name: {"hash": value, "backend_roles": []} for name, value in first.items()}
    assert opensearch_password_hashes(USERS, existing, rounds=4) == first


def test_changed_password_gets_a_new_hash_and_others_stay():
    first = opensearch_password_hashes(USERS, rounds=4)
    existing = {name: {"hash": value} for name, value in first.items()}
    changed = [dict(USERS[0], password="another-secret-456"), USERS[1]]
    second = opensearch_password_hashes(changed, existing, rounds=4)
    assert second["logreader"] == first["logreader"]
    assert second["logwriter"] != first["logwriter"]
    assert bcrypt.checkpw(b"another-secret-456", second["logwriter"].encode())


@pytest.mark.parametrize("existing", [None, {}, {"logwriter": "not-a-dict"}, {"logwriter": {"hash": "garbage"}},
                                      {"_meta": {"type": "internalusers"}}])
def test_odd_existing_content_just_rehashes(existing):
    hashes = opensearch_password_hashes(USERS, existing, rounds=4)
    assert bcrypt.checkpw(b"reader-secret-123", hashes["logreader"].encode())


@pytest.mark.parametrize("users", ["nope", [{"name": "x"}], [{"password": "y" * 12}]])
def test_bad_input_is_refused(users):
    with pytest.raises(AnsibleFilterError):
        opensearch_password_hashes(users)
