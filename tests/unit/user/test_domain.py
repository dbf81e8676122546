from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.user.domain import EmailChangedSinceVerification, User, email_key

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def registered(**overrides: str) -> User:
    return User.register(
        email=overrides.get("email", "Ada@Example.com"),
        now=NOW,
        display_name=overrides.get("display_name", "Ada"),
    )


def test_new_users_start_unverified() -> None:
    assert registered().email_verified is False


def test_a_structured_name_sets_the_display_name() -> None:
    user = User.register(email="a@b.io", given_name=" Ada ", family_name="Lovelace", now=NOW)
    assert (user.given_name, user.family_name, user.display_name) == (
        "Ada",
        "Lovelace",
        "Ada Lovelace",
    )


def test_emails_compare_case_insensitively() -> None:
    assert email_key(" Ada@Example.COM ") == email_key("ada@example.com")


def test_changing_the_email_resets_verification() -> None:
    user = registered().verify_email("ada@example.com", NOW)
    assert user.email_verified
    changed = user.change_email("ada@lovelace.org", LATER)
    assert changed.email_verified is False
    assert changed.updated_at == LATER


def test_changing_only_the_case_of_the_email_keeps_verification() -> None:
    user = registered().verify_email("ada@example.com", NOW)
    assert user.change_email("ADA@example.com", LATER).email_verified


def test_a_late_verification_of_an_old_address_is_refused() -> None:
    user = registered().change_email("new@example.com", LATER)
    with pytest.raises(EmailChangedSinceVerification):
        user.verify_email("Ada@Example.com", LATER)


def test_verifying_twice_changes_nothing_the_second_time() -> None:
    once = registered().verify_email("ada@example.com", NOW)
    assert once.verify_email("ada@example.com", LATER) is once


def test_a_v1_rename_keeps_the_structured_name() -> None:
    user = User.register(email="a@b.io", given_name="Ada", family_name="Lovelace", now=NOW)
    renamed = user.rename("Countess", LATER)
    assert (renamed.display_name, renamed.given_name) == ("Countess", "Ada")
