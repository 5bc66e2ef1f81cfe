"""Every README example is one a test runs (tests/readme.py finds them)."""

from __future__ import annotations

import importlib
import inspect

from tests.readme import examples

#: The API tokens section, step by step against a real server.
API_TOKENS_README = "test_readme_apitokens:test_the_api_tokens_section_works_as_pasted"

#: Each README example, and the tests that run it as written.
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
    "api-origins": ["test_liquid_snippet:test_the_readme_api_origins_example_renders_its_origins"],
    "section": [
        "test_browser_placement:test_code_in_a_section_before_a_classic_script_tag_load_gets_a_token",
        "test_browser_placement:test_a_guest_page_says_so_in_every_placement",
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
    "api-tokens-config": [API_TOKENS_README],
    "db-upgrade": [API_TOKENS_README],
    "admin-password": [API_TOKENS_README],
    "admin-config": [API_TOKENS_README],
    "tokens-create": [API_TOKENS_README],
    "introspect-api-token": [API_TOKENS_README],
    "introspect-api-token-answer": [API_TOKENS_README],
    "tokens-revoke": [API_TOKENS_README],
    "access-log-config": ["test_accesslog:test_a_real_server_writes_or_skips_request_lines"],
    "access-log-cost": ["test_accesslog:test_the_readme_measures_a_request_line_as_pasted"],
    "server-log-config": ["test_logs:test_granian_writes_json_lines_with_the_readme_config"],
}


def test_every_readme_example_is_run_by_a_test_that_reads_it() -> None:
    assert set(examples()) == set(RUN_BY)
    for name, tests in RUN_BY.items():
        for test in tests:
            module_name, function = test.split(":")
            module = importlib.import_module(f"tests.{module_name}")
            assert callable(getattr(module, function)), test
            # Read by the test itself, or by the fixtures and helpers of its module.
            assert f'"{name}"' in inspect.getsource(module), f"{module_name} never reads {name!r}"


def test_examples_are_found_inside_list_items_too() -> None:
    # Step 2 of "Add it to your theme" is indented under a list item.
    assert examples()["head"].startswith("{% render 'shapes-token',\n  endpoint: ")
