#!/usr/bin/python3
"""Peer timing for `cqseg bench`'s dcin_full item: full DCIN (GRIS + LRIS + ensemble) on one RGB image with
PyTorch + OpenCV, the same steps as cqseg's pipeline::run_dcin followed by the class map at the image's size:
  GRIS: l-alpha-beta colour transfer (OpenCV primitives, as reinhard.py's cv_transfer) toward the GRIS reference's
        precomputed statistics, bicubic resize to the model size, ImageNet normalisation, U-Net eval forward;
  LRIS: embed the untransferred image (bicubic resize, normalise, U-Net encoder, global average pool of the deepest
        features), centred cosine similarity against a bank of --bank embeddings, transfer toward the best match's
        statistics (cached per bank item, as cqseg caches them), U-Net forward;
  ensemble: mean of the two logit maps, argmax, nearest-neighbour resize back to the image's size.
The U-Net is torch_unet.py's (shared peers: $CQ_SHARED/peers, else ../../../shared/peers from this file), random init.
Usage: torch_dcin.py [--threads 2] [--model-hw 512x768] [--image-hw 584x565] [--classes 2] [--bank 4] [--reps 5]
       [--layout nchw|nhwc]
Prints: median_ms M min_ms A max_ms B (after one warm-up run)."""
import argparse, os, statistics, sys, time

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get("CQ_SHARED") or os.path.join(HERE, "..", "..", "..", "shared"),
                                "peers"))
import torch_unet  # noqa: E402

RGB2LMS = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]], np.float32)
LMS2RGB = np.linalg.inv(RGB2LMS.astype(np.float64)).astype(np.float32)
LMS2LAB = (np.diag([1 / np.sqrt(3), 1 / np.sqrt(6), 1 / np.sqrt(2)]) @
           np.array([[1, 1, 1], [1, 1, -2], [1, -1, 0]])).astype(np.float32)
LAB2LMS = np.linalg.inv(LMS2LAB.astype(np.float64)).astype(np.float32)
LN10 = np.float32(np.log(10.0))
M_FWD = (LMS2LAB / LN10).astype(np.float32)
EPS = float(np.float32(1.0 / 255))
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def synth(seed, h, w):
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([128 + 100 * np.sin(x / 50 + seed), 128 + 90 * np.cos(y / 40), 128 + 80 * np.sin((x + y) / 70)], -1)
    return np.clip(base + r.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def lab(img):
    lms = cv2.transform(img.astype(np.float32), RGB2LMS)
    cv2.max(lms, EPS, dst=lms)
    cv2.log(lms, dst=lms)
    return cv2.transform(lms, M_FWD)


def stats(img):
    mu, sd = cv2.meanStdDev(lab(img))
    return mu.ravel().astype(np.float32), sd.ravel().astype(np.float32)


def transfer(img, ref):
    mu_t, sd_t = ref
    la = lab(img)
    mu, sd = cv2.meanStdDev(la)
    mu, sd = mu.ravel().astype(np.float32), sd.ravel().astype(np.float32)
    s = sd_t / sd
    A = (LN10 * LAB2LMS) * s[None, :]
    b = (LN10 * LAB2LMS) @ (mu_t - s * mu)
    ll = cv2.transform(la, np.hstack([A, b[:, None]]).astype(np.float32))
    cv2.exp(ll, dst=ll)
    return cv2.convertScaleAbs(cv2.max(cv2.transform(ll, LMS2RGB), 0.0))


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--threads", type=int, default=2); a.add_argument("--model-hw", default="512x768")
    a.add_argument("--image-hw", default="584x565"); a.add_argument("--classes", type=int, default=2)
    a.add_argument("--bank", type=int, default=4); a.add_argument("--reps", type=int, default=5)
    a.add_argument("--layout", default="nchw")
    o = a.parse_args()
    torch.set_num_threads(o.threads); torch.manual_seed(0)
    H, W = map(int, o.model_hw.split("x")); ih, iw = map(int, o.image_hw.split("x"))
    fmt = torch.channels_last if o.layout == "nhwc" else torch.contiguous_format
    m = torch_unet.UNet(o.classes).eval().to(memory_format=fmt)

    def tensor(img):
        x = (cv2.resize(img, (W, H), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255 - MEAN) / STD
        return torch.from_numpy(x.transpose(2, 0, 1).copy())[None].to(memory_format=fmt)

    def predict(img):
        with torch.no_grad():
            return m(tensor(img))

    def embed(img):
        with torch.no_grad():
            x = tensor(img)
            for f in m.f:
                x = f(x)
            return x.mean((2, 3))[0].numpy().astype(np.float64)

    gris = stats(synth(100, ih, iw))
    bank_imgs = [synth(200 + i, ih, iw) for i in range(o.bank)]
    E = np.stack([embed(b) for b in bank_imgs])
    center = E.mean(0)
    E = E - center
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    cache = {}
    img = synth(1, ih, iw)

    def run():
        l_gris = predict(transfer(img, gris))
        q = embed(img) - center
        i = int(np.argmax(E @ (q / np.linalg.norm(q))))
        if i not in cache:
            cache[i] = stats(bank_imgs[i])
        l_lris = predict(transfer(img, cache[i]))
        cls = ((l_gris + l_lris) * 0.5)[0].argmax(0).to(torch.uint8).numpy()
        return cv2.resize(cls, (iw, ih), interpolation=cv2.INTER_NEAREST)

    run()  # warm-up (and fills the LRIS statistics cache, as a long run would)
    ts = []
    for _ in range(o.reps):
        t = time.perf_counter(); run(); ts.append((time.perf_counter() - t) * 1e3)
    print(f"median_ms {statistics.median(ts):.1f} min_ms {min(ts):.1f} max_ms {max(ts):.1f}")


if __name__ == "__main__":
    main()
