"""The README documents every setting the service reads (no drift between code and docs)."""

from pathlib import Path

from models_processor.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table():
    missing = [name.upper() for name in Settings.model_fields if f"| `{name.upper()}` |" not in README]
    assert not missing, f"settings missing from README's table: {missing}"


def test_readme_keeps_exactly_two_setup_commands():
    assert "make run" in README and "make test" in README
    setup = README.split("## Set-up: two commands", 1)[1].split("##", 1)[0]
    commands = [line for line in setup.splitlines() if line.startswith("make ")]
    assert [c.split()[1] for c in commands] == ["run", "test"]
