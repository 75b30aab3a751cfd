from __future__ import annotations

from perfkit.redact import redact_dsn, redact_text, redact_url


def test_uri_dsn_password_is_masked_user_and_host_kept() -> None:
    assert (redact_dsn("postgresql://app:s3cret@db.example.com:5432/prod")
            == "postgresql://app:***@db.example.com:5432/prod")


def test_keyword_dsn_password_is_masked() -> None:
    assert redact_dsn("host=db user=app password=s3cret dbname=prod") == (
        "host=db user=app password=*** dbname=prod")


def test_url_without_credentials_is_unchanged() -> None:
    assert redact_url("http://127.0.0.1:9090/api") == "http://127.0.0.1:9090/api"


def test_free_text_masks_urls_and_known_secrets() -> None:
    text = "failed: postgresql://u:pw@h/db and token abcd1234efgh"
    masked = redact_text(text, ["abcd1234efgh"])
    assert "pw@" not in masked and "abcd1234efgh" not in masked
    assert "postgresql://u:***@h/db" in masked


def test_json_passwords_and_tokens_quoted_in_an_error_are_masked() -> None:
    text = ('login answered 400: {"password": "hunter2", "access_token":"eyJ.a\\"b", '
            '"error": "invalid_grant"}')
    masked = redact_text(text)
    assert "hunter2" not in masked and "eyJ" not in masked
    assert '"password": "***"' in masked and '"error": "invalid_grant"' in masked
