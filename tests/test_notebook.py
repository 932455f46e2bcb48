"""The Colab notebook runs top to bottom on CPU with tiny settings, so it cannot rot.

Every code cell runs in order in one fresh Python process, except those tagged
`colab-only` (install, Drive, TensorBoard magics); the `parameters` cell is replaced by
tiny settings.
"""

import json
import os
import subprocess
import sys

import pytest

import fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "notebooks", "rankjax_colab.ipynb")
TINY = '''
PRESET = "crowd_cpu_small"
CHANGES = {"width": 0.125, "image_size": 32, "patch_min": 16, "patch_max": 32, "steps": 4,
           "labeled_batch": 2, "ranked_groups": 1, "ranked_per_group": 3, "eval_every": 2,
           "checkpoint_every": 2, "log_every": 2, "deterministic": True}
WORKDIR = "runs/colab_crowd"
'''


def cells():
    notebook = json.load(open(NOTEBOOK))
    return [("".join(c["source"]), c.get("metadata", {}).get("tags", []))
            for c in notebook["cells"] if c["cell_type"] == "code"]


def test_only_colab_cells_need_ipython_or_colab():
    for source, tags in cells():
        if "colab-only" in tags:
            continue
        for line in source.splitlines():
            assert not line.lstrip().startswith(("!", "%")), line  # would not run here
        assert "google.colab" not in source or "except ImportError" in source


@pytest.mark.slow  # end to end, up to 2 minutes: `pytest -m slow` runs it, the default run not
def test_notebook_runs_top_to_bottom(tmp_path):
    parts = []
    for source, tags in cells():
        if "colab-only" in tags:
            continue
        parts.append(TINY if "parameters" in tags else source)
    script = tmp_path / "notebook.py"
    script.write_text("import matplotlib\nmatplotlib.use('Agg')\n" + "\n\n".join(parts))
    env = fixtures.child_env(PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "test metrics of the best checkpoint on validation" in out.stdout
    assert "grace_hopper.jpg: " in out.stdout and " people" in out.stdout
    assert (tmp_path / "runs" / "colab_crowd" / "training_curves.png").is_file()
