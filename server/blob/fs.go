package blob

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tma-portal/tma/server/tma"
)

var _ tma.BlobStore = (*FS)(nil)

// tmpDir holds blobs that are still being written. Its name cannot clash with
// a fan-out directory, which is always two hex digits.
const tmpDir = "tmp"

// tmpSuffix marks files of ours in tmpDir, so that CleanTemp never removes
// anything an operator put there.
const tmpSuffix = ".tmp"

// FS keeps blobs as files under a root directory. A blob becomes visible
// under its final name only once it is complete and on disk, so a crash or
// a failed Put leaves at most a file in the tmp directory, which CleanTemp
// removes.
type FS struct {
	root string
}

// NewFS creates root (0700) if needed. Root must be private to the process:
// the files are encrypted, but their sizes and times are still metadata.
func NewFS(root string) (*FS, error) {
	const op = "blob.NewFS"
	if root == "" {
		return nil, &tma.Error{Code: tma.EINVALID, Op: op, Message: "Blob root directory required."}
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, tma.Wrap(op, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, tmpDir), 0o700); err != nil {
		return nil, tma.Wrap(op, err)
	}
	return &FS{root: abs}, nil
}

// path fans blobs out over ab/cd/ so that no directory grows too large to
// list or fsync quickly. Only ids that pass tma.ValidID ever reach it, so
// the result cannot escape root.
func (s *FS) path(id string) string {
	return filepath.Join(s.root, id[0:2], id[2:4], id)
}

// Put writes r to a private temporary file, fsyncs it and links it under its
// final name. Linking, unlike renaming, fails if the name exists, so two
// concurrent Puts of one id cannot overwrite each other.
func (s *FS) Put(ctx context.Context, id string, r io.Reader) (int64, error) {
	const op = "blob.FS.Put"
	if err := checkID(op, id); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, tma.Wrap(op, err)
	}
	final := s.path(id)
	if _, err := os.Lstat(final); err == nil {
		return 0, errConflict(op, id)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, tma.Wrap(op, err)
	}

	f, err := os.CreateTemp(filepath.Join(s.root, tmpDir), id+"-*"+tmpSuffix)
	if err != nil {
		return 0, tma.Wrap(op, err)
	}
	tmp := f.Name()
	// The temporary name is never needed after Put: on success the blob
	// lives on under its final name, on failure it must go.
	defer os.Remove(tmp)

	n, err := io.Copy(f, ctxReader{ctx: ctx, r: r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, tma.Wrap(op, err)
	}

	if err := s.mkdirSynced(filepath.Dir(final)); err != nil {
		return 0, tma.Wrap(op, err)
	}
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, errConflict(op, id)
		}
		return 0, tma.Wrap(op, err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		// The blob is complete, but its name may not survive a crash;
		// undo it so that the caller's failure is the truth.
		_ = os.Remove(final)
		return 0, tma.Wrap(op, err)
	}
	return n, nil
}

// mkdirSynced creates dir and any missing parents below root and fsyncs the
// parent of each one it creates, so that a new fan-out directory survives a
// crash together with the blob linked into it.
func (s *FS) mkdirSynced(dir string) error {
	if dir == s.root {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := s.mkdirSynced(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // a concurrent Put made it
		}
		return err
	}
	return syncDir(parent)
}

// Open hands out the file itself, opened read-only, so that reads cost no
// copy and the caller's Close frees the descriptor.
func (s *FS) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	const op = "blob.FS.Open"
	f, _, err := s.open(ctx, op, id)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// OpenRange reads through a SectionReader so that the caller cannot read past
// the requested range. An offset at the end of the blob gives an empty
// reader, an offset beyond it EINVALID.
func (s *FS) OpenRange(ctx context.Context, id string, off, n int64) (io.ReadCloser, error) {
	const op = "blob.FS.OpenRange"
	if off < 0 {
		return nil, errRange(op)
	}
	f, size, err := s.open(ctx, op, id)
	if err != nil {
		return nil, err
	}
	if off > size {
		f.Close()
		return nil, errRange(op)
	}
	if n < 0 || n > size-off {
		n = size - off
	}
	return sectionReadCloser{io.NewSectionReader(f, off, n), f}, nil
}

type sectionReadCloser struct {
	*io.SectionReader
	io.Closer
}

func (s *FS) open(ctx context.Context, op, id string) (*os.File, int64, error) {
	if err := checkID(op, id); err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, tma.Wrap(op, err)
	}
	// O_NOFOLLOW: like Stat and List, Open never follows a link planted
	// under a blob's name.
	f, err := os.OpenFile(s.path(id), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ELOOP) {
		return nil, 0, errNotFound(op, id)
	} else if err != nil {
		return nil, 0, tma.Wrap(op, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, tma.Wrap(op, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, errNotFound(op, id)
	}
	return f, fi.Size(), nil
}

// Stat uses Lstat, so that a symlink planted in the tree is not followed
// and is reported as missing.
func (s *FS) Stat(ctx context.Context, id string) (tma.BlobInfo, error) {
	const op = "blob.FS.Stat"
	if err := checkID(op, id); err != nil {
		return tma.BlobInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return tma.BlobInfo{}, tma.Wrap(op, err)
	}
	fi, err := os.Lstat(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return tma.BlobInfo{}, errNotFound(op, id)
	} else if err != nil {
		return tma.BlobInfo{}, tma.Wrap(op, err)
	}
	if !fi.Mode().IsRegular() {
		return tma.BlobInfo{}, errNotFound(op, id)
	}
	return tma.BlobInfo{ID: id, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes the blob's name and fsyncs the directory, so that a deleted
// blob does not come back after a crash.
func (s *FS) Delete(ctx context.Context, id string) error {
	const op = "blob.FS.Delete"
	if err := checkID(op, id); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return tma.Wrap(op, err)
	}
	p := s.path(id)
	if err := os.Remove(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return tma.Wrap(op, err)
	}
	return tma.Wrap(op, syncDir(filepath.Dir(p)))
}

// List walks the fan-out tree. It skips the tmp directory and anything that
// is not a blob at its proper place, so that half-written or stray files are
// never reported. Errors from fn are returned unchanged.
func (s *FS) List(ctx context.Context, fn func(tma.BlobInfo) error) error {
	const op = "blob.FS.List"
	var fnErr error
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != s.root {
				return nil // removed during the walk
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == tmpDir {
				return fs.SkipDir
			}
			return nil
		}
		id := d.Name()
		if !d.Type().IsRegular() || !tma.ValidID(id) || rel != filepath.Join(id[0:2], id[2:4], id) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
		if err := fn(tma.BlobInfo{ID: id, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	return tma.Wrap(op, err)
}

// CleanTemp removes temporary files older than olderThan, which a crash or a
// killed process may have left behind. The grace period must exceed the
// longest Put, or CleanTemp would pull a file from under a running one.
func (s *FS) CleanTemp(olderThan time.Duration) (removed int, err error) {
	const op = "blob.FS.CleanTemp"
	dir := filepath.Join(s.root, tmpDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, tma.Wrap(op, err)
	}
	cutoff := time.Now().Add(-olderThan)
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), tmpSuffix) {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return removed, tma.Wrap(op, err)
		}
		if fi.ModTime().After(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, tma.Wrap(op, err)
		}
		removed++
	}
	return removed, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
