"""A repository's review policy (`.github/prism.yml`), inside the operator's bounds. Pure.

The file is the repository's text, so it is validated strictly (version 1 of the schema,
unknown keys are errors) and every error names the key, the value and the line. It can only
narrow or tune a review: its `ignore_paths` add to the operator's IGNORE_PATHS, a `model`
counts only when LLM_ALLOWED_MODELS lists it, and redaction and the leaked-secret finding
are not settings at all. Every value of the result says where it came from.
"""

from reviews.policy.effective import (
    SETTING_NAMES,
    Bounds,
    EffectivePolicy,
    PathRule,
    PolicyFile,
    Setting,
    Source,
    describe,
    effective,
    load,
    record,
    skip_reason,
)
from reviews.policy.schema import (
    MAX_FILE_BYTES,
    MAX_INSTRUCTIONS_CHARS,
    MAX_PATH_RULES,
    POLICY_PATHS,
    SCHEMA,
    PolicyError,
    PolicyInvalid,
    parse,
)

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_INSTRUCTIONS_CHARS",
    "MAX_PATH_RULES",
    "POLICY_PATHS",
    "SCHEMA",
    "SETTING_NAMES",
    "Bounds",
    "EffectivePolicy",
    "PathRule",
    "PolicyError",
    "PolicyFile",
    "PolicyInvalid",
    "Setting",
    "Source",
    "describe",
    "effective",
    "load",
    "parse",
    "record",
    "skip_reason",
]
