"""The dependency graph of services and its units (strongly connected components).

Edges run from a dependency to its dependent (``B -> A`` when ``A.depends_on: [B]``), so a
topological order of the graph is an order in which services may be cut over.

Plain lists and sets, not networkx: the graph is built, condensed and sorted once per plan,
and these few algorithms on integer ids cost a tenth of networkx's general ones (and its
import), for exactly the same units and order.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import NamedTuple

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
class Graph:
    """Services by id (their order in the inventory) and, for each, its dependents."""

    names: list[str]
    dependents: list[list[int]]


@dataclass(frozen=True)
class Condensed:
    """The DAG of units: ``predecessors[u]`` are the units ``u`` depends on."""

    units: dict[int, Unit]
    predecessors: list[frozenset[int]]
    successors: list[frozenset[int]]


def dependency_graph(inventory: Inventory) -> Graph:
    names = [service.name for service in inventory.services]
    index = {name: position for position, name in enumerate(names)}
    dependents: list[list[int]] = [[] for _ in names]
    for position, service in enumerate(inventory.services):
        for dependency in service.depends_on:  # the checks refused unknown names
            dependents[index[dependency]].append(position)
    return Graph(names, dependents)


def condense(inventory: Inventory, graph: Graph) -> Condensed:
    """Collapse cycles into units; each unit carries its bytes and whether it is low risk."""
    component = _components(graph.dependents)
    count = max(component, default=-1) + 1
    members: list[list[int]] = [[] for _ in range(count)]
    for node, unit in enumerate(component):
        members[unit].append(node)
    services = inventory.services
    units: dict[int, Unit] = {}
    for unit, nodes in enumerate(members):
        if len(nodes) == 1:  # most units: no cycle
            service = services[nodes[0]]
            units[unit] = Unit((service.name,), service.size_estimate, service.criticality == "low")
            continue
        units[unit] = Unit(
            services=tuple(sorted(graph.names[node] for node in nodes)),
            bytes=sum(services[node].size_estimate for node in nodes),
            low_risk=all(services[node].criticality == "low" for node in nodes),
        )
    predecessors: list[set[int]] = [set() for _ in range(count)]
    successors: list[set[int]] = [set() for _ in range(count)]
    for node, targets in enumerate(graph.dependents):
        source = component[node]
        after = successors[source]
        for target in targets:
            unit = component[target]
            if unit != source:
                after.add(unit)
                predecessors[unit].add(source)
    return Condensed(
        units, [frozenset(p) for p in predecessors], [frozenset(s) for s in successors]
    )


def topological_units(condensed: Condensed) -> list[int]:
    """Units in an order where each comes after its dependencies; ties go to the smallest
    name (Kahn's algorithm with a heap: the same order as networkx's
    ``lexicographical_topological_sort`` keyed by name, unit names being unique)."""
    units = condensed.units
    waiting = [len(p) for p in condensed.predecessors]
    ready = [(units[u].key, u) for u in units if waiting[u] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _, unit = heapq.heappop(ready)
        order.append(unit)
        for successor in condensed.successors[unit]:
            waiting[successor] -= 1
            if waiting[successor] == 0:
                heapq.heappush(ready, (units[successor].key, successor))
    return order


def _components(dependents: list[list[int]]) -> list[int]:
    """The strongly connected component of each node (Tarjan's algorithm, iterative: a
    dependency chain of any length must not hit the recursion limit)."""
    count = len(dependents)
    index = [-1] * count
    low = [0] * count
    component = [-1] * count
    on_stack = [False] * count
    stack: list[int] = []
    found = 0
    counter = 0
    for start in range(count):
        if index[start] >= 0:
            continue
        work = [(start, 0)]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack[start] = True
        while work:
            node, position = work[-1]
            targets = dependents[node]
            if position < len(targets):
                work[-1] = (node, position + 1)
                target = targets[position]
                if index[target] < 0:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack[target] = True
                    work.append((target, 0))
                elif on_stack[target]:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    component[member] = found
                    if member == node:
                        break
                found += 1
    return component
