import pytest
from pydantic import ValidationError

from insight.config import Settings


def test_nested_settings_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSIGHT_API__PORT", "9100")
    monkeypatch.setenv("INSIGHT_PREDICTOR__MAX_BATCH_ROWS", "50")
    monkeypatch.setenv("INSIGHT_TRACKING__URI", "http://127.0.0.1:5000")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.api.port == 9100
    assert settings.predictor.max_batch_rows == 50
    assert settings.tracking.uri == "http://127.0.0.1:5000"


def test_dotenv_file_is_read(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"  # type: ignore[operator]
    env.write_text("INSIGHT_API__HOST=0.0.0.0\n")
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.api.host == "0.0.0.0"


def test_wildcard_cors_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSIGHT_API__CORS_ORIGINS", '["*"]')
    with pytest.raises(ValidationError, match="'\\*' is not allowed"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("INSIGHT_TRACKING__URI", "mysql://x", "tracking uri must be"),
        ("INSIGHT_API__PORT", "99999", "less than or equal to 65535"),
        ("INSIGHT_LLM__PROVIDER", "openai_compatible", "needs base_url"),
    ],
)
def test_bad_settings_fail_fast_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings(_env_file=None)  # type: ignore[call-arg]
