"""A CDC worker's configuration: the table → message pairs are checked before it starts."""

from __future__ import annotations

import pytest

from protomesh.cdc.__main__ import main
from protomesh.cdc.settings import PREFIX, CaptureConfig
from protomesh.config import load_config

REQUIRED = {
    f"{PREFIX}CONTEXT": "order",
    f"{PREFIX}DATABASE_URL": "postgresql://order_cdc@127.0.0.1:5432/postgres",
    f"{PREFIX}DATABASE_SCHEMA": "orders",
}


def test_tables_pair_each_table_with_its_message() -> None:
    config = load_config(
        CaptureConfig,
        PREFIX,
        {**REQUIRED, f"{PREFIX}TABLES": "orders=shop.order.changes.v1.OrderChanged, lines=a.B"},
    )
    assert config.table_messages() == {
        "orders": "shop.order.changes.v1.OrderChanged",
        "lines": "a.B",
    }


def test_a_malformed_pair_stops_the_worker_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in {**REQUIRED, f"{PREFIX}TABLES": "orders"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "CDC_TABLES: 'orders' is not TABLE=proto.Message" in capsys.readouterr().err
