"""JSON schemas for kubeconform, made offline from files already on disk.

Two sources, two conversions, into kubeconform's directory layouts:

* ``builtin``: the Kubernetes schemas that the kubernetes-validate wheel ships
  (``kubernetes_validate/kubernetes-json-schema/v<VERSION>-local-strict/<kind>-<group>-<version>.json``).
  Those files point into a shared ``_definitions.json``; kubeconform wants each file *standalone*, so each
  kind gets the ``$defs`` it reaches, with its ``$ref`` rewritten to ``#/$defs/...``. Output:
  ``OUT/v<VERSION>-standalone-strict/<kind>-<group>-<version>.json``, kubeconform's default file naming.
* ``crd``: CustomResourceDefinition YAML files (tests/deploy/crds/, upstream versions in their README):
  each served version's ``openAPIV3Schema`` becomes ``OUT/crds/<group>/<kind>_<version>.json``, with
  ``additionalProperties: false`` on every object that lists its properties (as kubeconform's own
  openapi2jsonschema.py does, root included, so unknown fields fail like ``-strict`` does for built-ins)
  and ``x-kubernetes-int-or-string`` turned into a string-or-integer schema.

Usage: python deploy/tools/k8s_schemas.py builtin OUT 1.29.0 1.33.0 1.37.0
       python deploy/tools/k8s_schemas.py crd OUT tests/deploy/crds/*.yaml
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

# A kind's file points into _definitions.json; the definitions point at each other within that file.
DEFS_REFS = ("/api/_definitions.json#/$defs/", "#/$defs/")


def _def_name(ref: object) -> str | None:
    if isinstance(ref, str):
        for prefix in DEFS_REFS:
            if ref.startswith(prefix):
                return ref[len(prefix):]
    return None


def kubernetes_validate_dir(version: str) -> Path:
    import kubernetes_validate  # type: ignore[import-untyped]

    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}-local-strict"
    if not root.is_dir():
        raise SystemExit(f"kubernetes-validate has no schemas for Kubernetes {version} ({root})")
    return root


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        name = _def_name(node.get("$ref"))
        if name is not None:
            found.add(name)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _rewrite(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _rewrite(v) for k, v in node.items()}
        name = _def_name(out.get("$ref"))
        if name is not None:
            out["$ref"] = "#/$defs/" + name
        return out
    if isinstance(node, list):
        return [_rewrite(v) for v in node]
    return node


def standalone(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """The schema with every definition it reaches, directly or not, inlined under $defs."""
    needed: set[str] = set()
    todo: set[str] = set()
    _refs(schema, todo)
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        _refs(definitions[name], todo)
    out: dict[str, Any] = _rewrite(schema)
    out.pop("$id", None)  # kubeconform names the schema by its file
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    if needed:
        out["$defs"] = {name: _rewrite(definitions[name]) for name in sorted(needed)}
    return out


def write_builtin(out: Path, version: str) -> int:
    src = kubernetes_validate_dir(version)
    definitions = json.loads((src / "_definitions.json").read_text())["$defs"]
    dest = out / f"v{version}-standalone-strict"
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(src.glob("*.json")):
        if path.name in ("_definitions.json", "all.json"):
            continue
        schema = json.loads(path.read_text())
        (dest / path.name).write_text(json.dumps(standalone(schema, definitions)))
        count += 1
    return count


def strict_crd_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [strict_crd_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    if node.get("x-kubernetes-int-or-string"):
        keep = {k: v for k, v in node.items() if k in ("description", "pattern")}
        return {**keep, "anyOf": [{"type": "string"}, {"type": "integer"}]}
    out = {k: strict_crd_schema(v) for k, v in node.items()}
    if "properties" in out and "additionalProperties" not in out \
            and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def write_crds(out: Path, files: list[Path]) -> list[Path]:
    written = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            kind = spec["names"]["kind"].lower()
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                schema = strict_crd_schema(version["schema"]["openAPIV3Schema"])
                schema["$schema"] = "http://json-schema.org/draft-07/schema#"
                target = out / "crds" / spec["group"] / f"{kind}_{version['name']}.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema))
                written.append(target)
    if not written:
        raise SystemExit("no CustomResourceDefinition found in " + ", ".join(map(str, files)))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    builtin = sub.add_parser("builtin", help="standalone schemas from kubernetes-validate")
    builtin.add_argument("out", type=Path)
    builtin.add_argument("versions", nargs="+", help="Kubernetes versions, e.g. 1.37.0")
    crd = sub.add_parser("crd", help="schemas from CustomResourceDefinition YAML files")
    crd.add_argument("out", type=Path)
    crd.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "builtin":
        for version in args.versions:
            print(f"Kubernetes {version}: {write_builtin(args.out, version)} standalone schemas", file=sys.stderr)
    else:
        for path in write_crds(args.out, args.files):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
