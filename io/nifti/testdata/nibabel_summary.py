"""Print nibabel's reading of NIfTI files as JSON lines, for io/nifti's cross-check.

    /usr/bin/python3 nibabel_summary.py FILE...

Per file: version, shape, datatype code, scl_slope/scl_inter, qform/sform codes, the best
affine, axis codes, the scaled data (NaN count; sum, min, max and an index-weighted checksum
in NIfTI order, NaN left out), and the same for nibabel's closest canonical (RAS+) image.
"""
import json
import sys

import nibabel as nib
import numpy as np


def checksum(a):
    flat = np.asarray(a, dtype=np.float64).ravel(order="F")
    w = (np.arange(flat.size) % 97) + 1
    return float(np.nansum(flat * w))


for path in sys.argv[1:]:
    img = nib.load(path)
    h = img.header
    data = np.asarray(img.dataobj, dtype=np.float64)  # scaled, no caching of float32 copies
    can = nib.as_closest_canonical(img)
    cdata = np.asarray(can.dataobj, dtype=np.float64)
    slope, inter = h.get_slope_inter()
    out = {
        "file": path,
        "version": 2 if isinstance(h, nib.Nifti2Header) else 1,
        "shape": [int(x) for x in img.shape],
        "datatype": int(h["datatype"]),
        "slope": None if slope is None else float(slope),
        "inter": None if inter is None else float(inter),
        "qform_code": int(h["qform_code"]),
        "sform_code": int(h["sform_code"]),
        "affine": img.affine.tolist(),
        "axcodes": "".join(nib.aff2axcodes(img.affine)),
        "nans": int(np.isnan(data).sum()),
        "sum": float(np.nansum(data)),
        "min": float(np.nanmin(data)),
        "max": float(np.nanmax(data)),
        "checksum": checksum(data),
        "canonical_shape": [int(x) for x in can.shape],
        "canonical_affine": can.affine.tolist(),
        "canonical_checksum": checksum(cdata),
    }
    print(json.dumps(out))
