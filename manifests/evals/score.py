"""Code evaluators for the example's evals (``python: evals/score.py:concise``).

An evaluator is ``f(input, output, reference)``: it returns a bool (pass or fail), a
score from 0 to 1 (passes at the evaluator's ``minScore``, default 0.5), or
``{"score": ..., "comment": ...}``.
"""


def concise(input, output, reference):
    """Customers read answers on a phone: full marks up to 120 characters, less beyond."""
    answer = output.get("answer", "") if isinstance(output, dict) else str(output)
    if len(answer) <= 120:
        return {"score": 1.0, "comment": f"{len(answer)} characters"}
    return {"score": max(0.0, 1 - (len(answer) - 120) / 240), "comment": f"{len(answer)} characters: too long for a phone"}
