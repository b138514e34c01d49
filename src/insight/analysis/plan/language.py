"""The plan language: a closed set of typed operations that answer a question about one table.

A plan is a list of steps run in order on a working copy of the table. Transform steps change the
working table (filter, fill or drop missing values, derive a column, remove outliers); measure steps
compute one named value from the table as it is at that point (so a plan can measure "before" and
"after" a transform). Every value the model writes is a parameter (a column name, a number, a label),
never code: the executor maps each ``op`` to one fixed pandas/scipy routine.

The operations were chosen by reading the DABench dev questions (summary statistics, correlation,
distribution tests, outliers, preprocessing, feature engineering); anything else (model training, plots,
joins of several files) has no operation and is refused.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

ColumnName = Annotated[str, Field(min_length=1, max_length=120)]
OutputName = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Label = Annotated[str, Field(max_length=80)]
Scalar = float | int | bool | Label
Digits = Annotated[int, Field(ge=0, le=10)]

MAX_STEPS = 24

AggregateFn = Literal[
    "count",
    "sum",
    "mean",
    "median",
    "std",
    "var",
    "min",
    "max",
    "range",
    "quantile",
    "nunique",
    "mode",
    "skew",
    "kurtosis",
    "missing_count",
    "missing_percent",
    "first",
    "last",
]
Comparison = Literal["eq", "ne", "lt", "le", "gt", "ge"]
Statistic = Literal["value", "p_value"]


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Condition(BaseModel):
    """A test of one column's value, e.g. star_rating lt 3 (the same tests as ``filter``)."""

    model_config = ConfigDict(extra="forbid")
    column: ColumnName
    test: Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "is_null", "not_null", "between"]
    value: Scalar | None = None
    values: list[Scalar] = Field(default_factory=list, max_length=50, description="for in, not_in, between")


class _Measure(_Step):
    name: OutputName = Field(description="the answer's name for this value, e.g. mean_fare")
    round: Digits | None = Field(default=None, description="decimal places of the reported value")
    where: list[Condition] = Field(
        default_factory=list, max_length=4, description="rows this measure alone is taken on (all must hold)"
    )


# ---- transforms -------------------------------------------------------------------------------------


class Filter(_Step):
    """Keep the rows where ``column`` passes the test."""

    op: Literal["filter"]
    column: ColumnName
    test: Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "is_null", "not_null", "between"]
    value: Scalar | None = None
    values: list[Scalar] = Field(default_factory=list, max_length=50, description="for in, not_in, between")


class DropMissing(_Step):
    """Drop the rows with a missing value in any of ``columns`` (every column when empty)."""

    op: Literal["drop_missing"]
    columns: list[ColumnName] = Field(default_factory=list, max_length=50)


class FillMissing(_Step):
    """Fill ``column``'s missing values with its mean, median, mode, a given value, or its group's mean."""

    op: Literal["fill_missing"]
    column: ColumnName
    strategy: Literal["mean", "median", "mode", "value", "group_mean", "group_median", "ffill", "bfill"]
    value: Scalar | None = None
    by: ColumnName | None = Field(default=None, description="group column for group_mean / group_median")


class DropDuplicates(_Step):
    """Drop repeated rows (judged on ``columns``; every column when empty), keeping the first."""

    op: Literal["drop_duplicates"]
    columns: list[ColumnName] = Field(default_factory=list, max_length=50)


class RemoveOutliers(_Step):
    """Drop the rows whose ``column`` is an outlier by the IQR rule (k × IQR) or the z-score rule (|z| > k);
    ``keep="outliers"`` keeps only those rows instead (to measure the outliers themselves)."""

    op: Literal["remove_outliers"]
    column: ColumnName
    method: Literal["iqr", "zscore"]
    threshold: float | None = Field(default=None, description="IQR factor (1.5) or z limit (3)")
    keep: Literal["inliers", "outliers"] = "inliers"


class Arithmetic(_Step):
    """A new column ``name`` = ``left`` (column) operator (``right`` column or ``right_value``)."""

    op: Literal["arithmetic"]
    name: ColumnName
    left: ColumnName
    operator: Literal["add", "sub", "mul", "div", "pow"]
    right: ColumnName | None = None
    right_value: float | None = None


class RowStat(_Step):
    """A new column ``name``: the sum / mean / min / max of ``columns`` on each row."""

    op: Literal["row_stat"]
    name: ColumnName
    columns: list[ColumnName] = Field(min_length=1, max_length=50)
    fn: Literal["sum", "mean", "min", "max"]


class ColumnTransform(_Step):
    """A new (or replaced) column ``name`` from one column: logs, scaling, changes, number extraction."""

    op: Literal["transform"]
    name: ColumnName
    column: ColumnName
    fn: Literal[
        "log",
        "log10",
        "log1p",
        "sqrt",
        "abs",
        "minmax",
        "zscore",
        "center",
        "pct_change",
        "diff",
        "rank",
        "to_number",
        "to_seconds",
    ]
    offset: float = Field(default=0.0, description="added before log/sqrt (e.g. 1e-10)")


