"""This process's node id: ``[orchestration] node-id``, which defaults to hostname-pid."""

from __future__ import annotations

from orchestrion.config import Config


def node_id(config: Config) -> str:
    return config.orchestration.node_id
