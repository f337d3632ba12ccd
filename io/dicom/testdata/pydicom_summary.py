"""Print, as JSON lines, what pydicom reports for each DICOM file given on the command line.

Used by io/dicom tests to compare `biopipe inspect` with pydicom. Only pydicom's own
handlers (numpy, RLE) are enabled, so files needing extra plugins are reported as skipped.
"""
import json
import sys
import warnings

warnings.simplefilter("ignore")
import numpy as np
import pydicom
from pydicom.pixel_data_handlers import numpy_handler, rle_handler

pydicom.config.pixel_data_handlers = [numpy_handler, rle_handler]

for path in sys.argv[1:]:
    out = {"path": path}
    try:
        ds = pydicom.dcmread(path)
        if "PixelData" not in ds:
            out["skip"] = "no pixel data"
            print(json.dumps(out))
            continue
        arr = ds.pixel_array
    except Exception as e:  # pydicom cannot decode it without extra plugins
        out["skip"] = "%s: %s" % (type(e).__name__, e)
        print(json.dumps(out))
        continue
    inst = ds.get("InstanceNumber", None)
    out.update(
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        frames=int(ds.get("NumberOfFrames", 1) or 1),
        samples_per_pixel=int(ds.SamplesPerPixel),
        bits_allocated=int(ds.BitsAllocated),
        pixel_representation=int(ds.get("PixelRepresentation", 0)),
        photometric_interpretation=str(ds.PhotometricInterpretation),
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        modality=str(ds.get("Modality", "")),
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
        instance_number=None if inst is None or inst == "" else int(inst),
        rescale_slope=float(ds.get("RescaleSlope", 1) or 1),
        rescale_intercept=float(ds.get("RescaleIntercept", 0) or 0),
        pixel_min=float(arr.min()),
        pixel_max=float(arr.max()),
        pixel_mean=float(arr.astype(np.float64).mean()),
    )
    print(json.dumps(out))
