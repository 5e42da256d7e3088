"""The `loginledger` command line: incident analysis, a server and a demo.

`app` builds the command tree; each command group lives in a module of its
own (timeline, replay, sessions, verify, export, projections, db, serve,
demo). Run it as `loginledger …` or `python -m loginledger …`.
"""
