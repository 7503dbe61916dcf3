#!/usr/bin/env python3
"""PyTorch peer of cq_gpu_bench on the same GPU: the same U-Net (torchvision efficientnet_b2 features as the encoder,
decoder 256-128-64-32-16; as ../shared/peers/torch_unet.py) timed for a train step (batch 2, 256x256, Dice+CE loss,
Adam) and inference (batch 1, 512x768), NCHW and cudnn.benchmark on, FP32 (TF32 off) unless --tf32.
Prints lines "torch_<name> <ms> ms"; exits 0 with a SKIPPED line when torch/torchvision/CUDA are missing."""
import argparse, statistics, sys, time

def main():
    a = argparse.ArgumentParser()
    a.add_argument("--reps", type=int, default=10)
    a.add_argument("--tf32", action="store_true")
    o = a.parse_args()
    try:
        import torch, torch.nn as nn, torch.nn.functional as F, torchvision
    except Exception as e:  # noqa: BLE001
        print(f"torch_peer SKIPPED: {e}"); return 0
    if not torch.cuda.is_available():
        print("torch_peer SKIPPED: torch.cuda.is_available() is False"); return 0
    torch.backends.cuda.matmul.allow_tf32 = o.tf32
    torch.backends.cudnn.allow_tf32 = o.tf32
    torch.backends.cudnn.benchmark = True

    class Block(nn.Module):
        def __init__(s, cin, cskip, cout):
            super().__init__()
            s.c1 = nn.Sequential(nn.Conv2d(cin + cskip, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))
            s.c2 = nn.Sequential(nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))
        def forward(s, x, skip=None):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            if skip is not None: x = torch.cat([x, skip], 1)
            return s.c2(s.c1(x))

    class UNet(nn.Module):
        def __init__(s, classes):
            super().__init__()
            s.f = torchvision.models.efficientnet_b2().features[:8]
            s.d = nn.ModuleList([Block(352, 120, 256), Block(256, 48, 128), Block(128, 24, 64), Block(64, 32, 32), Block(32, 0, 16)])
            s.head = nn.Conv2d(16, classes, 3, padding=1)
        def forward(s, x):
            taps = []
            for i, m in enumerate(s.f):
                x = m(x)
                if i in (0, 2, 3, 5): taps.append(x)
            for blk, skip in zip(s.d, [taps[3], taps[2], taps[1], taps[0], None]):
                x = blk(x, skip)
            return s.head(x)

    def dice_ce(logits, y):
        p = logits.softmax(1); g = F.one_hot(y, logits.shape[1]).permute(0, 3, 1, 2).float()
        d = 1 - 2 * (p * g).sum((2, 3)) / ((g * g).sum((2, 3)) + (p * p).sum((2, 3)) + 1e-6)
        return F.cross_entropy(logits, y) + d.mean()

    def timed(f, reps):
        for _ in range(3): f()
        torch.cuda.synchronize(); ts = []
        for _ in range(reps):
            t = time.perf_counter(); f(); torch.cuda.synchronize(); ts.append((time.perf_counter() - t) * 1e3)
        return statistics.median(ts)

    dev = torch.device("cuda")
    torch.manual_seed(0)
    m = UNet(2).to(dev).train()
    opt = torch.optim.Adam(m.parameters(), 1e-3, foreach=True)
    x = torch.randn(2, 3, 256, 256, device=dev); y = torch.randint(0, 2, (2, 256, 256), device=dev)
    def step():
        opt.zero_grad(set_to_none=True); dice_ce(m(x), y).backward(); opt.step()
    print(f"torch_unet_train_step_b2_256x256 {timed(step, o.reps):.2f} ms (torch {torch.__version__})")
    m.eval(); xi = torch.randn(1, 3, 512, 768, device=dev)
    def infer():
        with torch.no_grad(): m(xi)
    print(f"torch_unet_infer_b1_512x768 {timed(infer, o.reps):.2f} ms")
    return 0

if __name__ == "__main__":
    sys.exit(main())
