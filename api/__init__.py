"""Orchestrion's HTTP interface: ``api.server.create_app(config, orchestrator)``.

The Genesys ORS session paths (``ors``), the REST API under ``/v1`` (``sessions``,
``documents``, ``schedules``, described by ``openapi``), the receiving half of the SCXML
Basic HTTP Event I/O Processor (``ioprocessor``), ``/health`` and ``/metrics``; bearer
tokens (``auth``), body limits (``limits``) and one JSON error shape (``errors``).
See docs/http-api.md.
"""
