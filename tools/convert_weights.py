#!/usr/bin/env python3
"""Convert a PyTorch weight file (.pth / .pt / .bin) to safetensors, keeping the tensor names.

    convert_weights.py INPUT OUTPUT [--prefix-strip module.] [--dtype f32] [--key state_dict] [--allow-pickle]

INPUT is a torch.save() file holding a state dict, or a checkpoint dict holding one under 'state_dict',
'model_state_dict' or 'model' (searched in that order, also nested; --key names it explicitly), or a whole
nn.Module. Non-tensor entries are skipped with a note on stderr. --prefix-strip removes a leading prefix from every
name that has it (repeatable; e.g. 'module.' from DataParallel checkpoints). --dtype f32 converts floating tensors
(f16, bf16, f64) to float32 and leaves integer and bool tensors (e.g. num_batches_tracked) as they are.

The safetensors file is written by the minimal writer below (struct + json, no safetensors package): 8-byte
little-endian header length, the UTF-8 JSON header padded with spaces to a multiple of 8, then the raw little-endian
C-order data, tensors ordered by descending element size then name (as the safetensors library does, so every tensor
is aligned to its element size). torch is needed only to read the pickle; the writer itself needs nothing but the
standard library, so it can be tested (and reused) without torch.

By default the file is loaded with torch.load(weights_only=True), which refuses to run code stored in the pickle;
--allow-pickle lifts that for checkpoints you trust that hold other Python objects (e.g. argparse namespaces).
"""
import argparse
import json
import os
import struct
import sys

# safetensors dtype -> element size in bytes.
ST_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")


class ConvertError(Exception):
    pass


def write_safetensors(path, tensors, metadata=None):
    """Writes tensors = [(name, st_dtype, shape, data_bytes), ...] to path (atomically via path + '.tmp').

    st_dtype is a safetensors dtype string ('F32', 'I64', ...), shape a list of ints, data_bytes the little-endian
    C-order contents. metadata: optional dict str -> str stored as __metadata__.
    """
    seen = set()
    checked = []
    for name, dtype, shape, data in tensors:
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ConvertError("invalid tensor name %r" % (name,))
        if name in seen:
            raise ConvertError("tensor name %r appears twice" % name)
        seen.add(name)
        if dtype not in ST_SIZES:
            raise ConvertError("tensor %r: unsupported dtype %r" % (name, dtype))
        shape = [int(d) for d in shape]
        if any(d < 0 for d in shape):
            raise ConvertError("tensor %r: negative size in shape %r" % (name, shape))
        numel = 1
        for d in shape:
            numel *= d
        if len(data) != numel * ST_SIZES[dtype]:
            raise ConvertError("tensor %r: %d bytes for %s%r (expected %d)" %
                               (name, len(data), dtype, shape, numel * ST_SIZES[dtype]))
        checked.append((name, dtype, shape, bytes(data)))
    checked.sort(key=lambda t: (-ST_SIZES[t[1]], t[0]))

    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, dtype, shape, data in checked:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)

    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, data in checked:
            f.write(data)
    os.replace(tmp, path)


def _torch_dtype_map(torch):
    return {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
            torch.bool: "BOOL"}


def tensor_record(torch, name, t, to_f32):
    """(name, st_dtype, shape, bytes) of a torch tensor, optionally with floating dtypes widened/narrowed to f32."""
    if sys.byteorder != "little":
        raise ConvertError("this writer assumes a little-endian host")
    t = t.detach().cpu()
    if to_f32 and t.is_floating_point():
        t = t.to(torch.float32)
    dmap = _torch_dtype_map(torch)
    if t.dtype not in dmap:
        raise ConvertError("tensor %r: dtype %s has no safetensors equivalent here" % (name, t.dtype))
    st = dmap[t.dtype]
    t = t.contiguous()
    # numpy has no bfloat16: reinterpret the same bits as int16 (identical bytes).
    raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
    return (name, st, list(t.shape), raw)