class DatePart(_Step):
    """A new column ``name``: a part of the date column ``column``."""

    op: Literal["date_part"]
    name: ColumnName
    column: ColumnName
    part: Literal["year", "month", "day", "hour", "weekday", "is_weekend", "quarter", "dayofyear"]


class DateDiff(_Step):
    """A new column ``name`` = ``end`` − ``start`` in days or hours."""

    op: Literal["date_diff"]
    name: ColumnName
    start: ColumnName
    end: ColumnName
    unit: Literal["days", "hours"] = "days"


class Bin(_Step):
    """A new label column ``name``: ``column`` cut at ``edges`` (len(labels) + 1 edges)."""

    op: Literal["bin"]
    name: ColumnName
    column: ColumnName
    edges: list[float] = Field(min_length=2, max_length=21)
    labels: list[Label] = Field(min_length=1, max_length=20)
    right: bool = Field(default=True, description="intervals closed on the right (a, b]; false: [a, b)")


# ---- measures ---------------------------------------------------------------------------------------


class Aggregate(_Measure):
    """One statistic of ``column`` (missing values skipped), over the table or one group of it."""

    op: Literal["aggregate"]
    column: ColumnName
    fn: AggregateFn
    q: float | None = Field(default=None, description="quantile in [0, 1], for fn=quantile")
    ddof: Literal[0, 1] = Field(default=1, description="std/var: 1 sample, 0 population")
    bias_corrected: bool = Field(default=False, description="skew/kurtosis: False = scipy's default (biased)")
    by: ColumnName | None = Field(default=None, description="group column")
    group: Scalar | None = Field(default=None, description="the group of `by` to measure")


class RowCount(_Measure):
    op: Literal["row_count"]


class TopGroup(_Measure):
    """The group of ``by`` whose ``fn`` of ``column`` is largest (or smallest); the first one on ties."""

    op: Literal["top_group"]
    by: ColumnName
    column: ColumnName
    fn: AggregateFn = "mean"
    order: Literal["max", "min"] = "max"


class ValueAtExtreme(_Measure):
    """``column``'s value on the (first) row where ``at`` is largest or smallest."""

    op: Literal["value_at_extreme"]
    column: ColumnName
    at: ColumnName
    order: Literal["max", "min"] = "max"


class ValueAt(_Measure):
    """``column``'s value on one row, by position (0 first, -1 last)."""

    op: Literal["value_at"]
    column: ColumnName
    position: int = Field(default=0, ge=-1_000_000, le=1_000_000)


class Correlation(_Measure):
    """Correlation of ``x`` and ``y`` over rows where both are present (optionally within one group of
    ``by``): the coefficient or its p-value."""

    op: Literal["correlation"]
    x: ColumnName
    y: ColumnName
    method: Literal["pearson", "spearman", "kendall"] = "pearson"
    statistic: Statistic = "value"
    by: ColumnName | None = Field(default=None, description="group column")
    group: Scalar | None = Field(default=None, description="the group of `by` to correlate within")


class StrongestCorrelation(_Measure):
    """Among pairs of ``columns``: the strongest correlation's coefficient, or its pair as "a, b"."""

    op: Literal["strongest_correlation"]
    columns: list[ColumnName] = Field(min_length=2, max_length=30)
    method: Literal["pearson", "spearman", "kendall"] = "pearson"
    direction: Literal["positive", "negative", "absolute"] = "positive"
    report: Literal["coefficient", "pair"] = "coefficient"


class OutlierCount(_Measure):
    """How many present values of ``column`` are outliers by the IQR rule or the z-score rule."""

    op: Literal["outlier_count"]
    column: ColumnName
    method: Literal["iqr", "zscore"]
    threshold: float | None = Field(default=None, description="IQR factor (1.5) or z limit (3)")


class NormalityTest(_Measure):
    """Shapiro-Wilk, Kolmogorov-Smirnov (against a normal with the sample's mean and sd) or D'Agostino."""

    op: Literal["normality_test"]
    column: ColumnName
    test: Literal["shapiro", "ks", "dagostino"] = "shapiro"
    statistic: Statistic = "p_value"


class TTest(_Measure):
    """Two-sample t-test of ``column`` between groups ``group_a`` and ``group_b`` of ``by``."""

    op: Literal["t_test"]
    column: ColumnName
    by: ColumnName
    group_a: Scalar
    group_b: Scalar
    equal_var: bool = True
    statistic: Statistic = "p_value"


class KsTwoSample(_Measure):
    """Two-sample Kolmogorov-Smirnov test: do ``column``'s values in groups ``group_a`` and ``group_b`` of
    ``by`` come from the same distribution?"""

    op: Literal["ks_2samp"]
    column: ColumnName
    by: ColumnName
    group_a: Scalar
    group_b: Scalar
    statistic: Statistic = "p_value"


class ChiSquare(_Measure):
    """Chi-square test of independence of two categorical columns."""

    op: Literal["chi_square"]
    a: ColumnName
    b: ColumnName
    statistic: Statistic = "p_value"


