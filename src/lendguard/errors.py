"""Typed errors. A command that raises one of these has changed nothing.

Every error carries a stable ``code`` so the CLI (and later the REST API) can report
it without parsing messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class LendguardError(Exception):
    """Base of every error the platform raises on purpose."""

    code = "error"


class InvalidAmount(LendguardError):
    code = "invalid_amount"


class CurrencyMismatch(InvalidAmount):
    code = "currency_mismatch"


class InvalidCommand(LendguardError):
    """A command whose fields are malformed (bad date, unknown term, empty id, ...)."""

    code = "invalid_command"


class InvalidConfiguration(LendguardError):
    """A product configuration that is refused (e.g. its APR exceeds the cap)."""

    code = "invalid_configuration"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class UnknownAccount(LendguardError):
    code = "unknown_account"


class AccountAlreadyExists(LendguardError):
    code = "account_exists"


class AccountNotActive(LendguardError):
    """The account is frozen, closed or written off and cannot take this command."""

    code = "account_not_active"


class InsufficientLimit(LendguardError):
    code = "insufficient_limit"


class UnknownOrder(LendguardError):
    code = "unknown_order"


class UnknownLoan(LendguardError):
    code = "unknown_loan"


class NotConvertible(LendguardError):
    """A statement or purchase that cannot be turned into instalments."""

    code = "not_convertible"


class ConcurrencyConflict(LendguardError):
    """Another writer appended to the stream first; reload and decide again."""

    code = "concurrency_conflict"


class IdempotencyConflict(LendguardError):
    """The idempotency key was used before with a different command."""

    code = "idempotency_conflict"


class ClosureBlocked(LendguardError):
    """The account cannot be closed yet; ``blockers`` names everything in the way."""

    code = "closure_blocked"

    def __init__(self, account_id: str, blockers: Sequence[object]) -> None:
        self.account_id = account_id
        self.blockers = list(blockers)
        whats = "; ".join(str(getattr(b, "what", b)) for b in blockers)
        super().__init__(f"account {account_id} cannot be closed yet: {whats}")


class CloseOfBusinessIncomplete(LendguardError):
    """Some accounts could not be closed for the day; the others were."""

    code = "close_of_business_incomplete"

    def __init__(self, day: object, failures: list[tuple[str, Exception]]) -> None:
        self.day = day
        self.failures = list(failures)
        named = "; ".join(f"{account}: {type(exc).__name__}: {exc}" for account, exc in failures)
        super().__init__(f"close of business {day} failed for {len(failures)} account(s): "
                         f"{named}")


class StoreError(LendguardError):
    code = "store_error"


class InvalidValidationInput(LendguardError):
    """Outcomes, scores or settings that a model validation cannot use.

    ``problems`` names every one at once (lengths that differ, an outcome that is not 0/1
    or never varies, missing scores, a setting out of range), each starting with the
    argument it is about.
    """

    code = "invalid_validation_input"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class InvalidTrainingData(LendguardError):
    """Data a model cannot be trained on or score; ``column`` names the culprit.

    When several columns are wrong at once, ``problems`` lists every one of them (each an
    ``InvalidTrainingData`` naming its column) and ``column`` is the first.
    """

    code = "invalid_training_data"

    def __init__(self, column: str, message: str,
                 problems: Sequence[InvalidTrainingData] = ()) -> None:
        self.column = column
        self.problems = list(problems) or [self]
        super().__init__(message)


class UnknownColumn(InvalidTrainingData):
    code = "unknown_column"

    def __init__(self, column: str, available: Sequence[str] = ()) -> None:
        shown = ", ".join(list(available)[:12])
        super().__init__(column, f"unknown column {column!r}"
                         + (f" (the data has: {shown})" if shown else ""))


class ConstantTarget(InvalidTrainingData):
    code = "constant_target"

    def __init__(self, column: str, value: object) -> None:
        super().__init__(column, f"target column {column!r} has only one value ({value!r}); "
                         "a model needs both defaulters and non-defaulters")


class InvalidTarget(InvalidTrainingData):
    code = "invalid_target"

    def __init__(self, column: str, values: Sequence[object], detail: str = "") -> None:
        super().__init__(column, detail or (
            f"target column {column!r} must hold 0/1 (1 = default), found "
            f"{list(values)[:5]!r}; if another value means default, name it with "
            "--bad-value"))


class MissingTargetValues(InvalidTrainingData):
    code = "missing_target_values"

    def __init__(self, column: str, count: int) -> None:
        super().__init__(column, f"target column {column!r} has {count} missing value(s)")


class TooFewRows(InvalidTrainingData):
    code = "too_few_rows"

    def __init__(self, column: str, counts: dict[int, int], needed: int) -> None:
        super().__init__(column, f"target column {column!r} has {counts.get(1, 0)} "
                         f"defaulter(s) and {counts.get(0, 0)} repayer(s); a model needs at "
                         f"least {needed} of each")


class NonNumericValues(InvalidTrainingData):
    code = "non_numeric_values"

    def __init__(self, column: str, examples: Sequence[object]) -> None:
        super().__init__(column, f"numeric feature {column!r} holds non-numeric values, "
                         f"e.g. {list(examples)[:3]!r}")


class ManyDataProblems(InvalidTrainingData):
    """More than one column is wrong: all of them are reported at once."""

    code = "invalid_training_data"

    def __init__(self, problems: Sequence[InvalidTrainingData]) -> None:
        super().__init__(problems[0].column, "; ".join(str(p) for p in problems), problems)


class UnsupportedColumnType(InvalidTrainingData):
    """A column whose values are not single numbers or texts (a list, a struct, bytes)."""

    code = "unsupported_column_type"

    def __init__(self, column: str, dtype: str) -> None:
        super().__init__(column, f"column {column!r} holds {dtype} values, which cannot be a "
                         f"feature: leave it out (--exclude {column}) or flatten it first")


class NoFeatureKept(InvalidTrainingData):
    """Every feature was dropped by the selection: there is no scorecard to fit."""

    code = "no_feature_kept"

    def __init__(self, column: str, dropped: Mapping[str, str]) -> None:
        reasons = "; ".join(f"{name}: {why}" for name, why in list(dropped.items())[:10])
        more = f" (and {len(dropped) - 10} more)" if len(dropped) > 10 else ""
        super().__init__(column, f"no feature tells the defaulters in {column!r} from the "
                         f"rest: the selection dropped every one — {reasons}{more}")


class TooFewBads(InvalidTrainingData):
    """A behaviour sample (an as-of date and a window) with too few bads or goods."""

    code = "too_few_bads"

    def __init__(self, column: str, counts: dict[int, int], needed: int, where: str) -> None:
        super().__init__(column, f"{where}: {counts.get(1, 0)} customer(s) went bad and "
                         f"{counts.get(0, 0)} did not; a model needs at least {needed} of "
                         "each (choose another as-of date or a longer window)")


class AsOfOutOfRange(LendguardError):
    """An as-of date (or its performance window) outside the business dates of the log."""

    code = "as_of_out_of_range"


class ModelArtefactError(LendguardError):
    """A model artefact that is refused: tampered with, incomplete or of another schema."""

    code = "model_artefact"


class ArtefactTampered(ModelArtefactError):
    code = "artefact_tampered"


class ArtefactSchemaMismatch(ModelArtefactError):
    code = "artefact_schema_mismatch"


class NotYetSupported(LendguardError):
    code = "not_yet_supported"
