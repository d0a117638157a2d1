"""Configuration and recipe validation."""

from pathlib import Path

import pytest

from plateline.config import OpcUaDevice, example_config_text, load_config, parse_config
from plateline.errors import ConfigError
from plateline.recipes import load_recipe, load_recipes


def test_example_config_is_valid_and_complete(tmp_path: Path) -> None:
    cfg_file = tmp_path / "line.toml"
    cfg_file.write_text(example_config_text(), encoding="utf-8")
    cfg = load_config(cfg_file)
    assert cfg.line_id == "L1"
    assert set(cfg.devices) == {"CONV", "S1", "CAM1", "PACK", "W1", "P1", "S2"}
    assert cfg.stations == ("INFEED", "VISION", "PACK", "WEIGH", "LABEL")
    pack = cfg.devices["PACK"]
    assert isinstance(pack, OpcUaDevice)
    assert pack.certificate == tmp_path / "pki/controller.der"
    assert cfg.devices["W1"].port == str(tmp_path / "var/sim/W1")  # type: ignore[union-attr]
    # relative paths are taken from the file's folder
    assert cfg.database.url == f"sqlite:///{tmp_path}/var/plateline.db"
    assert cfg.devices["S1"].port == str(tmp_path / "var/sim/S1")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('port = 5020', 'port = 99999'), "devices.CONV"),
        (('driver = "http"', 'driver = "ftp"'), "devices.CAM1"),
        (('line_id = "L1"', 'line_id = "L 1"'), "line_id"),
        (('heartbeat_period_s = 0.1', 'heartbeat_period_s = 2'), "timing.heartbeat_period_s"),
        (('url = "sqlite:///var/plateline.db"', 'url = "mysql://x"'), "database.url"),
        (('[devices.S1]', '[devices.S9]'), "devices.S1 is missing"),
        (('timeout_s = 0.3', 'timeout_s = 0.3\nbogus = 1'), "bogus"),
    ],
)
def test_bad_config_names_the_problem(change: tuple[str, str], message: str) -> None:
    text = example_config_text().replace(*change, 1)
    with pytest.raises(ConfigError) as err:
        parse_config(text, source="line.toml")
    assert message in str(err.value)
    assert "line.toml" in str(err.value)


def test_config_not_toml() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("line_id = ", source="x.toml")


def test_reference_recipes_load() -> None:
    recipes = load_recipes()
    assert set(recipes) == {"plate-pair", "plate-single", "ebike-plate", "licence-doc"}
    assert recipes["plate-pair"].plates.count == 2
    assert recipes["licence-doc"].plates.types == ()
    assert (recipes["plate-pair"].weight.min_g, recipes["plate-pair"].weight.max_g) == (370, 400)


def test_bad_recipe_refused_with_clear_message(tmp_path: Path) -> None:
    src = Path(__file__).parents[1] / "plateline/recipes/products/plate-pair.toml"
    bad = tmp_path / "plate-pair.toml"
    bad.write_text(src.read_text(encoding="utf-8").replace("seal_temp_c = 175", "seal_temp_c = 500")
                   .replace('types = ["blue"', 'types = ["purple", "blue"'), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_recipe(bad)
    assert "packer.seal_temp_c" in str(err.value)
    assert "purple" in str(err.value)


def _without(text: str, *devices: str) -> str:
    """``text`` without the sections of ``devices``."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        if line.startswith("[devices."):
            skipping = line.strip()[9:-1] in devices
        elif line.startswith("#") and skipping:
            continue
        if not skipping:
            out.append(line)
    return "".join(out)


def test_stations_follow_the_devices() -> None:
    text = example_config_text()
    slice1 = parse_config(_without(text, "PACK", "W1", "P1", "S2"))
    assert slice1.stations == ("INFEED", "VISION")
    assert parse_config(_without(text, "PACK")).stations == ("INFEED", "VISION", "WEIGH",
                                                              "LABEL")
    assert parse_config(_without(text, "W1", "P1", "S2")).stations == ("INFEED", "VISION",
                                                                        "PACK")
    with pytest.raises(ConfigError, match="devices.S2 is missing"):
        parse_config(_without(text, "S2"))
    with pytest.raises(ConfigError, match="devices.W1 has the wrong driver"):
        parse_config(text.replace('driver = "mtsics"', 'driver = "zpl"'))


def test_none_endpoint_refused_in_production_unless_allowed() -> None:
    insecure = example_config_text().replace('security = "SignAndEncrypt"', 'security = "None"')
    assert parse_config(insecure).devices["PACK"].security == "None"  # type: ignore[union-attr]
    production = insecure.replace("production = false", "production = true")
    with pytest.raises(ConfigError, match="allow_insecure") as err:
        parse_config(production, source="line.toml")
    assert "devices.PACK" in str(err.value)
    allowed = production.replace("allow_insecure = false", "allow_insecure = true")
    assert parse_config(allowed).production
    secure = example_config_text().replace("production = false", "production = true")
    assert parse_config(secure).devices["PACK"].security == "SignAndEncrypt"  # type: ignore[union-attr]


def test_secure_endpoint_needs_certificate() -> None:
    text = example_config_text().replace('certificate = "pki/controller.der"\n', "")
    with pytest.raises(ConfigError, match="needs certificate and private_key"):
        parse_config(text)


def test_password_never_shown_and_read_from_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = example_config_text().replace('password_env = "PLATELINE_PACK_PASSWORD"',
                                         'password = "s3cret-pw"')
    pack = parse_config(text).devices["PACK"]
    assert isinstance(pack, OpcUaDevice)
    assert "s3cret-pw" not in repr(pack) and "s3cret-pw" not in str(parse_config(text))
    assert pack.resolved_password() == "s3cret-pw"
    env = parse_config(example_config_text()).devices["PACK"]
    assert isinstance(env, OpcUaDevice)
    monkeypatch.delenv("PLATELINE_PACK_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="PLATELINE_PACK_PASSWORD"):
        env.resolved_password()
    monkeypatch.setenv("PLATELINE_PACK_PASSWORD", "from-env")
    assert env.resolved_password() == "from-env"
    both = example_config_text().replace('user = "line"', 'user = "line"\npassword = "x"')
    with pytest.raises(ConfigError, match="not both"):
        parse_config(both)
