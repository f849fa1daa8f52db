"""Talking to Prism on the pull request: `@prism review`, `pause`, `dismiss`, `ask`, …

`parse` reads a comment (pure), `permissions` decides who may run what, `services` records
commands and the per-PR state, `run` carries a command out in the worker, `ask` answers a
question with the model.
"""
