"""What CloudFormation itself does with a rendered template (``scripts/cfn_model.py``, which
``make validate`` uses too), for the template tests."""

from scripts.cfn_model import conditions, cycles, dependencies, parameter_values, resolve, rule_failures

__all__ = ["conditions", "cycles", "dependencies", "parameter_values", "resolve", "rule_failures"]
