"""The OpenAPI 3.1 document covers every route and every reference in it resolves."""

from __future__ import annotations

from typing import Any

from apistack import Stack
from starlette.routing import Route

from api.server import all_routes


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        for value in node.values():
            found += references(value)
        return found
    if isinstance(node, list):
        return [ref for item in node for ref in references(item)]
    return []


def test_every_route_and_method_is_documented(stack: Stack) -> None:
    spec = stack.anonymous.get("/v1/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    paths = spec["paths"]
    for route in all_routes():
        assert isinstance(route, Route)
        if route.path == "/v1/openapi.json":
            continue
        assert route.path in paths, route.path
        for method in route.methods or ():
            if method == "HEAD":
                continue
            assert method.lower() in paths[route.path], (route.path, method)


def test_every_reference_resolves(stack: Stack) -> None:
    spec = stack.anonymous.get("/v1/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for ref in references(spec):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref


def test_protected_operations_declare_401(stack: Stack) -> None:
    spec = stack.anonymous.get("/v1/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            if path in ("/health", "/metrics"):
                assert operation["security"] == []
            else:
                assert "401" in operation["responses"], (path, method)
