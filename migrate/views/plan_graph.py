"""The plan as a graph: Mermaid flowchart or Graphviz DOT, one cluster per wave.

An arrow ``A --> B`` means "A uses B" (A depends on B), so B is cut over no later than A.
Service names are ``[a-z0-9-]`` by validation; they are still quoted in both languages.
"""

from __future__ import annotations

from migrate.model import Plan


def _node_id(name: str) -> str:
    return "s_" + name.replace("-", "_")


def to_mermaid(plan: Plan) -> str:
    lines = ["flowchart LR"]
    cycles = {name for unit in plan.units for name in unit.services}
    for wave in plan.waves:
        title = f"Wave {wave.index}" + (" (pilot)" if wave.pilot else "")
        lines.append(f'  subgraph w{wave.index}["{title}"]')
        lines.extend(f'    {_node_id(name)}["{name}"]' for name in wave.services)
        lines.append("  end")
    for name, service in plan.services.items():
        lines.extend(f"  {_node_id(name)} --> {_node_id(dep)}" for dep in service.depends_on)
    if cycles:
        lines.append("  classDef cycle stroke:#c00,stroke-width:2px")
        lines.append("  class " + ",".join(_node_id(n) for n in sorted(cycles)) + " cycle")
    return "\n".join(lines) + "\n"


def to_dot(plan: Plan) -> str:
    lines = ["digraph plan {", "  rankdir=LR;", '  node [shape=box, fontname="sans-serif"];']
    cycles = {name for unit in plan.units for name in unit.services}
    for wave in plan.waves:
        title = f"Wave {wave.index}" + (" (pilot)" if wave.pilot else "")
        lines.append(f"  subgraph cluster_w{wave.index} {{")
        lines.append(f'    label="{title}";')
        for name in wave.services:
            style = ', color="#cc0000"' if name in cycles else ""
            lines.append(f'    "{name}" [label="{name}"{style}];')
        lines.append("  }")
    for name, service in plan.services.items():
        lines.extend(f'  "{name}" -> "{dep}";' for dep in service.depends_on)
    lines.append("}")
    return "\n".join(lines) + "\n"
