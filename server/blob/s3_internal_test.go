package blob

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/tma-portal/tma/server/tma"
)

func TestPartReader(t *testing.T) {
	const part = 4
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"Empty", "", []string{""}},
		{"Short", "ab", []string{"ab"}},
		{"ExactlyOne", "abcd", []string{"abcd"}},
		{"OneAndOneByte", "abcde", []string{"abcd", "e"}},
		{"ExactlyTwo", "abcdefgh", []string{"abcd", "efgh"}},
		{"TwoAndABit", "abcdefghij", []string{"abcd", "efgh", "ij"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// OneByteReader makes every short read visible.
			pr := &partReader{r: iotest.OneByteReader(strings.NewReader(tc.in))}
			buf := make([]byte, part)
			var got []string
			for {
				p, last, err := pr.next(buf)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(p))
				if last {
					break
				}
				if len(got) > len(tc.want) {
					break
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("parts = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestS3ConditionalPut checks that the write itself refuses an existing id,
// for the race that the HeadObject check in Put cannot see. gofakes3 honours
// If-None-Match on PutObject only, not on CompleteMultipartUpload.
func TestS3ConditionalPut(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	defer srv.Close()
	client, err := NewS3Client(ctx, S3Config{Endpoint: srv.URL, AccessKey: "k", SecretKey: "s", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	s, err := NewS3(client, "bkt", "")
	if err != nil {
		t.Fatal(err)
	}
	id := tma.NewID()
	if _, err := s.putObject(ctx, "test", id, []byte("first")); err != nil {
		t.Fatal(err)
	}
	_, err = s.putObject(ctx, "test", id, []byte("second"))
	if tma.ErrorCode(err) != tma.ECONFLICT {
		t.Fatalf("second putObject = %v, want ECONFLICT", err)
	}
	rc, err := s.Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	if got.String() != "first" {
		t.Errorf("blob = %q, want the first write kept", got.String())
	}
}
