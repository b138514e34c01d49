"""The rule planner: plan skeletons by construction from a question in the benchmark's answer format.

Each requested ``@name[...]`` becomes one measure: the column from the words the name shares with a
column (else the columns the question mentions), the statistic from the name's other words (then the
question's), rounding from the question. Rule families, each general (no question, table or column is
named here):

- preparation: text columns of numbers read as numbers, ``HH:MM:SS`` read as seconds; a new column the
  question defines ("a new feature called X by adding A and B", difference, ratio, product, percentage
  change, days between two dates); groups the question defines by ranges ('Child' (0-12 years old), …);
  a quoted value of one text column as a filter; filling missing values with the mean/median/mode;
  outlier removal (IQR or z-score, at the stated factor), with names "with" / "without" outliers measured
  before / after it;
- measures: aggregates (also of one group, when the names differ only by a group of a mentioned column),
  the share of missing values, row counts, outlier counts, correlations (the pair from the name or the
  question), normality tests, the group or row at an extreme ("country with the highest average X");
- verdicts in the question's own words: normal or not (test p-value, or a skewness range), skewness
  direction, correlation direction / strength / significance / linear-nonlinear-none.

A name it does not understand stays open (``Skeleton.missing``): the rules never guess a statistic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from insight.analysis.plan import language as lang
from insight.analysis.plan.validation import Kind

Steps = list[dict[str, Any]]

_ANSWER = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)\[([^\]]*)\]")
_OPEN_ANSWER = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)\[[^\]]*$")
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
# synonyms read only in a name's own words (never searched for in the question's text, where "at least",
# "top 5" or "most common" mean something else)
_NAME_FN_WORDS: list[tuple[tuple[str, ...], lang.AggregateFn]] = [
    (("largest", "biggest", "greatest", "top", "peak"), "max"),
    (("smallest",), "min"),
    (("range",), "range"),
    (("mode", "commonest"), "mode"),
]
_COUNT_WORDS = {"count", "counts", "rows", "entries", "records", "observations", "cnt"}
_ABBREVIATIONS = {"avg": "average", "num": "number", "no": "number", "pct": "percent", "std": "standard"}
_NEGATIVE = re.compile(r"^(?:not?\b|not_|non\b|non-|false$)", re.IGNORECASE)
_VERDICT_WORDS = {"strength", "type", "status", "significant", "significance", "is", "decision", "result"}
_FRACTION = re.compile(r"(?<![\d.])[+-]?(0?\.\d+)")
_QUOTED = re.compile(r"[\"'“‘]([^\"'”’\n]{1,60})[\"'”’]")
_GENERIC = {"of", "the", "in", "a", "an", "and", "for", "per", "by", "value", "values", "column", "number", "num"}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}
_NEGATIONS = {"not", "non", "no", "without", "didnt", "dont", "un", "false"}
_AFTER_REMOVAL = {
    "without", "after", "removed", "removal", "clean", "cleaned", "left", "remaining", "new", "post", "excluding",
}  # fmt: skip
_BEFORE_REMOVAL = {"with", "before", "original", "pre", "raw"}
_MAX_GROUPS = 20
_MODEL_TRAINING = re.compile(
    r"\b(?:linear regression|logistic regression|random forest|decision tree|gradient boosting|k-?means|"
    r"classifier|regressor|machine learning|train(?:ing)?[- ]test split|train (?:a|the) \w+(?: \w+)? model|"
    r"svm|support vector|neural network|naive bayes|k-?nearest|knn)\b",
    re.IGNORECASE,
)
_MODEL_FIGURES = {
    "accuracy", "rmse", "mse", "mae", "r2", "squared", "determination", "importance", "importances",
    "predicted", "prediction", "predictions", "cluster", "clusters", "precision", "recall", "f1", "auc", "model",
    "feature1", "feature2", "feature3", "intercept", "predictor",
}  # fmt: skip
_ANTONYMS = {"weekday": "weekend"}
# a name's word for a statistic the rules do not compute from one column (never answered by a nearby one)
_UNHANDLED = {
    "difference", "diff", "ratio", "rate", "proportion", "share", "fraction", "cv", "change", "growth",
    "increase", "decrease", "cumulative", "gap", "duplicate", "duplicated", "trend", "slope", "variation",
}  # fmt: skip  # a word that names the other group of a yes/no column


def answer_names(question: str) -> list[str]:
    """The ``@name[...]`` names the question asks for, in order, once each (a last unclosed one too)."""
    seen: list[str] = []
    found = [name for name, _ in _ANSWER.findall(question)]
    unclosed = _OPEN_ANSWER.search(question)
    if unclosed is not None:
        found.append(unclosed.group(1))
    for name in found:
        if name not in seen:
            seen.append(name)
    return seen


def question_rounding(question: str) -> int | None:
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


def _name_words(name: str) -> list[str]:
    """An answer name's words: ``camelCase`` and ``snake_case`` split, and a number glued to a word of three
    letters or more split off (``fare_std_class2`` → class 2, ``below3`` → below 3; ``p75`` and ``q1`` stay)."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"(?<=[A-Za-z]{3})(?=\d)|(?<=\d)(?=[A-Za-z]{3})", " ", spaced)
    words = _tokens(spaced)
    return [  # mean_fare_no_outliers: "no" before outliers is "without" (elsewhere "no" is a number: no_of_x)
        "without" if w == "no" and words[i + 1 : i + 2] and words[i + 1].startswith("outlier") else w
        for i, w in enumerate(words)
    ]


def _stem(word: str) -> str:
    word = _ABBREVIATIONS.get(word, word)
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"  # countries → country
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _normal(text: str) -> str:
    """Lower case, ``_`` and ``-`` as spaces, runs of spaces as one: how mentions are looked up."""
    return re.sub(r"\s+", " ", re.sub(r"[_\-]", " ", text.lower()))


def _compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _mentions(question: str, kinds: dict[str, Kind]) -> list[tuple[int, str]]:
    """Columns the question names (as written, ``_``/``-`` read as spaces, abbreviations like ``avg.``
    spelt out), each at its first position; an occurrence inside a longer column's occurrence is not one."""
    text = _normal(question)
    spans: list[tuple[int, int, str]] = []
    for column in sorted(kinds, key=lambda c: len(c.strip()), reverse=True):
        key = _normal(column.strip())
        if len(key) < 2:
            continue
        forms = {key, key.replace(".", ""), " ".join(_ABBREVIATIONS.get(t, t) for t in _tokens(key))}
        for form in sorted(forms, key=len, reverse=True):
            if len(form) < 2:
                continue
            plural = "(?:e?s)?" if form[-1].isalpha() and len(form) >= 3 else ""  # "ages" names Age
            for match in re.finditer(rf"(?<![a-z0-9]){re.escape(form)}{plural}(?![a-z0-9])", text):
                start, end = match.span()
                if not any(s <= start and end <= e for s, e, _ in spans):
                    spans.append((start, end, column))
    _loose_mentions(text, kinds, spans)
    _unnamed_mentions(text, kinds, spans)
    first: dict[str, int] = {}
    for start, _, column in sorted(spans):
        first.setdefault(column, start)
    return sorted((position, column) for column, position in first.items())


_SPELT_OUT = _ABBREVIATIONS | {"max": "maximum", "min": "minimum", "cat": "category", "temp": "temperature"}
_SKIPPABLE = {"of", "the", "a", "an", "in", "per", "for"}


def _column_words(column: str) -> list[str]:
    """A column's words: ``camelCase`` and ``snake_case`` split, common abbreviations spelt out."""
    return [_SPELT_OUT.get(t, t) for t in _tokens(re.sub(r"([a-z])([A-Z])", r"\1 \2", column.strip()))]


def _word_fits(column_word: str, word: str) -> bool:
    return column_word == word or (len(column_word) >= 3 and word.startswith(column_word))


def _aligned(words: list[str], tokens: list[str], start: int) -> int | None:
    """The index after the question tokens from ``start`` that spell the column's ``words`` in order
    (prefixes count: ``sust`` → sustained; a run of tokens can spell one word: ``gdppercap`` → gdp per
    capita; a few small words may sit between; a column of four words or more may miss one), else None."""
    i, p, skipped, missed = 0, start, 0, 0
    while i < len(words) and p < len(tokens):
        word, token = words[i], tokens[p]
        if _word_fits(word, token):
            i, p = i + 1, p + 1
            continue
        joined, q = token, p + 1
        while len(joined) < len(word) and q < len(tokens) and word.startswith(joined):
            joined, q = joined + tokens[q], q + 1
        if len(word) >= 5 and joined.startswith(word):
            i, p = i + 1, q
            continue
        if p > start and token in _SKIPPABLE and skipped < 2:
            p, skipped = p + 1, skipped + 1
            continue
        if p > start and len(words) >= 4 and missed == 0:
            i, missed = i + 1, 1
            continue
        return None
    return p if i == len(words) else None


def _loose_mentions(text: str, kinds: dict[str, Kind], spans: list[tuple[int, int, str]]) -> None:
    """Columns the question names in other words (``avg. wait time`` as "average wait time",
    ``max_sust_wind`` as "maximum sustained wind", ``SizeRank`` as "size rank"), where no exact mention
    covers the same words."""
    found = {column for _, _, column in spans}
    matches = list(re.finditer(r"[a-z0-9]+", text))
    tokens = [m.group(0) for m in matches]
    columns = [(c, _column_words(c)) for c in kinds if c not in found]
    columns += [  # review_count as "number of reviews"
        (c, ["number", *words[:-1]]) for c, words in list(columns) if len(words) >= 2 and words[-1] in ("count", "cnt")
    ]
    for column, words in sorted(columns, key=lambda item: len(item[1]), reverse=True):
        if not words or (len(words) == 1 and len(words[0]) < 5):
            continue
        for start in range(len(tokens)):
            end = _aligned(words, tokens, start)
            if end is None:
                continue
            first, last = matches[start].start(), matches[end - 1].end()
            if not any(s < last and first < e for s, e, _ in spans):
                spans.append((first, last, column))


def _unnamed_mentions(text: str, kinds: dict[str, Kind], spans: list[tuple[int, int, str]]) -> None:
    """pandas calls a column with an empty header ``Unnamed: N`` (N from 0); a reader that names it
    ``column_<N+1>`` holds the same column, so the question's "Unnamed: 8" is that one."""
    columns = list(kinds)
    for match in re.finditer(r"unnamed: ?(\d{1,3})(?![\d])", text):
        position = int(match.group(1))
        if position >= len(columns) or any(s <= match.start() < e for s, e, _ in spans):
            continue
        column = columns[position]
        if _compact(column) in (f"column{position + 1}", f"unnamed{position}"):
            spans.append((match.start(), match.end(), column))


def _mentioned(question: str, kinds: dict[str, Kind]) -> list[str]:
    return [column for _, column in _mentions(question, kinds)]


def _options(name: str, question: str) -> list[str]:
    """The quoted answer options the question lists for ``name`` (its placeholder and names excluded)."""
    placeholders = {p.strip().strip('"') for _, p in _ANSWER.findall(question)}
    start = question.find(f"@{name}[")
    tail = question[start:] if start >= 0 else question
    quoted = [o for o in _QUOTED.findall(tail) if o not in placeholders and o != name and not o.startswith("@")][:5]
    own = next((p for n, p in _ANSWER.findall(question) if n == name), "")
    if not quoted and re.fullmatch(r"[\w ]+(?:/[\w ]+)+", own.strip()):
        return [o.strip() for o in own.split("/")]  # @significance[significant/no significant]
    return quoted


