"""The dependency graph of services and its units (strongly connected components).

Edges run from a dependency to its dependent (``B -> A`` when ``A.depends_on: [B]``), so a
topological order of the graph is an order in which services may be cut over.

networkx does the graph work (strongly connected components, condensation, a deterministic
topological order); this module only maps services to it and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import networkx as nx

from migrate.config import Inventory


class Unit(NamedTuple):
    """Services that move together: one service, or a dependency cycle."""

    services: tuple[str, ...]
    bytes: int
    low_risk: bool

    @property
    def is_cycle(self) -> bool:
        return len(self.services) > 1

    @property
    def key(self) -> str:
        return self.services[0]


@dataclass(frozen=True)
class Condensed:
    """The DAG of units (networkx's condensation): ``predecessors[u]`` are the units ``u``
    depends on, ``successors[u]`` those that depend on it."""

    dag: nx.DiGraph
    units: dict[int, Unit]
    predecessors: list[frozenset[int]]
    successors: list[frozenset[int]]


def dependency_graph(inventory: Inventory) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(service.name for service in inventory.services)
    graph.add_edges_from(
        (dependency, service.name)
        for service in inventory.services
        for dependency in service.depends_on  # the checks refused unknown names
    )
    return graph


def condense(inventory: Inventory, graph: nx.DiGraph) -> Condensed:
    """Collapse cycles into units (networkx's strongly connected components); each unit
    carries its bytes and whether it is low risk."""
    by_name = {service.name: service for service in inventory.services}
    dag = nx.condensation(graph)
    units: dict[int, Unit] = {}
    for unit, members in dag.nodes(data="members"):
        if len(members) == 1:  # most units: no cycle
            (name,) = members
            service = by_name[name]
            units[unit] = Unit((name,), service.size_estimate, service.criticality == "low")
            continue
        names = tuple(sorted(members))
        units[unit] = Unit(
            services=names,
            bytes=sum(by_name[name].size_estimate for name in names),
            low_risk=all(by_name[name].criticality == "low" for name in names),
        )
    count = dag.number_of_nodes()
    predecessors = [frozenset(dag.predecessors(unit)) for unit in range(count)]
    successors = [frozenset(dag.successors(unit)) for unit in range(count)]
    return Condensed(dag, units, predecessors, successors)


def topological_units(condensed: Condensed) -> list[int]:
    """Units in an order where each comes after its dependencies; ties go to the smallest
    name (unit names being unique, the order is deterministic)."""
    units = condensed.units
    return list(nx.lexicographical_topological_sort(condensed.dag, key=lambda u: units[u].key))
