"""Every example of README.md and of the docs site is one a test runs (tests/examples.py
finds them), every block of code a reader might paste is such an example or sits in a
section a test runs block by block, and the README stays a short front door whose links
lead into the site."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import re
import shlex
import shutil
import tomllib
from pathlib import Path

from starlette.testclient import TestClient

from service.dev.settings import banner, development_settings
from service.web.app import create_app
from tests.examples import (
    DOCS,
    README,
    ROOT,
    bash,
    blocks,
    code_blocks,
    example,
    examples,
    pages,
    section,
)

#: The API tokens section, step by step against a real server.
API_TOKENS = "docs.test_apitokens:test_the_api_tokens_section_works_as_pasted"

#: Each example, and the tests that run it as written.
RUN_BY = {
    "head": [
        "browser.test_placement:test_a_deferred_theme_script_and_the_service_hosted_script",
        "browser.test_placement:test_a_module_next_to_a_classic_script_shares_its_one_client",
        "browser.test_placement:test_a_page_on_a_foreign_origin_gets_a_network_error_naming_allowed_origins",
    ],
    "script-tag": [
        "browser.test_placement:test_code_in_a_section_before_a_classic_script_tag_load_gets_a_token",
        "browser.test_placement:test_a_script_tag_in_head_before_the_snippet_still_finds_the_config",
    ],
    "dpop-info": [
        "browser.test_dpop:test_the_theme_guides_dpop_info_example_says_the_token_is_bound"
    ],
    "api-origins": ["theme.test_snippet:test_the_readme_api_origins_example_renders_its_origins"],
    "section": [
        "browser.test_placement:test_code_in_a_section_before_a_classic_script_tag_load_gets_a_token",
        "browser.test_placement:test_a_guest_page_says_so_in_every_placement",
        "browser.test_placement:test_a_page_on_a_foreign_origin_gets_a_network_error_naming_allowed_origins",
    ],
    "theme-script": [
        "browser.test_placement:test_a_deferred_theme_script_and_the_service_hosted_script",
        "browser.test_placement:test_a_guest_page_says_so_in_every_placement",
    ],
    "module": [
        "browser.test_placement:test_a_module_imports_the_named_exports_from_the_mjs",
        "browser.test_placement:test_a_guest_page_says_so_in_every_placement",
    ],
    "shapes-sdk": [
        "browser.test_placement:test_shapes_token_change_fires_and_the_sdk_recipe_follows_it",
        "browser.test_placement:test_a_token_changed_in_another_tab_reaches_this_tabs_sdk",
        "browser.test_guests:test_a_guest_gets_an_anonymous_token_logs_in_and_logs_out",
    ],
    "guest-config": [
        "browser.test_guests:test_a_guest_gets_an_anonymous_token_logs_in_and_logs_out",
    ],
    "guest-snippet": [
        "browser.test_guests:test_a_guest_gets_an_anonymous_token_logs_in_and_logs_out",
        "browser.test_guests:test_a_guest_page_on_a_foreign_origin_gets_a_network_error_naming_the_clients_origins",
    ],
    "api-tokens-config": [API_TOKENS],
    "db-upgrade": [API_TOKENS],
    "admin-password": [API_TOKENS],
    "admin-config": [API_TOKENS],
    "tokens-create": [API_TOKENS],
    "introspect-api-token": [API_TOKENS],
    "introspect-api-token-answer": [API_TOKENS],
    "tokens-revoke": [API_TOKENS],
    "verify-customer": ["e2e.test_service:test_the_docs_customer_verifier_works_as_pasted"],
    "verify-backend": [
        "docs.test_backends:test_the_python_verifier_accepts_a_backend_token_and_refuses_others"
    ],
    "api-cors": ["docs.test_cors:test_the_api_cors_example_answers_the_storefronts_preflight"],
    "verifier-starlette": [
        "docs.test_cors:test_the_verifier_example_refuses_a_request_without_a_token_and_answers_cors"
    ],
    "verifier-fastapi": ["docs.test_your_api:test_the_fastapi_example_answers_as_the_guide_says"],
    "verifier-jose": [
        "docs.test_your_api:test_the_jose_example_takes_bearer_and_bound_tokens_and_refuses_the_rest"
    ],
    "access-log-config": [
        "observability.test_accesslog:test_a_real_server_writes_or_skips_request_lines"
    ],
    "access-log-cost": [
        "observability.test_accesslog:test_the_readme_measures_a_request_line_as_pasted"
    ],
    "server-log-config": [
        "observability.test_logs:test_granian_writes_json_lines_with_the_readme_config"
    ],
    "redis-acl": ["state.test_redis:test_the_docs_acl_user_can_do_everything_the_service_does"],
    "redis-sizing": ["state.test_redis:test_the_docs_sizing_commands_work_as_pasted"],
    "two-commands": ["docs.test_examples:test_the_two_commands_are_the_scripts_of_the_checkout"],
    "two-commands-development": [
        "docs.test_examples:test_the_two_commands_are_the_scripts_of_the_checkout"
    ],
    "first-token": ["docs.test_examples:test_the_readmes_token_answer_is_a_development_mints"],
    "part-of-the-suite": [
        "docs.test_examples:test_the_commands_that_run_a_part_of_the_suite_name_what_exists"
    ],
    "bench-commands": ["docs.test_examples:test_the_bench_commands_exist_and_take_their_options"],
    "complete-config": ["docs.test_config:test_the_complete_example_loads_and_sets_every_key"],
    "shapestoken-by-path": [
        "docs.test_shell:test_the_shapestoken_command_by_its_path_or_activated"
    ],
    "shapestoken-activated": [
        "docs.test_shell:test_the_shapestoken_command_by_its_path_or_activated"
    ],
    "procfile-local-config": ["docs.test_shell:test_the_procfiles_command_runs_on_your_machine"],
    "procfile-local-steps": ["docs.test_shell:test_the_procfiles_command_runs_on_your_machine"],
    "keys-rotation": ["docs.test_shell:test_the_keys_commands_make_the_keys_the_server_publishes"],
    "state-redis": ["docs.test_shell:test_a_customer_is_blocked_and_unblocked_as_pasted"],
    "block-customer": ["docs.test_shell:test_a_customer_is_blocked_and_unblocked_as_pasted"],
    "customer-token-curl": ["docs.test_shell:test_a_customer_is_blocked_and_unblocked_as_pasted"],
    "customer-token-answer": ["docs.test_shell:test_a_customer_is_blocked_and_unblocked_as_pasted"],
    "me-curl": ["docs.test_shell:test_a_customer_is_blocked_and_unblocked_as_pasted"],
    "request-line": ["docs.test_shell:test_the_documented_log_lines_have_the_servers_fields"],
    "startup-line": ["docs.test_shell:test_the_documented_log_lines_have_the_servers_fields"],
    "sign-timestamped": ["docs.test_shell:test_a_timestamped_signature_from_the_cli_mints"],
    "introspect-answer": ["docs.test_backends:test_every_curl_example_works_as_pasted"],
}

#: The languages of code a reader runs or pastes. Blocks in others (JSON answers) and
#: without one (log lines, pictures) are output: a test compares one with the real
#: thing where there is one (a named example), and need not.
RUNNABLE = {"sh", "bash", "python", "py", "js", "javascript", "liquid", "toml", "html"}

#: The sections whose every block a test runs, and that test: a block added there is
#: run without a name of its own.
RUN_BLOCK_BY_BLOCK = {
    ("guides/backends.md", "OAuth 2.0 clients"): (
        "docs.test_backends:test_every_curl_example_works_as_pasted"
    ),
    ("guides/your-api.md", "Ask the service: introspection"): (
        "docs.test_backends:test_every_curl_example_works_as_pasted"
    ),
}


def test_every_example_is_run_by_a_test_that_reads_it() -> None:
    assert set(examples()) == set(RUN_BY)
    for name, tests in RUN_BY.items():
        for test in tests:
            module_name, function = test.split(":")
            module = importlib.import_module(f"tests.{module_name}")
            assert callable(getattr(module, function)), test
            # Read by the test itself, or by the fixtures and helpers of its module.
            assert f'"{name}"' in inspect.getsource(module), f"{module_name} never reads {name!r}"


def test_every_block_of_code_is_an_example_or_in_a_section_run_block_by_block() -> None:
    covered: dict[Path, list[range]] = {}
    for (name, title), test in RUN_BLOCK_BY_BLOCK.items():
        module_name, function = test.split(":")
        module = importlib.import_module(f"tests.{module_name}")
        assert callable(getattr(module, function)), test
        assert f'"{title}"' in inspect.getsource(module), f"{module_name} never reads {title!r}"
        path = README if name == "README.md" else DOCS / name
        text, part = path.read_text(encoding="utf-8"), section(title, name)
        first = text[: text.index(part)].count("\n") + 1
        covered.setdefault(path, []).append(range(first, first + part.count("\n")))
    unrun = [
        f"{path.relative_to(ROOT)}:{line} ({language})"
        for path in pages()
        for line, language, name in code_blocks(path.read_text(encoding="utf-8"))
        if language in RUNNABLE
        and not (name in examples() and name in RUN_BY)
        and not any(line in lines for lines in covered.get(path, []))
    ]
    assert not unrun, (
        "code no test runs: mark it `<!-- example: <name> -->` and add a test to RUN_BY, "
        f"or put it in a section of RUN_BLOCK_BY_BLOCK: {', '.join(unrun)}"
    )


def test_a_block_is_known_by_its_opening_line_and_its_marker() -> None:
    text = "x\n<!-- example: one -->\n```sh\necho\n```\n\n  ```toml\na = 1\n  ```\n```\nout\n```\n"
    assert code_blocks(text) == [(3, "sh", "one"), (7, "toml", None), (10, "", None)]


def test_examples_are_found_inside_list_items_too() -> None:
    # Step 2 of the theme guide's "Four steps" is indented under a list item.
    assert examples()["head"].startswith("{% render 'shapes-token',\n  endpoint: ")


def test_a_section_ends_at_the_next_heading_of_its_level_and_skips_code() -> None:
    text = section("Timestamped signatures", "guides/theme.md")
    # A `# ts=...` comment inside a shell block is not a heading.
    assert "# ts=1795491863" in text and "### Shopify App Proxy" not in text
    assert [lang for lang, _ in blocks(text)] == ["sh"]


def test_every_browser_example_handles_a_rejection() -> None:
    # A page whose origin is missing from allowed_origins gets no token: an example
    # without a .catch() (or try/catch) would leave it at "Loading…" forever.
    for path in pages():
        for lang, body in blocks(path.read_text(encoding="utf-8")):
            if lang in ("js", "javascript", "html") and "ShapesToken" in body:
                assert ".catch(" in body or "catch (" in body, f"{path.name}:\n{body}"


def test_the_readme_is_a_short_front_door() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.encode()) <= 20 * 1024
    assert "./scripts/serve    # run the service" in text
    assert "./scripts/test     # install what the tests need" in text


def test_the_readmes_links_into_the_docs_lead_to_pages_and_headings() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(docs/([^)#]+\.md)(?:#([^)]+))?\)", text)
    assert links
    for page, anchor in links:
        assert (DOCS / page).is_file(), page
        if anchor:
            headings = re.findall(r"^#+ (.+)$", (DOCS / page).read_text("utf-8"), re.MULTILINE)
            slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
            assert anchor in slugs, f"docs/{page}#{anchor}"


def test_the_two_commands_are_the_scripts_of_the_checkout() -> None:
    for name in ("two-commands", "two-commands-development"):
        commands = [shlex.split(line, comments=True) for line in example(name).splitlines()]
        assert commands == [["./scripts/serve"], ["./scripts/test"]], name
        for (command,) in commands:
            script = ROOT / command
            assert script.is_file() and os.access(script, os.X_OK), command
            bash(f"bash -n {command}", cwd=ROOT)  # a shell script that parses


def test_the_readmes_token_answer_is_a_development_mints(tmp_path: Path) -> None:
    # Step 2 of "Five minutes": the curl that development mode prints, and its answer.
    settings = development_settings(8000, state_dir=tmp_path)
    (curl,) = [line for line in banner(settings, state_dir=tmp_path) if "curl" in line]
    body = re.search(r"-d '(\{.*\})'", curl)
    assert body
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as client:
        answer = client.post(
            "/v1/shops/demo.myshopify.com/customer-token", json=json.loads(body[1])
        )
    assert answer.status_code == 200
    shown = json.loads(example("first-token"))
    assert set(shown) == set(answer.json())
    for field in ("token_type", "expires_in", "identifier", "scope"):
        assert shown[field] == answer.json()[field], field


def test_the_commands_that_run_a_part_of_the_suite_name_what_exists() -> None:
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    markers = {line.split(":")[0] for line in pytest_options["ini_options"]["markers"]}
    scripts = json.loads((ROOT / "package.json").read_text())["scripts"]
    for line in example("part-of-the-suite").splitlines():
        words = shlex.split(line, comments=True)
        if words[:3] == [".venv/bin/python", "-m", "pytest"]:
            assert importlib.util.find_spec("pytest") is not None
            files = [ROOT / word for word in words if word.startswith("tests/")]
            assert all(file.is_file() for file in files), line
            for option, value in zip(words[3:], words[4:], strict=False):
                if option == "-m":
                    names = set(value.split()) - {"and", "or", "not"}
                    assert names <= markers, line
                if option == "-k":
                    tests = "".join(file.read_text(encoding="utf-8") for file in files)
                    assert re.search(rf"^def test_\w*{value}", tests, re.MULTILINE), line
        elif words[0] == "npm":
            assert shutil.which("npm"), "npm is not installed"
            script = words[1] if words[1] != "run" else words[2]
            assert script in scripts, line
        elif words[0] == ".venv/bin/mkdocs":
            helped = bash(f"{shlex.join(words[:2])} --help", cwd=ROOT).stdout
            assert all(word in helped for word in words if word.startswith("--")), line
        else:
            raise AssertionError(f"no check for this command: {line}")


def test_the_bench_commands_exist_and_take_their_options() -> None:
    # The benchmark itself takes minutes: each command's --help, run as pasted from the
    # repository root, proves its module, and lists every option the comments name.
    for line in example("bench-commands").splitlines():
        command, _, comment = line.partition("#")
        assert command.startswith(".venv/bin/python -m bench"), line
        helped = bash(f"{command.strip()} --help", cwd=ROOT).stdout
        assert "usage:" in helped, line
        for option in re.findall(r"--[a-z][a-z-]*", comment):
            assert option in helped, f"{option} of: {line}"
