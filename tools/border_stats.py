#!/usr/bin/env python3
"""The two measurements behind docs/RESULTS.md's "colour statistics and the black camera border" (issue #9):

1. per domain, the share of pixels outside the field of view that a brightness threshold counts as lit
   (max(R,G,B) > T), from the data's fov/ masks;
2. per domain, the l-alpha-beta scale factors ref_std / image_std that the Reinhard transfer toward a reference
   applies, with the statistics over every pixel and over lit pixels only (SPEC.md "DCIN": RGB/255 -> LMS ->
   log10 with floor 1/255 -> l-alpha-beta; population std).

usage: tools/border_stats.py DATA_ROOT REFERENCE.png [DOMAIN ...] [--threshold T]
       e.g. tools/border_stats.py ../shared/data/fundus ../shared/data/fundus/DRIVE/train/images/31.png \\
            DRIVE/train DRIVE/test CHASEDB1/dev DRIVE-LQ/test
An analysis script, not part of the engine: it needs numpy and Pillow (the peers' Python environment).
"""
import os
import sys

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # the engine does not need these; say what is missing
    sys.exit("border_stats.py needs numpy and Pillow: %s" % e)

RGB_TO_LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
LMS_TO_LAB = np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @ np.array([[1, 1, 1], [1, 1, -2],
                                                                                   [1, -1, 0]])


def load_rgb(path):
    try:
        return np.asarray(Image.open(path).convert("RGB")).astype(np.float64)
    except OSError as e:
        sys.exit("border_stats.py: %s: %s" % (path, e))


def lab_std(rgb, threshold):
    """Population std of l, alpha, beta over every pixel (threshold < 0) or over max(R,G,B) > threshold."""
    x = rgb.reshape(-1, 3)
    if threshold >= 0:
        x = x[x.max(axis=1) > threshold]
    lab = np.log10(np.maximum(x / 255.0 @ RGB_TO_LMS.T, 1 / 255.0)) @ LMS_TO_LAB.T
    return lab.std(axis=0)


def main(argv):
    threshold = 10
    if "--threshold" in argv:
        i = argv.index("--threshold")
        threshold = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    if len(argv) < 3 or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if argv[:1] in (["-h"], ["--help"]) else 2)
    root, reference, domains = argv[0], argv[1], argv[2:]
    ref = load_rgb(reference)
    ref_all, ref_lit = lab_std(ref, -1), lab_std(ref, threshold)
    print("| domain | images | outside-FOV pixels lit (mean, min-max) | l scale, all pixels (mean, min-max) |"
          " l scale, lit pixels (mean, min-max) |")
    print("|---|---:|---|---|---|")
    for dom in domains:
        img_dir, fov_dir = os.path.join(root, dom, "images"), os.path.join(root, dom, "fov")
        if not os.path.isdir(img_dir):
            sys.exit("border_stats.py: %s: no images/ folder" % os.path.join(root, dom))
        fovs = {os.path.splitext(f)[0]: f for f in os.listdir(fov_dir)} if os.path.isdir(fov_dir) else {}
        lit_out, s_all, s_lit = [], [], []
        for name in sorted(os.listdir(img_dir)):
            rgb = load_rgb(os.path.join(img_dir, name))
            stem = os.path.splitext(name)[0]
            if stem in fovs:
                fov = np.asarray(Image.open(os.path.join(fov_dir, fovs[stem])).convert("L")) > 127
                if fov.shape != rgb.shape[:2]:
                    sys.exit("border_stats.py: %s: mask size %s, image %s" % (fovs[stem], fov.shape, rgb.shape[:2]))
                lit = rgb.max(axis=2) > threshold
                lit_out.append(lit[~fov].mean() if (~fov).any() else 0.0)
            s_all.append(ref_all[0] / max(lab_std(rgb, -1)[0], 1e-6))
            s_lit.append(ref_lit[0] / max(lab_std(rgb, threshold)[0], 1e-6))

        def fmt(v, pct=False):
            if not v:
                return "-"
            k = 100 if pct else 1
            f = "%.0f %%" if pct else "%.2f"
            return (f + " (" + f + "-" + f + ")") % (k * np.mean(v), k * np.min(v), k * np.max(v))
        print("| %s | %d | %s | %s | %s |" % (dom, len(s_all), fmt(lit_out, True), fmt(s_all), fmt(s_lit)))


if __name__ == "__main__":
    main(sys.argv[1:])
