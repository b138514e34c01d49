"""Planners: the model fills a ``TablePlan`` through schema-constrained output (grammar on the local model,
tool calling or structured output remotely), with one repair round carrying the validation errors; the
rule planner builds plan skeletons by construction from the question's ``@name[...]`` answer format and
the columns it mentions, for the cases it recognises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from langchain_core.messages import BaseMessage, HumanMessage
from pydantic import BaseModel, Field, create_model

from insight.analysis.plan import language as lang
from insight.analysis.plan.validation import Kind, PlanRejected, check_plan
from insight.llm.protocols import ChatClient
from insight.prompts import Prompt

PROMPT = "table_plan"
MAX_SAMPLE_CHARS = 24
MAX_COLUMNS_SHOWN = 60


def describe_columns(frame: pd.DataFrame, kinds: dict[str, Kind], samples: int) -> str:
    """One line per column: its name, type and a few distinct example values (clipped), never whole rows."""
    lines = []
    for name in list(kinds)[:MAX_COLUMNS_SHOWN]:
        values = frame[name].dropna().drop_duplicates().head(samples).tolist() if samples else []
        shown = ", ".join(str(v)[:MAX_SAMPLE_CHARS] for v in values)
        lines.append(f"- {name}: {kinds[name]}" + (f" (e.g. {shown})" if shown else ""))
    return "\n".join(lines)


@dataclass
class Drafted:
    plan: lang.TablePlan
    repaired: bool


class ModelPlanner:
    """The model writes the plan; the table check runs on it, and a failing plan goes back once."""

    def __init__(self, client: ChatClient, prompt: Prompt) -> None:
        self.client = client
        self.prompt = prompt
        self.params = prompt.model_params.model_dump(exclude_none=True)

    def messages(self, question: str, columns: str) -> list[BaseMessage]:
        return self.prompt.format_messages(question=question, columns=columns)

    async def plan(self, question: str, columns: str, kinds: dict[str, Kind]) -> Drafted:
        messages = self.messages(question, columns)
        draft = await self.client.astructured(messages, lang.TablePlan, self.params)
        try:
            return Drafted(check_plan(draft, kinds), repaired=False)
        except PlanRejected as exc:
            if not draft.supported:
                return Drafted(draft, repaired=False)
            note = HumanMessage(
                content=(
                    "Your plan cannot run on this table: "
                    + "; ".join(exc.problems)
                    + ". Write the corrected TablePlan, using only the listed columns."
                )
            )
            repaired = await self.client.astructured(
                [*messages, HumanMessage(content=draft.model_dump_json(exclude_none=True)), note],
                lang.TablePlan,
                self.params,
            )
            return Drafted(repaired, repaired=True)


# ---- the rule planner --------------------------------------------------------------------------------

_ANSWER = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)\[([^\]]*)\]")
_DIGIT_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_ROUNDING = re.compile(r"(\w+)\s+decimal", re.IGNORECASE)
_FN_WORDS: list[tuple[tuple[str, ...], lang.AggregateFn]] = [
    (("median",), "median"),
    (("std", "sd", "standard", "stddev", "deviation"), "std"),
    (("variance", "var"), "var"),
    (("mean", "average", "avg"), "mean"),
    (("skewness", "skew"), "skew"),
    (("kurtosis", "kurt"), "kurtosis"),
    (("minimum", "min", "lowest"), "min"),
    (("maximum", "max", "highest"), "max"),
    (("sum", "total"), "sum"),
    (("unique", "distinct"), "nunique"),
    (("missing", "null"), "missing_count"),
]


def answer_names(question: str) -> list[str]:
    """The ``@name[...]`` names the question asks for, in order, once each."""
    seen: list[str] = []
    for name, _ in _ANSWER.findall(question):
        if name not in seen:
            seen.append(name)
    return seen


def _rounding(question: str) -> int | None:
    match = _ROUNDING.search(question)
    if match is None:
        return None
    word = match.group(1).lower()
    if word.isdigit():
        return min(int(word), 10)
    return _DIGIT_WORDS.get(word)


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def _mentioned(question: str, kinds: dict[str, Kind]) -> list[str]:
    """Columns named in the question (quoted or plain, case-insensitive), by first mention."""
    lowered = question.lower()
    found: list[tuple[int, str]] = []
    for column in sorted(kinds, key=len, reverse=True):
        key = column.lower()
        if len(key) < 2:
            continue
        position = lowered.find(key)
        if position < 0 and "_" in key:
            position = lowered.find(key.replace("_", " "))
        if position >= 0 and not any(key in other.lower() for _, other in found):
            found.append((position, column))
    return [column for _, column in sorted(found)]


@dataclass
class Skeleton:
    """A plan by construction with holes: the measures the rules did not understand are None."""

    before: list[dict[str, Any]]
    measures: dict[str, dict[str, Any] | None]
    digits: int | None
    mentioned: list[str]

    @property
    def missing(self) -> list[str]:
        return [name for name, step in self.measures.items() if step is None]

    def complete(self, filled: dict[str, dict[str, Any]]) -> lang.TablePlan | None:
        steps = list(self.before)
        for name, step in self.measures.items():
            chosen = step if step is not None else filled.get(name)
            if chosen is None:
                return None
            steps.append(chosen)
        try:
            return lang.TablePlan.model_validate({"steps": steps})
        except ValueError:
            return None


class RulePlanner:
    """Plans by construction for questions in the benchmark's answer format that it recognises.

    Each ``@name`` becomes one measure: the statistic from the name's words (then the question's), the
    column from the name's words (else the first numeric column the question mentions). Preprocessing it
    recognises (drop missing, IQR / z-score outlier removal) comes first. Returns None when any name is
    not understood, so the caller can ask the model or refuse.
    """

    def skeleton(self, question: str, kinds: dict[str, Kind]) -> Skeleton | None:
        """The preprocessing steps and, per requested name, its measure (None where not understood)."""
        names = answer_names(question)
        if not names:
            return None
        text = question.lower()
        mentioned = _mentioned(question, kinds)
        numeric = [c for c in mentioned if kinds[c] in ("number", "bool")]
        digits = _rounding(question)
        before: list[dict[str, Any]] = []
        main = numeric[0] if numeric else None
        removes = any(w in text for w in ("remov", "prun", "exclud", "after removing", "clean"))
        if main is not None and removes and ("iqr" in text or "interquartile" in text):
            if not any("outlier" in n.lower() for n in names):
                before.append({"op": "remove_outliers", "column": main, "method": "iqr", "threshold": 1.5})
        measures = {name: self._measure(name, text, kinds, numeric, digits) for name in names}
        return Skeleton(before, measures, digits, mentioned)

    def plan(self, question: str, kinds: dict[str, Kind]) -> lang.TablePlan | None:
        skeleton = self.skeleton(question, kinds)
        if skeleton is None or skeleton.missing:
            return None
        return skeleton.complete({})

    def _measure(
        self, name: str, text: str, kinds: dict[str, Kind], numeric: list[str], digits: int | None
    ) -> dict[str, Any] | None:
        words = _tokens(name)
        named = [c for c in kinds if _tokens(c) and set(_tokens(c)) <= set(words) and kinds[c] in ("number", "bool")]
        column = named[0] if named else (numeric[0] if numeric else None)
        method = "spearman" if "spearman" in text else "kendall" if "kendall" in text else "pearson"
        if any(w.startswith("corr") for w in words) or ("coefficient" in words and "correlation" in text):
            if len(numeric) < 2:
                return None
            return {
                "op": "correlation",
                "name": name,
                "x": numeric[0],
                "y": numeric[1],
                "method": method,
                "round": digits,
            }
        if "outlier" in words or "outliers" in words:
            if column is None:
                return None
            how = "iqr" if ("iqr" in text or "interquartile" in text) else "zscore"
            return {"op": "outlier_count", "name": name, "column": column, "method": how}
        if ("count" in words or "rows" in words or "number" in words) and not named:
            return {"op": "row_count", "name": name}
        fn = next((f for keys, f in _FN_WORDS if any(k in words for k in keys)), None)
        if fn is None:
            fn = next((f for keys, f in _FN_WORDS if any(re.search(rf"\b{k}\b", text) for k in keys)), None)
        if fn is None or column is None:
            return None
        return {"op": "aggregate", "name": name, "column": column, "fn": fn, "round": digits}


# ---- compact choices for small models ----------------------------------------------------------------

ChoiceOp = Literal[
    "mean",
    "median",
    "std",
    "var",
    "min",
    "max",
    "sum",
    "count",
    "nunique",
    "skew",
    "kurtosis",
    "missing_count",
    "row_count",
    "correlation",
    "outlier_count_iqr",
    "outlier_count_zscore",
    "shapiro_p_value",
]
_AGGREGATES = {"mean", "median", "std", "var", "min", "max", "sum", "count", "nunique", "skew", "kurtosis"}


def choice_schema(columns: list[str]) -> type[BaseModel]:
    """A small schema whose column fields are enums of the table's columns: the grammar admits only them.

    The full ``TablePlan`` schema is ~7,500 tokens, more than the local model's context; this one fits,
    and a column outside the table cannot be written at all.
    """
    column_type: Any = Literal[tuple(columns[:MAX_COLUMNS_SHOWN])]
    measure = create_model(
        "Measure",
        name=(str, Field(max_length=60, description="the @name the question asks for")),
        op=(ChoiceOp, ...),
        column=(column_type, ...),
        other_column=(column_type | None, Field(default=None, description="second column of a correlation")),
    )
    return create_model(
        "PlanChoices",
        supported=(bool, True),
        reason=(str | None, Field(default=None, max_length=200)),
        measures=(list[measure], Field(default_factory=list, max_length=6)),
    )


def compile_choices(choices: BaseModel, question: str) -> lang.TablePlan:
    """The chosen measures as a plan; rounding comes from the question's text, not the model."""
    data = choices.model_dump()
    if not data["supported"]:
        return lang.TablePlan(supported=False, reason=data.get("reason") or "the model found no plan")
    digits = _rounding(question)
    steps: list[dict[str, Any]] = []
    for index, item in enumerate(data["measures"]):
        raw_name = re.sub(r"[^A-Za-z0-9_]", "_", item["name"] or "") or f"value_{index}"
        name = raw_name if re.match(r"[A-Za-z_]", raw_name) else f"v_{raw_name}"
        steps.append(choice_step(name, item, digits))
    return lang.TablePlan.model_validate({"steps": steps})


