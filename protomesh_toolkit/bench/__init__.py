"""Benchmarks that print figures measured against a baseline in the same run.

They never assert a speed: the machines are shared and noisy, so a ratio to a
baseline taken minutes apart says more than any absolute number.
"""
