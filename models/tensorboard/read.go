package tensorboard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Event is a decoded event: the file version (first event) or a summary of values.
type Event struct {
	WallTime    float64
	Step        int64
	FileVersion string
	Values      []Value
}

// Value is one decoded Summary.Value: exactly one of Simple, Image or Histo is set.
type Value struct {
	Tag    string
	Simple *float32
	Image  *Image
	Histo  *Histogram
}

// Image is a decoded Summary.Image.
type Image struct {
	Height, Width, Colorspace int
	PNG                       []byte
}

// ReadFile decodes every event of an event file, checking each record's CRCs.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	evs, err := Read(f)
	if err != nil {
		return evs, fmt.Errorf("%s: %w", path, err)
	}
	return evs, nil
}

// Read decodes TFRecords of events from r until EOF.
func Read(r io.Reader) ([]Event, error) {
	var out []Event
	for n := 0; ; n++ {
		var hdr [12]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("record %d: truncated header: %w", n, err)
		}
		if got, want := binary.LittleEndian.Uint32(hdr[8:]), MaskedCRC(hdr[:8]); got != want {
			return out, fmt.Errorf("record %d: length CRC %08x, want %08x", n, got, want)
		}
		size := binary.LittleEndian.Uint64(hdr[:8])
		if size > 1<<30 {
			return out, fmt.Errorf("record %d: length %d is implausible", n, size)
		}
		data := make([]byte, size+4)
		if _, err := io.ReadFull(r, data); err != nil {
			return out, fmt.Errorf("record %d: truncated data: %w", n, err)
		}
		if got, want := binary.LittleEndian.Uint32(data[size:]), MaskedCRC(data[:size]); got != want {
			return out, fmt.Errorf("record %d: data CRC %08x, want %08x", n, got, want)
		}
		ev, err := decodeEvent(data[:size])
		if err != nil {
			return out, fmt.Errorf("record %d: %w", n, err)
		}
		out = append(out, ev)
	}
}

func decodeEvent(b []byte) (Event, error) {
	var ev Event
	err := fields(b, func(f, wire int, v uint64, p []byte) error {
		switch {
		case f == 1 && wire == wireFixed64:
			ev.WallTime = math.Float64frombits(v)
		case f == 2 && wire == wireVarint:
			ev.Step = int64(v)
		case f == 3 && wire == wireBytes:
			ev.FileVersion = string(p)
		case f == 5 && wire == wireBytes:
			return fields(p, func(f, wire int, _ uint64, p []byte) error {
				if f != 1 || wire != wireBytes {
					return nil
				}
				val, err := decodeValue(p)
				ev.Values = append(ev.Values, val)
				return err
			})
		}
		return nil
	})
	return ev, err
}

func decodeValue(b []byte) (Value, error) {
	var v Value
	err := fields(b, func(f, wire int, x uint64, p []byte) error {
		switch {
		case f == 1 && wire == wireBytes:
			v.Tag = string(p)
		case f == 2 && wire == wireFixed32:
			s := math.Float32frombits(uint32(x))
			v.Simple = &s
		case f == 4 && wire == wireBytes:
			img := &Image{}
			v.Image = img
			return fields(p, func(f, wire int, x uint64, p []byte) error {
				switch {
				case f == 1 && wire == wireVarint:
					img.Height = int(x)
				case f == 2 && wire == wireVarint:
					img.Width = int(x)
				case f == 3 && wire == wireVarint:
					img.Colorspace = int(x)
				case f == 4 && wire == wireBytes:
					img.PNG = append([]byte(nil), p...)
				}
				return nil
			})
		case f == 5 && wire == wireBytes:
			h := &Histogram{}
			v.Histo = h
			return fields(p, func(f, wire int, x uint64, p []byte) error {
				d := math.Float64frombits(x)
				switch {
				case f == 1 && wire == wireFixed64:
					h.Min = d
				case f == 2 && wire == wireFixed64:
					h.Max = d
				case f == 3 && wire == wireFixed64:
					h.Num = d
				case f == 4 && wire == wireFixed64:
					h.Sum = d
				case f == 5 && wire == wireFixed64:
					h.SumSquares = d
				case (f == 6 || f == 7) && wire == wireBytes:
					if len(p)%8 != 0 {
						return fmt.Errorf("histogram field %d: %d bytes is not a packed double array", f, len(p))
					}
					for i := 0; i < len(p); i += 8 {
						d := math.Float64frombits(binary.LittleEndian.Uint64(p[i:]))
						if f == 6 {
							h.BucketLimit = append(h.BucketLimit, d)
						} else {
							h.Bucket = append(h.Bucket, d)
						}
					}
				}
				return nil
			})
		}
		return nil
	})
	return v, err
}

// fields walks the fields of a protocol buffer message: fn gets the field number, wire
// type, the value of varint/fixed fields and the payload of length-delimited ones.
// Unknown fields are skipped.
func fields(b []byte, fn func(field, wire int, v uint64, p []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("bad field key")
		}
		b = b[n:]
		field, wire := int(key>>3), int(key&7)
		var v uint64
		var p []byte
		switch wire {
		case wireVarint:
			v, n = binary.Uvarint(b)
			if n <= 0 {
				return fmt.Errorf("field %d: bad varint", field)
			}
			b = b[n:]
		case wireFixed64:
			if len(b) < 8 {
				return fmt.Errorf("field %d: truncated fixed64", field)
			}
			v, b = binary.LittleEndian.Uint64(b), b[8:]
		case wireFixed32:
			if len(b) < 4 {
				return fmt.Errorf("field %d: truncated fixed32", field)
			}
			v, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return fmt.Errorf("field %d: bad length", field)
			}
			p, b = b[n:n+int(l)], b[n+int(l):]
		default:
			return fmt.Errorf("field %d: unsupported wire type %d", field, wire)
		}
		if err := fn(field, wire, v, p); err != nil {
			return err
		}
	}
	return nil
}
