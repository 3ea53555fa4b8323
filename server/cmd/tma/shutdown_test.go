package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tma-portal/tma/server/postgres/pgtest"
)

// TestGracefulShutdown runs the real binary, sends it SIGTERM while a slow
// request is in flight, and checks that the request completes, that new
// connections are refused, and that the process exits cleanly.
func TestGracefulShutdown(t *testing.T) {
	cmd := exec.Command(buildTMA(t), "serve")
	cmd.Env = append(os.Environ(),
		"TMA_DATABASE_URL="+pgtest.URL(t), "TMA_DATA_DIR="+t.TempDir(), "TMA_LISTEN=127.0.0.1:0", "TMA_SHUTDOWN_TIMEOUT=20s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// The first log line names the bound address.
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	addrRe := regexp.MustCompile(`"url":"http://([^"]+)"`)
	var addr string
	for addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("server exited before serving")
			}
			if m := addrRe.FindStringSubmatch(l); m != nil {
				addr = m[1]
			}
		case <-time.After(20 * time.Second):
			t.Fatal("server did not start")
		}
	}

	// A slow client: headers and half of the body now, the rest after SIGTERM.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "tenant=demo&email=someone%40example.org&password=not-the-password"
	head := "POST /login HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, head+body[:10]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server has read the first bytes

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !freePortClosed(t, addr) {
		if time.Now().After(deadline) {
			t.Fatal("new connections are still accepted after SIGTERM")
		}
		time.Sleep(50 * time.Millisecond)
	}

	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatalf("finishing the in-flight request: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := io.ReadAll(conn)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("reading the response: %v", err)
	}
	// No CSRF cookie: the request is refused with a complete 403 response.
	if !strings.HasPrefix(string(resp), "HTTP/1.1 403") || !strings.Contains(string(resp), "</html>") {
		t.Fatalf("in-flight request did not complete: %.300q", resp)
	}

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not exit after draining")
	}
	stopped := false
	for l := range lines {
		stopped = stopped || strings.Contains(l, `"msg":"stopped"`)
	}
	if !stopped {
		t.Fatal(`no "stopped" log line`)
	}
}
