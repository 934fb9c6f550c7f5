"""The repayment waterfall: penalties → fees → interest → principal, oldest first.

Pure: given what is owed (as ``Owed`` items) and an amount, say where each fen goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from lendguard.ledger.terms import AllocationOrder

COMPONENTS: tuple[str, ...] = ("penalty", "fee", "interest", "principal")
_RANK = {name: rank for rank, name in enumerate(COMPONENTS)}


@dataclass(frozen=True, slots=True)
class Owed:
    """One component of one item that is owed.

    Attributes:
      item: the item's id (statement, ``loan#n``, ``unbilled:<order>``).
      due_date: when it was (or will be) due; older is paid first.
      component: one of ``COMPONENTS``.
      amount: fen owed (> 0).
    """

    item: str
    due_date: date
    component: str
    amount: int


def allocate(
    amount: int, owed: Sequence[Owed], order: AllocationOrder
) -> tuple[list[tuple[str, str, int]], int]:
    """Split ``amount`` over ``owed``; return ``[(item, component, fen)]`` and the leftover."""
    if order is AllocationOrder.COMPONENT_FIRST:
        ranked = sorted(owed, key=lambda o: (_RANK[o.component], o.due_date, o.item))
    else:
        ranked = sorted(owed, key=lambda o: (o.due_date, o.item, _RANK[o.component]))
    remaining = amount
    slices: list[tuple[str, str, int]] = []
    for entry in ranked:
        if remaining <= 0:
            break
        if entry.amount <= 0:
            continue
        paid = min(remaining, entry.amount)
        slices.append((entry.item, entry.component, paid))
        remaining -= paid
    return slices, remaining
