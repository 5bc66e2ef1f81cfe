"""Every example of README.md and of the docs site is one a test runs (tests/examples.py
finds them), and the README stays a short front door whose links lead into the site."""

from __future__ import annotations

import importlib
import inspect
import re

from tests.examples import DOCS, README, blocks, examples, pages, section

#: The API tokens section, step by step against a real server.
API_TOKENS = "test_docs_apitokens:test_the_api_tokens_section_works_as_pasted"

#: Each example, and the tests that run it as written.
RUN_BY = {
    "head": [
        "test_browser_placement:test_a_deferred_theme_script_and_the_service_hosted_script",
        "test_browser_placement:test_a_module_next_to_a_classic_script_shares_its_one_client",
        "test_browser_placement:test_a_page_on_a_foreign_origin_gets_a_network_error_naming_allowed_origins",
    ],
    "script-tag": [
        "test_browser_placement:test_code_in_a_section_before_a_classic_script_tag_load_gets_a_token",
        "test_browser_placement:test_a_script_tag_in_head_before_the_snippet_still_finds_the_config",
    ],
    "dpop-info": [
        "test_browser_dpop:test_the_theme_guides_dpop_info_example_says_the_token_is_bound"
    ],
    "api-origins": ["test_liquid_snippet:test_the_readme_api_origins_example_renders_its_origins"],
    "section": [
        "test_browser_placement:test_code_in_a_section_before_a_classic_script_tag_load_gets_a_token",
        "test_browser_placement:test_a_guest_page_says_so_in_every_placement",
        "test_browser_placement:test_a_page_on_a_foreign_origin_gets_a_network_error_naming_allowed_origins",
    ],
    "theme-script": [
        "test_browser_placement:test_a_deferred_theme_script_and_the_service_hosted_script",
        "test_browser_placement:test_a_guest_page_says_so_in_every_placement",
    ],
    "module": [
        "test_browser_placement:test_a_module_imports_the_named_exports_from_the_mjs",
        "test_browser_placement:test_a_guest_page_says_so_in_every_placement",
    ],
    "shapes-sdk": [
        "test_browser_placement:test_shapes_token_change_fires_and_the_sdk_recipe_follows_it",
        "test_browser_placement:test_a_token_changed_in_another_tab_reaches_this_tabs_sdk",
        "test_browser_guests:test_a_guest_gets_an_anonymous_token_logs_in_and_logs_out",
    ],
    "guest-config": [
        "test_browser_guests:test_a_guest_gets_an_anonymous_token_logs_in_and_logs_out",
    ],
    "guest-snippet": [
        "test_browser_guests:test_a_guest_gets_an_anonymous_token_logs_in_and_logs_out",
        "test_browser_guests:test_a_guest_page_on_a_foreign_origin_gets_a_network_error_naming_the_clients_origins",
    ],
    "api-tokens-config": [API_TOKENS],
    "db-upgrade": [API_TOKENS],
    "admin-password": [API_TOKENS],
    "admin-config": [API_TOKENS],
    "tokens-create": [API_TOKENS],
    "introspect-api-token": [API_TOKENS],
    "introspect-api-token-answer": [API_TOKENS],
    "tokens-revoke": [API_TOKENS],
    "verify-customer": ["test_e2e:test_the_docs_customer_verifier_works_as_pasted"],
    "verify-backend": [
        "test_docs_backends:test_the_python_verifier_accepts_a_backend_token_and_refuses_others"
    ],
    "api-cors": ["test_docs_cors:test_the_api_cors_example_answers_the_storefronts_preflight"],
    "verifier-starlette": [
        "test_docs_cors:test_the_verifier_example_refuses_a_request_without_a_token_and_answers_cors"
    ],
    "access-log-config": ["test_accesslog:test_a_real_server_writes_or_skips_request_lines"],
    "access-log-cost": ["test_accesslog:test_the_readme_measures_a_request_line_as_pasted"],
    "server-log-config": ["test_logs:test_granian_writes_json_lines_with_the_readme_config"],
    "redis-acl": ["test_state_redis:test_the_docs_acl_user_can_do_everything_the_service_does"],
    "redis-sizing": ["test_state_redis:test_the_docs_sizing_commands_work_as_pasted"],
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
