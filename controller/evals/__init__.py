"""Evaluations: datasets of cases, run several times each, graded, and gated.

dataset.py (cases from a file or the manifest) · pyfunc.py (python evaluators from the
project root) · checks.py (what is validated before anything runs) · trajectory.py (tool
calls vs a reference, by agentevals) · evaluators.py (one grade per evaluator and run) ·
runner.py (cases × repeats × subjects, concurrently) · gate.py (the statistics, pure) ·
evaluate.py (one eval of one assistant: the API apply and the CLI call) · candidate.py
(temporary candidate assistants) · report.py (text, JSON, Markdown, JUnit).
"""
