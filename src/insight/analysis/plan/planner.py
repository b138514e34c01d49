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
from insight.analysis.plan.validation import Kind, check_plan
from insight.errors import PlanRejected
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
    """The most decimal places the question asks for anywhere (a coarser rounding would lose a figure)."""
    found: list[int] = []
    for match in _ROUNDING.finditer(question):
        word = match.group(1).lower()
        digits = min(int(word), 10) if word.isdigit() else _DIGIT_WORDS.get(word)
        if digits is not None:
            found.append(digits)
    return max(found) if found else None


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


Steps = list[dict[str, Any]]


@dataclass
class Skeleton:
    """A plan by construction with holes: the measures the rules did not understand are None."""

    before: Steps
    measures: dict[str, Steps | None]
    digits: int | None
    mentioned: list[str]

    @property
    def missing(self) -> list[str]:
        return [name for name, steps in self.measures.items() if steps is None]

    def complete(self, filled: dict[str, dict[str, Any]]) -> lang.TablePlan | None:
        steps = list(self.before)
        for name, chosen in self.measures.items():
            if chosen is not None:
                steps.extend(step for step in chosen if "round" in step or step not in steps)  # a column read once
            elif name in filled:
                steps.append(filled[name])
            else:
                return None
        try:
            return lang.TablePlan.model_validate({"steps": steps})
        except ValueError:
            return None


_NEGATIVE = re.compile(r"^(?:not?\b|not_|non\b|non-|false$)", re.IGNORECASE)
_VERDICT_WORDS = {"strength", "type", "status", "significant", "significance", "is", "decision", "result"}
_FRACTION = re.compile(r"(?<![\d.])[+-]?(0?\.\d+)")
_QUOTED = re.compile(r'"([^"]{1,60})"')
_GENERIC = {"of", "the", "in", "a", "an", "and", "for", "per", "by", "value", "values", "column", "number", "num"}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _options(name: str, question: str) -> list[str]:
    """The quoted answer options the question lists for ``name`` (its placeholder and names excluded)."""
    placeholders = {p.strip().strip('"') for _, p in _ANSWER.findall(question)}
    start = question.find(f"@{name}[")
    tail = question[start:] if start >= 0 else question
    return [o for o in _QUOTED.findall(tail) if o not in placeholders and o != name and not o.startswith("@")][:4]


class RulePlanner:
    """Plans by construction for questions in the benchmark's answer format that it recognises.

    Each ``@name`` becomes one measure: the statistic from the name's words (then the question's), the
    column from the name's words (else the first numeric column the question mentions); normality and
    correlation verdicts become decisions over the options the question lists. Preprocessing it recognises
    (IQR outlier removal) comes first. Names it does not understand are left open (``Skeleton.missing``).
    """

    def skeleton(self, question: str, kinds: dict[str, Kind]) -> Skeleton | None:
        """The preprocessing steps and, per requested name, its steps (None where not understood)."""
        names = answer_names(question)
        if not names:
            return None
        text = question.lower()
        mentioned = _mentioned(question, kinds)
        numeric = [c for c in mentioned if kinds[c] in ("number", "bool")]
        digits = _rounding(question)
        before: Steps = []
        main = numeric[0] if numeric else None
        removes = any(w in text for w in ("remov", "prun", "exclud", "after removing", "clean"))
        if main is not None and removes and ("iqr" in text or "interquartile" in text):
            if not any("outlier" in n.lower() for n in names):
                before.append({"op": "remove_outliers", "column": main, "method": "iqr", "threshold": 1.5})
        context = _Context(question, text, kinds, mentioned, numeric, digits)
        measures = {name: context.measure(name) for name in names}
        return Skeleton(before, measures, digits, mentioned)

    def plan(self, question: str, kinds: dict[str, Kind]) -> lang.TablePlan | None:
        skeleton = self.skeleton(question, kinds)
        if skeleton is None or skeleton.missing:
            return None
        return skeleton.complete({})


