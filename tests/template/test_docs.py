"""The docs against what they describe, both ways: the configuration reference against the
template's parameters and the settings' variables, the metrics table against ``MetricName``, the
runbook against the template's alarms, the outputs table against its outputs.

Everything compared is read from the rendered template and the code when the test runs, so a
parameter, variable, metric, alarm or output added without its row (or a row left behind by one
removed) fails here until the docs say it.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import pytest

from edge.core.config import ArchiveSettings, ForwardSettings, IngestSettings
from edge.core.errors import Reason
from edge.core.observability import MetricName
from support.markdown import code_spans, headings, section, table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
COSTS = section(OPERATIONS, "Cost per million events")
DOCS = {path.name: path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
# Each function's environment table: the heading's words, the function, its settings.
ENVIRONMENTS = {
    "Ingest function environment": ("IngestFunction", IngestSettings),
    "Forward function environment": ("ForwardFunction", ForwardSettings),
    "Archive function environment": ("ArchiveFunction", ArchiveSettings),
}
_NUMBER = r"\d[\d,]*(?:\.\d+)?"


def _spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _per_name(cell: str, names: list[str]) -> list[str]:
    """A row naming several things (`A` / `B`) gives a value each, `x` / `y`, or one for all."""
    parts = [part.strip() for part in cell.split(" / ")] if len(names) > 1 else [cell]
    if len(parts) == 1:
        return parts * len(names)
    assert len(parts) == len(names), f"{names}: {cell!r} gives {len(parts)} values"
    return parts


def _rows(rows: list[dict[str, str]], *split: str) -> dict[str, dict[str, str]]:
    """Each name in the table's first column with its row; in a row naming several things, the
    cells of the ``split`` columns are shared out among them."""
    found: dict[str, dict[str, str]] = {}
    for row in rows:
        first = next(iter(row.values()))
        names = _spans(first)
        assert names, f"no name in {first!r}"
        for i, name in enumerate(names):
            assert name not in found, f"{name} has two rows"
            found[name] = {
                key: _per_name(cell, names)[i] if key in split else cell for key, cell in row.items()
            }
    return found


def _value(cell: str) -> Any:
    """What a default cell says: a value in code, ``empty``, ``—`` (none) or ``required``."""
    if cell.startswith(("empty", "—")):
        return ""
    if cell == "required":
        return MISSING
    assert cell.startswith("`"), f"{cell!r} states no value"
    return _spans(cell)[0]


def _same(said: Any, actual: Any) -> bool:
    if said is MISSING or actual is MISSING:
        return said is actual
    if actual is None or actual == "":
        return said == ""
    if isinstance(actual, bool):
        return said == str(actual).lower()
    if isinstance(actual, int | float):
        return said != "" and float(said) == float(actual)
    return bool(said == str(actual))


# ---------------------------------------------------------------- template parameters


def _brace_expanded(value: str) -> list[str]:
    """``Canary10Percent{5,10}Minutes`` → ``Canary10Percent5Minutes``, ``Canary10Percent10Minutes``."""
    brace = re.search(r"\{([^}]*)\}", value)
    if not brace:
        return [value]
    return [
        expanded
        for choice in brace.group(1).split(",")
        for expanded in _brace_expanded(value[: brace.start()] + choice + value[brace.end() :])
    ]


def _bounds(cell: str) -> dict[str, float]:
    """The bounds an "allowed" cell states outside its code: a range (two numbers and an en
    dash), ``≥ 1``, ``≤ 20``, ``≤ 30 characters``."""
    text = re.sub(r"`[^`]*`", "", cell)
    number = lambda s: float(s.replace(",", ""))  # noqa: E731
    bounds: dict[str, float] = {}
    if pair := re.search(rf"({_NUMBER})\u2013({_NUMBER})", text):
        bounds |= {"MinValue": number(pair.group(1)), "MaxValue": number(pair.group(2))}
    if low := re.search(rf"≥ ({_NUMBER})", text):
        bounds["MinValue"] = number(low.group(1))
    for high in re.finditer(rf"≤ ({_NUMBER})( characters)?", text):
        bounds["MaxLength" if high.group(2) else "MaxValue"] = number(high.group(1))
    return bounds


@pytest.mark.parametrize(("doc", "text"), [("README.md", README), ("operations.md", OPERATIONS)])
def test_the_parameters_tables_name_every_parameter_with_its_default(
    cfn: dict[str, Any], doc: str, text: str
) -> None:
    rows = _rows(table(text, "Template parameters"), "default")
    assert set(rows) == set(cfn["Parameters"]), doc
    for name, spec in cfn["Parameters"].items():
        said = _value(rows[name]["default"])
        assert _same(said, spec.get("Default", MISSING)), f"{doc}: {name} default {said!r}, not {spec}"


def test_the_configuration_reference_states_each_parameter_s_allowed_values_and_bounds(
    cfn: dict[str, Any],
) -> None:
    rows = _rows(table(OPERATIONS, "Template parameters"), "allowed")
    for name, spec in cfn["Parameters"].items():
        cell = rows[name]["allowed"]
        if "AllowedValues" in spec:
            said = {value for span in _spans(cell) for value in _brace_expanded(span)}
            assert said == {str(value) for value in spec["AllowedValues"]}, name
        stated = {key: spec[key] for key in ("MinValue", "MaxValue", "MaxLength") if key in spec}
        assert _bounds(cell) == stated, f"{name}: {cell!r}"


def _environment(cfn: dict[str, Any], function: str) -> dict[str, Any]:
    """The variables the template sets on a function (its Globals included)."""
    variables: dict[str, Any] = cfn["Resources"][function]["Properties"]["Environment"]["Variables"]
    return variables


def _variables_set_to(cfn: dict[str, Any], parameter: str) -> set[str]:
    return {
        variable
        for function, _ in ENVIRONMENTS.values()
        for variable, value in _environment(cfn, function).items()
        if value == {"Ref": parameter}
    }


def test_the_configuration_reference_names_the_variables_each_parameter_sets(cfn: dict[str, Any]) -> None:
    rows = _rows(table(OPERATIONS, "Template parameters"))
    variables = {v for function, _ in ENVIRONMENTS.values() for v in _environment(cfn, function)}
    for name in cfn["Parameters"]:
        named = {
            span for span in _spans(rows[name]["what it sets"]) if re.fullmatch(r"[A-Z][A-Z0-9_]+", span)
        }
        assert named >= _variables_set_to(cfn, name), name
        assert named <= variables, name


# ---------------------------------------------------------------- function environments


def _settings(settings: type) -> dict[str, Any]:
    """Each variable the settings read, with its default (``MISSING``: required)."""
    return {f.metadata["variable"]: f.default for f in fields(settings)}


def _says(cell: str, value: Any, parameters: dict[str, Any]) -> bool:
    """Whether a "set by the template to" cell says what the template sets: a parameter's name, a
    literal in code, prose for anything else (a resource, a condition), ``—`` for nothing."""
    if value is MISSING:
        return cell == "—"
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return _spans(cell)[:1] == [value["Ref"]] and cell.startswith("`")
    if isinstance(value, str | int | float):
        return _same(_value(cell), value)
    return cell not in {"—", ""} and not cell.startswith("`")


@pytest.mark.parametrize(("doc", "text"), [("README.md", README), ("operations.md", OPERATIONS)])
@pytest.mark.parametrize("title", sorted(ENVIRONMENTS))
def test_each_function_s_environment_table_is_its_settings_with_their_defaults(
    doc: str, text: str, title: str
) -> None:
    rows = _rows(table(text, title), "default")
    variables = _settings(ENVIRONMENTS[title][1])
    assert set(rows) == set(variables), f"{doc}, {title}"
    for variable, default in variables.items():
        said = _value(rows[variable]["default"])
        assert _same(said, default), f"{doc}, {title}: {variable} default {said!r}, not {default!r}"


@pytest.mark.parametrize("title", sorted(ENVIRONMENTS))
def test_the_reference_says_what_the_template_sets_each_variable_to(cfn: dict[str, Any], title: str) -> None:
    function, settings = ENVIRONMENTS[title]
    environment = _environment(cfn, function)
    rows = _rows(table(OPERATIONS, title), "set by the template to")
    for variable in _settings(settings):
        cell = rows[variable]["set by the template to"]
        assert _says(cell, environment.get(variable, MISSING), cfn["Parameters"]), f"{variable}: {cell!r}"


def test_every_variable_the_template_sets_is_in_the_reference(cfn: dict[str, Any]) -> None:
    both = {row["variable"].strip("`"): row["value"] for row in table(OPERATIONS, "Every function")}
    for index, (function, settings) in enumerate(ENVIRONMENTS.values()):
        environment = _environment(cfn, function)
        assert set(environment) - set(_settings(settings)) == set(both), function
        for variable, cell in both.items():
            said = _per_name(cell, list(ENVIRONMENTS))[index]
            assert _says(said, environment[variable], cfn["Parameters"]), f"{function} {variable}: {cell!r}"


# ---------------------------------------------------------------- metrics


def _metric_names() -> set[str]:
    names = {value for name, value in vars(MetricName).items() if name.isupper() and isinstance(value, str)}
    # Powertools' own, where a handler asks for it.
    handlers = [
        (ROOT / "functions" / name / "app.py").read_text() for name in ("ingest", "forward", "archive")
    ]
    if any("capture_cold_start_metric=True" in handler for handler in handlers):
        names.add("ColdStart")
    return names


def test_the_metrics_table_is_every_metric_the_functions_emit() -> None:
    rows = table(OPERATIONS, "Metrics")
    documented = [span for row in rows for span in _spans(row["metric"])]
    assert sorted(documented) == sorted(_metric_names())


# ---------------------------------------------------------------- alarms


def _alarms(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in cfn["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }


def test_the_runbook_table_has_a_row_for_every_alarm(cfn: dict[str, Any]) -> None:
    rows = table(OPERATIONS, "Runbook:")
    assert sorted(span for row in rows for span in _spans(row["alarm"])) == sorted(_alarms(cfn))


def test_the_runbook_has_a_section_for_every_alarm(cfn: dict[str, Any]) -> None:
    sections = [title for title in headings(section(OPERATIONS, "Runbook:")) if title.endswith("Alarm")]
    assert sorted(sections) == sorted(_alarms(cfn))


def test_every_alarm_the_docs_name_exists(cfn: dict[str, Any]) -> None:
    named = {(doc, span) for doc, text in DOCS.items() for span in code_spans(text)}
    unknown = {(doc, span) for doc, span in named if re.fullmatch(r"[A-Z]\w*Alarm", span)}
    assert {(doc, span) for doc, span in unknown if span not in _alarms(cfn)} == set()


def test_the_alarms_bill_counts_the_template_s_alarms_and_the_metrics_they_read(cfn: dict[str, Any]) -> None:
    metrics = sum(
        len([m for m in alarm["Metrics"] if "MetricStat" in m]) if "Metrics" in alarm else 1
        for alarm in _alarms(cfn).values()
    )
    row = re.search(r"\| alarms \| (\d+) alarms reading (\d+) metrics \u00d7 \$0\.10 \| \$(\S+) \|", COSTS)
    assert row, "the fixed costs name no alarms"
    assert (int(row.group(1)), int(row.group(2))) == (len(_alarms(cfn)), metrics)
    assert float(row.group(3)) == pytest.approx(metrics * 0.10)


def test_the_runbook_says_how_long_an_outage_is_retried_before_events_are_dead_lettered(
    cfn: dict[str, Any],
) -> None:
    stalled = section(OPERATIONS, "ForwardingStalledAlarm")
    said = re.search(
        r"retried for (\d+) to (\d+) minutes — `MaxReceiveCount` \((\d+)\) deliveries, one every (\d+)"
        r" minutes \(the events queue's (\d+) s visibility timeout\)",
        " ".join(stalled.split()),
    )
    assert said, "the runbook says nothing of how long events are retried"
    low, high, deliveries, every, visibility = map(int, said.groups())
    queue = cfn["Resources"]["EventsQueue"]["Properties"]
    forward = cfn["Resources"]["ForwardFunction"]["Properties"]["Environment"]["Variables"]
    assert deliveries == cfn["Parameters"]["MaxReceiveCount"]["Default"]
    assert visibility == queue["VisibilityTimeout"] == forward["REQUEUE_DELAY_SECONDS"]
    assert every * 60 == visibility
    # The forwarder parks what still fails on the last delivery (edge.forward.requeue.next_step);
    # SQS itself moves a message whose every delivery crashed when the next one would be due.
    assert (low, high) == ((deliveries - 1) * every, deliveries * every)


@pytest.mark.parametrize("doc", ["README.md", "operations.md"])
def test_the_dead_letter_reasons_listed_are_the_forwarder_s(doc: str) -> None:
    listed = re.findall(r"attributes `reason` \(([^)]*)\)", " ".join(DOCS[doc].split()))
    assert listed, f"{doc} lists no dead-letter reasons"
    for reasons in listed:
        assert sorted(_spans(reasons)) == sorted(Reason), doc


# ---------------------------------------------------------------- outputs


def _condition_parameters(cfn: dict[str, Any], expression: Any) -> set[str]:
    """The parameters a condition depends on, through the conditions it names."""
    if isinstance(expression, list):
        return set().union(*(_condition_parameters(cfn, item) for item in expression))
    if not isinstance(expression, dict):
        return set()
    if set(expression) == {"Ref"}:
        return {expression["Ref"]} & set(cfn["Parameters"])
    if set(expression) == {"Condition"}:
        return _condition_parameters(cfn, cfn["Conditions"][expression["Condition"]])
    return set().union(*(_condition_parameters(cfn, value) for value in expression.values()))


def test_the_outputs_table_is_every_output_with_the_parameters_it_needs(cfn: dict[str, Any]) -> None:
    rows = _rows(table(OPERATIONS, "Stack outputs"))
    assert set(rows) == set(cfn["Outputs"])
    for name, output in cfn["Outputs"].items():
        cell = rows[name]["exists"]
        if "Condition" not in output:
            assert cell == "always", name
        else:
            needs = _condition_parameters(cfn, cfn["Conditions"][output["Condition"]])
            assert set(_spans(cell)) == needs, f"{name}: {cell!r}"


def test_every_output_the_docs_name_exists(cfn: dict[str, Any]) -> None:
    named = set()
    for doc, text in DOCS.items():
        prose = " ".join(text.split())
        named |= {(doc, n) for n in re.findall(r"`(\w+)` output\b", prose)}
        named |= {(doc, n) for n in re.findall(r"<(\w+) output>", prose)}
        for listed in re.findall(r"the outputs? ((?:`\w+`(?:,? and |, )?)+)", prose):
            named |= {(doc, n) for n in _spans(listed)}
    assert named, "the docs name no output"
    assert {(doc, name) for doc, name in named if name not in cfn["Outputs"]} == set()