def choice_step(name: str, item: dict[str, Any], digits: int | None) -> dict[str, Any]:
    """One chosen operation on its column(s) as a plan step named ``name``."""
    op, column = item["op"], item["column"]
    if op in _AGGREGATES or op == "missing_count":
        return {"op": "aggregate", "name": name, "column": column, "fn": op, "round": digits}
    if op == "row_count":
        return {"op": "row_count", "name": name}
    if op == "correlation":
        other = item.get("other_column") or column
        return {"op": "correlation", "name": name, "x": column, "y": other, "round": digits}
    if op.startswith("outlier_count"):
        method = "iqr" if op.endswith("iqr") else "zscore"
        return {"op": "outlier_count", "name": name, "column": column, "method": method}
    return {"op": "normality_test", "name": name, "column": column, "round": digits}


class ChoicePlanner:
    """The model picks, per requested value, one operation and its columns from enums; the service compiles."""

    def __init__(self, client: ChatClient, prompt: Prompt) -> None:
        self.client = client
        self.prompt = prompt
        self.params = prompt.model_params.model_dump(exclude_none=True)

    async def plan(self, question: str, columns: str, kinds: dict[str, Kind]) -> Drafted:
        schema = choice_schema(list(kinds))
        messages = self.prompt.format_messages(question=question, columns=columns)
        choices = await self.client.astructured(messages, schema, self.params)
        return Drafted(compile_choices(choices, question), repaired=False)


