"""Graphviz DOT text of the graph behind a tensor (paste into any DOT viewer)."""

from __future__ import annotations

from .engine import Node
from .tensor import Tensor


def to_dot(t: Tensor) -> str:
    """Ops are ellipses (name and sequence number), leaves and the output boxes.
    Walks the graph with an explicit stack: safe on very long chains."""
    if not isinstance(t, Tensor):
        raise TypeError(f"to_dot: t must be a Tensor, got {type(t).__name__}")
    lines = ["digraph minigrad {", "  rankdir=LR;", f'  out [shape=box, label="output {t.shape}"];']
    if t._node is None:
        return "\n".join(lines + ["}"])
    lines.append(f"  n{t._node.seq} -> out;")
    seen, stack = {t._node}, [t._node]
    while stack:
        node = stack.pop()
        freed = " (freed)" if node.parents is None else ""
        lines.append(f'  n{node.seq} [label="{node.name} #{node.seq}{freed}"];')
        for parent in node.parents or ():
            if parent is None:
                continue
            target = parent[0]
            if isinstance(target, Node):
                lines.append(f"  n{target.seq} -> n{node.seq};")
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
            else:
                leaf = f"leaf{id(target)}"
                if leaf not in seen:
                    seen.add(leaf)
                    lines.append(f'  {leaf} [shape=box, label="leaf {target.shape}"];')
                lines.append(f"  {leaf} -> n{node.seq};")
    return "\n".join(lines + ["}"])
