"""lendguard: a consumer-credit platform with risk management built in.

The ledger (``lendguard.ledger``) is a pure, event-sourced core; stores
(``lendguard.store``) and the CLI are adapters around it.
"""

__version__ = "0.1.0"
