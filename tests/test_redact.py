"""The one redaction module: what a secret is, masked whole, before any cut or serialisation."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlflow_client_env.redact import (
    is_secret_name,
    redact,
    redact_env,
    redact_then_truncate,
    redact_tree,
    url_has_credentials,
)

# characters a password may hold in each context (the separators of that context excluded)
_PUNCT = "!\"#$%'()*+-./:<=>?@[\\]^_`{|}~"
_KV_SECRET = st.text(st.sampled_from("abcXYZ019" + _PUNCT), min_size=6, max_size=40)
_URL_SECRET = st.text(
    st.sampled_from("abcXYZ019!$%'()*+-.:;=@[]^_`{|}~,&"), min_size=6, max_size=40
)


@given(_KV_SECRET)
def test_key_value_secret_is_masked_whole(secret: str) -> None:
    for text in (
        f"x password={secret} y",
        f"token: {secret}",
        f"MLFLOW_TRACKING_TOKEN={secret}",
        f"https://h:5000/api?x=1&token={secret}",
    ):
        assert secret not in redact(text)


@given(_URL_SECRET)
def test_url_password_is_masked_whole(secret: str) -> None:
    shown = redact(f"see http://bob:{secret}@mlflow.example.com:5000/api then")
    assert secret not in shown
    assert "http://***@mlflow.example.com:5000/api then" in shown


@given(st.text(min_size=6, max_size=40).filter(lambda s: s.strip() == s and len(s.strip()) >= 6))
def test_json_of_redacted_tree_parses_and_hides(secret: str) -> None:
    data = {"MLFLOW_TRACKING_PASSWORD": secret, "nested": [{"API_KEY": secret}]}
    parsed = json.loads(json.dumps(redact_tree(data)))
    assert parsed == {"MLFLOW_TRACKING_PASSWORD": "***", "nested": [{"API_KEY": "***"}]}


def test_truncation_comes_after_redaction() -> None:
    text = "x" * 180 + " http://bob:hunter2hunter2@h/"
    cut = redact_then_truncate(text, 200)
    assert "hunter2" not in cut and "hunt" not in cut
    assert len(cut) <= 200


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("MLFLOW_TRACKING_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("DB_PASSWORD_FILE", True),
        ("AZURE_STORAGE_KEY", True),
        ("KEYTAB", False),
        ("HADOOP_TOKEN_FILE_LOCATION", False),  # a path to a token file, shown for diagnosis
        ("javax.net.ssl.trustStorePassword", True),
        ("hadoop.security.token.service.use_ip", False),
        ("apikey", True),
        ("monkey", False),
        ("KRB5CCNAME", False),
        ("MLFLOW_TRACKING_URI", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret
    assert (redact_env({name: "v4lue!"})[name] == "***") is secret


@pytest.mark.parametrize(
    ("uri", "creds"),
    [
        ("http://bob:pw@h:5000", True),
        ("http://bob:@h:5000", True),  # an empty password is still a password field
        ("https://h/?token=abc", True),
        ("https://h/?x=1&password=abc", True),
        ("https://h/?apikey=abc", True),
        ("https://h/?access-token=abc", True),
        ("https://h/#token=abc", True),
        ("http://bob@h:5000", False),  # a user name alone is no secret
        ("http://h:5000/?experiment=tokens", False),
        ("databricks", False),
    ],
)
def test_url_has_credentials(uri: str, creds: bool) -> None:
    assert url_has_credentials(uri) is creds


@pytest.mark.parametrize(
    "text",
    [
        "/opt/cdh/jars/token-provider-1.0.1.jar:/opt/cdh/jars/next.jar",
        "lib/token-provider-1.0.1.jar:lib/b.jar",
        "hdfs://nn:8020/user/alice/secret-project/run",
        "-Dhadoop.security.token.service.use_ip=false",
        "HADOOP_TOKEN_FILE_LOCATION=/run/yarn/container_tokens",
    ],
)
def test_paths_and_options_are_not_secrets(text: str) -> None:
    assert redact(text) == text
