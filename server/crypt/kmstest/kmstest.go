// Package kmstest runs an in-process stand-in for AWS KMS that speaks the
// real JSON 1.1 protocol, so that code using the AWS SDK KMS client can be
// tested without AWS. It models what matters for envelope encryption:
// ciphertexts bound to their key, key material version and encryption
// context; on-demand rotation that keeps old material; aliases; scheduled
// key deletion (DeleteScheduled ends the waiting period); and outages.
//
// It is for tests only: its keys live in memory and it checks no signature.
package kmstest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/tma-portal/tma/server/tma"
)

// Region and Account are what the server's key ARNs name.
const (
	Region  = "eu-central-1"
	Account = "111122223333"
)

// Server is a fake KMS endpoint.
type Server struct {
	URL string

	http *httptest.Server

	mu      sync.Mutex
	keys    map[string]*key   // by key id
	aliases map[string]string // alias name ("alias/...") → key id
	calls   map[string]int    // by operation
	down    bool
}

type key struct {
	id          string
	description string
	created     time.Time
	materials   [][]byte    // index = material version; the last one is current
	rotations   []time.Time // one per material after the first
	deletion    time.Time   // when scheduled for deletion; zero if not
}

func (k *key) arn() string { return "arn:aws:kms:" + Region + ":" + Account + ":key/" + k.id }

// NewServer starts a server that stops when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{keys: make(map[string]*key), aliases: make(map[string]string), calls: make(map[string]int)}
	s.http = httptest.NewServer(s)
	s.URL = s.http.URL
	t.Cleanup(s.http.Close)
	return s
}

// Client returns a KMS client for the server: static credentials, region
// eu-central-1, and quick retries so that outage tests stay fast. It reads
// nothing from the environment or ~/.aws.
func (s *Server) Client(context.Context) *kms.Client {
	return kms.New(kms.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDKMSTEST", "kmstest-secret", ""),
		HTTPClient:   s.http.Client(),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxBackoff = 5 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
	})
}

// CreateKey creates a symmetric key and returns its key id.
func (s *Server) CreateKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createKey("").id
}

// DeleteScheduled deletes every key scheduled for deletion, as KMS does when
// the waiting period ends: its material is gone, and so is every alias to
// it. It returns how many keys it deleted.
func (s *Server) DeleteScheduled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, k := range s.keys {
		if k.deletion.IsZero() {
			continue
		}
		for _, m := range k.materials {
			clear(m)
		}
		delete(s.keys, id)
		for a, target := range s.aliases {
			if target == id {
				delete(s.aliases, a)
			}
		}
		n++
	}
	return n
}

// KeyIDs returns the ids of the keys that exist, including those pending
// deletion.
func (s *Server) KeyIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.keys))
}

// SetDown simulates an outage: while down, every request gets a 503.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Calls returns how many requests for operation op (e.g. "Decrypt") the
// server answered, so tests can check that a cache saves calls.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *Server) createKey(description string) *key {
	k := &key{id: tma.NewID(), description: description, created: time.Now()}
	k.materials = append(k.materials, newMaterial())
	s.keys[k.id] = k
	return k
}

func newMaterial() []byte {
	m := make([]byte, 32)
	_, _ = rand.Read(m) // never fails
	return m
}

// apiError is a KMS error response.
type apiError struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Type + ": " + e.Message }

func errorf(typ, format string, args ...any) *apiError {
	return &apiError{Type: typ, Message: fmt.Sprintf(format, args...)}
}

// request holds the fields of every supported operation's input.
type request struct {
	KeyId                        string
	Description                  string
	KeySpec                      string
	NumberOfBytes                int
	Plaintext                    []byte
	CiphertextBlob               []byte
	EncryptionContext            map[string]string
	SourceKeyId                  string
	SourceEncryptionContext      map[string]string
	DestinationKeyId             string
	DestinationEncryptionContext map[string]string
	Limit                        int
	Marker                       string
	AliasName                    string
	TargetKeyId                  string
	PendingWindowInDays          int
}

