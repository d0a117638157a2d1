"""Configuration and recipe validation."""

from pathlib import Path

import pytest

from plateline.config import example_config_text, load_config, parse_config
from plateline.errors import ConfigError
from plateline.recipes import load_recipe, load_recipes


def test_example_config_is_valid_and_complete(tmp_path: Path) -> None:
    cfg_file = tmp_path / "line.toml"
    cfg_file.write_text(example_config_text(), encoding="utf-8")
    cfg = load_config(cfg_file)
    assert cfg.line_id == "L1"
    assert set(cfg.devices) == {"CONV", "S1", "CAM1"}
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
