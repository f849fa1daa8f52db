"""Feedback that is counted: people's 👍 and 👎 on Prism's inline comments, read once a pull
request closes, and the figures an operator reads them by.

- `records`: every write (the closed delivery's row, its claim and outcome, a finding's counts).
- `reactions`: the worker's read of one closed pull request, over GitHub's REST API.
- `figures`: findings raised, dismissed, 👍 and 👎 by category, severity and model (reads only).
"""
