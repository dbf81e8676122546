"""The rules of a verification code: expiry, single use, attempts, address, send budget.

Hashes here are plain bytes: the rules compare hashes and never see a code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.user.domain import (
    CODE_LIFETIME,
    MAX_CODE_ATTEMPTS,
    MAX_SENDS_PER_WINDOW,
    SEND_WINDOW,
    EmailAlreadyVerified,
    EmailChangedSinceVerification,
    EmailVerification,
    User,
    VerificationCodeBurned,
    VerificationCodeExpired,
    VerificationCodeMissing,
    VerificationCodeUsed,
    VerificationCodeWrong,
    VerificationSendsExhausted,
    hash_code,
    new_code,
    verify_with_code,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
RIGHT, WRONG = b"right-hash", b"wrong-hash"


def ada() -> User:
    user, _ = User.register(email="Ada@Example.com", display_name="Ada", now=NOW)
    return user


def issued(user: User, at: datetime = NOW) -> EmailVerification:
    return EmailVerification.issue(user, None, RIGHT, b"salt", at)


def test_the_right_code_verifies_and_is_spent() -> None:
    user = ada()
    verified, changed, spent = verify_with_code(user, issued(user), RIGHT, NOW)
    assert (verified.email_verified, spent.used) == (True, True)
    assert changed is not None
    assert changed.email_verified


def test_a_code_works_until_it_expires() -> None:
    user = ada()
    code = issued(user)
    almost = NOW + CODE_LIFETIME - timedelta(seconds=1)
    assert verify_with_code(user, code, RIGHT, almost)[0].email_verified
    with pytest.raises(VerificationCodeExpired):
        verify_with_code(user, code, RIGHT, NOW + CODE_LIFETIME)


def test_a_used_code_is_refused() -> None:
    user = ada()
    verified, _, spent = verify_with_code(user, issued(user), RIGHT, NOW)
    with pytest.raises(VerificationCodeUsed):
        verify_with_code(verified, spent, RIGHT, NOW)


def test_no_code_sent_is_refused() -> None:
    with pytest.raises(VerificationCodeMissing):
        verify_with_code(ada(), None, RIGHT, NOW)


def test_a_wrong_code_says_how_many_attempts_are_left() -> None:
    user = ada()
    with pytest.raises(VerificationCodeWrong) as wrong:
        verify_with_code(user, issued(user), WRONG, NOW)
    assert wrong.value.attempts_left == MAX_CODE_ATTEMPTS - 1


def test_too_many_wrong_attempts_burn_the_code_even_for_the_right_one() -> None:
    user = ada()
    code = issued(user)
    for _ in range(MAX_CODE_ATTEMPTS - 1):
        code = code.failed_attempt()
    with pytest.raises(VerificationCodeWrong) as last:
        verify_with_code(user, code, WRONG, NOW)
    assert last.value.attempts_left == 0
    with pytest.raises(VerificationCodeBurned):
        verify_with_code(user, code.failed_attempt(), RIGHT, NOW)


def test_a_code_sent_to_an_address_changed_since_is_refused() -> None:
    user = ada()
    code = issued(user)
    moved = user.change_email("ada@lovelace.org", NOW)
    with pytest.raises(EmailChangedSinceVerification):
        verify_with_code(moved, code, RIGHT, NOW)
    # Only the case changed: the same address, the code still works.
    recased = user.change_email("ADA@example.com", NOW)
    assert verify_with_code(recased, code, RIGHT, NOW)[0].email_verified


def test_a_verified_address_gets_no_new_code() -> None:
    user = ada()
    verified, _, _ = verify_with_code(user, issued(user), RIGHT, NOW)
    with pytest.raises(EmailAlreadyVerified):
        EmailVerification.issue(verified, None, RIGHT, b"salt", NOW)


def test_sends_are_limited_per_hour_and_say_when_to_come_back() -> None:
    user, previous = ada(), None
    for minute in range(MAX_SENDS_PER_WINDOW):
        previous = EmailVerification.issue(
            user, previous, RIGHT, b"s", NOW + timedelta(minutes=minute)
        )
    late = NOW + timedelta(minutes=20)
    with pytest.raises(VerificationSendsExhausted) as exhausted:
        EmailVerification.issue(user, previous, RIGHT, b"s", late)
    assert exhausted.value.retry_after == (SEND_WINDOW - timedelta(minutes=20)).total_seconds()
    fresh = EmailVerification.issue(user, previous, RIGHT, b"s", NOW + SEND_WINDOW)
    assert (fresh.sends_in_window, fresh.window_started_at) == (1, NOW + SEND_WINDOW)


def test_a_new_code_replaces_the_old_one_with_fresh_attempts() -> None:
    user = ada()
    first = issued(user).failed_attempt()
    second = EmailVerification.issue(user, first, b"other", b"salt2", NOW)
    assert (second.failed_attempts, second.used, second.sends_in_window) == (0, False, 2)
    with pytest.raises(VerificationCodeWrong):
        verify_with_code(user, second, RIGHT, NOW)


def test_codes_are_six_digits_and_hashes_depend_on_the_salt() -> None:
    code = new_code()
    assert len(code) == 6
    assert code.isdigit()
    assert hash_code(code, b"a" * 16) != hash_code(code, b"b" * 16)
    assert hash_code(code, b"a" * 16) == hash_code(code, b"a" * 16)
