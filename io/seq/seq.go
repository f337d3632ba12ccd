// Package seq reads biological sequence files: FASTA (one or many lines per sequence) and
// FASTQ (with quality strings), plain or gzip-compressed, one record at a time. Errors name
// the file and line. It also holds the nucleotide and protein alphabets with their IUPAC
// ambiguity codes and complements, which the sequence stages encode with.
package seq

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// Format of a sequence file.
const (
	FASTA = "fasta"
	FASTQ = "fastq"
)

// Record is one sequence.
type Record struct {
	ID   string // the header up to the first white space
	Desc string // the rest of the header, trimmed
	Seq  []byte // residues as written in the file, line breaks removed
	Qual []byte // FASTQ only: one quality character per residue, as written (see QualityOffset)
	Line int    // line of the record's header in the file (1-based)
}

// Reader streams the records of one FASTA or FASTQ file. The format is decided by the first
// non-blank line: '>' starts FASTA, '@' starts FASTQ.
type Reader struct {
	name    string
	br      *bufio.Reader
	closers []io.Closer
	line    int    // lines consumed so far
	peek    []byte // a line read ahead (the next FASTA header), without its newline
	peeked  bool
	format  string
	done    bool
}

// ErrorAt is a parse error at a line of a file.
type ErrorAt struct {
	File string
	Line int
	Msg  string
}

func (e *ErrorAt) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Open opens a FASTA/FASTQ file, gzip-compressed or not (decided by the magic bytes).
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closers = append(r.closers, f)
	return r, nil
}

// NewReader reads records from r; name is used in errors. Gzip input is decompressed.
func NewReader(r io.Reader, name string) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	rd := &Reader{name: name, br: br}
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rd.br = bufio.NewReaderSize(zr, 1<<16)
		rd.closers = append(rd.closers, zr)
	}
	return rd, nil
}

// Close releases the file.
func (r *Reader) Close() error {
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i].Close())
	}
	r.closers = nil
	return errors.Join(errs...)
}

// Format returns FASTA or FASTQ once the first record has been read ("" before).
func (r *Reader) Format() string { return r.format }

// Name is the file name used in errors.
func (r *Reader) Name() string { return r.name }

// readLine returns the next line without its line ending, or io.EOF.
func (r *Reader) readLine() ([]byte, error) {
	if r.peeked {
		r.peeked = false
		return r.peek, nil
	}
	line, err := r.br.ReadBytes('\n')
	if len(line) == 0 && err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%s:%d: %w", r.name, r.line+1, err)
	}
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s:%d: %w", r.name, r.line+1, err)
	}
	r.line++
	line = bytes.TrimRight(line, "\r\n")
	return line, nil
}

func (r *Reader) unread(line []byte) { r.peek, r.peeked = line, true }

func (r *Reader) errf(line int, format string, args ...any) error {
	return &ErrorAt{File: r.name, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Next returns the next record, or io.EOF after the last one.
func (r *Reader) Next() (*Record, error) {
	if r.done {
		return nil, io.EOF
	}
	var head []byte
	for {
		line, err := r.readLine()
		if err == io.EOF {
			r.done = true
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) > 0 {
			head = line
			break
		}
	}
	at := r.line
	if r.format == "" {
		switch head[0] {
		case '>':
			r.format = FASTA
		case '@':
			r.format = FASTQ
		default:
			return nil, r.errf(at, "not a FASTA or FASTQ file: the first line starts with %q, not '>' or '@'", clip(head))
		}
	}
	if r.format == FASTA {
		return r.fasta(head, at)
	}
	return r.fastq(head, at)
}

func (r *Reader) header(head []byte, at int) *Record {
	fields := bytes.TrimSpace(head[1:])
	rec := &Record{Line: at}
	if i := bytes.IndexAny(fields, " \t"); i >= 0 {
		rec.ID, rec.Desc = string(fields[:i]), string(bytes.TrimSpace(fields[i+1:]))
	} else {
		rec.ID = string(fields)
	}
	return rec
}

func (r *Reader) fasta(head []byte, at int) (*Record, error) {
	if head[0] != '>' {
		return nil, r.errf(at, "expected a FASTA header starting with '>', found %q", clip(head))
	}
	rec := r.header(head, at)
	for {
		line, err := r.readLine()
		if err == io.EOF {
			r.done = true
			return rec, nil
		}
		if err != nil {
			return nil, err
		}
		if len(line) > 0 && line[0] == '>' {
			r.unread(line)
			return rec, nil
		}
		if len(line) > 0 && line[0] == ';' { // old-style comment line
			continue
		}
		if rec.Seq, err = r.appendResidues(rec.Seq, line); err != nil {
			return nil, err
		}
	}
}

// appendResidues appends the residues of one sequence line, skipping white space; any other
// character than a letter, '*', '-' or '.' is an error naming the line and column.
func (r *Reader) appendResidues(dst, line []byte) ([]byte, error) {
	for i, c := range line {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '*', c == '-', c == '.':
			dst = append(dst, c)
		case c == ' ', c == '\t':
		default:
			return nil, r.errf(r.line, "column %d: %q is not a sequence character (letters, '*', '-', '.')", i+1, rune(c))
		}
	}
	return dst, nil
}

func (r *Reader) fastq(head []byte, at int) (*Record, error) {
	if head[0] != '@' {
		return nil, r.errf(at, "expected a FASTQ header starting with '@', found %q", clip(head))
	}
	rec := r.header(head, at)
	// Sequence lines up to the '+' separator.
	for {
		line, err := r.readLine()
		if err == io.EOF {
			return nil, r.errf(at, "record %q ends before its '+' line", rec.ID)
		}
		if err != nil {
			return nil, err
		}
		if len(line) > 0 && line[0] == '+' {
			if id := bytes.TrimSpace(line[1:]); len(id) > 0 && !bytes.Equal(id, bytes.TrimSpace(head[1:])) && string(id) != rec.ID {
				return nil, r.errf(r.line, "the '+' line names %q, but the record is %q", clip(id), rec.ID)
			}
			break
		}
		if len(line) > 0 && line[0] == '@' && len(rec.Seq) == 0 {
			return nil, r.errf(r.line, "record %q has no '+' line before the next header", rec.ID)
		}
		if rec.Seq, err = r.appendResidues(rec.Seq, line); err != nil {
			return nil, err
		}
	}
	// Quality lines until they are as long as the sequence ('@' may start a quality line).
	sep := r.line
	for len(rec.Qual) < len(rec.Seq) {
		line, err := r.readLine()
		if err == io.EOF {
			return nil, r.errf(sep, "record %q: quality has %d characters, sequence %d", rec.ID, len(rec.Qual), len(rec.Seq))
		}
		if err != nil {
			return nil, err
		}
		for i, c := range line {
			if c < '!' || c > '~' {
				return nil, r.errf(r.line, "column %d: %q is not a quality character ('!' to '~')", i+1, rune(c))
			}
		}
		rec.Qual = append(rec.Qual, line...)
	}
	if len(rec.Qual) != len(rec.Seq) {
		return nil, r.errf(r.line, "record %q: quality has %d characters, sequence %d", rec.ID, len(rec.Qual), len(rec.Seq))
	}
	return rec, nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// ReadFile reads every record of a file.
func ReadFile(ctx context.Context, path string) ([]*Record, string, error) {
	r, err := Open(path)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	var out []*Record
	for {
		if len(out)%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, "", err
			}
		}
		rec, err := r.Next()
		if err == io.EOF {
			return out, r.Format(), nil
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, rec)
	}
}
