"""Consumer-driven contracts (pattern 12): what each consumer relies on, verified by its provider.

A consumer's own tests record its contract files (`contracts/<consumer>/<provider>-<kind>.json`);
the provider's suite verifies them statically against its descriptor set (`static.py`) and
live against the running provider (`live.py`).
"""