@dataclass
class _Context:
    question: str
    text: str
    kinds: dict[str, Kind]
    mentioned: list[str]
    numeric: list[str]
    digits: int | None

    def column_for(self, words: list[str]) -> str | None:
        """The column sharing the most (stemmed, non-generic) words with the name; else the first mentioned."""
        wanted = {_stem(w) for w in words} - _GENERIC
        best, best_score = None, 0
        for column in self.mentioned + [c for c in self.kinds if c not in self.mentioned]:
            own = {_stem(w) for w in _tokens(column)} - _GENERIC
            if not own:
                continue
            score = len(own & wanted)
            if score > best_score and (score == len(own) or column in self.mentioned):
                best, best_score = column, score
        if best is not None:
            return best
        return self.numeric[0] if self.numeric else (self.mentioned[0] if self.mentioned else None)

    def numeric_source(self, column: str, name: str) -> tuple[Steps, str]:
        """A text column read as numbers first (its digits), so numeric measures can use it."""
        if self.kinds.get(column) == "text":
            derived = f"{column} (number)"
            return [{"op": "transform", "name": derived, "column": column, "fn": "to_number"}], derived
        return [], column

    def measure(self, name: str) -> Steps | None:  # noqa: PLR0911 - one return per recognised kind
        words = _tokens(name)
        text = self.text
        method = "spearman" if "spearman" in text else "kendall" if "kendall" in text else "pearson"
        correlating = "correlation" in text or "corr" in words
        if any(w.startswith("corr") for w in words) and not (_VERDICT_WORDS | {"relationship"}) & set(words):
            pair = self.numeric[:2]
            if len(pair) < 2:
                return None
            return [
                {"op": "correlation", "name": name, "x": pair[0], "y": pair[1], "method": method, "round": self.digits}
            ]
        if "p" in words and ("value" in words or "pvalue" in words) or "pvalue" in words:
            if correlating and len(self.numeric) >= 2:
                x, y = self.numeric[:2]
                return [
                    {
                        "op": "correlation",
                        "name": name,
                        "x": x,
                        "y": y,
                        "method": method,
                        "statistic": "p_value",
                        "round": self.digits,
                    }
                ]
            if "shapiro" in text or "normal" in text:
                return self.normality(name, "p_value")
            return None
        if ({"relationship", "relation"} & set(words)) and correlating and len(self.numeric) >= 2:
            return self.relationship(name)
        if "strength" in words and correlating and len(self.numeric) >= 2:
            return self.strength(name)
        if ({"significant", "significance"} & set(words)) and correlating and len(self.numeric) >= 2:
            return self.significance(name)
        if ({"normal", "normality", "distribution", "result", "status"} & set(words)) and (
            "shapiro" in text or "normal" in text
        ):
            if "skew" in text and "shapiro" not in text and "kolmogorov" not in text:
                return None
            return self.verdict(name)
        if "shapiro" in words or ("w" in words and "shapiro" in text):
            return self.normality(name, "value")
        if "outlier" in words or "outliers" in words:
            column = self.column_for(words)
            if column is None:
                return None
            steps, source = self.numeric_source(column, name)
            how = "iqr" if ("iqr" in text or "interquartile" in text) else "zscore"
            return [*steps, {"op": "outlier_count", "name": name, "column": source, "method": how}]
        if "missing" in words and ("column" in words or "each" in words):
            return [{"op": "missing_counts", "name": name}]
        fn = next((f for keys, f in _FN_WORDS if any(k in words for k in keys)), None)
        if fn is None and ({"count", "rows", "entries"} & set(words)):
            return [{"op": "row_count", "name": name}]
        if fn is None and _VERDICT_WORDS & set(words):
            return None  # a verdict the rules do not know: never guess a statistic for it
        if fn is None:
            fn = next((f for keys, f in _FN_WORDS if any(re.search(rf"\b{k}\b", text) for k in keys)), None)
        column = self.column_for(words)
        if fn is None or column is None:
            return None
        steps, source = self.numeric_source(column, name) if fn not in ("missing_count", "nunique") else ([], column)
        step: dict[str, Any] = {"op": "aggregate", "name": name, "column": source, "fn": fn, "round": self.digits}
        if fn in ("skew", "kurtosis") and "pandas" in text:
            step["bias_corrected"] = True
        if fn in ("std", "var") and "population" in text:
            step["ddof"] = 0
        return [*steps, step]

    def _test(self) -> str:
        if "kolmogorov" in self.text or "ks test" in self.text or "ks_test" in self.text:
            return "ks"
        return "dagostino" if ("d'agostino" in self.text or "normaltest" in self.text) else "shapiro"

    def normality(self, name: str, statistic: str) -> Steps | None:
        column = self.numeric[0] if self.numeric else None
        if column is None:
            return None
        return [
            {
                "op": "normality_test",
                "name": name,
                "column": column,
                "test": self._test(),
                "statistic": statistic,
                "round": self.digits,
            }
        ]

    def verdict(self, name: str) -> Steps | None:
        """Normal or not by the test's p-value, in the question's own words for the two outcomes."""
        options = _options(name, self.question)
        negative = [o for o in options if _NEGATIVE.search(o)]
        positive = [o for o in options if o not in negative]
        if not (negative and positive):
            boolean = "boolean" in self.text or "true" in self.text
            positive, negative = (["True"], ["False"]) if boolean else (["Yes"], ["No"])
        helper = f"{name}_p_value"
        test = self.normality(helper, "p_value")
        if test is None:
            return None
        case = {"when": [{"ref": helper, "test": "gt", "value": 0.05}], "label": positive[0]}
        return [*test, {"op": "decision", "name": name, "cases": [case], "otherwise": negative[0]}]

    def _pair_steps(self, r: str, p: str | None = None) -> Steps:
        x, y = self.numeric[:2]
        steps: Steps = [{"op": "correlation", "name": r, "x": x, "y": y}]
        if p is not None:
            steps.append({"op": "correlation", "name": p, "x": x, "y": y, "statistic": "p_value"})
        return steps

    def strength(self, name: str) -> Steps | None:
        """strong / moderate / weak by |r|, at the two thresholds the question states (e.g. 0.3 and 0.7)."""
        options = [o.lower() for o in _options(name, self.question)]
        limits = sorted({float(m) for m in _FRACTION.findall(self.question) if 0.0 < float(m) < 1.0})
        if not {"strong", "moderate", "weak"} <= set(options) or len(limits) != 2:
            return None
        r = f"{name}_r"
        cases = [
            {"when": [{"ref": r, "test": "ge", "value": limits[1], "absolute": True}], "label": "strong"},
            {"when": [{"ref": r, "test": "ge", "value": limits[0], "absolute": True}], "label": "moderate"},
        ]
        return [*self._pair_steps(r), {"op": "decision", "name": name, "cases": cases, "otherwise": "weak"}]

    def significance(self, name: str) -> Steps | None:
        """Whether the correlation is significant (p < 0.05), in the question's words (else true/false)."""
        options = _options(name, self.question)
        negative = [o for o in options if _NEGATIVE.search(o)]
        positive = [o for o in options if o not in negative]
        yes, no = (positive[0], negative[0]) if positive and negative else ("true", "false")
        p = f"{name}_p"
        case = {"when": [{"ref": p, "test": "lt", "value": 0.05}], "label": yes}
        return [*self._pair_steps(f"{name}_r", p), {"op": "decision", "name": name, "cases": [case], "otherwise": no}]

    def relationship(self, name: str) -> Steps | None:
        """DABench's verdict: linear (p < 0.05, |r| >= 0.5), nonlinear (p < 0.05), else none."""
        options = [o.lower() for o in _options(name, self.question)]
        if not {"linear", "nonlinear", "none"} <= set(options):
            return None
        x, y = self.numeric[:2]
        r, p = f"{name}_r", f"{name}_p"
        return [
            {"op": "correlation", "name": r, "x": x, "y": y},
            {"op": "correlation", "name": p, "x": x, "y": y, "statistic": "p_value"},
            {
                "op": "decision",
                "name": name,
                "cases": [
                    {
                        "when": [
                            {"ref": p, "test": "lt", "value": 0.05},
                            {"ref": r, "test": "ge", "value": 0.5, "absolute": True},
                        ],
                        "label": "linear",
                    },
                    {"when": [{"ref": p, "test": "lt", "value": 0.05}], "label": "nonlinear"},
                ],
                "otherwise": "none",
            },
        ]


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
