"""Path filters read as GitHub Actions reads them, and files written as few filters."""

from __future__ import annotations

from protomesh_toolkit.pipelines.globs import compact, matches


def test_a_double_star_crosses_folders_and_a_single_star_does_not() -> None:
    assert matches("services/order/**", "services/order/migrations/001.sql")
    assert not matches("services/order/**", "services/orders.py")
    assert matches("contracts/*/user-*.json", "contracts/order/user-rpc.json")
    assert not matches("contracts/*/user-*.json", "contracts/order/deep/user-rpc.json")
    assert matches("**/conftest.py", "conftest.py")
    assert matches("**/conftest.py", "tests/unit/conftest.py")


def test_a_folder_whose_every_file_is_needed_becomes_one_filter() -> None:
    universe = ["a/x.py", "a/b/y.py", "a/b/z.py", "c/one.py", "c/two.py", "README.md"]
    assert compact({"a/x.py", "a/b/y.py", "a/b/z.py", "c/one.py"}, universe, ["Makefile"]) == [
        "Makefile",
        "a/**",
        "c/one.py",
    ]


def test_what_a_kept_filter_covers_is_not_repeated() -> None:
    universe = ["services/user/a.py", "services/user/b.py", "protomesh/errors.py"]
    needed = {"services/user/a.py", "protomesh/errors.py"}
    assert compact(needed, universe, ["services/user/**"]) == [
        "services/user/**",
        "protomesh/**",
    ]