class Anova(_Measure):
    """One-way ANOVA of ``column`` across the groups of ``by``."""

    op: Literal["anova"]
    column: ColumnName
    by: ColumnName
    statistic: Statistic = "p_value"


class MissingCounts(_Measure):
    """Missing values per column, as ``{'a': 0, 'b': 3}`` (every column when ``columns`` is empty)."""

    op: Literal["missing_counts"]
    columns: list[ColumnName] = Field(default_factory=list, max_length=100)


class OutlierValues(_Measure):
    """The outliers of ``column`` (IQR or z-score rule) as a sorted list "a, b, c"; with ``report``, that
    column's values on the outlier rows instead (``values_of``: e.g. the countries whose GDP is an outlier)."""

    op: Literal["outlier_values"]
    column: ColumnName
    method: Literal["iqr", "zscore"]
    threshold: float | None = Field(default=None, description="IQR factor (1.5) or z limit (3)")
    values_of: ColumnName | None = Field(default=None, description="list this column's values on the outlier rows")
    order: Literal["ascending", "descending", "table"] = "ascending"


class MissingColumns(_Measure):
    """The columns (among ``columns``; every column when empty) with at least one missing value, as "a, b"."""

    op: Literal["missing_columns"]
    columns: list[ColumnName] = Field(default_factory=list, max_length=100)
    order: Literal["table", "alphabetical"] = "table"


class FrequentValues(_Measure):
    """The distinct values of ``column`` that appear at least ``min_count`` times: how many, or the list."""

    op: Literal["frequent_values"]
    column: ColumnName
    min_count: int = Field(ge=1, le=1_000_000_000)
    report: Literal["count", "values"] = "count"


class DuplicateCount(_Measure):
    """How many rows repeat an earlier row (judged on ``columns``; every column when empty)."""

    op: Literal["duplicate_count"]
    columns: list[ColumnName] = Field(default_factory=list, max_length=50)


class GroupShare(_Measure):
    """The share of rows (with a value of ``by``) in the group ``group`` of ``by``: 0-1, or 0-100 with
    ``percent``."""

    op: Literal["group_share"]
    by: ColumnName
    group: Scalar
    percent: bool = False


class Check(BaseModel):
    """A test of an earlier measure's value, e.g. p_value lt 0.05."""

    model_config = ConfigDict(extra="forbid")
    ref: OutputName
    test: Comparison
    value: float
    absolute: bool = False


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    when: list[Check] = Field(min_length=1, max_length=4, description="all must hold")
    label: Label


class Decision(_Measure):
    """A label from earlier measures: the first case whose checks all hold, else ``otherwise``."""

    op: Literal["decision"]
    cases: list[Case] = Field(default_factory=list, max_length=6)
    otherwise: Label


Transform = Filter | DropMissing | FillMissing | DropDuplicates | RemoveOutliers
Derive = Arithmetic | RowStat | ColumnTransform | DatePart | DateDiff | Bin
Measure = (
    Aggregate
    | RowCount
    | TopGroup
    | ValueAtExtreme
    | ValueAt
    | Correlation
    | StrongestCorrelation
    | OutlierCount
    | NormalityTest
    | TTest
    | KsTwoSample
    | ChiSquare
    | Anova
    | MissingCounts
    | OutlierValues
    | MissingColumns
    | FrequentValues
    | DuplicateCount
    | GroupShare
    | Decision
)
Step = Annotated[Transform | Derive | Measure, Field(discriminator="op")]
TRANSFORMS: tuple[type[BaseModel], ...] = (Filter, DropMissing, FillMissing, DropDuplicates, RemoveOutliers)
DERIVES: tuple[type[BaseModel], ...] = (Arithmetic, RowStat, ColumnTransform, DatePart, DateDiff, Bin)
MEASURES: tuple[type[_Measure], ...] = (
    Aggregate,
    RowCount,
    TopGroup,
    ValueAtExtreme,
    ValueAt,
    Correlation,
    StrongestCorrelation,
    OutlierCount,
    NormalityTest,
    TTest,
    KsTwoSample,
    ChiSquare,
    Anova,
    MissingCounts,
    OutlierValues,
    MissingColumns,
    FrequentValues,
    DuplicateCount,
    GroupShare,
    Decision,
)


class TablePlan(BaseModel):
    """What the model writes: the steps, or ``supported=false`` with the reason when no plan can answer."""

    model_config = ConfigDict(extra="forbid")
    supported: bool = True
    reason: str | None = Field(default=None, max_length=300, description="why the question cannot be answered")
    steps: list[Step] = Field(default_factory=list, max_length=MAX_STEPS)


def is_measure(step: object) -> bool:
    return isinstance(step, _Measure)


def operations() -> list[str]:
    """Every ``op`` of the language, for docs and prompts."""
    return [model.model_fields["op"].annotation.__args__[0] for model in (*TRANSFORMS, *DERIVES, *MEASURES)]  # type: ignore[union-attr]
