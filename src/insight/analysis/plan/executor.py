"""Runs a checked plan on a pandas frame: each ``op`` is one fixed routine, every model value a parameter.

Nothing here evaluates text: no ``eval``, ``query``, ``DataFrame.eval`` or SQL. Limits (rows, time,
steps) come from ``PlanSettings``; a plan that breaks one stops with ``PlanExecutionError``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from insight.analysis.plan import language as lang
from insight.config import TablePlanSettings as PlanSettings
from insight.errors import PlanExecutionError

Value = float | int | str | bool | None


@dataclass
class Execution:
    """The named values in the order they were measured, their rounding, and how long it took."""

    values: dict[str, Value] = field(default_factory=dict)
    rounding: dict[str, int | None] = field(default_factory=dict)
    execution_ms: float = 0.0

    def formatted(self) -> dict[str, str]:
        return {name: format_value(value, self.rounding.get(name)) for name, value in self.values.items()}


def format_value(value: Value, digits: int | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if digits is None:
        return f"{value:.6g}" if abs(value) < 1e15 else f"{value:.6e}"
    return f"{value:.{digits}f}"


def _plain(value: Any) -> Value:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _numbers(series: pd.Series) -> pd.Series[Any]:
    if pd.api.types.is_bool_dtype(series.dtype):
        series = series.astype("float64")
    return pd.to_numeric(series, errors="coerce").astype("float64").dropna()


def _need(values: pd.Series, at_least: int, what: str) -> None:
    if len(values) < at_least:
        raise PlanExecutionError(f"{what}: {len(values)} value(s) present, at least {at_least} needed")


def _matches(series: pd.Series, value: Any) -> pd.Series[Any]:
    """Rows equal to ``value``, comparing as numbers when the column is numeric, as text otherwise."""
    if pd.api.types.is_bool_dtype(series.dtype):
        wanted = value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")
        return (series == wanted).fillna(False).astype(bool)
    if pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(value, bool):
        try:
            return (series.astype("float64") == float(value)).fillna(False)
        except (TypeError, ValueError):
            return pd.Series(False, index=series.index)
    return (series.astype("string").str.strip() == str(value).strip()).fillna(False).astype(bool)


def _compare(series: pd.Series, test: str, value: Any) -> Any:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        bound: Any = pd.Timestamp(str(value))
        if series.dt.tz is not None and bound.tzinfo is None:
            bound = bound.tz_localize(series.dt.tz)
        left: pd.Series = series
    else:
        left, bound = pd.to_numeric(series, errors="coerce").astype("float64"), float(value)
    result = {"lt": left < bound, "le": left <= bound, "gt": left > bound, "ge": left >= bound}[test]
    return result.fillna(False).astype(bool)


def _filter_mask(frame: pd.DataFrame, step: lang.Filter | lang.Condition) -> Any:
    series = frame[step.column]
    match step.test:
        case "is_null":
            return series.isna()
        case "not_null":
            return series.notna()
        case "eq":
            return _matches(series, step.value)
        case "ne":
            return ~_matches(series, step.value)
        case "in" | "not_in":
            mask = pd.Series(False, index=frame.index)
            for value in step.values:
                mask |= _matches(series, value)
            return mask if step.test == "in" else ~mask
        case "between":
            return _compare(series, "ge", step.values[0]) & _compare(series, "le", step.values[1])
        case _:
            return _compare(series, step.test, step.value)


def _outlier_mask(values: pd.Series, method: str, threshold: float | None) -> pd.Series[Any]:
    """True for outliers among present ``values`` (float, no missing)."""
    if method == "iqr":
        k = 1.5 if threshold is None else threshold
        q1, q3 = values.quantile(0.25), values.quantile(0.75)
        spread = q3 - q1
        return (values < q1 - k * spread) | (values > q3 + k * spread)
    limit = 3.0 if threshold is None else threshold
    sd = values.std(ddof=0)
    if not sd or not math.isfinite(sd):
        return pd.Series(False, index=values.index)
    return ((values - values.mean()) / sd).abs() > limit


def _outlier_values(frame: pd.DataFrame, step: lang.OutlierValues) -> str:
    """The outliers (or ``values_of`` on their rows), sorted by the outlying value, as "a, b, c"."""
    x = _numbers(frame[step.column])
    outliers = x[_outlier_mask(x, step.method, step.threshold)]
    if step.order != "table":
        outliers = outliers.sort_values(ascending=step.order == "ascending", kind="stable")
    shown = outliers if step.values_of is None else frame[step.values_of].loc[outliers.index]
    texts = []
    for value in shown:
        plain = _plain(value)
        if isinstance(plain, float) and step.round is None and plain.is_integer():
            plain = int(plain)
        texts.append(format_value(plain, step.round))
    return ", ".join(texts)


def _to_number(series: pd.Series) -> pd.Series[Any]:
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype("float64")
    text = series.astype("string").str.replace(",", "", regex=False)
    return pd.to_numeric(text.str.extract(r"(-?\d+(?:\.\d+)?)", expand=False), errors="coerce").astype("float64")


def _dates(series: pd.Series) -> pd.Series[Any]:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series
    return pd.to_datetime(series.astype("string"), errors="coerce", format="mixed")


def _transform(frame: pd.DataFrame, step: lang.ColumnTransform) -> Any:
    if step.fn == "to_number":
        return _to_number(frame[step.column])
    if step.fn == "to_seconds":
        return pd.to_timedelta(frame[step.column].astype("string"), errors="coerce").dt.total_seconds()
    if step.fn == "rank":
        return frame[step.column].rank()
    x = pd.to_numeric(frame[step.column], errors="coerce").astype("float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        match step.fn:
            case "log":
                return np.log(x + step.offset)
            case "log10":
                return np.log10(x + step.offset)
            case "log1p":
                return np.log1p(x + step.offset)
            case "sqrt":
                return np.sqrt(x + step.offset)
            case "abs":
                return x.abs()
            case "minmax":
                low, high = x.min(), x.max()
                return (x - low) / (high - low) if high != low else x * 0.0
            case "zscore":
                sd = x.std(ddof=0)
                return (x - x.mean()) / sd if sd else x * 0.0
            case "center":
                return x - x.mean()
            case "pct_change":
                return x.pct_change(fill_method=None) * 100.0
            case _:
                return x.diff()


def _arithmetic(frame: pd.DataFrame, step: lang.Arithmetic) -> Any:
    left = pd.to_numeric(frame[step.left], errors="coerce").astype("float64")
    right: Any = (
        pd.to_numeric(frame[step.right], errors="coerce").astype("float64")
        if step.right is not None
        else step.right_value
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        match step.operator:
            case "add":
                return left + right
            case "sub":
                return left - right
            case "mul":
                return left * right
            case "div":
                return (left / right).replace([np.inf, -np.inf], np.nan)
            case _:
                return left**right


def _date_part(series: pd.Series, part: str) -> Any:
    dates = _dates(series).dt
    match part:
        case "is_weekend":
            return (dates.day_of_week >= 5).astype("boolean").where(dates.day_of_week.notna())
        case "weekday":
            return dates.day_of_week.astype("float64")
        case _:
            return getattr(dates, part).astype("float64")


def _fill(frame: pd.DataFrame, step: lang.FillMissing) -> Any:
    series = frame[step.column]
    match step.strategy:
        case "mean":
            return series.fillna(_numbers(series).mean())
        case "median":
            return series.fillna(_numbers(series).median())
        case "mode":
            modes = series.mode()
            return series.fillna(modes.iloc[0]) if not modes.empty else series
        case "value":
            return series.fillna(step.value)
        case "ffill":
            return series.ffill()
        case "bfill":
            return series.bfill()
        case _:
            how = "mean" if step.strategy == "group_mean" else "median"
            numbers = pd.to_numeric(series, errors="coerce").astype("float64")
            grouped: Any = numbers.groupby(frame[step.by], dropna=False)
            by_group = grouped.transform(how)
            overall = numbers.mean() if how == "mean" else numbers.median()
            return numbers.fillna(by_group).fillna(overall)


def _aggregate(series: pd.Series, step: lang.Aggregate | lang.TopGroup) -> Value:
    fn = step.fn
    if fn == "count":
        return int(series.notna().sum())
    if fn == "missing_count":
        return int(series.isna().sum())
    if fn == "missing_percent":
        return float(series.isna().mean() * 100.0) if len(series) else 0.0
    if fn == "nunique":
        return int(series.nunique())
    present = series.dropna()
    if fn == "mode":
        modes = present.mode()
        return _plain(modes.iloc[0]) if not modes.empty else None
    if fn in ("first", "last"):
        return _plain(present.iloc[0 if fn == "first" else -1]) if not present.empty else None
    if fn in ("min", "max") and pd.api.types.is_datetime64_any_dtype(series.dtype):
        return _plain(present.min() if fn == "min" else present.max())
    x = _numbers(series)
    _need(x, 1, f"{fn} of {step.column!r}")
    ddof = getattr(step, "ddof", 1)
    bias_corrected = getattr(step, "bias_corrected", False)
    match fn:
        case "sum":
            return float(x.sum())
        case "mean":
            return float(x.mean())
        case "median":
            return float(x.median())
        case "std":
            return float(x.std(ddof=ddof))
        case "var":
            return float(x.var(ddof=ddof))
        case "min":
            return float(x.min())
        case "max":
            return float(x.max())
        case "range":
            return float(x.max() - x.min())
        case "quantile":
            return float(x.quantile(getattr(step, "q", None) or 0.5))
        case "skew":
            return float(cast(Any, x.skew())) if bias_corrected else float(stats.skew(x.to_numpy()))
        case _:
            return float(cast(Any, x.kurt())) if bias_corrected else float(stats.kurtosis(x.to_numpy()))


def _pick(result: Any, statistic: str) -> float:
    return float(result.pvalue if statistic == "p_value" else result.statistic)


def _correlation(x: pd.Series, y: pd.Series, method: str) -> tuple[float, float]:
    both = pd.DataFrame({"x": pd.to_numeric(x, errors="coerce"), "y": pd.to_numeric(y, errors="coerce")}).dropna()
    _need(both["x"], 3, "correlation")
    a, b = both["x"].to_numpy(dtype=float), both["y"].to_numpy(dtype=float)
    if method == "pearson":
        result = stats.pearsonr(a, b)
    elif method == "spearman":
        result = stats.spearmanr(a, b)
    else:
        result = stats.kendalltau(a, b)
    return float(result.statistic), float(result.pvalue)


def _strongest(frame: pd.DataFrame, step: lang.StrongestCorrelation) -> Value:
    matrix = frame[step.columns].apply(pd.to_numeric, errors="coerce").corr(method=step.method)
    best: tuple[float, str] | None = None
    for i, first in enumerate(step.columns):
        for second in step.columns[i + 1 :]:
            r = matrix.loc[first, second]
            if not math.isfinite(r):
                continue
            score = {"positive": r, "negative": -r, "absolute": abs(r)}[step.direction]
            if best is None or score > best[0]:
                best = (score, f"{first}, {second}")
                chosen = float(r)
    if best is None:
        raise PlanExecutionError("no pair of the columns has a defined correlation")
    return best[1] if step.report == "pair" else chosen


def _groups(frame: pd.DataFrame, column: str, by: str, *groups: Any) -> list[np.ndarray[Any, Any]]:
    out = []
    for group in groups:
        values = _numbers(frame.loc[_matches(frame[by], group), column])
        _need(values, 2, f"group {group!r} of {by!r}")
        out.append(values.to_numpy())
    return out


def _check(check: lang.Check, values: dict[str, Value]) -> bool:
    value = values.get(check.ref)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanExecutionError(f"decision: {check.ref!r} is not a number")
    x = abs(value) if check.absolute else float(value)
    return bool(
        {
            "eq": x == check.value,
            "ne": x != check.value,
            "lt": x < check.value,
            "le": x <= check.value,
            "gt": x > check.value,
            "ge": x >= check.value,
        }[check.test]
    )


def _measure(frame: pd.DataFrame, step: Any, values: dict[str, Value]) -> Value:  # noqa: PLR0911 - one per op
    match step:
        case lang.Aggregate():
            series = frame[step.column]
            if step.by is not None:
                series = series[_matches(frame[step.by], step.group)]
            return _aggregate(series, step)
        case lang.RowCount():
            return len(frame)
        case lang.TopGroup():
            grouped = frame.groupby(step.by, sort=False, dropna=True)[step.column]
            results = {key: _aggregate(part, step) for key, part in grouped if part.notna().any()}
            numbers = {k: v for k, v in results.items() if isinstance(v, int | float) and not isinstance(v, bool)}
            if not numbers:
                raise PlanExecutionError(f"no group of {step.by!r} has a value")
            pick = max if step.order == "max" else min
            best = pick(numbers.values())
            return _plain(next(k for k, v in numbers.items() if v == best))
        case lang.ValueAtExtreme():
            at = (
                pd.to_numeric(frame[step.at], errors="coerce")
                if not pd.api.types.is_datetime64_any_dtype(frame[step.at].dtype)
                else frame[step.at]
            )
            if at.notna().sum() == 0:
                raise PlanExecutionError(f"{step.at!r} has no value")
            label = at.idxmax() if step.order == "max" else at.idxmin()
            return _plain(frame[step.column].loc[cast(Any, label)])
        case lang.ValueAt():
            if not -len(frame) <= step.position < len(frame):
                raise PlanExecutionError(f"row {step.position} is outside the table ({len(frame)} rows)")
            return _plain(frame[step.column].iloc[step.position])
        case lang.Correlation():
            rows = frame if step.by is None else frame.loc[_matches(frame[step.by], step.group)]
            r, p = _correlation(rows[step.x], rows[step.y], step.method)
            return p if step.statistic == "p_value" else r
        case lang.StrongestCorrelation():
            return _strongest(frame, step)
        case lang.OutlierCount():
            x = _numbers(frame[step.column])
            return int(_outlier_mask(x, step.method, step.threshold).sum())
        case lang.NormalityTest():
            sample = _numbers(frame[step.column])
            _need(sample, 8 if step.test == "dagostino" else 3, f"normality test of {step.column!r}")
            array = sample.to_numpy()
            if step.test == "shapiro":
                return _pick(stats.shapiro(array), step.statistic)
            if step.test == "ks":
                return _pick(stats.kstest(array, "norm", args=(array.mean(), array.std(ddof=1))), step.statistic)
            return _pick(stats.normaltest(array), step.statistic)
        case lang.TTest():
            a, b = _groups(frame, step.column, step.by, step.group_a, step.group_b)
            return _pick(stats.ttest_ind(a, b, equal_var=step.equal_var), step.statistic)
        case lang.KsTwoSample():
            a, b = _groups(frame, step.column, step.by, step.group_a, step.group_b)
            return _pick(stats.ks_2samp(a, b), step.statistic)
        case lang.ChiSquare():
            table = pd.crosstab(frame[step.a], frame[step.b])
            if table.shape[0] < 2 or table.shape[1] < 2:
                raise PlanExecutionError("chi-square needs at least two categories in each column")
            result = stats.chi2_contingency(table)
            return _pick(result, step.statistic)
        case lang.Anova():
            keys = frame[step.by].dropna().unique().tolist()
            groups = _groups(frame, step.column, step.by, *keys)
            return _pick(stats.f_oneway(*groups), step.statistic)
        case lang.MissingCounts():
            columns = step.columns or [str(c) for c in frame.columns]
            return repr({column: int(frame[column].isna().sum()) for column in columns})
        case lang.OutlierValues():
            return _outlier_values(frame, step)
        case lang.MissingColumns():
            columns = step.columns or [str(c) for c in frame.columns]
            found = [column for column in columns if frame[column].isna().any()]
            return ", ".join(sorted(found) if step.order == "alphabetical" else found)
        case lang.FrequentValues():
            counts = frame[step.column].dropna().value_counts()
            frequent = counts[counts >= step.min_count]
            if step.report == "count":
                return len(frequent)
            return ", ".join(format_value(_plain(v), step.round) for v in frequent.index)
        case lang.DuplicateCount():
            return int(frame.duplicated(subset=step.columns or None).sum())
        case lang.GroupShare():
            present = frame[step.by].dropna()
            _need(present, 1, f"share of a group of {step.by!r}")
            share = float(_matches(present, step.group).mean())
            return share * 100.0 if step.percent else share
        case lang.Decision():
            for case in step.cases:
                if all(_check(check, values) for check in case.when):
                    return case.label
            return step.otherwise
    raise PlanExecutionError(f"unknown measure {type(step).__name__}")  # pragma: no cover - closed union


def _apply(frame: pd.DataFrame, step: Any) -> pd.DataFrame:
    match step:
        case lang.Filter():
            kept: pd.DataFrame = frame.loc[_filter_mask(frame, step)].copy()
            return kept
        case lang.DropMissing():
            return frame.dropna(subset=step.columns or None)
        case lang.FillMissing():
            return frame.assign(**{step.column: _fill(frame, step)})
        case lang.DropDuplicates():
            return frame.drop_duplicates(subset=step.columns or None)
        case lang.RemoveOutliers():
            x = pd.to_numeric(frame[step.column], errors="coerce").astype("float64")
            present = x.dropna()
            outliers = _outlier_mask(present, step.method, step.threshold)
            if step.keep == "outliers":
                return frame.loc[present.index[outliers.to_numpy()]]
            return frame.drop(index=present.index[outliers.to_numpy()])
        case lang.Arithmetic():
            return frame.assign(**{step.name: _arithmetic(frame, step)})
        case lang.RowStat():
            block = frame[step.columns].apply(pd.to_numeric, errors="coerce").astype("float64")
            return frame.assign(**{step.name: getattr(block, step.fn)(axis=1)})
        case lang.ColumnTransform():
            return frame.assign(**{step.name: _transform(frame, step)})
        case lang.DatePart():
            return frame.assign(**{step.name: _date_part(frame[step.column], step.part)})
        case lang.DateDiff():
            delta = _dates(frame[step.end]) - _dates(frame[step.start])
            seconds = delta.dt.total_seconds()
            return frame.assign(**{step.name: seconds / (86_400.0 if step.unit == "days" else 3_600.0)})
        case lang.Bin():
            binned = pd.cut(
                pd.to_numeric(frame[step.column], errors="coerce"),
                bins=step.edges,
                labels=step.labels,
                right=step.right,
                include_lowest=True,
            )
            return frame.assign(**{step.name: binned.astype("string")})
    raise PlanExecutionError(f"unknown step {type(step).__name__}")  # pragma: no cover - closed union


def execute(plan: lang.TablePlan, frame: pd.DataFrame, settings: PlanSettings) -> Execution:
    """Run a checked plan (``validation.check_plan``) on ``frame``, which is not modified."""
    if len(frame) > settings.max_rows:
        raise PlanExecutionError(f"the table has {len(frame):,} rows; plans run on at most {settings.max_rows:,}")
    started = time.perf_counter()
    deadline = started + settings.timeout_s
    result = Execution()
    work = frame.reset_index(drop=True)
    for index, step in enumerate(plan.steps):
        if time.perf_counter() > deadline:
            raise PlanExecutionError(f"the plan ran past its {settings.timeout_s:g} s limit at step {index}")
        try:
            if lang.is_measure(step):
                rows = work
                for condition in step.where:  # type: ignore[union-attr]
                    rows = rows.loc[_filter_mask(rows, condition)]
                result.values[step.name] = _measure(rows, step, result.values)  # type: ignore[union-attr]
                result.rounding[step.name] = step.round  # type: ignore[union-attr]
            else:
                work = _apply(work, step)
        except PlanExecutionError:
            raise
        except (ValueError, TypeError, KeyError, ZeroDivisionError, IndexError) as exc:
            raise PlanExecutionError(f"step {index} ({step.op}) failed: {exc}") from None
    result.execution_ms = round((time.perf_counter() - started) * 1000.0, 2)
    return result
