from __future__ import annotations

from shop.user.v1 import user_pb2 as v1
from shop.user.v2 import user_pb2 as v2

from protomesh.errors import FieldViolation
from services.user import validation


def fields(violations: list[FieldViolation]) -> list[str]:
    return [v.field for v in violations]


def test_a_valid_v1_create_has_no_violations() -> None:
    request = v1.CreateUserRequest(email="ada@example.com", display_name="Ada")
    assert validation.create_user_v1(request) == []


def test_an_empty_v1_create_lists_both_fields() -> None:
    assert fields(validation.create_user_v1(v1.CreateUserRequest())) == ["email", "display_name"]


def test_emails_need_a_domain_with_a_dot_and_a_sane_length() -> None:
    for bad in [
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "a b@example.com",
        "a" * 250 + "@x.io",
    ]:
        request = v1.CreateUserRequest(email=bad, display_name="Ada")
        assert fields(validation.create_user_v1(request)) == ["email"], bad


def test_names_are_bounded_and_free_of_control_characters() -> None:
    for bad in ["x" * 101, "Ada\x00", "Ada\u202e", "   "]:
        request = v1.CreateUserRequest(email="a@b.io", display_name=bad)
        assert fields(validation.create_user_v1(request)) == ["display_name"], repr(bad)


def test_v2_create_requires_a_name_with_a_given_name() -> None:
    assert fields(validation.create_user_v2(v2.CreateUserRequest(email="a@b.io"))) == ["name"]
    request = v2.CreateUserRequest(email="a@b.io", name=v2.PersonName(family_name="Lovelace"))
    assert fields(validation.create_user_v2(request)) == ["name.given_name"]


def test_an_unknown_enum_value_is_a_violation() -> None:
    request = v2.ListUsersRequest(email_verification=42)  # type: ignore[arg-type]
    assert fields(validation.list_users_v2(request)) == ["email_verification"]


def test_page_sizes_are_bounded() -> None:
    assert fields(validation.list_users_v2(v2.ListUsersRequest(page_size=101))) == ["page_size"]
    assert fields(validation.list_users_v2(v2.ListUsersRequest(page_size=-1))) == ["page_size"]


def test_update_checks_only_the_fields_that_are_set() -> None:
    request = v1.UpdateUserRequest(user_id="00000000-0000-0000-0000-000000000001")
    assert validation.update_user_v1(request) == []
    request.email = "nope"
    assert fields(validation.update_user_v1(request)) == ["email"]


def test_user_ids_must_be_uuids() -> None:
    validator = validation.VALIDATORS["/shop.user.v1.UserService/GetUser"]
    assert fields(validator(v1.GetUserRequest(user_id="42"))) == ["user_id"]
