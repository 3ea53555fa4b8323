package main

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal, where a redrawn progress bar
// makes sense. Anything else (a pipe, a log, a test buffer) gets lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress shows the progress of a long command: a bar on a terminal, and
// otherwise one line per tenth of the work, so that logs stay short.
type progress struct {
	w         io.Writer
	tty       bool
	desc      string // the bar's description: "rewrapping case keys"
	line      string // a line's format, with done and total: "rewrapped %d of %d case key(s)"
	bar       *progressbar.ProgressBar
	done      int
	lastTenth int
}

// newRotateProgress shows the progress of a key rotation.
func newRotateProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, tty: tty, desc: "rewrapping case keys", line: "rewrapped %d of %d case key(s)"}
}

func (p *progress) update(done, total int) {
	p.done = done
	if p.tty {
		if p.bar == nil {
			p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(p.desc), progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true))
		} else if total != p.bar.GetMax() {
			p.bar.ChangeMax(total)
		}
		_ = p.bar.Set(done)
		return
	}
	if tenth := done * 10 / max(total, 1); tenth > p.lastTenth || done == total {
		p.lastTenth = tenth
		fmt.Fprintf(p.w, p.line+"\n", done, total)
	}
}

// stop ends the bar where it stands, so an interrupted run does not
// show as complete.
func (p *progress) stop(complete bool) {
	if p.bar == nil {
		return
	}
	if complete {
		_ = p.bar.Finish()
	} else {
		_ = p.bar.Exit()
	}
	fmt.Fprintln(p.w)
}
