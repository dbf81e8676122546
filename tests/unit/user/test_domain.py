from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.user.domain import (
    EmailChangedSinceVerification,
    User,
    UserProfileChanged,
    UserRegistered,
    email_key,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def registered(**overrides: str) -> User:
    user, _ = User.register(
        email=overrides.get("email", "Ada@Example.com"),
        now=NOW,
        display_name=overrides.get("display_name", "Ada"),
    )
    return user


def test_new_users_start_unverified() -> None:
    assert registered().email_verified is False


def test_a_structured_name_sets_the_display_name() -> None:
    user, _ = User.register(email="a@b.io", given_name=" Ada ", family_name="Lovelace", now=NOW)
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
    user, _ = User.register(email="a@b.io", given_name="Ada", family_name="Lovelace", now=NOW)
    renamed, _ = user.update(LATER, display_name="Countess")
    assert (renamed.display_name, renamed.given_name) == ("Countess", "Ada")


def test_registering_is_the_users_first_event() -> None:
    user, event = User.register(email=" ada@example.com ", display_name="Ada", now=NOW)
    assert user.version == 0
    assert event == UserRegistered(user.id, "ada@example.com", "Ada", NOW, version=0)


def test_each_change_is_one_event_carrying_the_new_profile_and_version() -> None:
    user = registered()
    verified, first = user.verify("ada@example.com", NOW)
    moved, second = verified.update(LATER, email="ada@lovelace.org", given_name="Ada")
    assert first == UserProfileChanged(user.id, "Ada@Example.com", "Ada", True, NOW, version=1)
    assert second == UserProfileChanged(user.id, "ada@lovelace.org", "Ada", False, LATER, version=2)
    assert (verified.version, moved.version) == (1, 2)


def test_a_command_that_changes_nothing_has_no_event() -> None:
    verified, _ = registered().verify("ada@example.com", NOW)
    again, event = verified.verify("ada@example.com", LATER)
    assert (again, event) == (verified, None)
