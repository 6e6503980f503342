"""What the README promises, checked where a test can."""

from __future__ import annotations

import re
from pathlib import Path

import tasks
from renewbot.runtime import config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CONTRACT_VARIABLES = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL",
                      "DATABASE_URL", "TOKEN_ENCRYPTION_KEYS", "PORT"}


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_quick_start_is_two_commands_that_tasks_py_knows():
    assert quick_start_commands() == ["python3 tasks.py demo", "python3 tasks.py test"]
    assert tasks.main(["nonsense"]) == 2  # anything else is refused with usage, nothing installed


def test_ci_runs_the_readmes_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 tasks.py test" in ci


def test_demo_starts_the_installed_renewbot_sandbox(monkeypatch):
    seen = []
    monkeypatch.setattr(tasks, "run", lambda *args: seen.append(args) or 0)
    monkeypatch.setattr(tasks, "ensure_venv", lambda: None)
    assert tasks.demo() == 0
    assert tasks.main(["demo", "--check"]) == 0
    assert seen == [(str(tasks.RENEWBOT), "sandbox"), (str(tasks.RENEWBOT), "sandbox", "--check")]


def test_ci_runs_the_linter():
    assert "python3 tasks.py lint" in (ROOT / ".ci" / "run").read_text()


def test_every_environment_variable_in_the_readme_is_read_by_the_settings():
    table = README.split("## Environment", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, re.M))
    assert documented >= CONTRACT_VARIABLES
    # URLs are checked as URLs (AMAZON_LWA_URL must be https), so "1" is not a value for them.
    environ = {name: "1" for name in documented if name not in ("SLACK_API_URL", "AMAZON_LWA_URL")} | {
        "MAX_BODY_BYTES": "2048", "RENEWBOT_ADMINS": "U0ADMIN", "REMINDER_TZ": "UTC", "DIGEST_TZ": "UTC",
        "DIGEST_DAY": "monday", "DIGEST_TIME": "09:00", "LOG_FORMAT": "json",
        "PUBLIC_URL": "https://renewbot.example.com", "SECRET_ENTRY": "page",
        "AMAZON_SELLER_CENTRAL_URL": "https://sellercentral.example.com"}
    settings = config.Settings.from_env(environ, env_file=None)
    assert settings.max_body_bytes == 2048
    assert settings.port == 1 and settings.socket_mode and settings.scan_interval_minutes == 1
    source = Path(config.__file__).read_text()
    assert all(f'"{name}"' in source for name in documented)


def test_readme_names_every_runtime_dependency():
    import tomllib
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    section = README.split("## Dependencies", 1)[1].lower()
    for dep in deps:
        name = re.split(r"[<>=\[ ]", dep, maxsplit=1)[0].lower()
        assert name in section, f"{name} is not named in the README's dependency list"


def test_the_layout_section_describes_every_folder():
    layout = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    described = {line.split()[0].rstrip("/") for line in layout.splitlines() if line and not line.startswith("```")}
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
               and p.name not in {"data", "build"} and not p.name.endswith(".egg-info")}
    packages = {f"renewbot/{p.name}" for p in (ROOT / "renewbot").iterdir() if (p / "__init__.py").is_file()}
    assert folders - {"renewbot"} <= described
    assert packages <= described
