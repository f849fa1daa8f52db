"""GitHub App mode: installations as the allow-list, and their tokens.

`tokens` issues and caches installation tokens; `services` keeps the Installation and
Repository rows from deliveries; `gate` decides whether a delivery's repository may be
reviewed; `sync` heals the rows from GitHub; `manifest` describes the App to create.
"""
