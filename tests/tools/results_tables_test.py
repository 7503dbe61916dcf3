#!/usr/bin/env python3
"""tools/results_tables.py on synthetic metrics.json files: mean ± sample std per cell, paired per-seed differences
(seeds from each run folder's manifest.json, or by file order without one), and the refusal of a seed given twice."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "results_tables.py")


def write_run(root, seed, mode, vessel, manifest=True):
    """One `cqseg eval` output of one model: vessel Dice per (domain, dcin) from `vessel`."""
    run = os.path.join(root, "s%d" % seed, mode)
    os.makedirs(run, exist_ok=True)
    if manifest:
        with open(os.path.join(run, "manifest.json"), "w") as f:
            json.dump({"config": {"seed": str(seed), "mode": mode}}, f)
    results = []
    for (domain, dcin), v in vessel.items():
        fov = {"dice_fg": v / 100, "dice_mean": (v / 100 + 0.96) / 2}
        results.append({"model": mode + " (" + mode + ")", "domain": domain, "dcin": dcin, "fov": fov,
                        "image": fov})
    metrics = {"models": [{"label": mode + " (" + mode + ")", "mode": mode,
                           "checkpoint": os.path.join(run, "best.safetensors")}],
               "domains": [{"name": "A"}], "dcin": ["none", "full"], "results": results}
    out = os.path.join(root, "s%d" % seed, "eval_" + mode)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "metrics.json")
    with open(path, "w") as f:
        json.dump(metrics, f)
    return path


def run_tool(paths):
    p = subprocess.run([sys.executable, TOOL] + paths, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


class ResultsTablesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def three_seeds(self, manifest=True):
        # S_aug: 70, 72, 74 without DCIN; 71, 74, 77 with it. S_CQG: 71, 71, 76 and 72, 75, 76.
        aug = [(70, 71), (72, 74), (74, 77)]
        cqg = [(71, 72), (71, 75), (76, 76)]
        paths = []
        for seed in range(3):
            paths.append(write_run(self.root, seed, "aug", {("A", "none"): aug[seed][0], ("A", "full"): aug[seed][1]},
                                   manifest))
            paths.append(write_run(self.root, seed, "cqg", {("A", "none"): cqg[seed][0], ("A", "full"): cqg[seed][1]},
                                   manifest))
        return paths

    def test_mean_std_and_paired_differences(self):
        rc, out, err = run_tool(self.three_seeds())
        self.assertEqual(rc, 0, err)
        self.assertIn("mean ± std over 3 seeds", out)
        self.assertIn("| S_aug | 72.00 ± 2.00 | **74.00 ± 3.00** |", out)
        self.assertIn("| S_CQG | 72.67 ± 2.89 | **74.33 ± 2.08** |", out)
        # S_CQG - S_aug per seed: none +1, -1, +2; full +1, +1, -1.
        self.assertIn("S_CQG - S_aug per seed", out)
        self.assertIn("| A | +0.67 ± 1.53 (2/3) | +0.33 ± 1.15 (2/3) |", out)
        # GRIS+LRIS - no DCIN: S_aug +1, +2, +3; S_CQG +1, +4, 0 (zero is not positive).
        self.assertIn("| S_aug | A | +2.00 ± 1.00 (3/3) |", out)
        self.assertIn("| S_CQG | A | +1.67 ± 2.08 (2/3) |", out)
        # Every seed side by side.
        self.assertIn("Vessel Dice per seed, inside the field of view (seed 0 / seed 1 / seed 2):", out)
        self.assertIn("| A | S_CQG | 71.00 / 71.00 / 76.00 | 72.00 / 75.00 / 76.00 |", out)
        self.assertEqual(err, "")

    def test_seed_from_manifest_not_file_order(self):
        paths = self.three_seeds()
        # S_CQG's files in reverse seed order: pairing by manifest seed must give the same differences.
        aug = [p for p in paths if "eval_aug" in p]
        cqg = [p for p in paths if "eval_cqg" in p]
        rc, out, err = run_tool(aug + cqg[::-1])
        self.assertEqual(rc, 0, err)
        self.assertIn("| A | +0.67 ± 1.53 (2/3) | +0.33 ± 1.15 (2/3) |", out)

    def test_seed_from_archived_run_folder(self):
        # An archive keeps sN/<mode>/manifest.json next to sN/eval_<mode>/ but not the path the checkpoint was
        # evaluated at: the run folder of the same name next to the metrics file's folder gives the seed.
        paths = self.three_seeds()
        for p in paths:
            with open(p) as f:
                m = json.load(f)
            ck = m["models"][0]["checkpoint"]
            m["models"][0]["checkpoint"] = os.path.join("/nonexistent/machine", os.path.basename(os.path.dirname(ck)),
                                                        "best.safetensors")
            with open(p, "w") as f:
                json.dump(m, f)
        aug = [p for p in paths if "eval_aug" in p]
        cqg = [p for p in paths if "eval_cqg" in p]
        rc, out, err = run_tool(aug + cqg[::-1])
        self.assertEqual(rc, 0, err)
        self.assertNotIn("pairing seeds by file order", err)
        self.assertIn("(seed 0 / seed 1 / seed 2)", out)
        self.assertIn("| A | +0.67 ± 1.53 (2/3) | +0.33 ± 1.15 (2/3) |", out)

    def test_file_order_without_manifests(self):
        rc, out, err = run_tool(self.three_seeds(manifest=False))
        self.assertEqual(rc, 0, err)
        self.assertIn("pairing seeds by file order", err)
        self.assertIn("(#1 / #2 / #3)", out)
        self.assertIn("| A | +0.67 ± 1.53 (2/3) | +0.33 ± 1.15 (2/3) |", out)

    def test_missing_seed_shows_a_dash(self):
        paths = [p for p in self.three_seeds() if not p.endswith(os.path.join("s2", "eval_cqg", "metrics.json"))]
        rc, out, err = run_tool(paths)
        self.assertEqual(rc, 0, err)
        self.assertIn("| A | S_CQG | 71.00 / 71.00 / - | 72.00 / 75.00 / - |", out)
        self.assertIn("| A | S_aug | 70.00 / 72.00 / 74.00 | 71.00 / 74.00 / 77.00 |", out)
        # The heading says how many seeds each model's means are over, not the largest count alone.
        self.assertIn("(mean ± std over the seeds each model has: S_aug 3, S_CQG 2)", out)
        self.assertIn("| S_CQG | 71.00 ± 0.00 | **73.50 ± 2.12** |", out)
        self.assertNotIn("over 3 seeds", out)

    def test_one_seed_has_no_paired_tables(self):
        rc, out, err = run_tool(self.three_seeds()[:2])
        self.assertEqual(rc, 0, err)
        self.assertIn("(one seed)", out)
        self.assertNotIn("per seed", out)

    def test_same_seed_twice_is_refused(self):
        paths = self.three_seeds()
        rc, out, err = run_tool([paths[0], paths[0]])
        self.assertNotEqual(rc, 0)
        self.assertIn("two files give S_aug, A, none for seed 0", err)

    def test_unreadable_file_is_named(self):
        rc, out, err = run_tool([os.path.join(self.root, "missing.json")])
        self.assertNotEqual(rc, 0)
        self.assertIn("missing.json", err)


if __name__ == "__main__":
    unittest.main()
