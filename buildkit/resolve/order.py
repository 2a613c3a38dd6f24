"""Install order: dependencies first, ties by name, dependency cycles broken deterministically."""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping


def install_order(deps: Mapping[str, Collection[str]]) -> list[str]:
    """Every key of ``deps`` (name -> names it depends on), dependencies before dependents.

    apk allows dependency cycles, so the graph is condensed into strongly connected
    components first; components are emitted in topological order (smallest name first
    among those ready), and the members of a cycle by :func:`_order_cycle`.
    """
    graph = {
        name: sorted(d for d in targets if d in deps and d != name)
        for name, targets in deps.items()
    }
    components = _strongly_connected(graph)
    component_of = {name: i for i, members in enumerate(components) for name in members}
    waiting: list[set[int]] = [set() for _ in components]
    dependents: list[set[int]] = [set() for _ in components]
    for name, targets in graph.items():
        for target in targets:
            mine, theirs = component_of[name], component_of[target]
            if mine != theirs:
                waiting[mine].add(theirs)
                dependents[theirs].add(mine)
    ready = [(members[0], i) for i, members in enumerate(components) if not waiting[i]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, i = heapq.heappop(ready)
        order.extend(_order_cycle(components[i], graph))
        for j in dependents[i]:
            waiting[j].discard(i)
            if not waiting[j]:
                heapq.heappush(ready, (components[j][0], j))
    return order


def _order_cycle(members: list[str], graph: Mapping[str, list[str]]) -> list[str]:
    """Members of one cycle: repeatedly the one with the fewest unplaced dependencies."""
    remaining = set(members)
    order: list[str] = []
    while remaining:
        best = min(remaining, key=lambda n: (sum(d in remaining for d in graph[n]), n))
        remaining.discard(best)
        order.append(best)
    return order


def _strongly_connected(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm without recursion (dependency chains can be deep); members sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in sorted(graph):
        if root in index:
            continue
        visit(root)
        work = [(root, iter(graph[root]))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    visit(child)
                    work.append((child, iter(graph[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    members: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        if member == node:
                            break
                    components.append(sorted(members))
    return components
