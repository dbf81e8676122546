"""Proof that `buf breaking` with our buf.yaml refuses each kind of wire or JSON break."""

from __future__ import annotations

from pathlib import Path

import pytest

from protomesh_toolkit.contracts.breaking import FOUND_PROBLEMS
from tests.contracts.workspace import USER_V1, ProtoWorkspace

pytestmark = pytest.mark.integration

DISPLAY_NAME = "  // Name shown to other people.\n  string display_name = 3;\n"


def assert_breaks(workspace: ProtoWorkspace, base_image: Path, *named: str) -> None:
    result = workspace.breaking(base_image)
    # buf also exits 100 when the protos do not compile: the message must name the element.
    assert result.returncode == FOUND_PROBLEMS, result.output
    for text in named:
        assert text in result.output, result.output


def test_removing_a_field_is_breaking(workspace: ProtoWorkspace, base_image: Path) -> None:
    workspace.replace(USER_V1, DISPLAY_NAME, "")
    assert_breaks(workspace, base_image, 'field "3" with name "display_name"', "was deleted")


def test_changing_a_field_type_is_breaking(workspace: ProtoWorkspace, base_image: Path) -> None:
    workspace.replace(USER_V1, "int32 page_size = 1;", "string page_size = 1;")
    assert_breaks(
        workspace, base_image, 'name "page_size"', 'changed type from "int32" to "string"'
    )


def test_renaming_an_rpc_is_breaking(workspace: ProtoWorkspace, base_image: Path) -> None:
    workspace.replace(USER_V1, "rpc GetUser(", "rpc FetchUser(")
    assert_breaks(workspace, base_image, 'RPC "GetUser" on service "UserService" was deleted')


def test_changing_a_json_name_is_breaking(workspace: ProtoWorkspace, base_image: Path) -> None:
    workspace.replace(
        USER_V1, DISPLAY_NAME, DISPLAY_NAME.replace("= 3;", '= 3 [json_name = "name"];')
    )
    assert_breaks(
        workspace, base_image, 'name "display_name"', 'option "json_name" from "displayName"'
    )


def test_renumbering_a_field_is_breaking(workspace: ProtoWorkspace, base_image: Path) -> None:
    workspace.replace(USER_V1, DISPLAY_NAME, DISPLAY_NAME.replace("= 3;", "= 6;"))
    assert_breaks(workspace, base_image, 'field "3" with name "display_name"', "was deleted")


def test_adding_an_optional_field_is_not_breaking(
    workspace: ProtoWorkspace, base_image: Path
) -> None:
    workspace.replace(
        USER_V1,
        DISPLAY_NAME,
        DISPLAY_NAME + "  // What the user likes to be called.\n  optional string nickname = 6;\n",
    )
    result = workspace.breaking(base_image)
    assert result.passed, result.output
