"""A plain (non-editable) install works as a new user's would: build the wheel, install it into a fresh virtual
environment outside the repository, then `rag ingest` and `rag ask` a copied transcript in another folder.

The fresh environment gets the already installed dependencies (torch, models ...) through a path entry to this
environment's site-packages, whose own .pth files (the editable install of this checkout) are not read, so the
`rag`, `ui` and `prompts` it imports are the wheel's.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "briefings" / "001_459d63326f653d88.txt"


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp / "dist"), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp / "dist").glob("briefing_rag-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "deps-from-build-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    inst = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert inst.returncode == 0, inst.stderr[-2000:]
    return wheel, venv


def test_wheel_ships_the_prompt_templates_and_ui_files(wheel_env):
    wheel, _ = wheel_env
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (ROOT / "prompts").glob("*.txt")}
    assert templates and {f"prompts/{t}" for t in templates} <= names
    assert "ui/static/app.css" in names and "rag/answer/pipeline.py" in names
    assert not any(n.startswith(("tests/", "eval/", "data/")) for n in names)


@pytest.mark.slow
def test_installed_wheel_ingests_and_answers_outside_the_repository(wheel_env, tmp_path):
    _, venv = wheel_env
    work = tmp_path / "elsewhere"
    work.mkdir()
    shutil.copy(SAMPLE, work / "blinken.txt")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RAG_PROMPTS_DIR")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    rag = str(venv / "bin" / "rag")
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import rag, prompts; print(rag.__file__, prompts.__file__)"],
                           capture_output=True, text=True, cwd=work, env=env)
    assert str(ROOT) not in where.stdout and str(venv) in where.stdout, where.stdout + where.stderr
    ing = subprocess.run([rag, "ingest", "blinken.txt", "--index", "idx"], capture_output=True, text=True, cwd=work,
                         env=env, timeout=900)
    assert ing.returncode == 0, ing.stderr[-2000:]
    ask = subprocess.run([rag, "ask", "What did Blinken say about Russian forces near Ukraine?", "--index", "idx",
                          "--json"], capture_output=True, text=True, cwd=work, env=env, timeout=900)
    assert ask.returncode == 0, ask.stderr[-2000:]
    answer = json.loads(ask.stdout)
    assert not answer["abstained"] and answer["citations"], answer["answer"]
    c = answer["citations"][0]
    assert c["speaker"] == "SECRETARY BLINKEN" and f"[{c['n']}]" in answer["answer"]
    spoken = " ".join((work / "blinken.txt").read_text(encoding="utf-8").split())
    assert " ".join(c["quote"].split()) in spoken   # verbatim words of the transcript
