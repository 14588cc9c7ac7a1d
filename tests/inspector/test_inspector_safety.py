"""The page is off unless enabled, and no deployment file turns it on."""

from __future__ import annotations

from pathlib import Path

from models_processor.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT_FILES = sorted([*(ROOT / "k8s").rglob("*.yaml"), ROOT / "deploy" / "docker-compose.yml", ROOT / "Dockerfile"])


def _without_comments(path: Path) -> str:
    return "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))


def test_off_by_default():
    assert load_settings({}).inspector_enabled is False


def test_no_deployment_file_enables_it():
    assert len(DEPLOYMENT_FILES) > 5 and all(p.exists() for p in DEPLOYMENT_FILES)
    enabling = [str(p.relative_to(ROOT)) for p in DEPLOYMENT_FILES
                if "INSPECTOR_" in _without_comments(p)]
    assert enabling == [], "the inspector is for operators: enable it per pod, not in the shipped manifests"
