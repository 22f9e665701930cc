"""Orchestrion: an orchestration server for SCXML statecharts.

The architecture is the top-level layout: ``engine`` interprets SCXML, ``persistence``
stores sessions, documents, schedules and ownership, ``workers`` run sessions as Celery
tasks, ``scheduler`` fires what is due, and ``api`` is the HTTP interface. This package
holds what they share: configuration, the error hierarchy and the command line.
"""