// ServeHTTP implements the KMS JSON 1.1 protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	var req request
	var resp any
	var err error
	switch {
	case s.down:
		writeJSON(w, http.StatusServiceUnavailable, errorf("ServiceUnavailableException", "kmstest: simulated outage"))
		return
	case r.Method != http.MethodPost || !ok:
		err = errorf("UnknownOperationException", "not a KMS request")
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
		err = errorf("MissingAuthenticationTokenException", "request is not signed")
	default:
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err = json.Unmarshal(body, &req); err != nil {
			err = errorf("SerializationException", "%v", err)
			break
		}
		s.calls[op]++
		resp, err = s.handle(op, &req)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type object = map[string]any

func (s *Server) handle(op string, req *request) (any, error) {
	switch op {
	case "CreateKey":
		return object{"KeyMetadata": s.createKey(req.Description).metadata()}, nil
	case "DescribeKey":
		k, err := s.lookup(req.KeyId)
		if err != nil {
			return nil, err
		}
		return object{"KeyMetadata": k.metadata()}, nil
	case "GenerateDataKey":
		k, err := s.usable(req.KeyId)
		if err != nil {
			return nil, err
		}
		n := req.NumberOfBytes
		switch req.KeySpec {
		case "AES_256":
			n = 32
		case "AES_128":
			n = 16
		}
		if n < 1 || n > 1024 {
			return nil, errorf("ValidationException", "KeySpec or NumberOfBytes required")
		}
		plaintext := make([]byte, n)
		_, _ = rand.Read(plaintext)
		return object{"KeyId": k.arn(), "Plaintext": plaintext, "CiphertextBlob": k.seal(plaintext, req.EncryptionContext)}, nil
	case "Encrypt":
		k, err := s.usable(req.KeyId)
		if err != nil {
			return nil, err
		}
		return object{"KeyId": k.arn(), "CiphertextBlob": k.seal(req.Plaintext, req.EncryptionContext), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
	case "Decrypt":
		k, plaintext, err := s.open(req.CiphertextBlob, req.KeyId, req.EncryptionContext)
		if err != nil {
			return nil, err
		}
		return object{"KeyId": k.arn(), "Plaintext": plaintext, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
	case "ReEncrypt":
		src, plaintext, err := s.open(req.CiphertextBlob, req.SourceKeyId, req.SourceEncryptionContext)
		if err != nil {
			return nil, err
		}
		dst, err := s.usable(req.DestinationKeyId)
		if err != nil {
			return nil, err
		}
		return object{
			"SourceKeyId":    src.arn(),
			"KeyId":          dst.arn(),
			"CiphertextBlob": dst.seal(plaintext, req.DestinationEncryptionContext),
		}, nil
	case "RotateKeyOnDemand":
		k, err := s.usable(req.KeyId)
		if err != nil {
			return nil, err
		}
		k.materials = append(k.materials, newMaterial())
		k.rotations = append(k.rotations, time.Now())
		return object{"KeyId": k.id}, nil
	case "CreateAlias", "UpdateAlias":
		if !strings.HasPrefix(req.AliasName, "alias/") || strings.HasPrefix(req.AliasName, "alias/aws/") {
			return nil, errorf("ValidationException", "bad alias name")
		}
		k, err := s.usable(req.TargetKeyId)
		if err != nil {
			return nil, err
		}
		_, exists := s.aliases[req.AliasName]
		if op == "CreateAlias" && exists {
			return nil, errorf("AlreadyExistsException", "An alias with the name %s already exists", req.AliasName)
		}
		if op == "UpdateAlias" && !exists {
			return nil, errorf("NotFoundException", "Alias %s is not found", req.AliasName)
		}
		s.aliases[req.AliasName] = k.id
		return object{}, nil
	case "ScheduleKeyDeletion":
		k, err := s.lookup(req.KeyId)
		if err != nil {
			return nil, err
		}
		window := req.PendingWindowInDays
		if window == 0 {
			window = 30
		}
		if window < 7 || window > 30 {
			return nil, errorf("ValidationException", "PendingWindowInDays must be between 7 and 30")
		}
		if !k.deletion.IsZero() {
			return nil, errorf("KMSInvalidStateException", "%s is pending deletion", k.arn())
		}
		k.deletion = time.Now().Add(time.Duration(window) * 24 * time.Hour)
		return object{"KeyId": k.arn(), "DeletionDate": k.deletion.Unix(), "KeyState": "PendingDeletion", "PendingWindowInDays": window}, nil
	case "ListKeyRotations":
		k, err := s.lookup(req.KeyId)
		if err != nil {
			return nil, err
		}
		return k.listRotations(req.Limit, req.Marker)
	}
	return nil, errorf("UnknownOperationException", "kmstest does not implement %s", op)
}

// usable finds a key that may be used for cryptography: not one pending
// deletion.
func (s *Server) usable(id string) (*key, error) {
	k, err := s.lookup(id)
	if err == nil && !k.deletion.IsZero() {
		return nil, errorf("KMSInvalidStateException", "%s is pending deletion", k.arn())
	}
	return k, err
}

// lookup finds a key by id, ARN or alias name ("alias/...").
func (s *Server) lookup(id string) (*key, error) {
	if id == "" {
		return nil, errorf("ValidationException", "KeyId is required")
	}
	arnPrefix := "arn:aws:kms:" + Region + ":" + Account + ":key/"
	if target, ok := s.aliases[id]; ok {
		id = target
	}
	if k, ok := s.keys[strings.TrimPrefix(id, arnPrefix)]; ok {
		return k, nil
	}
	return nil, errorf("NotFoundException", "Key '%s' does not exist", id)
}

func (k *key) metadata() object {
	state := "Enabled"
	if !k.deletion.IsZero() {
		state = "PendingDeletion"
	}
	m := object{
		"KeyId":        k.id,
		"Arn":          k.arn(),
		"AWSAccountId": Account,
		"Description":  k.description,
		"CreationDate": k.created.Unix(),
		"Enabled":      k.deletion.IsZero(),
		"KeyState":     state,
		"KeySpec":      "SYMMETRIC_DEFAULT",
		"KeyUsage":     "ENCRYPT_DECRYPT",
		"KeyManager":   "CUSTOMER",
		"Origin":       "AWS_KMS",
	}
	if !k.deletion.IsZero() {
		m["DeletionDate"] = k.deletion.Unix()
	}
	return m
}

func (k *key) listRotations(limit int, marker string) (any, error) {
	start := 0
	if marker != "" {
		var err error
		if start, err = strconv.Atoi(marker); err != nil || start < 0 || start > len(k.rotations) {
			return nil, errorf("InvalidMarkerException", "bad marker")
		}
	}
	if limit <= 0 {
		limit = 100
	}
	end := min(start+limit, len(k.rotations))
	entries := []object{}
	for _, t := range k.rotations[start:end] {
		entries = append(entries, object{"KeyId": k.arn(), "RotationDate": t.Unix(), "RotationType": "ON_DEMAND"})
	}
	out := object{"Rotations": entries, "Truncated": end < len(k.rotations)}
	if end < len(k.rotations) {
		out["NextMarker"] = strconv.Itoa(end)
	}
	return out, nil
}

// A ciphertext blob is
//
//	format (1) = 1 || key id (36) || material version (4) || nonce (12) || AES-256-GCM ciphertext and tag
//
// with associated data = key id || material version || canonical context,
// so that it opens only under its key and its exact encryption context.
const blobFormat = 1

func (k *key) seal(plaintext []byte, ec map[string]string) []byte {
	version := uint32(len(k.materials) - 1)
	blob := append([]byte{blobFormat}, k.id...)
	blob = binary.BigEndian.AppendUint32(blob, version)
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	blob = append(blob, nonce...)
	return gcm(k.materials[version]).Seal(blob, nonce, plaintext, blobAD(k.id, version, ec))
}

func (s *Server) open(blob []byte, keyID string, ec map[string]string) (*key, []byte, error) {
	const idLen, head = 36, 1 + 36 + 4 + 12
	if len(blob) < head+16 || blob[0] != blobFormat {
		return nil, nil, errorf("InvalidCiphertextException", "malformed ciphertext")
	}
	k, err := s.usable(string(blob[1 : 1+idLen]))
	if err != nil {
		return nil, nil, err
	}
	if keyID != "" {
		named, err := s.lookup(keyID)
		if err != nil {
			return nil, nil, err
		}
		if named != k {
			return nil, nil, errorf("IncorrectKeyException", "the ciphertext was not encrypted under key %s", keyID)
		}
	}
	version := binary.BigEndian.Uint32(blob[1+idLen:])
	if int(version) >= len(k.materials) {
		return nil, nil, errorf("InvalidCiphertextException", "unknown key material")
	}
	plaintext, err := gcm(k.materials[version]).Open(nil, blob[head-12:head], blob[head:], blobAD(k.id, version, ec))
	if err != nil {
		return nil, nil, errorf("InvalidCiphertextException", "ciphertext does not decrypt with this encryption context")
	}
	return k, plaintext, nil
}

func blobAD(id string, version uint32, ec map[string]string) []byte {
	ad := binary.BigEndian.AppendUint32([]byte(id), version)
	for _, name := range slices.Sorted(maps.Keys(ec)) {
		for _, s := range [...]string{name, ec[name]} {
			ad = binary.BigEndian.AppendUint32(ad, uint32(len(s)))
			ad = append(ad, s...)
		}
	}
	return ad
}

func gcm(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // key material is always 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}
