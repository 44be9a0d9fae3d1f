"""Sessions: sealed and opened with one key, refused when forged, tampered or expired; CSRF
tokens bound to the session."""

from __future__ import annotations

from tasktrail_api.ui.session import SessionCodec, session_key


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_sealed_session_opens_with_the_same_key_only() -> None:
    clock = Clock()
    codec = SessionCodec(b"k" * 32, max_age=60, clock=clock)
    session = codec.new("digest")
    sealed = codec.seal(session)
    assert codec.open(sealed) == session
    assert SessionCodec(b"x" * 32, max_age=60, clock=clock).open(sealed) is None
    payload, signature = sealed.split(".")
    assert codec.open(f"{payload}x.{signature}") is None
    assert codec.open(f"{payload}.{signature[:-2]}") is None
    assert codec.open(None) is None and codec.open("no-dot") is None
    clock.now += 61
    assert codec.open(sealed) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    codec = SessionCodec(b"k" * 32, max_age=60)
    first, second = codec.new("d"), codec.new("d")
    token = codec.csrf_token(first)
    assert codec.csrf_ok(first, token)
    assert not codec.csrf_ok(second, token)
    assert not codec.csrf_ok(first, None) and not codec.csrf_ok(first, "")


def test_an_unset_key_is_random_per_process() -> None:
    assert session_key(None) != session_key(None)
    assert session_key("a" * 32) == b"a" * 32