def _split_options(options: list[str]) -> tuple[list[str], list[str]]:
    negative = [o for o in options if _NEGATIVE.search(o)]
    return [o for o in options if o not in negative], negative


# ---- what the table's values look like (when the planner is given the table) -------------------------

_NUMBER_LIKE = re.compile(r"^\s*[-+]?\$?\d[\d,]*(?:\.\d+)?")
_TIME_LIKE = re.compile(r"^\s*\d{1,3}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*$")
_DATE_LIKE = re.compile(r"^\s*(?:\d{1,4}[/\-.]\d{1,2}[/\-.]\d{1,4}|\d{4}-\d{2}-\d{2}[ T]?[\d:]*)\s*$")


def _text_shape(frame: pd.DataFrame | None, column: str) -> str | None:
    """``time``, ``date`` or ``number`` when nine in ten present values of a text column look like one."""
    if frame is None or column not in frame.columns:
        return None
    values = frame[column].dropna().astype("string").head(200)
    if values.empty:
        return None
    for shape, pattern in (("time", _TIME_LIKE), ("date", _DATE_LIKE), ("number", _NUMBER_LIKE)):
        if values.str.match(pattern).mean() >= 0.9:
            return shape
    return None


def _group_values(frame: pd.DataFrame | None, column: str) -> list[Any] | None:
    if frame is None or column not in frame.columns:
        return None
    values = frame[column].dropna().unique().tolist()
    return values if 2 <= len(values) <= _MAX_GROUPS else None


# ---- the skeleton ---------------------------------------------------------------------------------------


@dataclass
class Skeleton:
    """A plan by construction with holes: the measures the rules did not understand are None.

    ``removal`` (outlier removal) runs before the first name in ``after`` (all names when ``after`` is empty
    and there is a removal: it is then part of the preparation).
    """

    before: Steps
    measures: dict[str, Steps | None]
    digits: int | None
    mentioned: list[str]
    removal: Steps = field(default_factory=list)
    after: set[str] = field(default_factory=set)

    @property
    def missing(self) -> list[str]:
        return [name for name, steps in self.measures.items() if steps is None]

    def complete(self, filled: dict[str, dict[str, Any]]) -> lang.TablePlan | None:
        steps = list(self.before)
        removed = not self.removal
        if self.removal and not self.after:
            steps.extend(self.removal)
            removed = True
        for name, chosen in self.measures.items():
            if not removed and name in self.after:
                steps.extend(self.removal)
                removed = True
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


class RulePlanner:
    """Plans by construction for questions in the benchmark's answer format that it recognises."""

    def skeleton(self, question: str, kinds: dict[str, Kind], frame: pd.DataFrame | None = None) -> Skeleton | None:
        """The preparation steps and, per requested name, its steps (None where not understood)."""
        names = answer_names(question)
        if not names:
            return None
        context = _Context.build(question, kinds, frame)
        context.prepare(names)
        measures = {name: context.measure(name) for name in names}
        after = {n for n in names if context.removal and context.after_removal(n)}
        ordered = {n: measures[n] for n in names if n not in after} | {n: measures[n] for n in names if n in after}
        return Skeleton(context.before, ordered, context.digits, context.mentioned, context.removal, after)

    def plan(self, question: str, kinds: dict[str, Kind], frame: pd.DataFrame | None = None) -> lang.TablePlan | None:
        """The complete plan; a refusal with its reason when a name asks for a trained model's figures."""
        training = _MODEL_TRAINING.search(question)
        if training is not None and any(set(_tokens(n)) & _MODEL_FIGURES for n in answer_names(question)):
            return lang.TablePlan(
                supported=False,
                reason=f"the question asks for a trained model's results ({training.group(0)!r}); "
                "training models is outside the plan language",
            )
        skeleton = self.skeleton(question, kinds, frame)
        if skeleton is None or skeleton.missing:
            return None
        return skeleton.complete({})


# ---- new columns the question defines -----------------------------------------------------------------

_NEW_COLUMN = re.compile(
    r"(?:column|feature|variable|field)\s+(?:called|named|titled|labell?ed)?\s*[\"'“‘]([^\"'”’\n]{1,60})[\"'”’]",
    re.IGNORECASE,
)
# (phrase, operator, whether the first column named after the phrase is the right operand)
_OPERATIONS: list[tuple[str, str, bool]] = [
    (r"\bsubtract(?:ing|s|ed)?\b", "sub", True),
    (r"\bdifference (?:between|of)\b", "sub", False),
    (r"\bratio (?:of|between)\b", "div", False),
    (r"\bdivid(?:ing|e|ed)\b", "div", False),
    (r"\bproduct of\b", "mul", False),
    (r"\bmultipl(?:ying|y|ied)\b", "mul", False),
    (r"\b(?:adding|add|sum of|summing|plus)\b", "add", False),
]
# "A multiplied by B": the columns named just before and just after the phrase
_INFIX: list[tuple[str, str]] = [
    (r"\bmultiplied by\b", "mul"),
    (r"\bdivided by\b", "div"),
    (r"\bminus\b", "sub"),
    (r"\bplus\b", "add"),
]
_PERCENT_CHANGE = re.compile(r"percent(?:age)? change|daily return|\breturns?\b", re.IGNORECASE)
_BIN = re.compile(
    r"[\"'“‘]?([A-Za-z][A-Za-z \-]{0,30}?)[\"'”’]?\s*\((\d+(?:\.\d+)?)\s*(?:-|–|to)\s*(\d+(?:\.\d+)?)[^)]*\)",
)
_BIN_OPEN = re.compile(
    r"[\"'“‘]?([A-Za-z][A-Za-z \-]{0,30}?)[\"'”’]?\s*\((\d+(?:\.\d+)?)\s*"
    r"(?:\+|[^)]*?(?:and|or) (?:above|older|over|more))[^)]*\)",
)
_FILL = re.compile(
    r"(?:fill|impute|replac)\w*[^.]*?(?:missing|nan|null|empty)[^.]*?\b(mean|median|mode|most frequent|average)\b"
    r"|(?:missing|nan|null)[^.]*?(?:fill|impute|replac)\w*[^.]*?\b(mean|median|mode|most frequent|average)\b"
    r"|\b(mean|median|mode)\s+(?:imputation|substitution)\b",
    re.IGNORECASE,
)
_Z_LIMIT = re.compile(
    r"(?:z[- ]?scores?|standard deviations?)[^.]*?(?:greater than|above|exceeds?|more than|beyond|>|outside)"
    r"\s*(?:\+/-|±|-)?\s*(\d+(?:\.\d+)?)"
    r"|(\d+(?:\.\d+)?)\s*standard deviations?",
    re.IGNORECASE,
)
_IQR_FACTOR = re.compile(r"(\d+(?:\.\d+)?)\s*(?:\*|x|×|times)\s*(?:the\s+)?(?:iqr|interquartile)", re.IGNORECASE)
_REMOVES = re.compile(r"\b(?:remov|exclud|prun|drop|filter(?:ing|ed)? out|discard|eliminat)\w*", re.IGNORECASE)
_METHODS = {"pearson", "spearman", "kendall"}
_TRANSFORMS = re.compile(
    r"\b(?:log(?:arithm)?(?:ic)?\s+(?:function|transform\w*)|log10|natural log(?:arithm)?|log(?:arithm)? of|"
    r"min[- ]?max\s+(?:normali[sz]\w*|scal\w*)|"
    r"standardi[sz]\w*|z[- ]?score (?:normali[sz]\w*|standardi[sz]\w*))",
    re.IGNORECASE,
)
_COMPARISON_TESTS = {
    "greater than or equal to": "ge",
    "less than or equal to": "le",
    "greater than": "gt",
    "more than": "gt",
    "higher than": "gt",
    "larger than": "gt",
    "above": "gt",
    "over": "gt",
    "exceeding": "gt",
    "at least": "ge",
    "less than": "lt",
    "lower than": "lt",
    "smaller than": "lt",
    "fewer than": "lt",
    "below": "lt",
    "under": "lt",
    "at most": "le",
    "equal to": "eq",
    ">=": "ge",
    "<=": "le",
    ">": "gt",
    "<": "lt",
}
_COMPARISON = re.compile(
    r"(?:\bis |\bare |\bwas |\bof |\bwith )?("
    + "|".join(re.escape(k) for k in sorted(_COMPARISON_TESTS, key=len, reverse=True))
    + r")\s*(-?\d+(?:\.\d+)?)(?![\d.]*\s*(?:%|percent|times|standard|sd\b|std|iqr|decimal|digit|years? old))",
)
_BETWEEN = re.compile(
    r"\b(?:is |are |was |of |with )?between\s+(-?\d+(?:\.\d+)?)\s+and\s+(-?\d+(?:\.\d+)?)"
    r"(?![\d.]*\s*(?:%|percent|times|standard|sd\b|std|iqr|decimal|digit|years? old))"
)
_EQUALS = re.compile(
    r"\b(?:is|was|equals?|equal to)\s+(-?\d+(?:\.\d+)?)(?!\d|\.\d|\s*(?:%|percent|times|standard|decimal|digit|years?))"
    r"|(?:==?)\s*(-?\d+(?:\.\d+)?)(?!\d|\.\d)"
)
_NOT_A_FILTER = re.compile(
    r"outlier|z ?score|iqr|interquartile|p ?value|significan|alpha|skew|kurtosis|correlation|coefficient|"
    r"threshold|decimal|round|consider|indicat|defin|categor|bin|group|scal|normali",
)
_SUPERLATIVE = {"highest", "lowest", "largest", "smallest", "most", "least", "maximum", "minimum", "max", "min", "top"}
_LOW_WORDS = {"lowest", "smallest", "least", "minimum", "min"}


