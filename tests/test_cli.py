"""The command line: exit codes and messages a person sees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from plateline.cli import main

PLATELINE = [sys.executable, "-m", "plateline.cli"]


def test_config_example_then_check(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["config", "example"]) == 0
    example = capsys.readouterr().out
    cfg = tmp_path / "line.toml"
    cfg.write_text(example, encoding="utf-8")
    assert main(["config", "check", str(cfg)]) == 0
    assert "valid; line L1" in capsys.readouterr().out


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "line.toml"
    cfg.write_text('line_id = "L1"\n[devices.CONV]\ndriver = "modbus"\nhost = "x"\n',
                   encoding="utf-8")
    proc = subprocess.run([*PLATELINE, "run", "--config", str(cfg)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "devices.S1 is missing" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_refused_order_file_lists_every_bad_row(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    main(["config", "example"])
    cfg = tmp_path / "line.toml"
    cfg.write_text(capsys.readouterr().out, encoding="utf-8")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,product,plate_no,plate_type,plate_count,waybill_no,recipient_name,"
        "recipient_phone,recipient_address,status\n"
        "ORD-000001,plate-pair,粤A12345,blue,2,SF1234567890,张三,13812345678,广州市,open\n"
        "ORD-000002,plate-pair,粤AI2345,blue,2,SF1234567891,李四,13812345679,广州市,open\n"
        "ORD-000003,plate-pair,粤A12345,purple,2,SF1234567892,王五,13812345670,广州市,open\n",
        encoding="utf-8")
    assert main(["orders", "import", "--config", str(cfg), str(orders)]) == 2
    err = capsys.readouterr().err
    assert "row 3: plate_no" in err
    assert "row 4: plate_type" in err
    assert "13812345679" not in err  # personal data stays masked in messages
    # nothing of the refused file was stored: the good row can be imported later as new
    good = tmp_path / "good.csv"
    good.write_text("\n".join(orders.read_text(encoding="utf-8").splitlines()[:2]) + "\n",
                    encoding="utf-8")
    assert main(["orders", "import", "--config", str(cfg), str(good)]) == 0
    assert "created=1" in capsys.readouterr().out


def test_sim_has_its_own_help() -> None:
    proc = subprocess.run([*PLATELINE, "sim", "-h"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "--devices" in proc.stdout and "--speed" in proc.stdout
