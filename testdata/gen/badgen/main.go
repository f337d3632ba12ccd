// Command badgen writes the bad-input corpus of testdata/bad (see testdata/bad/README.md):
// every file is made from a valid one by a named, deterministic corruption.
//
//	go run ./testdata/gen/badgen -out testdata/bad
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/biopipe/biopipe/dataset"
	"github.com/biopipe/biopipe/io/arrowio"
	"github.com/biopipe/biopipe/io/dicom/dicomgen"
	"github.com/biopipe/biopipe/io/edf"
)

func main() {
	out := flag.String("out", "testdata/bad", "output folder")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "badgen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	files := map[string][]byte{}

	// DICOM: one valid 32x32 CT slice, then corrupted.
	in := &dicomgen.Instance{PatientID: "BAD-0001", PatientName: "Corpus^Bad", SOPInstanceUID: "1.2.826.0.1.3680043.9.7.1.1",
		SeriesInstanceUID: "1.2.826.0.1.3680043.9.7.1", Rows: 32, Columns: 32, BitsAllocated: 16, RescaleIntercept: -1024,
		RescaleSlope: 1, InstanceNumber: 1, Values: make([]int64, 32*32)}
	for i := range in.Values {
		in.Values[i] = int64(1000 + i%200)
	}
	dcm, err := in.Encode()
	if err != nil {
		return err
	}
	files["dicom/truncated.dcm"] = dcm[:len(dcm)*6/10]
	garbled := bytes.Clone(dcm)
	for i := 200; i < 420 && i < len(garbled); i++ {
		garbled[i] ^= 0x5A
	}
	files["dicom/garbled.dcm"] = garbled
	// Rows (0028,0010) US: explicit VR, 2-byte length 2 -> 0xFFFE
	rows := []byte{0x28, 0x00, 0x10, 0x00, 'U', 'S'}
	wrongVR := bytes.Clone(dcm)
	i := bytes.Index(wrongVR, rows)
	if i < 0 {
		return fmt.Errorf("no Rows element in the generated DICOM")
	}
	binary.LittleEndian.PutUint16(wrongVR[i+6:], 0xFFFE)
	files["dicom/wrong-vr-length.dcm"] = wrongVR
	// Pixel Data (7FE0,0010) OW: 4-byte length -> 0x7FFFFFF0 (2 GB claimed, 2 KB present)
	pix := []byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0}
	huge := bytes.Clone(dcm)
	if i = bytes.Index(huge, pix); i < 0 {
		return fmt.Errorf("no Pixel Data element in the generated DICOM")
	}
	binary.LittleEndian.PutUint32(huge[i+8:], 0x7FFFFFF0)
	files["dicom/pixel-length-2gb.dcm"] = huge

	// EDF: 4 channels x 2 records of 1 s at 64 Hz, EDF and BDF.
	edfFile, err := recording(edf.EDF)
	if err != nil {
		return err
	}
	bdfFile, err := recording(edf.BDF)
	if err != nil {
		return err
	}
	setField := func(b []byte, off, width int, v string) []byte {
		c := bytes.Clone(b)
		copy(c[off:off+width], fmt.Sprintf("%-*s", width, v))
		return c
	}
	files["edf/wrong-signal-count.edf"] = setField(edfFile, 252, 4, "9")        // ns: 4 -> 9
	files["edf/wrong-record-count.edf"] = setField(edfFile, 236, 8, "99999999") // records: 2 -> 99999999
	files["edf/bad-record-duration.edf"] = setField(edfFile, 244, 8, "1,0x")    // not a number
	// physical minimum of signal 1 (256 + 4*(16+80+8) = 672)
	files["edf/bad-physical-min.edf"] = setField(edfFile, 256+4*(16+80+8), 8, "abc")
	// digital min == digital max (a division by zero in the gain)
	files["edf/zero-digital-range.edf"] = setField(setField(edfFile, 256+4*(16+80+8+8+8), 8, "0"), 256+4*(16+80+8+8+8+8), 8, "0")
	hdr := 256 + 256*4
	files["bdf/cut-mid-record.bdf"] = bdfFile[:hdr+(len(bdfFile)-hdr)*3/4]

	// CSV / TSV
	files["csv/ragged.csv"] = []byte("id,age,label\np1,42,yes\np2,51,no,extra\np3,60,yes\n")
	files["csv/invalid-utf8.csv"] = []byte("id,age,label\np1,42,yes\np2,5\xff1,no\np3,60,yes\n")
	files["csv/mixed-line-endings.csv"] = []byte("id,age,label\r\np1,42,yes\np2,51,no\rp3,60,yes\r\n")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	fmt.Fprintf(zw, "id,note,label\np1,\"%s", strings.Repeat("x", 3<<20)) // an opened quote that never closes
	if err := zw.Close(); err != nil {
		return err
	}
	files["csv/unterminated-quote.csv.gz"] = gz.Bytes()

	// Expression
	files["expr/duplicate-gene.tsv"] = []byte("gene\ts1\ts2\ts3\nTP53\t1\t2\t3\nEGFR\t4\t5\t6\nTP53\t7\t8\t9\n")
	files["expr/duplicate-sample.tsv"] = []byte("gene\ts1\ts2\ts1\nTP53\t1\t2\t3\nEGFR\t4\t5\t6\n")
	files["expr/out-of-range.mtx"] = []byte("%%MatrixMarket matrix coordinate integer general\n3 2 3\n1 1 5\n4 1 2\n2 2 7\n")
	files["expr/nnz-claims-2g.mtx"] = []byte("%%MatrixMarket matrix coordinate integer general\n3 2 2000000000\n1 1 5\n")
	files["expr/tenx-missing-barcodes/matrix.mtx"] = []byte("%%MatrixMarket matrix coordinate integer general\n2 2 2\n1 1 5\n2 2 7\n")
	files["expr/tenx-missing-barcodes/features.tsv"] = []byte("ENSG1\tA\tGene Expression\nENSG2\tB\tGene Expression\n")

	// Parquet with a wrong magic
	f, _, err := arrowio.DecodeCSV(strings.NewReader("id,age,label\np1,42,yes\np2,51,no\n"), "t.csv", arrowio.CSVOptions{})
	if err != nil {
		return err
	}
	pq, err := parquetBytes(f)
	if err != nil {
		return err
	}
	copy(pq, "PAR0")
	files["table/wrong-magic.parquet"] = pq

	for name, b := range files {
		p := filepath.Join(out, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %d files under %s\n", len(files), out)
	return nil
}

// recording returns a valid EDF or BDF file: 4 channels, 2 one-second records at 64 Hz.
func recording(format edf.Format) ([]byte, error) {
	h := edf.Header{Format: format, Patient: "X X X X", Recording: "Startdate X X X X", Start: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC),
		RecordDuration: 1}
	dmin, dmax := -32768, 32767
	if format == edf.BDF {
		dmin, dmax = -8388608, 8388607
	}
	var samples [][]float64
	for _, l := range []string{"C3", "C4", "O1", "O2"} {
		h.Signals = append(h.Signals, edf.SignalHeader{Label: l, PhysicalDimension: "uV", PhysicalMin: -500, PhysicalMax: 500,
			DigitalMin: dmin, DigitalMax: dmax, SamplesPerRecord: 64})
		s := make([]float64, 128)
		for i := range s {
			s[i] = float64(i%32) - 16
		}
		samples = append(samples, s)
	}
	dir, err := os.MkdirTemp("", "badgen")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "r.edf")
	if err := edf.WriteFile(p, h, samples, nil); err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

func parquetBytes(f *dataset.Frame) ([]byte, error) {
	dir, err := os.MkdirTemp("", "badgen")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "t.parquet")
	if err := arrowio.WriteParquet(f, p); err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}
