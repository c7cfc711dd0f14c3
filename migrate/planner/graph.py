"""The dependency graph of services and its units (strongly connected components).

Edges run from a dependency to its dependent (``B -> A`` when ``A.depends_on: [B]``), so a
topological order of the graph is an order in which services may be cut over.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from migrate.config import Inventory


@dataclass(frozen=True)
class Unit:
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
    dag: nx.DiGraph
    """Nodes are unit ids (ints); edges run from a dependency unit to its dependent unit."""
    units: dict[int, Unit]


def dependency_graph(inventory: Inventory) -> nx.DiGraph:
    graph = nx.DiGraph()
    for service in inventory.services:
        graph.add_node(service.name)
    for service in inventory.services:
        for dependency in service.depends_on:
            graph.add_edge(dependency, service.name)
    return graph


def condense(inventory: Inventory, graph: nx.DiGraph) -> Condensed:
    """Collapse cycles into units; each unit carries its bytes and whether it is low risk."""
    by_name = {service.name: service for service in inventory.services}
    dag = nx.condensation(graph)
    units: dict[int, Unit] = {}
    for unit_id, data in dag.nodes(data=True):
        members = tuple(sorted(data["members"]))
        units[unit_id] = Unit(
            services=members,
            bytes=sum(by_name[name].size_estimate for name in members),
            low_risk=all(by_name[name].criticality == "low" for name in members),
        )
    return Condensed(dag, units)
