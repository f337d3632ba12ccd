"""Decode a TensorBoard event file with Python's protobuf runtime and print it as JSON.

Usage: decode_events.py GENERATED_DIR EVENT_FILE
GENERATED_DIR holds tfevents_pb2.py (protoc --python_out of tfevents.proto). The TFRecord
framing is checked here with a CRC32C written independently of biopipe's Go code.
"""
import json
import struct
import sys

sys.path.insert(0, sys.argv[1])
import tfevents_pb2  # noqa: E402


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


out = []
with open(sys.argv[2], "rb") as f:
    while True:
        header = f.read(8)
        if not header:
            break
        (length,) = struct.unpack("<Q", header)
        (lcrc,) = struct.unpack("<I", f.read(4))
        assert lcrc == masked(header), "length CRC"
        data = f.read(length)
        (dcrc,) = struct.unpack("<I", f.read(4))
        assert dcrc == masked(data), "data CRC"
        ev = tfevents_pb2.Event.FromString(data)
        rec = {"wall_time": ev.wall_time, "step": ev.step}
        if ev.HasField("file_version"):
            rec["file_version"] = ev.file_version
        values = []
        for v in ev.summary.value:
            kind = v.WhichOneof("value")
            item = {"tag": v.tag, "kind": kind}
            if kind == "simple_value":
                item["value"] = v.simple_value
            elif kind == "histo":
                h = v.histo
                item["num"] = h.num
                item["min"] = h.min
                item["max"] = h.max
                item["bucket"] = list(h.bucket)
                item["bucket_limit"] = list(h.bucket_limit)
            elif kind == "image":
                item["height"] = v.image.height
                item["width"] = v.image.width
                item["png_bytes"] = len(v.image.encoded_image_string)
            values.append(item)
        if values:
            rec["values"] = values
        out.append(rec)
print(json.dumps(out))
