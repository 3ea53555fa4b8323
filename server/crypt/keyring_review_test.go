package crypt

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReview2KeyringLongLine: bufio.Scanner stops at a line over 64 KiB and
// parseKeyring never checks sc.Err(): every line after it is dropped
// silently, and the next change writes the keyring back without them.
func TestReview2KeyringLongLine(t *testing.T) {
	k := base64.StdEncoding.EncodeToString(make([]byte, 32))
	data := "format 2\nid keyring-00112233445566778899aabbccddeeff\n" +
		"tenant aaaa v1 " + k + "\n" +
		"# " + strings.Repeat("x", 70000) + "\n" +
		"tenant bbbb v1 " + k + "\n"
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadKeyring(path)
	if err != nil {
		t.Logf("refused (good): %v", err)
		return
	}
	if _, err := p.Current(context.Background(), "cccc"); err != nil { // any change rewrites the file
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !strings.Contains(string(after), "tenant bbbb v1") {
		t.Fatalf("keyring loaded without error, and tenant bbbb's KEK was dropped from the file by the next change; info now %+v", p.Info())
	}
}
