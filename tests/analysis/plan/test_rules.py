"""The rule planner's families, each on a small table: the question's words → the plan's operations, and
the executed answer checked against pandas/scipy computed here."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from insight.analysis.plan.answer import TableQuestions
from insight.analysis.plan.rules import RulePlanner, answer_names
from insight.analysis.plan.validation import table_kinds
from insight.config import TablePlanSettings
from insight.prompts import PromptRegistry


@pytest.fixture
def passengers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Pclass": [1, 1, 2, 2, 3, 3, 3, 1, 2, 3],
            "Survived": [1, 0, 1, 0, 0, 0, 1, 1, 0, 0],
            "SibSp": [1, 0, 0, 1, 3, 0, 1, 0, 2, 0],
            "Parch": [0, 0, 1, 0, 1, 0, 2, 0, 0, 0],
            "Age": [38.0, 5.0, 14.0, 61.0, 27.0, np.nan, 45.0, 16.0, 33.0, 70.0],
            "Fare": [71.3, 30.0, 13.0, 10.5, 7.9, 8.05, 512.3, 26.0, 21.0, 7.75],
            "Embarked": ["Southampton", "Cherbourg", "Southampton", "Queenstown", "Southampton"] * 2,
        }
    )


def ask(frame: pd.DataFrame, prompts: PromptRegistry, question: str) -> tuple[list[str], dict[str, str]]:
    answer = asyncio.run(TableQuestions(TablePlanSettings(), prompts, None).answer(frame, question))
    assert answer.supported, answer.reason
    assert answer.plan is not None
    return [step.op for step in answer.plan.steps], {v.name: v.text for v in answer.values}


def test_a_new_column_from_adding_two_columns_then_its_mean_by_group(
    passengers: pd.DataFrame, prompts: PromptRegistry
) -> None:
    question = (
        'Create a new feature called "FamilySize" by adding the "SibSp" and "Parch" columns together. What is '
        "the mean FamilySize for passengers who survived versus passengers who did not survive? "
        "@mean_familysize_survived[a] @mean_familysize_did_not_survive[b], rounded to 2 decimal places."
    )
    ops, values = ask(passengers, prompts, question)
    size = passengers.SibSp + passengers.Parch
    assert ops == ["arithmetic", "aggregate", "aggregate"]
    assert values == {
        "mean_familysize_survived": f"{size[passengers.Survived == 1].mean():.2f}",
        "mean_familysize_did_not_survive": f"{size[passengers.Survived == 0].mean():.2f}",
    }


def test_a_difference_subtracts_the_second_column_named_from_the_first(prompts: PromptRegistry) -> None:
    frame = pd.DataFrame({"batting_average": [0.27, 0.25, 0.3], "on_base_percentage": [0.33, 0.31, 0.36]})
    question = (
        'Create a new feature called "gap" as the difference between batting average and on-base percentage. '
        "Subtract each player's on-base percentage from their batting average. @mean[m] rounded to three "
        "decimal places."
    )
    ops, values = ask(frame, prompts, question)
    assert ops == ["arithmetic", "aggregate"]
    assert values == {"mean": f"{(frame.batting_average - frame.on_base_percentage).mean():.3f}"}


def test_a_percentage_change_column_and_days_between_two_date_columns(prompts: PromptRegistry) -> None:
    prices = pd.DataFrame({"Close": [10.0, 11.0, 9.9, 10.5]})
    ops, values = ask(
        prices,
        prompts,
        'Create a new column called "Daily Return", the percentage change in the "Close" price. '
        "@daily_return_mean[m] rounded to two decimal places.",
    )
    assert ops == ["transform", "aggregate"]
    assert values == {"daily_return_mean": f"{(prices.Close.pct_change() * 100).mean():.2f}"}
    budget = pd.DataFrame({"year_start": ["10/1/2016", "1/1/2017"], "year_end": ["9/30/2017", "12/31/2017"]})
    ops, values = ask(
        budget,
        prompts,
        "Calculate the duration in days by subtracting the year_start from year_end. @average_duration[days]",
    )
    assert ops == ["date_diff", "aggregate"]
    assert values == {"average_duration": "364"}


def test_names_that_differ_by_a_group_pick_it_ordinal_words_included(
    passengers: pd.DataFrame, prompts: PromptRegistry
) -> None:
    question = (
        "What is the average age in each ticket class (Pclass)? @first_class_average_age[a] "
        "@third_class_average_age[c], rounded to two decimal places."
    )
    ops, values = ask(passengers, prompts, question)
    assert ops == ["aggregate", "aggregate"]
    ages = passengers.groupby("Pclass").Age.mean()
    assert values == {"first_class_average_age": f"{ages[1]:.2f}", "third_class_average_age": f"{ages[3]:.2f}"}


def test_groups_defined_by_ranges_become_a_bin_column(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = (
        "Create a new column called \"AgeGroup\" that puts the passengers' age into 'Child' (0-12 years old), "
        "'Teenager' (13-19 years old), 'Adult' (20-59 years old), and 'Elderly' (60 years old and above). "
        "Then the mean fare for each age group. @mean_fare_child[x] @mean_fare_elderly[y] rounded to 2 "
        "decimal places."
    )
    ops, values = ask(passengers, prompts, question)
    assert ops == ["bin", "aggregate", "aggregate"]
    assert values == {
        "mean_fare_child": f"{passengers.Fare[passengers.Age <= 12].mean():.2f}",
        "mean_fare_elderly": f"{passengers.Fare[passengers.Age >= 60].mean():.2f}",
    }


def test_a_quoted_value_of_one_column_filters_and_missing_values_are_filled(
    passengers: pd.DataFrame, prompts: PromptRegistry
) -> None:
    question = (
        "Among the passengers who embarked at 'Southampton', fill the missing values of Age with the median age. "
        "@std_age[s] rounded to two decimal places."
    )
    ops, values = ask(passengers, prompts, question)
    assert ops == ["fill_missing", "filter", "aggregate"]
    filled = passengers.Age.fillna(passengers.Age.median())
    assert values == {"std_age": f"{filled[passengers.Embarked == 'Southampton'].std():.2f}"}


def test_outliers_counted_before_removal_and_rows_left_after(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = (
        "Identify and remove the outliers of Fare by the Z-score method, a z-score greater than 2. "
        "@number_of_outliers[n] @number_of_entries_left[m] @mean_fare_without_outliers[f], rounded to two "
        "decimal places."
    )
    ops, values = ask(passengers, prompts, question)
    z = (passengers.Fare - passengers.Fare.mean()) / passengers.Fare.std(ddof=0)
    kept = passengers.Fare[z.abs() <= 2]
    assert ops == ["outlier_count", "remove_outliers", "row_count", "aggregate"]
    assert values == {
        "number_of_outliers": str(int((z.abs() > 2).sum())),
        "number_of_entries_left": str(len(kept)),
        "mean_fare_without_outliers": f"{kept.mean():.2f}",
    }


def test_the_share_of_missing_values_in_percent(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    ops, values = ask(
        passengers,
        prompts,
        'What is the percentage of missing values in the "Age" column? @missing_percentage[p] rounded to two '
        "decimal places.",
    )
    assert ops == ["aggregate"]
    assert values == {"missing_percentage": f"{passengers.Age.isna().mean() * 100:.2f}"}


def test_skewness_verdicts_in_the_questions_words(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    skew = stats.skew(passengers.Fare)
    ops, values = ask(
        passengers,
        prompts,
        "Is the distribution of Fare skewed? @skewness_coefficient[c] @skewness_type[t] where t is "
        '"Positive Skewness", "Negative Skewness", or "No Skewness". Round to two decimal places.',
    )
    assert ops == ["aggregate", "aggregate", "decision"]
    assert values["skewness_coefficient"] == f"{skew:.2f}"
    assert values["skewness_type"] == ("Positive Skewness" if skew > 0 else "Negative Skewness")
    ops, values = ask(
        passengers,
        prompts,
        "Check if Fare is normal: assume a normal distribution if skewness is between -0.5 and 0.5. "
        '@is_normal[answer] "Yes" or "No".',
    )
    assert ops == ["aggregate", "decision"]
    assert values["is_normal"] == ("Yes" if abs(skew) <= 0.5 else "No")


def test_correlation_direction_and_the_pair_a_name_spells(prompts: PromptRegistry) -> None:
    frame = pd.DataFrame({"X": [1.0, 2, 3, 4, 5], "Y": [2.0, 1, 4, 3, 6], "Z": [5.0, 4, 3, 2, 1]})
    ops, values = ask(
        frame,
        prompts,
        "Correlation of X and Y and of X and Z. @correlation_XY[a] @correlation_XZ[b] rounded to two decimal places.",
    )
    assert ops == ["correlation", "correlation"]
    assert values == {"correlation_XY": f"{frame.X.corr(frame.Y):.2f}", "correlation_XZ": "-1.00"}
    frame = frame.rename(columns={"X": "Height", "Z": "Weight"})
    ops, values = ask(
        frame,
        prompts,
        'Is there a correlation between Height and Weight? @correlation_type[t] either "Positive Correlation", '
        '"Negative Correlation", "No Correlation", or "No Significant Correlation".',
    )
    assert ops[-1] == "decision" and values["correlation_type"] == "Negative Correlation"


def test_columns_named_in_other_words(prompts: PromptRegistry) -> None:
    frame = pd.DataFrame(
        {
            "avg. num. agents talking": [1.0, 2.0, 3.0, 4.0],
            "avg. wait time": ["00:00:10", "00:00:30", "00:01:00", "00:00:50"],
            "SizeRank": [4, 3, 2, 1],
        }
    )
    ops, values = ask(
        frame,
        prompts,
        "Convert the average waiting time to seconds; correlation of the average number of agents talking "
        "and the average wait time. @correlation_coefficient[r] rounded to three decimal places.",
    )
    seconds = pd.Series([10.0, 30.0, 60.0, 50.0])
    assert ops == ["transform", "correlation"]
    assert values == {"correlation_coefficient": f"{frame['avg. num. agents talking'].corr(seconds):.3f}"}
    plan = RulePlanner().plan("What is the mean size rank? @mean_size_rank[m]", table_kinds(frame), frame)
    assert plan is not None and plan.steps[0].model_dump()["column"] == "SizeRank"


def test_the_group_or_the_row_at_an_extreme(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    ops, values = ask(
        passengers,
        prompts,
        "Which port has the highest average fare? @embarked_with_highest_average_fare[port]",
    )
    assert ops == ["top_group"]
    assert values == {"embarked_with_highest_average_fare": passengers.groupby("Embarked").Fare.mean().idxmax()}
    ops, values = ask(
        passengers, prompts, "What is the Age of the passenger with the highest Fare? @age_of_passenger[a]"
    )
    assert ops == ["value_at_extreme"]
    assert values == {"age_of_passenger": "45"}


def test_an_unclosed_last_answer_is_still_a_name() -> None:
    assert answer_names("@a[x] and @missing_values_per_column[{'A': 1, 'B'") == ["a", "missing_values_per_column"]


def test_a_rule_plan_that_does_not_run_is_a_refusal_with_its_reason(prompts: PromptRegistry) -> None:
    frame = pd.DataFrame({"Fare": [np.nan, np.nan], "Sex": ["a", "b"]})
    answer = asyncio.run(
        TableQuestions(TablePlanSettings(), prompts, None).answer(frame, "The mean fare? @mean_fare[m]")
    )
    assert not answer.supported and answer.refused
    assert answer.reason is not None and "does not run on this table" in answer.reason
    assert answer.plan is not None and not answer.values


@pytest.mark.parametrize(
    "question",
    [
        "@mean_fare_child[x] without any groups defined, rounded to 2 decimal places.",
        "Which port is best? @port_type[t]",
    ],
)
def test_names_without_a_rule_stay_open(passengers: pd.DataFrame, question: str) -> None:
    skeleton = RulePlanner().skeleton(question, table_kinds(passengers), passengers)
    assert skeleton is not None
    if question.startswith("Which"):
        assert skeleton.missing == ["port_type"]
    else:
        steps: Any = skeleton.measures["mean_fare_child"]
        assert steps is not None and "by" not in steps[-1]


def test_two_groups_named_by_the_answers_get_their_t_test_and_its_verdict(prompts: PromptRegistry) -> None:
    days = pd.date_range("2024-01-01", periods=28, freq="D")
    frame = pd.DataFrame({"Date": days, "Open": [float(i % 7) + (i % 3) for i in range(28)]})
    question = (
        "Mean Open price on weekdays and on weekends; a two-sample t-test of the difference. "
        '@weekday_mean_price[a] @weekend_mean_price[b] @p_value[p] @significance[s] where s is "Yes" or '
        '"No". Round to two decimal places.'
    )
    ops, values = ask(frame, prompts, question)
    weekend = days.day_of_week >= 5
    result = stats.ttest_ind(frame.Open[~weekend], frame.Open[weekend])
    assert ops == ["date_part", "aggregate", "aggregate", "t_test", "t_test", "decision"]
    assert values["weekday_mean_price"] == f"{frame.Open[~weekend].mean():.2f}"
    assert values["p_value"] == f"{result.pvalue:.2f}"
    assert values["significance"] == ("Yes" if result.pvalue < 0.05 else "No")


def test_cleaning_steps_run_in_the_questions_order_and_pre_post_names_straddle_them(
    passengers: pd.DataFrame, prompts: PromptRegistry
) -> None:
    frame = passengers.assign(Cabin=["C85", None, "E46", None, "G6", "C1", None, "B2", None, "D4"])
    ops, values = ask(
        frame,
        prompts,
        "Remove the rows with missing values in the Cabin column. Then fill the missing Age values with the "
        "median age. @row_count[n] @median_age[m] rounded to one decimal place.",
    )
    kept = frame.dropna(subset=["Cabin"])
    assert ops == ["drop_missing", "fill_missing", "row_count", "aggregate"]
    assert values == {"row_count": str(len(kept)), "median_age": f"{kept.Age.fillna(kept.Age.median()).median():.1f}"}
    ops, values = ask(
        passengers,
        prompts,
        "Use the mean imputation method to fill in missing values of Age. @pre_std[a] @post_std[b] rounded to "
        "two decimal places.",
    )
    assert ops == ["aggregate", "fill_missing", "aggregate"]
    assert values == {
        "pre_std": f"{passengers.Age.std():.2f}",
        "post_std": f"{passengers.Age.fillna(passengers.Age.mean()).std():.2f}",
    }


def test_a_count_per_group_and_options_written_in_the_placeholder(
    passengers: pd.DataFrame, prompts: PromptRegistry
) -> None:
    ops, values = ask(
        passengers,
        prompts,
        "How many passengers of each port (Embarked)? @southampton_count[a] @queenstown_count[b]",
    )
    assert ops == ["aggregate", "aggregate"]
    assert values == {"southampton_count": "6", "queenstown_count": "2"}
    ops, values = ask(
        passengers,
        prompts,
        "Mean Fare of survivors and of others (Survived), with a t-test. @survived_mean_fare[a] "
        "@not_survived_mean_fare[b] @significance[significant/no significant]",
    )
    assert ops[-1] == "decision" and values["significance"] in ("significant", "no significant")


def test_a_comparison_right_after_a_column_filters_its_rows(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    ops, values = ask(
        passengers,
        prompts,
        "What is the mean Age of passengers with a Fare greater than 20? @mean_age[m] rounded to two decimal places.",
    )
    assert ops == ["filter", "aggregate"]
    assert values == {"mean_age": f"{passengers.Age[passengers.Fare > 20].mean():.2f}"}
    skeleton = RulePlanner().skeleton(
        "Count the outliers of Fare: a z-score greater than 3. @outlier_count[n]", table_kinds(passengers), passengers
    )
    assert skeleton is not None and not [s for s in skeleton.before if s["op"] == "filter"]


def test_a_trained_models_figures_are_refused_with_the_reason(
    passengers: pd.DataFrame, prompts: PromptRegistry
) -> None:
    question = "Train a linear regression of Fare on Age and report its error. @model_rmse[rmse] rounded to 2 decimals."
    answer = asyncio.run(TableQuestions(TablePlanSettings(), prompts, None).answer(passengers, question))
    assert not answer.supported and answer.refused and not answer.values
    assert answer.reason is not None and "training models is outside the plan language" in answer.reason
    assert "does not run" not in answer.reason


def test_figures_of_the_outliers_themselves_keep_only_the_outliers(
    passengers: pd.DataFrame, prompts: PromptRegistry
) -> None:
    question = (
        "Are there outliers in the Fare by the IQR method? @outlier_count[n] @mean_fare_outliers[m] "
        "@outlier_range_high[h] rounded to 2 decimal places."
    )
    ops, values = ask(passengers, prompts, question)
    q1, q3 = passengers.Fare.quantile([0.25, 0.75])
    outliers = passengers.Fare[(passengers.Fare < q1 - 1.5 * (q3 - q1)) | (passengers.Fare > q3 + 1.5 * (q3 - q1))]
    assert ops == ["outlier_count", "remove_outliers", "aggregate", "aggregate"]
    assert values == {
        "outlier_count": str(len(outliers)),
        "mean_fare_outliers": f"{outliers.mean():.2f}",
        "outlier_range_high": f"{outliers.max():.2f}",
    }


def test_the_strongest_correlation_among_the_columns_named(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = (
        "Correlations among age, fare, SibSp and Parch: which pair has the strongest positive correlation? "
        "@strongest_correlation_pair[pair] @strongest_correlation_coefficient[r] rounded to two decimal places."
    )
    ops, values = ask(passengers, prompts, question)
    matrix = passengers[["Age", "Fare", "SibSp", "Parch"]].corr()
    pairs = [(matrix.loc[a, b], f"{a}, {b}") for i, a in enumerate(matrix) for b in list(matrix)[i + 1 :]]
    best = max(pairs)
    assert ops == ["strongest_correlation", "strongest_correlation"]
    assert values == {"strongest_correlation_pair": best[1], "strongest_correlation_coefficient": f"{best[0]:.2f}"}


def test_column_transforms_and_duplicates_in_order_then_first_entries(prompts: PromptRegistry) -> None:
    frame = pd.DataFrame({"FLUX": [0.5, 0.5, 2.0, 4.0], "TOT": [10.0, 10.0, 30.0, 20.0]})
    question = (
        "1. Removing any duplicate entries. 2. Transforming the FLUX column by applying the logarithm function "
        "(base 10). 3. Normalizing the TOT column using Min-Max normalization. When applying the logarithm "
        "function, add a small constant (1e-10). @clean_entries[number of entries] @log_FLUX[First entry of "
        "transformed FLUX, rounded to three decimal places] @norm_TOT[First entry of normalized TOT]"
    )
    ops, values = ask(frame, prompts, question)
    assert ops == ["drop_duplicates", "transform", "transform", "row_count", "value_at", "value_at"]
    assert values == {"clean_entries": "3", "log_FLUX": f"{np.log10(0.5 + 1e-10):.3f}", "norm_TOT": "0.000"}


def test_a_correlation_between_the_columns_a_sentence_names_and_a_placeholders_column(
    passengers: pd.DataFrame, prompts: PromptRegistry
) -> None:
    question = (
        "1. Replace missing values in the Age column with the mean. 2. Calculate the Pearson correlation "
        "coefficient between the Fare and SibSp columns. @pearson_coefficient[r] @mean_value[mean_Fare] "
        "rounded to four decimal places."
    )
    ops, values = ask(passengers, prompts, question)
    assert ops == ["fill_missing", "correlation", "aggregate"]
    assert values == {
        "pearson_coefficient": f"{passengers.Fare.corr(passengers.SibSp):.4f}",
        "mean_value": f"{passengers.Fare.mean():.4f}",
    }


def test_a_refusal_names_the_answers_the_rules_did_not_understand(
    passengers: pd.DataFrame, prompts: PromptRegistry
) -> None:
    question = "Mean fare and which port is best? @mean_fare[m] @port_type[t]"
    answer = asyncio.run(TableQuestions(TablePlanSettings(), prompts, None).answer(passengers, question))
    assert answer.refused and answer.reason is not None
    assert "@port_type" in answer.reason and "@mean_fare" not in answer.reason


# ---- paraphrases and list answers (written as variants of the tuning half's phrasings) ----------------------


@pytest.fixture
def cabins(passengers: pd.DataFrame) -> pd.DataFrame:
    return passengers.assign(
        Name=list("ABCDEFGHIJ"), Cabin=[None, "C1", None, None, "E2", None, None, "B3", None, None]
    )


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is the largest fare? @largest_fare[x]", lambda f: f"{f.Fare.max():g}"),
        ("What is the top fare paid? @top_fare[x]", lambda f: f"{f.Fare.max():g}"),
        ("What is the smallest age? @smallest_age[x]", lambda f: f"{f.Age.min():g}"),
        (
            "What is the range of fare? @fare_range[x] two decimal places",
            lambda f: f"{f.Fare.max() - f.Fare.min():.2f}",
        ),
        (
            "What is the 75th percentile of fare? @fare_p75[x] two decimal places",
            lambda f: f"{f.Fare.quantile(0.75):.2f}",
        ),
        ("What is the first quartile of age? @age_q1[x] two decimal places", lambda f: f"{f.Age.quantile(0.25):.2f}"),
        ("What is the mode of Embarked? @embarked_mode[x]", lambda f: f.Embarked.mode().iloc[0]),
        ("How many passengers are there? @passenger_count[x]", lambda f: str(len(f))),
        ("What is the number of passengers? @number_of_passengers[x]", lambda f: str(len(f))),
    ],
)
def test_synonyms_in_a_name_choose_the_statistic(
    passengers: pd.DataFrame, prompts: PromptRegistry, question: str, expected: Any
) -> None:
    _, values = ask(passengers, prompts, question)
    assert list(values.values()) == [expected(passengers)]


def test_a_quantile_name_without_its_level_is_not_guessed(passengers: pd.DataFrame) -> None:
    question = "What is the percentile of fare? @fare_percentile[x] two decimal places"
    assert RulePlanner().plan(question, table_kinds(passengers), passengers) is None


@pytest.mark.parametrize(
    "question",
    [
        "What is the average fare for passengers in the first class? @first_class_avg_fare[x] two decimal places",
        "What is the mean fare by class 1? @mean_fare_by_class_1[x] two decimal places",
    ],
)
def test_a_group_named_by_part_of_a_column_name(
    passengers: pd.DataFrame, prompts: PromptRegistry, question: str
) -> None:
    ops, values = ask(passengers, prompts, question)
    assert ops == ["aggregate"]
    assert list(values.values()) == [f"{passengers.Fare[passengers.Pclass == 1].mean():.2f}"]


def test_the_column_before_by_is_measured_and_the_words_after_it_pick_the_group(prompts: PromptRegistry) -> None:
    frame = pd.DataFrame({"number_of_runs": [10, 20, 30, 40], "indicator_of_free_agency_eligibility": [1, 1, 0, 0]})
    question = (
        "Group by 'indicator_of_free_agency_eligibility' and take the mean of 'number_of_runs'. "
        "@average_runs_by_eligible_for_free_agency[a] @average_runs_by_not_eligible_for_free_agency[b], "
        "two decimal places."
    )
    _, values = ask(frame, prompts, question)
    assert values == {
        "average_runs_by_eligible_for_free_agency": "15.00",
        "average_runs_by_not_eligible_for_free_agency": "35.00",
    }


@pytest.mark.parametrize(
    "question",
    [
        "Which columns have missing values? @missing_columns[list]",
        "List the columns containing missing values. @columns_with_missing[a, b]",
    ],
)
def test_the_columns_with_missing_values_are_listed(
    cabins: pd.DataFrame, prompts: PromptRegistry, question: str
) -> None:
    ops, values = ask(cabins, prompts, question)
    assert ops == ["missing_columns"]
    assert list(values.values()) == ["Age, Cabin"]


def test_only_text_columns_when_the_question_says_object_columns(cabins: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = (
        "Which columns of type object contain missing values, sorted alphabetically? "
        "@missing_object_columns[column1, column2]"
    )
    _, values = ask(cabins, prompts, question)
    assert list(values.values()) == ["Cabin"]


def test_missing_counts_per_column_cover_the_tables_own_columns_only(prompts: PromptRegistry) -> None:
    frame = pd.DataFrame({"DATE TIME": ["01/01 10", "01/02 10", None], "SPEED": [1.0, None, 3.0]})
    question = "How many missing values does each column have? @missing_per_column[{'DATE TIME': n, 'SPEED': m}]"
    _, values = ask(frame, prompts, question)
    assert list(values.values()) == ["{'DATE TIME': 1, 'SPEED': 1}"]


def test_outlier_values_are_listed_in_ascending_order(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = (
        "Identify outliers in Fare by the IQR rule. Return the outlier values sorted ascending. @fare_outliers[list]"
    )
    ops, values = ask(passengers, prompts, question)
    fare = passengers.Fare
    q1, q3 = fare.quantile(0.25), fare.quantile(0.75)
    outliers = sorted(fare[(fare < q1 - 1.5 * (q3 - q1)) | (fare > q3 + 1.5 * (q3 - q1))])
    assert ops == ["outlier_values"]
    assert values == {"fare_outliers": ", ".join(f"{v:g}" for v in outliers)}


def test_the_rows_whose_value_is_an_outlier_are_named_by_another_column(prompts: PromptRegistry) -> None:
    frame = pd.DataFrame({"country": list("ABCDEFGH"), "gdp_1982": [1.0, 2.0, 2.5, 3.0, 2.2, 1.8, 40.0, 30.0]})
    question = (
        "Identify any outliers in gdp_1982 by the IQR rule (1.5 times the IQR). Report the countries whose values "
        "are outliers. @outlier_countries[list_of_strings]"
    )
    ops, values = ask(frame, prompts, question)
    assert ops == ["outlier_values"]
    assert values == {"outlier_countries": "H, G"}


def test_a_count_of_outliers_is_still_a_count(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    ops, _ = ask(passengers, prompts, "How many outliers does Fare have by the IQR rule? @fare_outlier_count[n]")
    assert ops == ["outlier_count"]


def test_values_that_appear_at_least_n_times_are_counted(prompts: PromptRegistry) -> None:
    frame = pd.DataFrame({"SPP_SYMBOL": ["a", "a", "a", "b", "b", "c", "a", "b", "b", "d"]})
    question = (
        "How many unique species (SPP_SYMBOL values) are there, where each species has at least 4 observations? "
        "Count unique SPP_SYMBOL values that appear at least 4 times. @unique_species_count[n]"
    )
    ops, values = ask(frame, prompts, question)
    assert ops == ["frequent_values"]
    assert values == {"unique_species_count": "2"}


def test_a_correlation_within_one_group_named_by_the_name(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = (
        "What is the correlation between Age and Fare for passengers in class 3? "
        "@class_3_correlation[x] two decimal places"
    )
    ops, values = ask(passengers, prompts, question)
    third = passengers[passengers.Pclass == 3].dropna(subset=["Age"])
    assert ops == ["correlation"]
    assert values == {"class_3_correlation": f"{stats.pearsonr(third.Age, third.Fare).statistic:.2f}"}


def test_the_share_of_rows_in_a_group(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    _, values = ask(
        passengers, prompts, "What percentage of passengers survived? @survival_rate[x] two decimal places."
    )
    assert values == {"survival_rate": f"{passengers.Survived.mean() * 100:.2f}"}
    _, values = ask(
        passengers, prompts, "What proportion of passengers are in class 1? @proportion_class_1[x] 2 decimal"
    )
    assert values == {"proportion_class_1": f"{(passengers.Pclass == 1).mean():.2f}"}


def test_chi_square_and_anova_by_the_test_the_question_names(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = (
        "Is there a significant association between Pclass and Survived? Use a chi-square test. "
        "@chi_square_p_value[x] @chi2_statistic[y] rounded to 4 decimal places"
    )
    ops, values = ask(passengers, prompts, question)
    chi = stats.chi2_contingency(pd.crosstab(passengers.Pclass, passengers.Survived))
    assert ops == ["chi_square", "chi_square"]
    assert values == {"chi_square_p_value": f"{chi.pvalue:.4f}", "chi2_statistic": f"{chi.statistic:.4f}"}
    question = "Is the difference in Fare across Embarked significant by ANOVA (p < 0.05)? @significance[yes/no]"
    ops, values = ask(passengers, prompts, question)
    groups = [g.to_numpy() for _, g in passengers.groupby("Embarked").Fare]
    assert ops == ["anova", "decision"]
    assert values["significance"] == ("yes" if stats.f_oneway(*groups).pvalue < 0.05 else "no")


def test_a_group_test_on_a_subset_the_rules_cannot_filter_is_refused(passengers: pd.DataFrame) -> None:
    question = (
        "Only consider passengers from the ports Southampton and Queenstown. Run an ANOVA of Fare across Embarked. "
        "@p_value[p] rounded to four decimal places"
    )
    assert RulePlanner().plan(question, table_kinds(passengers), passengers) is None


def test_the_group_with_the_highest_mean_when_the_name_calls_the_column_otherwise(
    passengers: pd.DataFrame, prompts: PromptRegistry
) -> None:
    question = "Which port of Embarked has the highest average Fare? @port_with_highest_average_fare[x]"
    ops, values = ask(passengers, prompts, question)
    assert ops == ["top_group"]
    assert values == {"port_with_highest_average_fare": passengers.groupby("Embarked").Fare.mean().idxmax()}


def test_duplicates_and_r_names(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    doubled = pd.concat([passengers, passengers.head(2)], ignore_index=True)
    assert ask(doubled, prompts, "How many duplicate rows are there? @duplicate_rows[x]")[1] == {"duplicate_rows": "2"}
    question = "Compute the Pearson correlation coefficient between SibSp and Parch. @r_sibsp_parch[x] two decimals"
    _, values = ask(passengers, prompts, question)
    assert values == {"r_sibsp_parch": f"{stats.pearsonr(passengers.SibSp, passengers.Parch).statistic:.2f}"}


@pytest.mark.parametrize(
    "question",
    [
        "What is the coefficient of variation of Fare (std / mean)? @fare_cv[x] two decimal places",
        "What is the difference between the mean fare of survivors and non-survivors? @fare_difference[x] 2 decimals",
        "Which cabin deck has the highest mean Fare? @deck_with_highest_mean_fare[x]",
    ],
)
def test_a_statistic_the_rules_do_not_compute_is_refused_not_approximated(
    passengers: pd.DataFrame, question: str
) -> None:
    frame = passengers.drop(columns=["Embarked"])
    assert RulePlanner().plan(question, table_kinds(frame), frame) is None


@pytest.fixture
def prices() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame(
        {
            "Date": pd.date_range("2019-01-01", periods=n, freq="7D"),
            "Open": rng.normal(100, 10, n).round(2),
            "Close": rng.normal(101, 10, n).round(2),
            "Volume": rng.integers(1000, 5000, n),
            "Region": rng.choice(["North", "South", "East"], n),
        }
    )


def test_a_year_in_a_name_picks_that_years_rows(prices: pd.DataFrame, prompts: PromptRegistry) -> None:
    ops, values = ask(prices, prompts, "What is the average Close price in 2019? @avg_close_2019[x] two decimal places")
    assert ops == ["date_part", "aggregate"]
    assert values == {"avg_close_2019": f"{prices.Close[prices.Date.dt.year == 2019].mean():.2f}"}
    _, values = ask(prices, prompts, "How many records are there in the year 2020? @records_2020[x]")
    assert values == {"records_2020": str(int((prices.Date.dt.year == 2020).sum()))}


def test_superlative_names_without_with(prices: pd.DataFrame, prompts: PromptRegistry) -> None:
    _, values = ask(prices, prompts, "On which date was the Close price lowest? @lowest_close_date[x]")
    assert values == {"lowest_close_date": prices.Date[prices.Close.idxmin()].isoformat()}
    ops, values = ask(prices, prompts, "Which region has the most records? @region_most_records[x]")
    assert ops == ["top_group"]
    assert values == {"region_most_records": prices.Region.value_counts().idxmax()}


def test_between_two_numbers_after_a_column_is_a_filter(prices: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = "What is the mean Volume where Close is between 95 and 105? @mean_volume_mid[x] two decimal places"
    ops, values = ask(prices, prompts, question)
    assert ops == ["filter", "aggregate"]
    assert values == {"mean_volume_mid": f"{prices.Volume[prices.Close.between(95, 105)].mean():.2f}"}
    scaled = (
        "Normalize the Close column by scaling between 0 and 1. What is the mean Volume? @mean_volume[x] 2 decimals"
    )
    assert "filter" not in ask(prices, prompts, scaled)[0]


def test_a_correlation_verdict_in_the_labels_its_placeholder_allows(
    prices: pd.DataFrame, prompts: PromptRegistry
) -> None:
    question = (
        "Is there a correlation between Open and Close? Use a two-tailed test at alpha 0.05.\n"
        "@correlation[colleration]\n"
        'where "colleration" is a string that can either be "correlated" or "not correlated".'
    )
    ops, values = ask(prices, prompts, question)
    p = stats.pearsonr(prices.Open, prices.Close).pvalue
    assert ops[-1] == "decision"
    assert values["correlation"] == ("correlated" if p < 0.05 else "not correlated")


def test_a_two_sample_ks_test_between_two_named_groups_within_a_condition(prompts: PromptRegistry) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "Sex": rng.choice(["male", "female"], 200),
            "Survived": rng.integers(0, 2, 200),
            "Age": rng.normal(30, 12, 200).round(1),
        }
    )
    question = (
        "Is the distribution of ages among the male passengers who did not survive different from the distribution "
        "of ages among the female passengers who did not survive? Perform a two-sample Kolmogorov-Smirnov test at "
        'alpha 0.05. @is_significantly_different[answer] where "answer" is "True" or "False".'
    )
    ops, values = ask(frame, prompts, question)
    lost = frame[frame.Survived == 0]
    p = stats.ks_2samp(lost.Age[lost.Sex == "male"], lost.Age[lost.Sex == "female"]).pvalue
    assert ops == ["filter", "ks_2samp", "decision"]
    assert values["is_significantly_different"] == ("True" if p < 0.05 else "False")


def test_a_plural_mention_names_the_column(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    _, values = ask(passengers, prompts, "What is the median of the fares? @median_value[x] two decimal places")
    assert values == {"median_value": f"{passengers.Fare.median():.2f}"}


def test_a_range_in_a_name_measures_the_rows_of_that_range(prompts: PromptRegistry) -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "star_rating": rng.choice([1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0], 300),
            "bubble_score": rng.normal(40, 5, 300).round(1),
            "review_count": rng.integers(1, 500, 300),
        }
    )
    question = (
        "What is the correlation between the number of reviews a hotel has received and its bubble score? "
        "Report it separately for hotels with star ratings below 3, between 3 and 4, and above 4.\n"
        "@below3_correlation[r1], @between3and4_correlation[r2], @above4_correlation[r3], two decimal places."
    )
    ops, values = ask(frame, prompts, question)

    def r(rows: pd.DataFrame) -> str:
        return f"{stats.pearsonr(rows.review_count, rows.bubble_score).statistic:.2f}"

    stars = frame.star_rating
    assert ops == ["correlation"] * 3
    assert values == {
        "below3_correlation": r(frame[stars < 3]),
        "between3and4_correlation": r(frame[stars.between(3, 4)]),
        "above4_correlation": r(frame[stars > 4]),
    }


def test_a_range_in_a_name_also_bounds_an_aggregate(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = (
        "What is the mean Fare for passengers with Age under 30 and for those with Age over 30? "
        "@mean_fare_under30[a] @mean_fare_over30[b] two decimal places"
    )
    _, values = ask(passengers, prompts, question)
    assert values == {
        "mean_fare_under30": f"{passengers.Fare[passengers.Age < 30].mean():.2f}",
        "mean_fare_over30": f"{passengers.Fare[passengers.Age > 30].mean():.2f}",
    }


@pytest.mark.parametrize(
    "question",
    [
        "Create a new feature FamilySize = SibSp + Parch + 1. What is its mean? @mean_family_size[x] two decimals",
        "Create a new column 'FarePerPerson' by dividing Fare by (SibSp + 1). Its mean? @fare_per_person_mean[x]",
        "How many passengers have a Fare above the mean Fare? @above_mean_count[x]",
        "What is the mean absolute deviation of Age? @age_mad[x] two decimal places",
    ],
)
def test_words_that_name_nothing_here_are_refused_not_read_as_the_first_column(
    passengers: pd.DataFrame, question: str
) -> None:
    assert RulePlanner().plan(question, table_kinds(passengers), passengers) is None


@pytest.mark.parametrize(
    ("question", "rows"),
    [
        ("Calculate the mean fare of passengers whose Pclass is 1. @mean_fare[x] two decimal places", "Pclass == 1"),
        ("Among passengers in Pclass 3, what is the average Fare? @avg_fare[x] two decimal places", "Pclass == 3"),
        (
            "What is the mean Fare of passengers who embarked at Queenstown? @mean_fare[x] 2 decimals",
            "Embarked == 'Queenstown'",
        ),
    ],
)
def test_one_value_of_a_category_column_in_the_question_keeps_its_rows(
    passengers: pd.DataFrame, prompts: PromptRegistry, question: str, rows: str
) -> None:
    ops, values = ask(passengers, prompts, question)
    assert ops == ["filter", "aggregate"]
    assert list(values.values()) == [f"{passengers.query(rows).Fare.mean():.2f}"]


def test_several_listed_values_are_groups_not_a_filter(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = (
        "What is the mean Fare in each class (Pclass = 1, Pclass = 2)? Ports Southampton and Cherbourg aside. "
        "@first_class_mean_fare[a] @second_class_mean_fare[b] two decimal places"
    )
    ops, values = ask(passengers, prompts, question)
    assert ops == ["aggregate", "aggregate"]
    assert values["second_class_mean_fare"] == f"{passengers.Fare[passengers.Pclass == 2].mean():.2f}"


def test_a_name_word_sharing_a_stem_with_a_yes_no_column_picks_its_group(
    passengers: pd.DataFrame, prompts: PromptRegistry
) -> None:
    _, values = ask(passengers, prompts, "What is the mean age of survivors? @mean_age_survivors[x] two decimal places")
    assert values == {"mean_age_survivors": f"{passengers.Age[passengers.Survived == 1].mean():.2f}"}


@pytest.fixture
def countries() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 80
    return pd.DataFrame(
        {
            "Country Name": [f"C{i}" for i in range(n)],
            "Life Expectancy": rng.normal(70, 8, n).round(1),
            "GDP per Capita": rng.lognormal(9, 1, n).round(0),
            "continent": rng.choice(["Asia", "Europe", "Africa"], n),
            "happiness_score": rng.normal(5.5, 1, n).round(3),
        }
    )


def test_a_value_of_an_unnamed_category_column_picks_its_group(
    countries: pd.DataFrame, prompts: PromptRegistry
) -> None:
    question = "What is the average life expectancy in Europe? @europe_life_expectancy[x] two decimal places"
    _, values = ask(countries, prompts, question)
    europe = countries[countries.continent == "Europe"]
    assert values == {"europe_life_expectancy": f"{europe['Life Expectancy'].mean():.2f}"}


def test_the_highest_average_in_the_question_makes_a_group_extreme(
    countries: pd.DataFrame, prompts: PromptRegistry
) -> None:
    question = "Which continent has the highest average happiness score? @continent_highest_happiness[x]"
    ops, values = ask(countries, prompts, question)
    assert ops == ["top_group"]
    assert values == {"continent_highest_happiness": countries.groupby("continent").happiness_score.mean().idxmax()}
    ops, values = ask(countries, prompts, "Which country has the highest GDP per capita? @country_highest_gdp[x]")
    assert ops == ["value_at_extreme"]
    assert values == {"country_highest_gdp": countries["Country Name"][countries["GDP per Capita"].idxmax()]}


def test_counts_of_an_entity_the_question_asks_how_many_of(countries: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = "How many countries have a life expectancy above 75? @countries_above_75[x]"
    _, values = ask(countries, prompts, question)
    assert values == {"countries_above_75": str(int((countries["Life Expectancy"] > 75).sum()))}
    ops, values = ask(countries, prompts, "Which continent has the most countries? @continent_most_countries[x]")
    assert ops == ["top_group"]
    assert values == {"continent_most_countries": countries.continent.value_counts().idxmax()}


def test_a_category_at_an_extreme_of_a_number_without_a_statistic_is_refused(countries: pd.DataFrame) -> None:
    question = "Which continent has the most GDP per Capita? @continent_most_gdp[x]"
    assert RulePlanner().plan(question, table_kinds(countries), countries) is None


def test_preparation_paraphrases(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = (
        "Replace the NaN values in Age with the average age, then report the standard deviation of Age. "
        "@age_std[x] two decimal places"
    )
    ops, values = ask(passengers, prompts, question)
    assert ops == ["fill_missing", "aggregate"]
    assert values == {"age_std": f"{passengers.Age.fillna(passengers.Age.mean()).std():.2f}"}
    question = "Compute the log of Fare (natural log) and report its mean. @mean_log_fare[x] two decimal places"
    ops, values = ask(passengers, prompts, question)
    assert ops == ["transform", "aggregate"]
    assert values == {"mean_log_fare": f"{np.log(passengers.Fare).mean():.2f}"}
    question = (
        "Create a column called 'Family' that is the sum of SibSp and Parch. How many passengers have Family "
        "greater than 1? @family_count[x]"
    )
    ops, values = ask(passengers, prompts, question)
    assert ops == ["arithmetic", "filter", "row_count"]
    assert values == {"family_count": str(int((passengers.SibSp + passengers.Parch > 1).sum()))}


def test_a_transformed_name_without_its_transform_is_refused(passengers: pd.DataFrame) -> None:
    question = "Take the square root of Fare and report its mean. @mean_sqrt_fare[x] two decimal places"
    assert RulePlanner().plan(question, table_kinds(passengers), passengers) is None


def test_outlier_and_normality_paraphrases(passengers: pd.DataFrame, prompts: PromptRegistry) -> None:
    question = (
        "Remove outliers from Fare using the IQR method and report the new mean Fare. "
        "@mean_fare_no_outliers[x] two decimal places"
    )
    ops, values = ask(passengers, prompts, question)
    fare = passengers.Fare
    q1, q3 = fare.quantile(0.25), fare.quantile(0.75)
    kept = fare[(fare >= q1 - 1.5 * (q3 - q1)) & (fare <= q3 + 1.5 * (q3 - q1))]
    assert ops == ["remove_outliers", "aggregate"]
    assert values == {"mean_fare_no_outliers": f"{kept.mean():.2f}"}
    question = "What is the Kolmogorov-Smirnov statistic for Fare against a normal distribution? @ks_stat[x] 4 decimals"
    ops, values = ask(passengers, prompts, question)
    expected = stats.kstest(fare, "norm", args=(fare.mean(), fare.std(ddof=1))).statistic
    assert ops == ["normality_test"]
    assert values == {"ks_stat": f"{expected:.4f}"}
