"""An import-linter contract type: modules that import only the standard library and a list.

The domain of a bounded context is pure Python: it must not reach for
grpc, asyncpg, nats or any other part of the mesh, only the error
vocabulary (`protomesh.errors`). And what a service runs must import only
what the service image installs. import-linter's `forbidden` contract needs
a list of what to forbid, which a new dependency would slip past; this
contract lists what is allowed instead (a module and everything under it).
Configured in pyproject.toml:

    [[tool.importlinter.contracts]]
    type = "pure"
    modules = ["services.*.domain"]
    allowed = ["protomesh.errors"]
"""

from __future__ import annotations

import sys

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck
from importlinter.domain.helpers import module_expressions_to_modules


class PureModulesContract(Contract):
    type_name = "pure"
    modules = fields.SetField(subfield=fields.ModuleExpressionField())
    allowed = fields.SetField(subfield=fields.StringField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        del verbose
        allowed: set[str] = set(self.allowed or ())  # type: ignore[arg-type]
        modules = module_expressions_to_modules(graph, self.modules)  # type: ignore[arg-type]
        offences = sorted(
            (module.name, imported)
            for module in modules
            for imported in graph.find_modules_directly_imported_by(module.name)
            if not _allowed(imported, allowed)
        )
        return ContractCheck(kept=not offences, metadata={"offences": offences})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported in check.metadata["offences"]:
            output.print_error(f"{importer} imports {imported}", bold=False)
            output.new_line()


def _allowed(imported: str, allowed: set[str]) -> bool:
    top = imported.split(".", maxsplit=1)[0]
    if top in sys.stdlib_module_names or top == "__future__":
        return True
    return any(imported == name or imported.startswith(f"{name}.") for name in allowed)