def named_choice_schema(names: list[str], columns: list[str]) -> type[BaseModel]:
    """One required property per requested name (so none can be skipped or misspelt), each an operation
    and column(s) from enums: the model fills only the holes of a rule skeleton."""
    column_type: Any = Literal[tuple(columns[:MAX_COLUMNS_SHOWN])]
    choice = create_model(
        "Choice",
        op=(ChoiceOp, ...),
        column=(column_type, ...),
        other_column=(column_type | None, Field(default=None, description="second column of a correlation")),
    )
    fields: dict[str, Any] = {f"value_{i}": (choice, Field(alias=name)) for i, name in enumerate(names)}
    return create_model("PlanChoices", **fields)


class SkeletonPlanner:
    """Rules first; the model chooses an operation and columns only for the names the rules left open,
    among the columns the question mentions (all columns when it mentions none)."""

    def __init__(self, client: ChatClient, prompt: Prompt) -> None:
        self.client = client
        self.prompt = prompt
        self.params = prompt.model_params.model_dump(exclude_none=True)

    async def fill(self, skeleton: Skeleton, question: str, columns: str, kinds: dict[str, Kind]) -> lang.TablePlan:
        missing = skeleton.missing
        candidates = [c for c in skeleton.mentioned if kinds[c] in ("number", "bool")] or list(kinds)
        schema = named_choice_schema(missing, candidates)
        messages = self.prompt.format_messages(question=question, columns=columns)
        chosen = (await self.client.astructured(messages, schema, self.params)).model_dump(by_alias=True)
        filled = {name: choice_step(name, chosen[name], skeleton.digits) for name in missing}
        plan = skeleton.complete(filled)
        if plan is None:
            raise PlanRejected(["the chosen operations do not form a plan"])
        return plan
