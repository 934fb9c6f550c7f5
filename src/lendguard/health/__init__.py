"""Borrower financial health: debt burden, what falls due, signs of over-reliance,
a grade with its reasons, and guidance in plain English and Chinese.

Pure functions of account states and their events; nothing here writes.
"""

from lendguard.health.report import HealthReport, Signal, assess

__all__ = ["HealthReport", "Signal", "assess"]
