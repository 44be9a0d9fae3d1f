from __future__ import annotations

import ssl

from tasktrail_collector.adapters.redis_source import RedisTarget, _command


def test_plain_url_with_credentials_and_db() -> None:
    t = RedisTarget.from_url("redis://user:p%40ss@10.0.0.1:6380/3")
    assert (t.host, t.port, t.db, t.username, t.password) == ("10.0.0.1", 6380, 3, "user", "p@ss")
    assert t.auth() == [_command("AUTH", "user", "p@ss")]
    assert RedisTarget.from_url("redis://:secret@h").auth() == [_command("AUTH", "secret")]
    assert RedisTarget.from_url("redis://h").auth() == []


def test_tls_url() -> None:
    t = RedisTarget.from_url("rediss://h:6390/1?ssl_cert_reqs=none")
    assert t.tls is not None and t.tls.verify_mode == ssl.CERT_NONE and t.db == 1
    assert RedisTarget.from_url("rediss://h").tls.verify_mode == ssl.CERT_REQUIRED  # type: ignore[union-attr]


def test_sentinel_url_lists_every_sentinel() -> None:
    t = RedisTarget.from_url("sentinel://:pw@s1:26379;sentinel://s2:26380/2")
    assert t.sentinels == (("s1", 26379), ("s2", 26380))
    assert t.db == 2


def test_unix_socket_url() -> None:
    t = RedisTarget.from_url("unix:///run/redis.sock?db=4")
    assert (t.path, t.db) == ("/run/redis.sock", 4)


def test_commands_are_resp_arrays() -> None:
    assert (
        _command("PSUBSCRIBE", "/0.celeryev/*")
        == b"*2\r\n$10\r\nPSUBSCRIBE\r\n$13\r\n/0.celeryev/*\r\n"
    )