def find_state_dict(torch, obj, key=None, where="checkpoint"):
    """The name -> tensor mapping inside a loaded object (see the module docstring for the search order)."""
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if not isinstance(obj, dict):
        raise ConvertError("%s is a %s, not a state dict or checkpoint dict" % (where, type(obj).__name__))
    if key is not None:
        if key not in obj:
            raise ConvertError("%s has no key %r (keys: %s)" % (where, key, ", ".join(map(str, list(obj)[:20]))))
        return find_state_dict(torch, obj[key], None, "%s[%r]" % (where, key))
    if obj and all(torch.is_tensor(v) for v in obj.values()):
        return obj
    for k in STATE_DICT_KEYS:
        if k in obj and isinstance(obj[k], (dict, torch.nn.Module)):
            return find_state_dict(torch, obj[k], None, "%s[%r]" % (where, k))
    if any(torch.is_tensor(v) for v in obj.values()):
        return obj  # a state dict with some non-tensor extras; those are skipped with a note
    raise ConvertError("%s holds no tensors and none of the keys %s (keys: %s); name one with --key" %
                       (where, ", ".join(STATE_DICT_KEYS), ", ".join(map(str, list(obj)[:20]))))


def strip_prefixes(names, prefixes):
    out, taken = {}, set()
    for n in names:
        m = n
        for p in prefixes:
            if m.startswith(p):
                m = m[len(p):]
        if not m:
            raise ConvertError("stripping %r leaves an empty name for %r" % (prefixes, n))
        if m in taken:
            raise ConvertError("after stripping %r two tensors are both named %r" % (prefixes, m))
        taken.add(m)
        out[n] = m
    return out


def convert(src, dst, prefixes=(), dtype="keep", key=None, allow_pickle=False, log=sys.stderr):
    try:
        import torch
    except ImportError as e:
        raise ConvertError("reading PyTorch files needs torch (Debian: apt-get install python3-torch): %s" % e)
    try:
        obj = torch.load(src, map_location="cpu", weights_only=not allow_pickle)
    except TypeError:  # torch older than 1.13 has no weights_only
        obj = torch.load(src, map_location="cpu")
    except Exception as e:  # UnpicklingError and friends: name the file and the way out
        hint = "" if allow_pickle else " (if the file is trusted and holds other Python objects, use --allow-pickle)"
        raise ConvertError("cannot load %s: %s%s" % (src, e, hint))
    sd = find_state_dict(torch, obj, key)
    tensors = [(k, v) for k, v in sd.items() if torch.is_tensor(v)]
    skipped = [k for k, v in sd.items() if not torch.is_tensor(v)]
    for k in skipped:
        print("convert_weights: skipping non-tensor entry %r" % (k,), file=log)
    if not tensors:
        raise ConvertError("%s: the state dict holds no tensors" % src)
    names = strip_prefixes([k for k, _ in tensors], list(prefixes))
    records = [tensor_record(torch, names[k], v, dtype == "f32") for k, v in tensors]
    meta = {"format": "pt", "source": os.path.basename(src), "converter": "cqseg tools/convert_weights.py"}
    write_safetensors(dst, records, meta)
    print("convert_weights: wrote %d tensors to %s" % (len(records), dst), file=log)
    return len(records)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="PyTorch .pth/.pt/.bin file")
    ap.add_argument("output", help="safetensors file to write")
    ap.add_argument("--prefix-strip", action="append", default=[], metavar="PREFIX",
                    help="remove this leading prefix from tensor names (repeatable), e.g. 'module.'")
    ap.add_argument("--dtype", choices=["keep", "f32"], default="keep",
                    help="f32: store floating tensors as float32 (integer/bool tensors unchanged)")
    ap.add_argument("--key", help="checkpoint key holding the state dict (default: search %s)" %
                    ", ".join(STATE_DICT_KEYS))
    ap.add_argument("--allow-pickle", action="store_true",
                    help="load with weights_only=False (runs code in the pickle: trusted files only)")
    a = ap.parse_args(argv)
    try:
        convert(a.input, a.output, a.prefix_strip, a.dtype, a.key, a.allow_pickle)
    except (ConvertError, OSError) as e:
        print("convert_weights: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
