"""``sg.save`` / ``sg.load``: tensors, state dicts and optimizer state as ``.npz``, never pickle.

A file is numpy's ``.npz`` (a zip of ``.npy`` arrays, read with
``allow_pickle=False``).  The nesting (dicts, lists, tuples, numbers, strings,
``None``) is a JSON string in the entry ``__symgrad__``, whose arrays are the
entries ``a0``, ``a1``, ...; each array's SHA-256 and the header's are stored,
so a truncated or tampered file is refused with a ValueError naming the file and
what is wrong.  ``sg.load`` reads and checks the whole file before it returns
anything; ``sg.save`` writes to a temporary file and renames it, so a failed save
leaves an existing checkpoint whole.

>>> import os, tempfile, numpy as np, symgrad as sg
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> sg.save({"w": sg.tensor([1.0, 2.0]), "step": 3, "betas": (0.9, 0.999)}, path)
>>> sg.load(path)
{'w': tensor([1., 2.]), 'step': 3, 'betas': (0.9, 0.999)}
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from typing import Any, Union

import numpy as np

from symgrad.tensor import Tensor

__all__ = ["save", "load"]

FORMAT = "symgrad.save"
VERSION = 1
_HEADER, _DIGEST = "__symgrad__", "__digest__"
PathLike = Union[str, "os.PathLike[str]"]


def save(obj: Any, path: PathLike) -> None:
    """Write ``obj`` to ``path`` (an ``.npz`` file; no pickle).

    ``obj``: a Tensor, numpy array, number, string, ``None``, or dicts (str/int
    keys), lists and tuples of these, e.g. ``model.state_dict()`` or
    ``{"model": ..., "optimizer": opt.state_dict(), "scheduler": ...}``.
    Anything else raises TypeError naming where it is; nothing is written then.
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays, "obj")
    header = {"format": FORMAT, "version": VERSION, "tree": tree,
              "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape),
                             "sha256": _sha(v)} for k, v in arrays.items()}}
    hbytes = json.dumps(header, allow_nan=True).encode()
    entries = {_HEADER: np.frombuffer(hbytes, dtype=np.uint8),
               _DIGEST: np.frombuffer(hashlib.sha256(hbytes).hexdigest().encode(),
                                      dtype=np.uint8), **arrays}
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".symgrad-save-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **entries)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: PathLike) -> Any:
    """Read an object written by :func:`save`; tensors come back as Tensors (with their
    ``requires_grad``), numpy arrays as arrays, tuples as tuples.

    Raises ValueError naming the file and the fault for a file that is not a
    symgrad save, is truncated, or whose contents do not match their checksums.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            entries = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, NotImplementedError,
            RuntimeError) as e:
        raise ValueError(f"sg.load: {path!r} is not a readable .npz file (truncated or "
                         f"corrupted?): {type(e).__name__}: {e}") from None
    if _HEADER not in entries or _DIGEST not in entries:
        raise ValueError(f"sg.load: {path!r} is an .npz file but not one written by sg.save "
                         f"(no {_HEADER!r} entry); use numpy.load for plain .npz files")
    hbytes = entries.pop(_HEADER).tobytes()
    if hashlib.sha256(hbytes).hexdigest().encode() != entries.pop(_DIGEST).tobytes():
        raise ValueError(f"sg.load: {path!r} was modified after it was saved: its header does "
                         "not match its checksum")
    try:
        header = json.loads(hbytes.decode())
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"sg.load: {path!r} has an unreadable header: {e}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"sg.load: {path!r} is not a symgrad save file")
    if header.get("version") != VERSION:
        raise ValueError(f"sg.load: {path!r} has format version {header.get('version')!r}; "
                         f"this symgrad reads version {VERSION}")
    meta = header.get("arrays")
    if not isinstance(meta, dict) or set(meta) != set(entries):
        raise ValueError(f"sg.load: {path!r} lists arrays {sorted(meta or ())} but holds "
                         f"{sorted(entries)}")
    for k, arr in entries.items():
        m = meta[k]
        if arr.dtype.str != m.get("dtype") or list(arr.shape) != m.get("shape") or \
                _sha(arr) != m.get("sha256"):
            raise ValueError(f"sg.load: {path!r}: array {k!r} does not match its checksum "
                             "(the file was modified or damaged)")
    used: set[str] = set()
    obj = _decode(header.get("tree"), entries, used, path, "obj")
    if used != set(entries):
        raise ValueError(f"sg.load: {path!r} holds arrays no entry refers to: "
                         f"{sorted(set(entries) - used)}")
    return obj


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _encode(obj: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    """``obj`` as JSON-able data; arrays go to ``arrays`` (iterative-enough: state
    dicts are a few levels deep)."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)) and not isinstance(obj, np.generic):
        return obj
    if isinstance(obj, Tensor):
        if obj.value is None:
            raise TypeError(f"sg.save: {where} is a symbolic tensor (no value); only tensors "
                            "with values can be saved")
        return {"tensor": _add(arrays, obj.value, where), "requires_grad": obj.requires_grad}
    if isinstance(obj, np.ndarray):
        return {"ndarray": _add(arrays, obj, where)}
    if isinstance(obj, np.generic):
        return {"scalar": _add(arrays, np.asarray(obj), where)}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not (isinstance(k, (str, int)) and not isinstance(k, bool)):
                raise TypeError(f"sg.save: {where} has a key {k!r} of type "
                                f"{type(k).__name__}; keys must be str or int")
            items.append([k, _encode(v, arrays, f"{where}[{k!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        tag = "list" if isinstance(obj, list) else "tuple"
        return {tag: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(f"sg.save: {where} is a {type(obj).__name__}, which sg.save does not "
                    "write (it never pickles); save tensors, arrays, numbers, strings, None "
                    "and dicts/lists/tuples of them")


def _add(arrays: dict[str, np.ndarray], a: np.ndarray, where: str) -> str:
    if a.dtype.kind not in "biufc":
        raise TypeError(f"sg.save: {where} has dtype {a.dtype}; only numeric and bool arrays "
                        "are saved")
    name = f"a{len(arrays)}"
    arrays[name] = a
    return name


def _decode(node: Any, arrays: dict[str, np.ndarray], used: set[str], path: str,
            where: str) -> Any:
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    bad = ValueError(f"sg.load: {path!r}: the entry at {where} is malformed")
    if not isinstance(node, dict) or not node:
        raise bad
    if "tensor" in node or "ndarray" in node or "scalar" in node:
        key = "tensor" if "tensor" in node else "ndarray" if "ndarray" in node else "scalar"
        name = node[key]
        if not isinstance(name, str) or name not in arrays:
            raise ValueError(f"sg.load: {path!r}: {where} refers to a missing array {name!r}")
        used.add(name)
        a = np.array(arrays[name], copy=True)
        if key == "ndarray":
            return a
        if key == "scalar":
            return a[()]
        t = Tensor._wrap(a)
        if node.get("requires_grad"):
            t.requires_grad_(True)
        return t
    if len(node) != 1:
        raise bad
    (tag, body), = node.items()
    if not isinstance(body, list):
        raise bad
    if tag == "dict":
        out = {}
        for item in body:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))):
                raise bad
            out[item[0]] = _decode(item[1], arrays, used, path, f"{where}[{item[0]!r}]")
        return out
    if tag in ("list", "tuple"):
        vals = [_decode(v, arrays, used, path, f"{where}[{i}]") for i, v in enumerate(body)]
        return vals if tag == "list" else tuple(vals)
    raise bad
