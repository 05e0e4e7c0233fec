"""Declarative deployment of a T5 summarizer to Snowflake as a Python UDF.

The reconciler reads manifests (desired state), observes the live account
through SQL, diffs the two into a typed plan, and applies it idempotently.
"""

__version__ = "0.1.0"
TOOL_NAME = "t5-deploy"