@dataclass
class _Context:
    question: str
    text: str
    kinds: dict[str, Kind]
    frame: pd.DataFrame | None
    mentioned: list[str]
    numeric: list[str]
    digits: int | None
    before: Steps = field(default_factory=list)
    removal: Steps = field(default_factory=list)
    derived: str | None = None
    group_column: str | None = None
    group_labels: list[Any] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    cleaning: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    of_outliers: set[str] = field(default_factory=set)
    placeholders: dict[str, str] = field(default_factory=dict)
    derived_groups: dict[str, list[Any]] = field(default_factory=dict)
    ranged_columns: set[str] = field(default_factory=set)
    undefined: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, question: str, kinds: dict[str, Kind], frame: pd.DataFrame | None) -> _Context:
        mentioned = _mentioned(question, kinds)
        numeric = [c for c in mentioned if kinds[c] in ("number", "bool")]
        context = cls(question, question.lower(), dict(kinds), frame, mentioned, numeric, question_rounding(question))
        context.placeholders = {name: text for name, text in reversed(_ANSWER.findall(question))}
        return context

    # -- preparation ------------------------------------------------------------------------------------

    def prepare(self, names: list[str]) -> None:
        self.names = names
        self.read_text_numbers()
        position = len(self.before)
        self.fill_missing()
        self.drop_missing()
        self.column_transforms()
        cleaning = [step for _, step in sorted(self.cleaning, key=lambda item: item[0])]
        filled = [c for _, step in self.cleaning if step["op"] == "fill_missing" for c in [step["column"]]]
        if any(c not in filled for c in self.numeric):  # columns only prepared are not the default measured one
            self.numeric = [c for c in self.numeric if c not in filled] + [c for c in self.numeric if c in filled]
        self.quoted_filters(names)
        self.comparison_filters()
        self.derive()
        if self.derived is not None:  # "… greater than 1" on the column the question just defined
            self.comparison_filters(only=self.derived)
        self.bins()
        self.weekend()
        self.years(names)
        self.outlier_removal(names)
        staged = [set(_tokens(n)) for n in names]
        if (
            cleaning
            and not self.removal
            and any(w & _BEFORE_REMOVAL for w in staged)
            and any(w & _AFTER_REMOVAL for w in staged)
        ):
            self.removal = cleaning  # "before and after the imputation": names measured on both sides of it
        else:
            self.before[position:position] = cleaning

    def read_text_numbers(self) -> None:
        """Mentioned text columns whose values are numbers (or ``HH:MM:SS`` times) read as such first."""
        if self.frame is None:
            return
        for position, column in enumerate(list(self.mentioned)):
            if self.kinds.get(column) != "text":
                continue
            shape = _text_shape(self.frame, column)
            if shape not in ("number", "time"):
                continue
            derived = f"{column} ({'seconds' if shape == 'time' else 'number'})"
            fn = "to_seconds" if shape == "time" else "to_number"
            self.before.append({"op": "transform", "name": derived, "column": column, "fn": fn})
            self.kinds[derived] = "number"
            self.mentioned[position] = derived
        self.numeric = [c for c in self.mentioned if self.kinds[c] in ("number", "bool")]

    def fill_missing(self) -> None:
        for match in _FILL.finditer(self.question):
            self._fill_one(match)

    def _fill_one(self, match: re.Match[str]) -> None:
        how = (match.group(1) or match.group(2) or match.group(3)).lower()
        strategy = "mode" if how in ("mode", "most frequent") else "mean" if how == "average" else how
        sentence = self._sentence_at(match.start())
        targets = [self._as_numbers(c) or c for c in _mentioned(sentence, self.kinds)]
        if not targets and len(self.numeric) == 1:
            targets = self.numeric[:1]
        for column in targets:
            step = {"op": "fill_missing", "column": column, "strategy": strategy}
            if column not in self.kinds or (strategy != "mode" and self.kinds[column] not in ("number", "bool")):
                continue
            if all(step != other for _, other in self.cleaning):
                self.cleaning.append((match.start(), step))

    def column_transforms(self) -> None:
        """ "Remove duplicate rows", "apply a log (base 10) to X", "min-max normalise X", "standardise X
        (z-scores)": in the question's order with the other cleaning steps, each column replaced in place."""
        for match in re.finditer(r"\b(?:remov|drop|delet|eliminat)\w*\s+(?:any\s+|all\s+|the\s+)?duplicat", self.text):
            step: dict[str, Any] = {"op": "drop_duplicates"}
            if all(step != other for _, other in self.cleaning):
                self.cleaning.append((match.start(), step))
        for match in _TRANSFORMS.finditer(self.question):
            sentence = self._sentence_at(match.start())
            if re.search(r"outlier|if the p|p-value", sentence, re.IGNORECASE):
                continue
            word = match.group(0).lower()
            if word.startswith(("min", "normali")):
                fn = "minmax"
            elif word.startswith(("standard", "z")):
                fn = "zscore"
            else:
                fn = "log10" if re.search(r"base[- ]?10|log10", sentence, re.IGNORECASE) else "log"
            for column in _mentioned(sentence, self.kinds):
                column = self._as_numbers(column) or column
                if self.kinds.get(column) not in ("number", "bool"):
                    continue
                step = {"op": "transform", "name": column, "column": column, "fn": fn}
                constant = re.search(r"constant[^.]*?\(?(\d(?:\.\d+)?e-?\d+)", self.question, re.IGNORECASE)
                if fn.startswith("log") and constant:
                    step["offset"] = float(constant.group(1))
                done = any(o["op"] == "transform" and o["column"] == column for _, o in self.cleaning)
                if not done:  # a column is transformed once (a later sentence only adds details)
                    self.cleaning.append((match.start(), step))

    def drop_missing(self) -> None:
        """ "Remove / drop / exclude the rows with missing values in X": those rows go first."""
        for match in re.finditer(
            r"\b(?:remov|drop|delet|exclud|discard|eliminat|ignor|omit)\w*\b[^.]*?\b(?:missing|null|nan|empty)\b",
            self.question,
            re.IGNORECASE,
        ):
            sentence = self._sentence_at(match.start())
            if re.search(r"\b(?:fill|imput|replac)\w*", sentence, re.IGNORECASE):
                continue
            columns = [self._as_numbers(c) or c for c in _mentioned(sentence, self.kinds)]
            columns = [c for c in columns if c in self.kinds]
            if not columns and not re.search(r"\bany (?:column|value|field)", sentence, re.IGNORECASE):
                continue
            step: dict[str, Any] = {"op": "drop_missing", "columns": columns}
            if all(step != other for _, other in self.cleaning):
                self.cleaning.append((match.start(), step))

    def weekend(self) -> None:
        """Weekend / weekday groups of the (one) date column, when the question compares them."""
        if self.group_column is not None or not re.search(r"\bweekends?\b", self.text):
            return
        dates = [c for c in self.kinds if self._dates(c)]
        if len(dates) != 1 or "is_weekend" in self.kinds:
            return
        self.before.append({"op": "date_part", "name": "is_weekend", "column": dates[0], "part": "is_weekend"})
        self.kinds["is_weekend"] = "bool"
        self.group_column, self.group_labels = "is_weekend", [False, True]

    def years(self, names: list[str]) -> None:
        """A year in a name (``avg_close_2019``, ``records_2020``) picks the rows of that year of the one
        date column: its year becomes a group column the names can select."""
        wanted = {int(w) for n in names for w in _name_words(n) if re.fullmatch(r"(?:19|20)\d\d", w)}
        dates = [c for c in self.kinds if self._dates(c)]
        if not wanted or len(dates) != 1 or self.frame is None or dates[0] not in self.frame.columns:
            return
        if any(_normal(c) == "year" or _compact(c).endswith("year") for c in self.kinds):
            return  # the table has its own year column: the names pick from it
        parsed = pd.to_datetime(self.frame[dates[0]], errors="coerce", format="mixed")
        present = sorted({int(y) for y in parsed.dt.year.dropna().unique()})
        if not wanted <= set(present):
            return
        name = f"{dates[0]} year"
        self.before.append({"op": "date_part", "name": name, "column": dates[0], "part": "year"})
        self.kinds[name] = "number"
        self.mentioned.append(name)
        self.derived_groups[name] = present

    def _sentence_at(self, position: int) -> str:
        start = max(self.question.rfind(".", 0, position), self.question.rfind("\n", 0, position)) + 1
        ends = [e for e in (self.question.find(". ", position), self.question.find("\n", position)) if e >= 0]
        return self.question[start : min(ends) if ends else len(self.question)]

    def quoted_filters(self, names: list[str]) -> None:
        """A quoted value (before the answer format) that is a value of exactly one text column keeps its rows."""
        if self.frame is None:
            return
        cut = min((self.question.find(f"@{n}[") for n in names if f"@{n}[" in self.question), default=-1)
        head = self.question[:cut] if cut >= 0 else self.question
        quoted = {q.strip() for q in _QUOTED.findall(head) if len(q.strip()) >= 2}
        found: list[tuple[str, str]] = []
        for value in sorted(quoted):
            if any(_normal(value) == _normal(c) for c in self.kinds):
                continue
            holders = [
                c
                for c, kind in self.kinds.items()
                if kind == "text"
                and c in self.frame.columns
                and self.frame[c].astype("string").str.strip().eq(value).any()
            ]
            if len(holders) == 1:
                found.append((holders[0], value))
        found += self._named_values(head, {c for c, _ in found}, quoted)
        name_words = {_stem(w) for n in names for w in _name_words(n)}
        for column, value in found:
            listed = sum(1 for other, _ in found if other == column) > 1
            measured = {_stem(w) for w in _tokens(value)} <= name_words
            if not listed and not measured:
                self.before.append({"op": "filter", "column": column, "test": "eq", "value": value})

    def _named_values(self, head: str, done: set[str], quoted: set[str]) -> list[tuple[str, str]]:
        """Unquoted values of a category column (at most 20 values) the question names as words, written
        as the table writes them ("who embarked at Queenstown", "in the North region"); a column two of whose
        values are named is compared, not filtered (the caller skips it)."""
        if self.frame is None:
            return []
        found: list[tuple[str, str]] = []
        for column, kind in self.kinds.items():
            values = _group_values(self.frame, column) if kind == "text" and column not in done else None
            for value in values or []:
                text = str(value).strip()
                if len(text) < 3 or text.lower() in _NOT_VALUES or text in quoted:
                    continue
                if any(_normal(text) == _normal(c) for c in self.kinds):
                    continue
                if re.search(rf"(?<![\w-]){re.escape(text)}(?![\w-])", head):
                    found.append((column, text))
        return found

    def comparison_filters(self, only: str | None = None) -> None:
        """ "rows where X is greater than 100", "X of at least 5", "X between 20 and 30": a numeric comparison
        right after a column (not in a sentence about outliers, tests or thresholds of a statistic)."""
        text = _normal(self.question[: self.question.find("@")] if "@" in self.question else self.question)
        found: list[tuple[int, int, str, list[float]]] = [
            (m.start(), m.end(), _COMPARISON_TESTS[m.group(1)], [float(m.group(2))]) for m in _COMPARISON.finditer(text)
        ]
        found += [
            (m.start(), m.end(), "between", [float(m.group(1)), float(m.group(2))]) for m in _BETWEEN.finditer(text)
        ]
        found += [(m.start(), m.end(), "eq", [float(m.group(1) or m.group(2))]) for m in _EQUALS.finditer(text)]
        found += self._column_then_value(text)
        steps: Steps = []
        for start, end, test, numbers in sorted(found):
            column = self._compared_column(text, start, end)
            if column is None:
                continue
            if only is not None and column != only:
                continue
            if test == "eq" and not self._holds_value(column, numbers[0]):
                continue  # "Pclass is 1": only a value the (category) column has
            step: dict[str, Any] = {"op": "filter", "column": column, "test": test}
            if test == "between":
                if numbers[0] > numbers[1]:
                    continue
                step["values"] = numbers
            else:
                step["value"] = numbers[0]
            if step not in steps:
                steps.append(step)
        for step in steps:
            listed = {str(o.get("value")) for o in steps if o["column"] == step["column"] and o["test"] == "eq"}
            if step["test"] == "eq" and len(listed) > 1:
                continue  # "Pclass = 1, Pclass = 2, Pclass = 3": groups listed, not one subset
            if step not in self.before:
                self.before.append(step)

    def _column_then_value(self, text: str) -> list[tuple[int, int, str, list[float]]]:
        """ "passengers in Pclass 3": a category column named right before one of its values."""
        found: list[tuple[int, int, str, list[float]]] = []
        for position, column in _mentions(text, self.kinds):
            after = re.match(
                r"(\S*?)(\s+)(\d+(?:\.\d+)?)(?!\d|\.\d|\s*(?:%|percent|times|decimal|digit))", text[position:]
            )
            if after is None or len(after.group(1)) > len(_normal(column)) + 2:
                continue
            if _group_values(self.frame, column) is not None:
                found.append((position + len(after.group(1)), position + after.end(), "eq", [float(after.group(3))]))
        return found

    def _holds_value(self, column: str, number: float) -> bool:
        values = _group_values(self.frame, column)
        return values is not None and any(
            isinstance(v, int | float) and not isinstance(v, bool) and float(v) == number for v in values
        )

    def _compared_column(self, text: str, start: int, end: int) -> str | None:
        """The number column named right before a comparison at ``start``, outside sentences about outliers,
        tests, thresholds or scaling."""
        sentence = text[max(text.rfind(". ", 0, start), 0) : end]
        if _NOT_A_FILTER.search(sentence):
            return None
        before = _mentions(text[max(0, start - 60) : start], self.kinds)
        if not before:
            return None
        offset, column = before[-1]
        gap = text[max(0, start - 60) + offset : start]
        if len(gap) - len(_normal(column)) > 25:
            return None  # the column must be what is compared, right before the comparison
        column = self._as_numbers(column) or column
        return column if self.kinds.get(column) in ("number", "bool") else None

    def derive(self) -> None:
        """A new column the question defines from columns it names (sum, difference, ratio, product,
        percentage change, days between two dates); it becomes the first column measures use."""
        named = _NEW_COLUMN.search(self.question)
        mentions = _mentions(self.question, self.kinds)
        new_name = named.group(1).strip() if named else None
        if new_name is not None and new_name in self.kinds:
            new_name = None  # the question's name for the new column is an existing column: not a definition
        step = self._arithmetic_step(mentions, new_name)
        if step is not None and new_name is not None and named is not None:
            sentence = self._sentence_at(named.start())
            if re.search(r"\(\s*\w+\s*[-+*/]\s*\w+\s*\)|[-+*/]\s*\d+(?:\.\d+)?\b|\bplus \d", sentence):
                self.undefined.add(_compact(new_name))  # Fare / (SibSp + 1): more than two columns and one operator
                return
        if step is None and new_name is not None and _PERCENT_CHANGE.search(self.question):
            source = next((c for c in self.numeric if c != new_name), None)
            if source is not None:
                step = {"op": "transform", "name": new_name, "column": source, "fn": "pct_change"}
        if step is None:
            return
        self.before.append(step)
        self.derived = str(step["name"])
        self.kinds[self.derived] = "number"
        self.mentioned.insert(0, self.derived)
        self.numeric.insert(0, self.derived)

    def _arithmetic_step(self, mentions: list[tuple[int, str]], new_name: str | None) -> dict[str, Any] | None:
        text = _normal(self.question)
        for phrase, operator, reversed_operands in _OPERATIONS:
            for match in re.finditer(phrase, text):
                after = [c for p, c in self._mentions_in(text, match.end()) if c != new_name][:2]
                if len(after) < 2 or (new_name is None and not self._defines_column(text, match.start())):
                    continue
                first, second = (after[1], after[0]) if reversed_operands else (after[0], after[1])
                step = self._operation(first, second, operator, new_name)
                if step is not None:
                    return step
        for phrase, operator in _INFIX:
            for match in re.finditer(phrase, text):
                before = [c for _, c in _mentions(text[max(0, match.start() - 80) : match.start()], self.kinds)]
                after = [c for _, c in _mentions(text[match.end() : match.end() + 80], self.kinds)]
                if not before or not after or (new_name is None and not self._defines_column(text, match.start())):
                    continue
                step = self._operation(before[-1], after[0], operator, new_name)
                if step is not None:
                    return step
        return None

    def _operation(self, first: str, second: str, operator: str, new_name: str | None) -> dict[str, Any] | None:
        left, right = self._as_numbers(first), self._as_numbers(second)
        if left is None or right is None or left == right:
            return None
        name = new_name or f"{left} {operator} {right}"
        if operator == "sub" and self._dates(left) and self._dates(right):
            return {"op": "date_diff", "name": name, "start": right, "end": left, "unit": "days"}
        if self.kinds.get(left) not in ("number", "bool") or self.kinds.get(right) not in ("number", "bool"):
            return None
        return {"op": "arithmetic", "name": name, "left": left, "operator": operator, "right": right}

    def _mentions_in(self, text: str, start: int) -> list[tuple[int, str]]:
        """Columns named in ``text`` after ``start`` (in the same or the next sentence), in order."""
        end = text.find(". ", start)
        end = text.find(". ", end + 2) if end >= 0 else -1
        window = text[start : end if end >= 0 else len(text)]
        return _mentions(window, self.kinds)

    def _defines_column(self, text: str, position: int) -> bool:
        """Without a quoted new name, an operation only defines a column when its sentence says so."""
        sentence = text[max(text.rfind(". ", 0, position), 0) : position]
        return bool(re.search(r"\b(?:new|create|creating|derive|calculat|comput|duration|days)\w*", sentence))

    def _as_numbers(self, column: str) -> str | None:
        """The column, or the name of its number-reading (already prepared), as a numeric or date column."""
        if self.kinds.get(column) in ("number", "bool", "datetime"):
            return column
        for candidate in (f"{column} (number)", f"{column} (seconds)"):
            if candidate in self.kinds:
                return candidate
        return column if self._dates(column) else None

    def _dates(self, column: str) -> bool:
        return self.kinds.get(column) == "datetime" or _text_shape(self.frame, column) == "date"

    def bins(self) -> None:
        """Groups the question defines by ranges: 'Child' (0-12 years old), …, 'Elderly' (60 and above)."""
        closed = list(_BIN.finditer(self.question))
        if len(closed) < 2:
            return
        labels = [m.group(1).strip().strip("'\"") for m in closed]
        edges = [float(closed[0].group(2))] + [float(m.group(3)) for m in closed]
        tail = _BIN_OPEN.search(self.question, closed[-1].end())
        if tail is not None:
            labels.append(tail.group(1).strip().strip("'\""))
            edges.append(max(edges[-1] + 1.0, 1e12))
        if edges != sorted(edges) or len(set(edges)) != len(edges):
            return
        column = self._column_before(closed[0].start())
        if column is None:
            return
        named = _NEW_COLUMN.search(self.question)
        name = named.group(1).strip() if named and named.group(1).strip() not in self.kinds else f"{column} group"
        if edges[0] > 0:
            edges[0] = edges[0] - 1.0  # "(13-19)" after "(0-12)": the first range includes its lower bound
        self.before.append({"op": "bin", "name": name, "column": column, "edges": edges, "labels": labels})
        self.kinds[name] = "text"
        self.group_column, self.group_labels = name, labels

    def _column_before(self, position: int) -> str | None:
        mentions = [(p, c) for p, c in _mentions(self.question[:position], self.kinds) if c in self.numeric]
        return mentions[-1][1] if mentions else None

    def outlier_removal(self, names: list[str]) -> None:
        """Outlier removal the question asks for; or, when names ask for the outliers' own figures
        (``mean_charges_outliers``, ``outlier_range_high``), keeping only the outliers for those names."""
        self.of_outliers = {n for n in names if _of_outliers(_name_words(n))}
        removes = bool(_REMOVES.search(self.question) and "outlier" in self.text)
        if not (removes or self.of_outliers) or not self.numeric:
            return
        main = self.numeric[0]
        method = "iqr" if ("iqr" in self.text or "interquartile" in self.text) else "zscore"
        if method == "zscore" and not re.search(r"z[- ]?score|standard deviation", self.text):
            return
        step = {"op": "remove_outliers", "column": main, "method": method, "threshold": self._threshold(method)}
        if self.of_outliers and not removes:
            step["keep"] = "outliers"
        self.removal = [step]

    def _threshold(self, method: str) -> float:
        if method == "iqr":
            factor = _IQR_FACTOR.search(self.question)
            return float(factor.group(1)) if factor else 1.5
        limit = _Z_LIMIT.search(self.question)
        return float(limit.group(1) or limit.group(2)) if limit else 3.0

    def after_removal(self, name: str) -> bool:
        if self.removal and self.removal[0].get("keep") == "outliers":
            return name in self.of_outliers
        words = set(_name_words(name))
        if words & _AFTER_REMOVAL:
            return True
        if words & _BEFORE_REMOVAL or "outlier" in words or "outliers" in words:
            return False
        return True

    # -- columns and groups for one name ----------------------------------------------------------------

    def column_for(self, words: list[str], numeric: bool = False, fallback: bool = True) -> str | None:
        """The column sharing the most (stemmed, non-generic) words with the name; else the first mentioned."""
        wanted = {_stem(w) for w in words} - _GENERIC
        compact = "".join(words)
        best, best_score, partial = None, 0.0, []
        for column in self.mentioned + [c for c in self.kinds if c not in self.mentioned]:
            if numeric and self.kinds[column] not in ("number", "bool"):
                continue
            own = {_stem(w) for w in _tokens(column)} - _GENERIC - {"number", "seconds"}
            if not own:
                continue
            score = float(len(own & wanted))
            if len(_compact(column)) >= 4 and _compact(column) in compact:
                score = max(score, float(len(own)))
            full = score >= len(own)
            if score > best_score and (full or column in self.mentioned):
                best, best_score = column, score
            elif score and not full and column not in self.mentioned:
                partial.append((score, column))
        if best is not None:
            return best
        if partial:
            top = max(s for s, _ in partial)
            leaders = [c for s, c in partial if s == top]
            if len(leaders) == 1 and not self.numeric:
                return leaders[0]
        if not fallback:
            return None
        pool = self.numeric if numeric or self.numeric else self.mentioned
        return pool[0] if pool else None

    def column_named(self, name: str, words: list[str], numeric: bool = False) -> str | None:
        """The column the name names, else the one its placeholder names (``@mean_value[mean_X]``), else the
        first mentioned."""
        hint = _tokens(self.placeholders.get(name, ""))
        if "by" in words[1:]:  # mean_runs_by_eligible: the measured column is named before "by"
            measured = self.column_for(words[: words.index("by")], numeric, fallback=False)
            if measured is not None:
                return measured
        named = self.column_for(words, numeric, fallback=False) or self.column_for(hint, numeric, fallback=False)
        if named is not None:
            return named
        if self._unexplained(words):
            return None  # mean_family_size, age_mad: words that name nothing here; never the first column instead
        return self.column_for(words, numeric)

    def _unexplained(self, words: list[str]) -> set[str]:
        """A name's words that are neither a statistic, a count, filler, a range, a group it picks, nor
        part of a column or value the question names."""
        known = {_stem(k) for keys, _ in _FN_WORDS + _NAME_FN_WORDS for k in keys} | _COUNT_WORDS | _FILLER
        known |= _AFTER_REMOVAL | _BEFORE_REMOVAL | _RANGE_BELOW | _RANGE_ABOVE | set(_QUARTILES) | set(_ORDINALS)
        left = {_stem(w) for w in words if not w.isdigit() and not re.fullmatch(r"p\d{1,2}", w)} - _GENERIC - known
        for column in self.mentioned + [self.group_column or ""]:
            left -= {_stem(t) for t in _tokens(column)}
        group = self.group_of(words, "")
        if group is not None:
            left -= {_stem(t) for t in _tokens(f"{group[0]} {group[1]}")}
            left -= _NEGATIONS
        head = self.question[: self.question.find("@")] if "@" in self.question else self.question
        left -= {_stem(t) for t in _tokens(head)}  # "unique species" the question itself says
        columns = [_compact(c) for c in self.kinds]
        return {w for w in left if len(w) > 1 and not (len(w) >= 3 and any(w in c for c in columns))}

    def group_of(self, words: list[str], column: str) -> tuple[str, Any] | None:
        """The (group column, value) a name picks among a grouping column's values, e.g. ``first_class_…``
        → (Pclass, 1), ``…_did_not_survive`` → (Survived, 0), ``mean_fare_child`` → (AgeGroup, Child)."""
        own = {_stem(w) for w in _tokens(column)}
        rest = [w for w in words if _stem(w) not in own]
        candidates = [self.group_column] if self.group_column else []
        candidates += [c for c in self.mentioned if c != column and c not in candidates]
        partial = [  # first_class → Pclass: a column whose name holds one of the name's words
            c
            for c in self.kinds
            if c != column
            and c not in candidates
            and any(
                (len(w) >= 4 and w in _compact(c) or len(w) >= 5 and any(t[:5] == w[:5] for t in _tokens(c)))
                and w not in own
                and not _FN_WORDS_IN([w])
                for w in rest
            )
        ]
        candidates += partial
        candidates += [  # europe_life_expectancy: a value of a category column the question does not name
            c for c, kind in self.kinds.items() if kind == "text" and c != column and c not in candidates
        ]
        for candidate in candidates:
            if candidate is None:
                continue
            values = (
                self.group_labels
                if candidate == self.group_column
                else self.derived_groups.get(candidate) or _group_values(self.frame, candidate)
            )
            if not values:
                continue
            picked = _pick_group(rest, candidate, values)
            if picked is not None:
                return candidate, picked
        return None

    def two_groups(self) -> tuple[str, str, Any, Any] | None:
        """(measured column, group column, first group, second group) the question's names measure."""
        seen: list[tuple[str, str, Any]] = []
        for other in self.names:
            steps = self.aggregate(other, _name_words(other), grouped_only=True)
            if steps and "by" in steps[-1]:
                pick = (steps[-1]["column"], steps[-1]["by"], steps[-1]["group"])
                if all(pick[2] != g for _, _, g in seen):
                    seen.append(pick)
        if len(seen) >= 2 and seen[0][:2] == seen[1][:2]:
            return seen[0][0], seen[0][1], seen[0][2], seen[1][2]
        return None

    def t_test(self, name: str) -> Steps | None:
        groups = self.two_groups()
        if groups is None:
            return None
        column, by, a, b = groups
        welch = bool(re.search(r"welch|unequal variance|equal_var\s*=\s*false", self.text))
        step = {"op": "t_test", "name": name, "column": column, "by": by, "group_a": a, "group_b": b}
        return [{**step, "equal_var": not welch, "round": self.digits}]

    # -- one measure --------------------------------------------------------------------------------------

    def measure(self, name: str) -> Steps | None:
        """The steps for one name; a range in the name (``below3_correlation``, ``between3and4_…``) takes
        the measure on the rows of that range of the column the question compares."""
        words = _name_words(name)
        if any(column in _compact(name) for column in self.undefined):
            return None  # a column the question defines by an expression the rules do not build
        ranged = self.range_condition(words)
        if ranged is None:
            return self._measure(name, words)
        condition, kept = ranged
        everything = self.numeric
        self.numeric = [c for c in everything if c != condition["column"]]  # the range's column is not measured
        self.ranged_columns = {condition["column"]}
        try:
            steps = self._measure(name, kept)
        finally:
            self.numeric, self.ranged_columns = everything, set()
        if steps is None:
            return None
        return [step | {"where": [condition]} if lang_is_measure_op(step["op"]) else step for step in steps]

    def range_condition(self, words: list[str]) -> tuple[dict[str, Any], list[str]] | None:
        """(condition, the name's other words) for ``below 3`` / ``under 3``, ``above 4`` / ``over 4``,
        ``between 3 and 4`` in a name, on the number column the question names right before such a range."""
        for index, word in enumerate(words):
            test, numbers, width = None, [], 2
            nxt = words[index + 1 : index + 4]
            if word in _RANGE_BELOW and nxt and _number(nxt[0]) is not None:
                test, numbers = "lt", [_number(nxt[0])]
            elif word in _RANGE_ABOVE and nxt and _number(nxt[0]) is not None:
                test, numbers = "gt", [_number(nxt[0])]
            elif word == "between" and len(nxt) == 3 and nxt[1] == "and" and None not in map(_number, (nxt[0], nxt[2])):
                test, numbers, width = "between", [_number(nxt[0]), _number(nxt[2])], 4
            if test is None:
                continue
            column = self._ranged_column(numbers[0])
            if column is None:
                return None
            condition: dict[str, Any] = {"column": column, "test": test}
            condition |= {"values": numbers} if test == "between" else {"value": numbers[0]}
            self.before = [
                s for s in self.before if not (s["op"] == "filter" and s["column"] == column)
            ]  # the range is this name's, not the whole table's
            return condition, words[:index] + words[index + width :]
        return None

    def _ranged_column(self, number: float | None) -> str | None:
        """The number column the question names right before a range phrase ending in ``number``."""
        head = _normal(self.question[: self.question.find("@")] if "@" in self.question else self.question)
        shown = f"{number:g}"
        for hit in re.finditer(
            rf"\b(?:below|under|less than|lower than|above|over|greater than|higher than|between)\s+"
            rf"{re.escape(shown)}(?!\d|\.\d)",
            head,
        ):
            before = _mentions(head[max(0, hit.start() - 60) : hit.start()], self.kinds)
            numbers = [c for _, c in before if self.kinds.get(c) in ("number", "bool")]
            if numbers:
                return numbers[-1]
        return None

    def _measure(self, name: str, words: list[str]) -> Steps | None:  # noqa: PLR0911, PLR0912 - one per kind
        text = self.text
        correlating = "correlation" in text or "corr" in words
        if correlating and {"strongest", "highest", "most", "max"} & set(words) and len(self.numeric) >= 3:
            return self.strongest(name, words)
        placeholder = self.placeholders.get(name, "").lower()
        position = re.search(r"\b(first|last) (?:entry|value|row|record|element)", placeholder)
        if position is not None:
            column = self.column_for(words, fallback=False)
            if column is None:
                return None
            at = 0 if position.group(1) == "first" else -1
            return [{"op": "value_at", "name": name, "column": column, "position": at, "round": self.digits}]
        labels = self._described_labels(name)
        if correlating and labels and len(self.numeric) >= 2 and any(w.startswith("corr") for w in words):
            positive, negative = _split_options(labels)
            if len(positive) == 1 and len(negative) == 1:  # "correlated" / "not correlated": p < 0.05
                return self.significance(name, (positive[0], negative[0]))
        if correlating and "r" in words:
            words = [*words, "correlation"]  # r_sibsp_parch: the coefficient r
        if any(w.startswith("corr") or w in _METHODS for w in words) and not (_VERDICT_WORDS | {"relationship"}) & set(
            words
        ):
            pair = self.pair_for(words)
            if pair is None:
                return None
            x, y = pair
            step = {"op": "correlation", "name": name, "x": x, "y": y, "method": self._method(), "round": self.digits}
            paired = {_stem(w) for c in (x, y) for w in _tokens(c)}
            group = self.group_of([w for w in words if _stem(w) not in paired], x)
            if group is not None and group[0] not in (x, y):  # below3_correlation, asia_corr: within one group
                step |= _by(group)
            return [step]
        group_test = self.group_test(name, words)
        if group_test is not None:
            return group_test
        if re.search(r"kolmogorov|\bks\b|ks_2samp", text) and re.search(r"two[- ]sample|ks_2samp|compar", text):
            return self.ks_two_sample(name, words)
        if "p" in words and ("value" in words or "pvalue" in words) or "pvalue" in words:
            if correlating and len(self.numeric) >= 2:
                x, y = self.pair_for([]) or self.numeric[:2]
                return [
                    {
                        "op": "correlation",
                        "name": name,
                        "x": x,
                        "y": y,
                        "method": self._method(),
                        "statistic": "p_value",
                        "round": self.digits,
                    }
                ]
            if re.search(r"\bt[- ]?test|ttest", text):
                return self.t_test(name)
            if "shapiro" in text or "normal" in text:
                return self.normality(name, "p_value")
            return None
        if ({"significant", "significance"} & set(words)) and re.search(r"\bt[- ]?test|ttest", text):
            return self.test_verdict(name)
        if ({"relationship", "relation"} & set(words)) and correlating and len(self.numeric) >= 2:
            return self.relationship(name) or self.significance(name)
        if "strength" in words and correlating and len(self.numeric) >= 2:
            return self.strength(name)
        if correlating and len(self.numeric) >= 2 and ({"type", "direction"} & set(words)):
            return self.direction(name)
        if ({"significant", "significance", "status"} & set(words)) and correlating and len(self.numeric) >= 2:
            return self.significance(name)
        if "skew" in text and ({"type", "skew", "skewness", "normal", "is", "distribution"} & set(words)):
            if self._skew_verdict_wanted(name, words):
                return self.skew_verdict(name)
        if ({"normal", "normality", "distribution", "result", "status"} & set(words)) and (
            "shapiro" in text or "normal" in text
        ):
            if "skew" in text and "shapiro" not in text and "kolmogorov" not in text:
                return None
            return self.verdict(name)
        if "shapiro" in words or ("w" in words and "shapiro" in text):
            return self.normality(name, "value")
        if {"ks", "kolmogorov"} & set(words) and {"stat", "statistic", "d"} & set(words) and "normal" in text:
            return self.normality(name, "value")  # ks_stat against a normal distribution
        extreme = self.extreme(name, words) or self.row_at_extreme(name, words)
        if extreme is not None:
            return extreme
        at_extreme = self.superlative_pair(name, words)
        if at_extreme is not None:
            return at_extreme
        if "with" in words and _SUPERLATIVE & set(words):
            return None  # "X with the highest Y" the rules could not place: never a plain statistic instead
        if "outlier" in words or "outliers" in words:
            return self.outliers(name, words)
        if {"missing", "null", "nan"} & set(words) and self._lists_columns(words):
            return self.missing_columns(name)
        if "missing" in words and ("column" in words or "each" in words):
            return [{"op": "missing_counts", "name": name, "columns": self._listed_columns()}]
        frequent = self.frequent_values(name, words)
        if frequent is not None:
            return frequent
        if {"duplicate", "duplicates", "duplicated"} & set(words):
            if self._counts_rows(words) or {"rows", "row"} & set(words) or "how many" in self.text:
                return [{"op": "duplicate_count", "name": name}]
            return None
        share = self.group_share(name, words)
        if share is not None:
            return share
        transformed = {"log", "ln", "sqrt", "normalized", "normalised", "scaled", "standardized", "zscore"} & set(words)
        if transformed and not any(step["op"] == "transform" for step in self.before + self.removal):
            return None  # mean_log_fare with no log taken: never the untransformed column
        if _UNHANDLED & {_stem(w) for w in words} - self._column_words_in(words):
            return None  # fare_difference, fare_cv: a statistic the rules do not compute: never a nearby one
        return self.aggregate(name, words)

    def _column_words_in(self, words: list[str]) -> set[str]:
        """The name's words that belong to a column's own name (``price_difference`` may be a column)."""
        stems = {_stem(w) for w in words}
        return {w for c in self.kinds for w in {_stem(t) for t in _column_words(c)} if w in stems}

    def group_share(self, name: str, words: list[str]) -> Steps | None:
        """``survival_rate``, ``proportion_class_1``, ``percentage_female``: the share of rows in the group
        the name picks, as a percentage when the name or the question says so."""
        if not {"rate", "proportion", "share", "percentage", "percent", "pct", "fraction"} & set(words):
            return None
        if {"missing", "null", "nan"} & set(words) or self.column_for(words, numeric=True, fallback=False):
            return None
        group = self.group_of(words, "")
        if group is None:
            return None
        percent = bool({"percentage", "percent", "pct"} & set(words)) or bool(
            re.search(r"\bpercentage\b|\bpercent\b|%", self.placeholders.get(name, "") + " " + self.text)
            and not re.search(r"\bproportion\b|\bfraction\b|between 0 and 1", self.text)
        )
        step = {"op": "group_share", "name": name, "by": group[0], "group": group[1], "percent": percent}
        return [step | {"round": self.digits}]

    def ks_two_sample(self, name: str, words: list[str]) -> Steps | None:
        """Two-sample Kolmogorov-Smirnov test of the first number column between the two groups of one text
        column the question names by value ("male … female"), within a yes/no condition the question puts on
        both ("… who did not survive"): its p-value, statistic or verdict (p < 0.05)."""
        groups = self._groups_in_text()
        if groups is None:
            return None
        by, a, b = groups
        conditions = self._yes_no_conditions(exclude={by})
        if conditions is None:
            return None
        measured = [c for c in self.numeric if c != by and c not in {c for c, _ in conditions}]
        if not measured:
            return None
        steps: Steps = [{"op": "filter", "column": c, "test": "eq", "value": v} for c, v in conditions]
        test = {"op": "ks_2samp", "column": measured[0], "by": by, "group_a": a, "group_b": b}
        p_value = "pvalue" in words or ("p" in words and "value" in words)
        if p_value or {"statistic", "stat", "d"} & set(words):
            return [
                *steps,
                {**test, "name": name, "statistic": "p_value" if p_value else "value", "round": self.digits},
            ]
        labels = self._described_labels(name) or _options(name, self.question)
        positive, negative = _split_options(labels)
        if not (positive and negative) or not {"different", "significant", "significantly", "same"} & set(words):
            return None
        yes, no = positive[0], negative[0]
        if "same" in words:
            yes, no = no, yes  # "same distribution" is the verdict when p >= 0.05
        case = {"when": [{"ref": f"{name}_p", "test": "lt", "value": 0.05}], "label": yes}
        helper = {**test, "name": f"{name}_p", "statistic": "p_value", "round": self.digits}
        return [*steps, helper, {"op": "decision", "name": name, "cases": [case], "otherwise": no}]

    def _groups_in_text(self) -> tuple[str, Any, Any] | None:
        """(text column, first value, second value): the one column two of whose values the question names
        as words, in the order it names them."""
        if self.frame is None:
            return None
        head = self.text[: self.text.find("@")] if "@" in self.text else self.text
        found: list[tuple[str, Any, Any]] = []
        for column, kind in self.kinds.items():
            values = _group_values(self.frame, column) if kind == "text" else None
            if not values:
                continue
            spots = []
            for value in values:
                hit = re.search(rf"(?<![\w-]){re.escape(str(value).strip().lower())}(?![\w-])", head)
                if hit is not None and len(str(value).strip()) >= 2:
                    spots.append((hit.start(), value))
            if len(spots) == 2:
                (_, first), (_, second) = sorted(spots)
                found.append((column, first, second))
        return found[0] if len(found) == 1 else None

    def _yes_no_conditions(self, exclude: set[str]) -> list[tuple[str, Any]] | None:
        """Yes/no columns the question states a condition on by their word ("who did not survive" →
        Survived = 0); None when it states both a condition and its opposite (no single subset)."""
        head = self.text[: self.text.find("@")] if "@" in self.text else self.text
        conditions: list[tuple[str, Any]] = []
        for column in self.kinds:
            values = _group_values(self.frame, column) if column not in exclude else None
            if not values:
                continue
            if not (
                all(isinstance(v, bool) for v in values) or sorted(map(str, values)) in (["0", "1"], ["0.0", "1.0"])
            ):
                continue
            stems = [t[:5] for t in _tokens(column) if len(t) >= 5]
            if not stems:
                continue
            states = set()
            for hit in re.finditer(r"\b(" + "|".join(stems) + r")\w*", head):
                before = head[max(0, hit.start() - 12) : hit.start()]
                states.add(bool(re.search(r"\b(?:not|non|no|didn't|did not)\W*$", before) or "non-" in before))
            if len(states) == 2:
                return None
            if states:
                truthy: Any = True if all(isinstance(v, bool) for v in values) else 1
                falsy: Any = False if truthy is True else 0
                conditions.append((column, falsy if states.pop() else truthy))
        return conditions

    def _described_labels(self, name: str) -> list[str]:
        """The quoted text labels the format's description of this name's placeholder allows:
        ``where "colleration" is a string that can either be "correlated" or "not correlated"``."""
        placeholder = self.placeholders.get(name, "").strip().strip("\"'")
        if not placeholder:
            return []
        found = re.search(rf"[\"']{re.escape(placeholder)}[\"'][^\n]*", self.question)
        if found is None:
            return []
        sentence = re.split(r"(?<=[a-z\"'])\.\s", found.group(0))[0]
        labels = [q.strip() for q in _QUOTED.findall(sentence[len(placeholder) + 2 :])]
        labels = [q for q in labels if q and not re.fullmatch(r"[-+\d.,\s]+", q) and q != placeholder]
        return labels if len(labels) >= 2 else []

    def _categorical(self, column: str) -> bool:
        if self.kinds.get(column) in ("text", "bool"):
            return True
        values = _group_values(self.frame, column)
        return self.kinds.get(column) == "number" and values is not None

    def group_test(self, name: str, words: list[str]) -> Steps | None:
        """Chi-square (two categorical columns) or one-way ANOVA (a number across the groups of a
        categorical column) when the question names that test: its p-value, statistic or verdict."""
        chi = re.search(r"chi[- ]?squared?|chi2|contingency", self.text)
        anova = re.search(r"\banova\b|analysis of variance", self.text)
        if bool(chi) == bool(anova):
            return None
        p_value = "pvalue" in words or ("p" in words and "value" in words)
        statistic = bool({"statistic", "stat", "chi2", "chi", "f"} & set(words)) and not p_value
        verdict = bool({"significant", "significance", "significantly", "association", "result"} & set(words))
        if not (p_value or statistic or verdict):
            return None
        if re.search(r"\bonly (?:consider|include|use|keep)\b", self.text) and not any(
            step["op"] in ("filter", "drop_missing") for step in self.before
        ):
            return None  # a subset the rules did not turn into a filter: the test would run on the wrong rows
        labels = [c for c in self.mentioned if self.kinds.get(c) in ("text", "bool")]
        categorical = labels + [c for c in self.mentioned if c not in labels and self._categorical(c)]
        if chi:
            if len(categorical) < 2:
                return None
            test: dict[str, Any] = {"op": "chi_square", "a": categorical[0], "b": categorical[1]}
        else:
            measured = [c for c in self.numeric if c not in categorical[:1]]
            if not categorical or not measured or measured[0] == categorical[0]:
                return None
            test = {"op": "anova", "column": measured[0], "by": categorical[0]}
        if not verdict or p_value or statistic:
            kind = "value" if statistic else "p_value"
            return [{**test, "name": name, "statistic": kind, "round": self.digits}]
        positive, negative = _split_options(_options(name, self.question))
        yes, no = (positive[0], negative[0]) if positive and negative else ("Yes", "No")
        case = {"when": [{"ref": f"{name}_p", "test": "lt", "value": 0.05}], "label": yes}
        helper = {**test, "name": f"{name}_p", "statistic": "p_value", "round": self.digits}
        return [helper, {"op": "decision", "name": name, "cases": [case], "otherwise": no}]

    def _lists_columns(self, words: list[str]) -> bool:
        """``missing_columns``, ``columns_with_missing``: names of columns, not counts per column."""
        wanted = {"column", "columns", "name", "names", "which", "list"}
        counted = {"per", "each", "count", "counts", "number", "percentage", "percent", "total", "sum"}
        return bool(wanted & set(words)) and not counted & set(words)

    def missing_columns(self, name: str) -> Steps | None:
        """The columns with missing values (the table's own columns; only text columns when the question
        says object / string columns), alphabetically when the question asks so."""
        columns = self._listed_columns()
        if re.search(r"\bobject\b|\bstrings?\b|text columns?|categorical columns?", self.text):
            columns = [c for c in columns if self.kinds.get(c) == "text"]
            if not columns:
                return None
        order = "alphabetical" if re.search(r"alphabetic|sorted|sort", self.text) else "table"
        return [{"op": "missing_columns", "name": name, "columns": columns, "order": order}]

    def frequent_values(self, name: str, words: list[str]) -> Steps | None:
        """ "values that appear at least N times" / "with at least N observations": how many such values
        (or the list, when the name asks for the values)."""
        found = re.search(
            r"(?:appear\w*|occur\w*|observations?|occurrences?|records|entries|rows|times)\s+(?:at least|>=)\s*(\d+)"
            r"|at least\s+(\d+)\s+(?:times|observations|occurrences|records|entries|rows)"
            r"|(\d+)\s+(?:or more)\s+(?:times|observations|occurrences)",
            self.text,
        )
        if found is None:
            return None
        min_count = int(found.group(1) or found.group(2) or found.group(3))
        column = self.column_named(name, words)
        if column is None:
            return None
        counting = self._counts_rows(words) or {"unique", "distinct", "nunique"} & set(words)
        listing = {"list", "values", "which"} & set(words) or "list" in self.placeholders.get(name, "").lower()
        if bool(counting) == bool(listing):
            return None  # neither or both: never guess which the name wants
        report = "count" if counting else "values"
        return [{"op": "frequent_values", "name": name, "column": column, "min_count": min_count, "report": report}]

    def _counts_rows(self, words: list[str]) -> bool:
        """A name for a number of rows: ``passenger_count``, ``num_rows``, ``number_of_passengers`` (when the
        question asks "how many" / "number of")."""
        if _COUNT_WORDS & set(words):
            return True
        head = self.text[: self.text.find("@")] if "@" in self.text else self.text
        asked = {_stem(m) for m in re.findall(r"\bhow many (\w+)", head)}
        if asked & {_stem(w) for w in words} and not _FN_WORDS_IN(words):
            return True  # "how many countries …" → countries_above_75
        return "number" in [_ABBREVIATIONS.get(w, w) for w in words] and bool(
            re.search(r"\bhow many\b|\bnumber of\b|\bcount\b", self.text)
        )

    def aggregate(self, name: str, words: list[str], grouped_only: bool = False) -> Steps | None:
        numeric_fn = None
        column = self.column_named(name, words)
        named_fn = next((f for keys, f in _FN_WORDS + _NAME_FN_WORDS if any(k in words for k in keys)), None)
        if column is None and named_fn is None and self._counts_rows(words) and not grouped_only:
            group = self.group_of(words, "")
            if group is not None:
                return [{"op": "aggregate", "name": name, "column": group[0], "fn": "count", **_by(group)}]
            return [{"op": "row_count", "name": name}]
        if column is None:
            return None
        own = {_stem(w) for w in _tokens(column)}
        free = [w for w in words if _stem(w) not in own]
        share = {"percentage", "percent", "pct", "proportion", "share", "ratio"} & set(words)
        if share and ("missing" in words or "null" in words or "missing" in self.text):
            return [{"op": "aggregate", "name": name, "column": column, "fn": "missing_percent", "round": self.digits}]
        fn = next((f for keys, f in _FN_WORDS + _NAME_FN_WORDS if any(k in free for k in keys)), None)
        quantile = _quantile_in(free)
        if fn is None and quantile is not None:
            fn = "quantile"
        counted_entity = self.kinds.get(column) == "text" and self._counts_rows(words)  # how many countries …
        if fn is None and (_COUNT_WORDS & set(words) or self._counts_rows(free) or counted_entity):
            group = self.group_of(words, "")
            if group is not None:  # the rows of one group: count its (never missing) group labels
                return [
                    {
                        "op": "aggregate",
                        "name": name,
                        "column": group[0],
                        "fn": "count",
                        "by": group[0],
                        "group": group[1],
                    }
                ]
            return [] if grouped_only else [{"op": "row_count", "name": name}]
        if fn is None and _VERDICT_WORDS & set(words):
            return None  # a verdict the rules do not know: never guess a statistic for it
        if fn is None:
            fn = named_fn
        if fn is None and not self._unexplained(free):
            fn = next((f for keys, f in _FN_WORDS if any(re.search(rf"\b{k}\b", self.text) for k in keys)), None)
        if fn is None:
            return None
        if _COUNT_WORDS & set(free) and fn not in ("missing_count", "nunique"):
            return None  # above_mean_count: a count of rows against a statistic, not the statistic
        numeric_fn = fn not in ("missing_count", "nunique", "mode")
        if numeric_fn and self.kinds.get(column) not in ("number", "bool"):
            better = self.column_for(words, numeric=True)
            column = better if better is not None else column
        steps, source = self.numeric_source(column) if numeric_fn else ([], column)
        step: dict[str, Any] = {"op": "aggregate", "name": name, "column": source, "fn": fn, "round": self.digits}
        if fn == "quantile":
            if quantile is None:
                return None  # a quantile without its level: never guess one
            step["q"] = quantile
        if fn in ("skew", "kurtosis") and "pandas" in self.text:
            step["bias_corrected"] = True
        if fn in ("std", "var") and "population" in self.text:
            step["ddof"] = 0
        group = self.group_of(words, source)
        if group is not None:
            step["by"], step["group"] = group
        elif grouped_only:
            return []
        return [*steps, step]

    def numeric_source(self, column: str) -> tuple[Steps, str]:
        """A text column read as numbers first (its digits), so numeric measures can use it."""
        if self.kinds.get(column) == "text":
            derived = f"{column} (number)"
            self.kinds[derived] = "number"
            return [{"op": "transform", "name": derived, "column": column, "fn": "to_number"}], derived
        return [], column

    def outliers(self, name: str, words: list[str]) -> Steps | None:
        if name in self.of_outliers:
            if not (self.removal and self.removal[0].get("keep") == "outliers"):
                return None  # the outliers' own figures while the question removes them: not both
            plain = [_RANGE_ENDS.get(w, w) for w in words if w not in ("outlier", "outliers", "range")]
            return self.aggregate(name, plain)
        stats = {f for keys, f in _FN_WORDS if any(k in words for k in keys)} - {"sum", "max", "min"}
        if stats:
            # a statistic of the data with / without its outliers; of the outliers themselves has no operation
            if set(words) & (_AFTER_REMOVAL | _BEFORE_REMOVAL) and self.removal:
                return self.aggregate(name, [w for w in words if w not in ("outlier", "outliers")])
            return None
        listing = self._lists_outliers(name, words)
        if set(words) & {"low", "high", "range"} or (listing is None and set(words) & {"list", "values"}):
            return None
        entity = None
        if listing:
            rest = [w for w in words if w not in ("outlier", "outliers", "list", "values", "value")]
            entity = self.column_for(rest, fallback=False) if [w for w in rest if w not in _GENERIC] else None
            measured = [c for c in self.numeric if c != entity]
            if entity is not None and (not measured or entity == self.numeric[0]):
                entity, rest = None, []  # fare_outliers: the name names the measured column itself
            if entity is None and [w for w in rest if w not in _GENERIC]:
                return None  # the name lists something the rules cannot place: never guess
            column = measured[0] if entity is not None else self.column_for(words, numeric=True)
        else:
            column = self.column_for(words, numeric=True)
        if column is None:
            return None
        steps, source = self.numeric_source(column)
        how = "iqr" if ("iqr" in self.text or "interquartile" in self.text) else "zscore"
        step: dict[str, Any] = {"op": "outlier_count", "name": name, "column": source, "method": how}
        if how == "zscore" or _IQR_FACTOR.search(self.question):
            step["threshold"] = self._threshold(how)
        if listing:
            step["op"] = "outlier_values"
            step["order"] = "descending" if re.search(r"\bdescending\b", self.text) else "ascending"
            if entity is not None:
                step["values_of"] = entity
        return [*steps, step]

    def _lists_outliers(self, name: str, words: list[str]) -> bool:
        """The name asks for a list (the outliers, or another column's values on their rows:
        ``outlier_countries``), not their count."""
        placeholder = _tokens(self.placeholders.get(name, ""))
        if self._counts_rows(words) or {"count", "number", "total"} & set(placeholder):
            return False
        listed = bool({"list", "values"} & set(words) or "list" in placeholder or "strings" in placeholder)
        return listed or bool(re.search(r"\blist of\b|\breturn the (?:outlier )?values\b", self.text))

    def extreme(self, name: str, words: list[str]) -> Steps | None:
        """ "X with the highest (average) Y": the group of X whose mean Y is largest, or X on the row where Y
        is largest; from the name (``country_with_highest_…``) or the question (``which site has …``)."""
        if "with" in words and _SUPERLATIVE & set(words):
            cut = words.index("with")
            entity_words, rest = words[:cut], words[cut + 1 :]
        else:
            found = re.search(r"\bwhich (\w+)[^.?]*?\b(" + "|".join(sorted(_SUPERLATIVE)) + r")\b", self.text)
            if found is None or _FN_WORDS_IN(words):
                return None
            entity_words = [found.group(1), *words]
            rest = _tokens(self.text[found.end(2) : found.end(2) + 80])
        entity = self._entity_column(entity_words)
        if entity is None:
            return None
        order = (
            "min" if set(rest) & _LOW_WORDS or re.search(r"\b(?:lowest|smallest|least|minimum)\b", self.text) else "max"
        )
        rest_words = [w for w in rest if w not in _SUPERLATIVE]
        target = self.column_for(rest_words, numeric=True)
        if target is None or target == entity:
            return None
        fn = next((f for keys, f in _FN_WORDS if any(k in rest_words for k in keys) and f not in ("max", "min")), None)
        if fn is None and re.search(r"\b(?:average|mean|total)\b", self.text[: self.text.find("@")]):
            fn = "mean" if re.search(r"\b(?:average|mean)\b", self.text) else "sum"
        if fn is not None:
            return [{"op": "top_group", "name": name, "by": entity, "column": target, "fn": fn, "order": order}]
        if _group_values(self.frame, entity) is not None and (self.frame is None or len(self.frame) > _MAX_GROUPS):
            return None  # a category with many rows each: the row's value or the group's total? never guess
        return [{"op": "value_at_extreme", "name": name, "column": entity, "at": target, "order": order}]

    def superlative_pair(self, name: str, words: list[str]) -> Steps | None:
        """``lowest_close_date``, ``region_most_records``, ``date_highest_volume``: a superlative, a date or
        text column the name names in full, and a number column (or a count): the date / group at the extreme."""
        superlatives = _SUPERLATIVE & set(words)
        if not superlatives:
            return None
        rest = {_stem(w) for w in words if w not in _SUPERLATIVE}
        entities = []
        for column in self.kinds:
            own = {_stem(t) for t in _tokens(column)} - _GENERIC
            if self.kinds[column] in ("text", "datetime") and own and own <= rest:
                entities.append(column)
        if not entities:  # country_highest_gdp: "Country Name"
            entities = [
                c
                for c in self.kinds
                if self.kinds[c] in ("text", "datetime") and ({_stem(t) for t in _tokens(c)} - _GENERIC) & rest
            ]
        if len(entities) != 1:
            return None
        entity = entities[0]
        own = {_stem(t) for t in _tokens(entity)}
        others = [w for w in words if w not in _SUPERLATIVE and _stem(w) not in own]
        order = "min" if superlatives & _LOW_WORDS else "max"
        target = self.column_for(others, numeric=True, fallback=False)
        plural_noun = superlatives & {"most", "least", "fewest"} and others and not self._unexplained(others)
        if target is None and (self._counts_rows(others) or plural_noun):  # continent_most_countries
            return [{"op": "top_group", "name": name, "by": entity, "column": entity, "fn": "count", "order": order}]
        if target is None or target == entity:
            return None
        fn = next((f for keys, f in _FN_WORDS if any(k in others for k in keys) and f not in ("max", "min")), None)
        head = self.text[: self.text.find("@")] if "@" in self.text else self.text
        said = re.search(
            r"\b(?:highest|lowest|largest|smallest|most|least|maximum|minimum|greatest|top)\s+"
            r"(average|mean|median|total)\b",
            head,
        )
        if fn is None and said is not None:  # "which continent has the highest average happiness score"
            fn = _SAID_FN[said.group(1)]
        if fn is not None:
            return [{"op": "top_group", "name": name, "by": entity, "column": target, "fn": fn, "order": order}]
        if _group_values(self.frame, entity) is not None:
            return None  # "continent with the most population": per row or in total? never guess
        return [{"op": "value_at_extreme", "name": name, "column": entity, "at": target, "order": order}]

    def row_at_extreme(self, name: str, words: list[str]) -> Steps | None:
        """The name's column on the row "with the highest / lowest Y" (a column named right after it)."""
        head = self.question[: self.question.find("@")] if "@" in self.question else self.question
        found = re.search(r"\bwith the (" + "|".join(sorted(_SUPERLATIVE)) + r")\b", head, re.IGNORECASE)
        fn_words = {f for keys, f in _FN_WORDS if any(k in words for k in keys)}
        if found is None or fn_words - {"max", "min"}:
            return None
        following = _mentions(head[found.end() : found.end() + 100], self.kinds)
        at = next((c for _, c in following if self.kinds.get(c) in ("number", "bool", "datetime")), None)
        column = self.column_for(words)
        if at is None or column is None or column == at:
            return None
        order = "min" if found.group(1).lower() in _LOW_WORDS else "max"
        return [
            {"op": "value_at_extreme", "name": name, "column": column, "at": at, "order": order, "round": self.digits}
        ]

    def _entity_column(self, words: list[str]) -> str | None:
        wanted = {_stem(w) for w in words} - _GENERIC - _SUPERLATIVE
        for column in self.mentioned + list(self.kinds):
            own = {_stem(w) for w in _tokens(column)} - _GENERIC
            if own and own & wanted and (own <= wanted or len(own & wanted) >= 1 and column in self.mentioned):
                return column
        for column in self.kinds:
            own = {_stem(w) for w in _tokens(column)} - _GENERIC
            if own & wanted:
                return column
        labels = [c for c in self.mentioned if self.kinds.get(c) == "text"]
        return labels[0] if len(labels) == 1 else None  # "port" for the one text column the question names

    def strongest(self, name: str, words: list[str]) -> Steps:
        """The strongest correlation among the mentioned numeric columns: its pair or its coefficient."""
        direction = "negative" if "negative" in words or "strongest negative" in self.text else "positive"
        if "negative" not in words and "positive" not in self.text and "negative" not in self.text:
            direction = "absolute"
        report = "pair" if {"pair", "variables", "columns", "features"} & set(words) else "coefficient"
        step: dict[str, Any] = {"op": "strongest_correlation", "name": name, "columns": self.numeric[:30]}
        step |= {"method": self._method(), "direction": direction, "report": report}
        return [step | ({"round": self.digits} if report == "coefficient" else {})]

    def pair_for(self, words: list[str]) -> tuple[str, str] | None:
        """The two columns a correlation's name names (``correlation_XY``), else the first two mentioned."""
        numbers = [c for c, k in self.kinds.items() if k in ("number", "bool")]
        keys = {_compact(c): c for c in self.numeric} | {_compact(c): c for c in numbers}
        heads: dict[str, list[str]] = {}
        for column in numbers:  # MSFT.O answers to "msft"
            words_of = _tokens(column)
            if len(words_of) > 1:
                heads.setdefault(words_of[0], []).append(column)
        keys |= {word: columns[0] for word, columns in heads.items() if len(columns) == 1 and word not in keys}
        for word in words:
            for first_key, first in keys.items():
                if first_key and word.startswith(first_key) and word[len(first_key) :] in keys:
                    second = keys[word[len(first_key) :]]
                    if second != first:
                        return first, second
        named = [keys[w] for w in words if w in keys]
        if len(named) >= 2 and named[0] != named[1]:
            return named[0], named[1]
        for match in re.finditer(r"correlat\w*[^.?!\n]*?\bbetween\b([^.?!\n]*)", self.question, re.IGNORECASE):
            between = [self._as_numbers(c) for c in _mentioned(match.group(1), self.kinds)]
            pair = [
                c
                for c in between
                if c is not None and self.kinds.get(c) in ("number", "bool") and c not in self.ranged_columns
            ]
            if len(pair) >= 2 and pair[0] != pair[1]:
                return pair[0], pair[1]
        return (self.numeric[0], self.numeric[1]) if len(self.numeric) >= 2 else None

    def _listed_columns(self) -> list[str]:
        """The table's own columns (not those a plan step derived), when the planner was given the table."""
        if self.frame is None or len(self.frame.columns) > 100:
            return []
        return [str(c) for c in self.frame.columns]

    def _method(self) -> str:
        return "spearman" if "spearman" in self.text else "kendall" if "kendall" in self.text else "pearson"

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
        positive, negative = _split_options(_options(name, self.question))
        if not (negative and positive):
            boolean = "boolean" in self.text or "true" in self.text
            positive, negative = (["True"], ["False"]) if boolean else (["Yes"], ["No"])
        helper = f"{name}_p_value"
        test = self.normality(helper, "p_value")
        if test is None:
            return None
        case = {"when": [{"ref": helper, "test": "gt", "value": 0.05}], "label": positive[0]}
        return [*test, {"op": "decision", "name": name, "cases": [case], "otherwise": negative[0]}]

    def _skew_verdict_wanted(self, name: str, words: list[str]) -> bool:
        if "coefficient" in words or "value" in words:
            return False
        options = [o.lower() for o in _options(name, self.question)]
        directional = any(re.search(r"positive|negative|right|left|symmetric", o) for o in options)
        yes_no = "normal" in words or "is" in words
        return directional or (yes_no and "shapiro" not in self.text and "kolmogorov" not in self.text)

    def skew_verdict(self, name: str) -> Steps | None:
        """Skewness direction (positive / negative / none, at the stated threshold, else 0) or, for a
        yes/no normality verdict, whether the skewness lies within the stated range."""
        column = self.numeric[0] if self.numeric else None
        if column is None:
            return None
        limits = sorted({abs(float(m)) for m in _FRACTION.findall(self.question) if 0.0 < abs(float(m)) < 5.0})
        limit = limits[0] if limits else 0.0
        helper = f"{name}_skewness"
        skew: dict[str, Any] = {"op": "aggregate", "name": helper, "column": column, "fn": "skew", "round": self.digits}
        if "pandas" in self.text:
            skew["bias_corrected"] = True
        options = _options(name, self.question)
        right = next((o for o in options if re.search(r"positive|right", o, re.IGNORECASE)), None)
        left = next((o for o in options if re.search(r"negative|left", o, re.IGNORECASE)), None)
        if right and left:
            neutral = next((o for o in options if o not in (right, left)), "symmetric")
            cases = [
                {"when": [{"ref": helper, "test": "gt", "value": limit}], "label": right},
                {"when": [{"ref": helper, "test": "lt", "value": -limit}], "label": left},
            ]
            return [skew, {"op": "decision", "name": name, "cases": cases, "otherwise": neutral}]
        if not limits:
            return None
        positive, negative = _split_options(options)
        yes, no = (positive[0], negative[0]) if positive and negative else ("Yes", "No")
        case = {"when": [{"ref": helper, "test": "le", "value": limit, "absolute": True}], "label": yes}
        return [skew, {"op": "decision", "name": name, "cases": [case], "otherwise": no}]

    def _pair_steps(self, r: str, p: str | None = None) -> Steps:
        x, y = self.pair_for([]) or self.numeric[:2]
        method = self._method()
        steps: Steps = [{"op": "correlation", "name": r, "x": x, "y": y, "method": method}]
        if p is not None:
            steps.append({"op": "correlation", "name": p, "x": x, "y": y, "method": method, "statistic": "p_value"})
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

    def direction(self, name: str) -> Steps | None:
        """Positive / negative correlation in the question's words; "no significant …" when p ≥ 0.05 and
        such an option is listed; the remaining option ("no correlation") when r is 0."""
        options = _options(name, self.question)
        positive = next((o for o in options if re.search(r"positive", o, re.IGNORECASE)), None)
        negative = next((o for o in options if re.search(r"negative", o, re.IGNORECASE)), None)
        if positive is None or negative is None:
            return None
        insignificant = next((o for o in options if re.search(r"significan", o, re.IGNORECASE)), None)
        neutral = next((o for o in options if o not in (positive, negative, insignificant)), insignificant or "none")
        r, p = f"{name}_r", f"{name}_p"
        cases: Steps = []
        if insignificant is not None:
            cases.append({"when": [{"ref": p, "test": "ge", "value": 0.05}], "label": insignificant})
        cases.append({"when": [{"ref": r, "test": "gt", "value": 0.0}], "label": positive})
        cases.append({"when": [{"ref": r, "test": "lt", "value": 0.0}], "label": negative})
        return [*self._pair_steps(r, p), {"op": "decision", "name": name, "cases": cases, "otherwise": neutral}]

    def test_verdict(self, name: str) -> Steps | None:
        """Whether the two groups' t-test is significant (p < 0.05), in the question's words."""
        test = self.t_test(f"{name}_p")
        if test is None:
            return None
        positive, negative = _split_options(_options(name, self.question))
        yes, no = (positive[0], negative[0]) if positive and negative else ("Yes", "No")
        case = {"when": [{"ref": f"{name}_p", "test": "lt", "value": 0.05}], "label": yes}
        return [*test, {"op": "decision", "name": name, "cases": [case], "otherwise": no}]

    def significance(self, name: str, labels: tuple[str, str] | None = None) -> Steps | None:
        """Whether the correlation is significant (p < 0.05), in the question's words (else true/false)."""
        positive, negative = _split_options(_options(name, self.question))
        yes, no = (positive[0], negative[0]) if positive and negative else ("true", "false")
        if labels is not None:
            yes, no = labels
        p = f"{name}_p"
        case = {"when": [{"ref": p, "test": "lt", "value": 0.05}], "label": yes}
        return [*self._pair_steps(f"{name}_r", p), {"op": "decision", "name": name, "cases": [case], "otherwise": no}]

    def relationship(self, name: str) -> Steps | None:
        """DABench's verdict: linear (p < 0.05, |r| >= 0.5), nonlinear (p < 0.05), else none."""
        options = [o.lower() for o in _options(name, self.question)]
        if not {"linear", "nonlinear", "none"} <= set(options):
            return None
        r, p = f"{name}_r", f"{name}_p"
        return [
            *self._pair_steps(r, p),
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


_QUARTILES = {"q1": 0.25, "q2": 0.5, "q3": 0.75}
_QUARTILE_WORDS = {"first": 0.25, "lower": 0.25, "second": 0.5, "third": 0.75, "upper": 0.75}


def _quantile_in(words: list[str]) -> float | None:
    """The quantile a name asks for: ``p75``, ``75th_percentile``, ``percentile_90``, ``q1``, ``third_quartile``."""
    for index, word in enumerate(words):
        if word in _QUARTILES:
            return _QUARTILES[word]
        found = re.fullmatch(r"p(\d{1,2})", word)
        if found is not None and int(found.group(1)) > 0:
            return int(found.group(1)) / 100.0
        if word in ("percentile", "pct", "quantile"):
            near = words[max(0, index - 1) : index] + words[index + 1 : index + 2]
            for other in near:
                number = re.fullmatch(r"(\d{1,2})(?:th|st|nd|rd)?", other)
                if number is not None and int(number.group(1)) > 0:
                    return int(number.group(1)) / 100.0
        if word in ("quartile", "quartiles"):
            near = words[max(0, index - 1) : index]
            if near and near[0] in _QUARTILE_WORDS:
                return _QUARTILE_WORDS[near[0]]
    return None


_FILLER = {
    "value", "result", "answer", "data", "dataset", "overall", "all", "each", "column", "feature", "new",
    "final", "calculated", "computed", "is", "total", "statistic", "stat", "transformed", "filled", "imputed",
    "normalized", "normalised", "scaled", "standardized", "log", "variable", "quartile", "percentile", "outlier",
    "entire", "whole", "across", "rounded", "calc", "val", "dev", "coefficient", "percentage", "percent",
}  # fmt: skip
_SAID_FN: dict[str, lang.AggregateFn] = {"average": "mean", "mean": "mean", "median": "median", "total": "sum"}
_NOT_VALUES = {
    "yes",
    "no",
    "true",
    "false",
    "none",
    "other",
    "all",
    "nan",
    "null",
    "unknown",
    "mean",
    "median",
    "total",
}
_RANGE_BELOW = {"below", "under", "less", "lower", "lt"}
_RANGE_ABOVE = {"above", "over", "greater", "higher", "gt"}
_MEASURE_OPS = {model.model_fields["op"].annotation.__args__[0] for model in lang.MEASURES}  # type: ignore[union-attr]


def lang_is_measure_op(op: str) -> bool:
    return op in _MEASURE_OPS and op != "decision"


def _number(word: str) -> float | None:
    return float(word) if re.fullmatch(r"\d+(?:\.\d+)?", word) else None


def _by(group: tuple[str, Any]) -> dict[str, Any]:
    return {"by": group[0], "group": group[1]}


def _FN_WORDS_IN(words: list[str]) -> bool:  # noqa: N802 - reads as a predicate on the fn words
    return any(k in words for keys, _ in _FN_WORDS for k in keys)


_RANGE_ENDS = {"low": "min", "lower": "min", "high": "max", "upper": "max"}


def _of_outliers(words: list[str]) -> bool:
    """A name for a figure of the outliers themselves: ``mean_charges_outliers``, ``outlier_range_low``."""
    if not ({"outlier", "outliers"} & set(words)) or set(words) & (_AFTER_REMOVAL | _BEFORE_REMOVAL):
        return False
    stats = {f for keys, f in _FN_WORDS if any(k in words for k in keys)} - {"sum"}
    return bool(stats or ("range" in words and set(words) & set(_RANGE_ENDS)))


def _pick_group(rest: list[str], column: str, values: list[Any]) -> Any | None:
    """The value of ``column`` the name's remaining words select, or None when they select none."""
    words = {_stem(w) for w in rest}
    negated = bool(words & _NEGATIONS)
    if all(isinstance(v, bool) for v in values) or sorted(map(str, values)) in (["0", "1"], ["0.0", "1.0"]):
        own = {_stem(w) for w in _tokens(column)}
        if any(_ANTONYMS.get(w) in own for w in words):
            return False if all(isinstance(v, bool) for v in values) else 0
        if any(w[:5] == o[:5] for w in words for o in own if len(w) >= 5 and len(o) >= 5):
            truthy = True if all(isinstance(v, bool) for v in values) else 1
            falsy = False if truthy is True else 0
            return falsy if negated else truthy
        return None
    texts = [v for v in values if isinstance(v, str)]
    best: tuple[int, Any] | None = None
    for value in texts:
        own = {_stem(w) for w in _tokens(value)}
        if own and own <= words and (best is None or len(own) > best[0]):
            best = (len(own), value)
    if best is not None:
        return best[1]
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    for word in rest:
        wanted = _ORDINALS.get(word) or (int(word) if word.isdigit() else None)
        if wanted is not None and any(float(v) == wanted for v in numbers):
            return wanted
    return None
