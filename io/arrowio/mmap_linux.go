package arrowio

import (
	"os"
	"syscall"
)

// minMapBytes: smaller files are read; mapping pays off on large ones.
const minMapBytes = 1 << 20

// mapFile maps a regular file of at least minMapBytes read-only, with its pages populated
// up front, and returns the bytes and the function that unmaps them; nil where the file
// is small, not regular or cannot be mapped (the caller reads it instead).
func mapFile(fh *os.File) ([]byte, func()) {
	st, err := fh.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() < minMapBytes || int64(int(st.Size())) != st.Size() {
		return nil, nil
	}
	data, err := syscall.Mmap(int(fh.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, nil
	}
	return data, func() { _ = syscall.Munmap(data) }
}
