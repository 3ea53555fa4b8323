package extract

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/tma-portal/tma/server/tma"
)

// PDFs are read by poppler's pdftotext (Debian's poppler-utils), run as a
// separate program. Of the extractors tried on real PDFs it is the only one
// that is both exact and cheap: text in reading order with umlauts, "€" and
// dashes, where ledongthuc/pdf garbles "€" and "–"; PDFium as WebAssembly
// (klippa-app/go-pdfium) is as exact but needs about 4 s per instance and
// 20 MB of binary. Running it as a program also contains poppler's C++
// parser, the part most exposed to hostile files: a crash or a runaway
// costs one process, not the server. GPL is no concern for a program we
// run and do not link.
//
// The PDF never touches the disk: pdftotext reads it from a pipe on stdin
// ("-" is poppler's fd://0, which it caches in memory) and writes the text
// to a pipe on stdout. Each run:
//   - gets a time limit (Config.PDFTimeout) after which its whole process
//     group is killed with SIGKILL;
//   - runs under "ulimit -v" (Config.PDFMemory) and a CPU-time limit, set
//     by /bin/sh, which then execs pdftotext, so the limits apply before
//     the first byte of the PDF is parsed;
//   - gets an environment of only PATH and TMPDIR;
//   - has its output capped, and its messages thrown away: they quote the
//     PDF, so they must not reach a log.
//
// -enc UTF-8 fixes the output encoding whatever the locale. -layout is not
// used: it pads columns with spaces and interleaves columns side by side
// line by line, which breaks phrases apart; the default reading order keeps
// them together.

// pdfOutputMax is how much of pdftotext's output is kept: twice the text
// limit, as normalisation removes spaces and blank lines.
const pdfOutputMax = 2 * tma.MaxExtractText

// limitShell sets the limits given as $1 (KiB of address space) and $2
// (CPU seconds), then becomes the program and its arguments that follow.
const limitShell = `ulimit -v "$1" && ulimit -t "$2" || exit 125; shift 2; exec "$@"`

// pdfText extracts the text of a PDF with pdftotext.
func (x *TextExtractor) pdfText(ctx context.Context, data []byte, w *textBuilder) error {
	bin, err := x.pdftotext()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, x.cfg.PDFTimeout)
	defer cancel()

	cpu := int64(x.cfg.PDFTimeout/time.Second) + 1
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", limitShell, "sh",
		strconv.FormatInt(x.cfg.PDFMemory>>10, 10), strconv.FormatInt(cpu, 10),
		bin, "-q", "-enc", "UTF-8", "-eol", "unix", "-nopgbrk", "-", "-")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if tmp, ok := os.LookupEnv("TMPDIR"); ok {
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	}
	cmd.Stdin = bytes.NewReader(data)
	out := &capWriter{max: pdfOutputMax}
	cmd.Stdout = out
	cmd.Stderr = nil // discarded: pdftotext quotes the PDF in its messages
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// If a child of the group kept a pipe open, Wait would wait for it.
	cmd.WaitDelay = time.Second

	err = cmd.Start()
	if err != nil {
		x.warnUnavailable(bin, err)
		return tma.Errorf(tma.EUNAVAILABLE, "PDF text extraction is not available.")
	}
	err = cmd.Wait()
	// Anything the program left behind in its group goes with it.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)

	if ctx.Err() == context.DeadlineExceeded {
		return tma.Errorf(tma.ETOOLARGE, "The PDF took longer than %s to read; its text is not searched.", x.cfg.PDFTimeout)
	}
	if err != nil {
		return pdfError(x, bin, err)
	}
	w.write(string(out.b))
	return nil
}

// pdfError classifies a failed pdftotext run.
func pdfError(x *TextExtractor, bin string, err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err // an I/O error of the pipes
	}
	ws, _ := ee.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled() && (ws.Signal() == syscall.SIGXCPU || ws.Signal() == syscall.SIGKILL || ws.Signal() == syscall.SIGABRT):
		// SIGABRT is poppler's std::bad_alloc under ulimit -v.
		return tma.Errorf(tma.ETOOLARGE, "The PDF needs more memory or time than allowed; its text is not searched.")
	case ws.Signaled():
		return tma.Errorf(tma.EINVALID, "The PDF could not be read.")
	case ee.ExitCode() == 125 || ee.ExitCode() == 126 || ee.ExitCode() == 127:
		// The limits could not be set, or the program could not be run.
		x.warnUnavailable(bin, err)
		return tma.Errorf(tma.EUNAVAILABLE, "PDF text extraction is not available.")
	default:
		// 1: damaged or password protected; 3: copying not permitted;
		// 99: other errors.
		return tma.Errorf(tma.EINVALID, "The PDF could not be read (damaged or password protected).")
	}
}

// pdftotext returns the path of the program, or EUNAVAILABLE.
func (x *TextExtractor) pdftotext() (string, error) {
	bin := x.cfg.PDFToText
	if bin == "" {
		bin = "pdftotext"
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		x.warnUnavailable(bin, err)
		return "", tma.Errorf(tma.EUNAVAILABLE, "PDF text extraction is not available.")
	}
	return p, nil
}

// warnUnavailable logs, once per process, that PDFs go without text.
func (x *TextExtractor) warnUnavailable(bin string, err error) {
	x.warnOnce.Do(func() {
		x.cfg.Logger.Warn("pdftotext is unavailable: PDFs are stored, but their text is not searched; install poppler-utils (scripts/pdftotext.sh) or set TMA_PDFTOTEXT",
			"pdftotext", bin, "err", err)
	})
}

// capWriter keeps the first max bytes written to it and discards the rest,
// without failing the writer (a failed pipe would end pdftotext with
// SIGPIPE, which is harder to tell from a crash).
type capWriter struct {
	b   []byte
	max int
}

func (c *capWriter) Write(p []byte) (int, error) {
	if room := c.max - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
