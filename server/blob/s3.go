package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tma-portal/tma/server/tma"
)

var _ tma.BlobStore = (*S3)(nil)

// MinPartSize is the smallest part S3 accepts in a multipart upload, other
// than the last.
const MinPartSize = 5 << 20

// DefaultPartSize trades memory per concurrent upload against the number of
// requests per blob.
const DefaultPartSize = 8 << 20

// Limits that S3 imposes on multipart uploads.
const (
	maxPartSize = 5 << 30
	maxParts    = 10000
)

// abortTimeout bounds the clean-up of a failed upload, which must run even
// when the caller's context is already cancelled.
const abortTimeout = 30 * time.Second

// S3Config says how to reach an S3-compatible service. Empty keys mean the
// SDK's default credential chain (environment, shared files, instance role).
type S3Config struct {
	Endpoint  string // empty for AWS itself, e.g. "http://minio:9000" otherwise
	Region    string // empty: from the environment, or us-east-1 with an Endpoint
	AccessKey string
	SecretKey string
	PathStyle bool // most self-hosted servers have no per-bucket host names
}

// NewS3Client builds a client that also works with S3-compatible servers:
// it computes and checks checksums only when an operation requires them,
// because many such servers reject the SDK's default trailing checksums.
// optFns run last, so that callers (and tests) can override anything.
func NewS3Client(ctx context.Context, c S3Config, optFns ...func(*s3.Options)) (*s3.Client, error) {
	const op = "blob.NewS3Client"
	var load []func(*config.LoadOptions) error
	if c.Region != "" {
		load = append(load, config.WithRegion(c.Region))
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return nil, &tma.Error{Code: tma.EINVALID, Op: op, Message: "S3 access key and secret key must be set together."}
	}
	if c.AccessKey != "" {
		load = append(load, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, tma.Wrap(op, err)
	}
	if cfg.Region == "" {
		if c.Endpoint == "" {
			return nil, &tma.Error{Code: tma.EINVALID, Op: op, Message: "S3 region required."}
		}
		cfg.Region = "us-east-1" // signing needs one; most servers ignore it
	}
	fns := []func(*s3.Options){func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.PathStyle
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}}
	return s3.NewFromConfig(cfg, append(fns, optFns...)...), nil
}

// S3 keeps blobs as objects named prefix/<id> in one bucket.
//
// A Put either creates the whole object or nothing: objects up to one part
// are sent with a single PutObject, larger ones with a multipart upload that
// is aborted on any failure, so that no invisible parts are left to pay for.
// As a backstop against a crash between the two, give the bucket a lifecycle
// rule that aborts incomplete multipart uploads after a day.
type S3 struct {
	client      *s3.Client
	bucket      string
	prefix      string
	partSize    int64
	conditional bool
}

// S3Option tunes an S3 store.
type S3Option func(*S3) error

// WithPartSize sets how much of a blob Put holds in memory at a time, and
// so the size of multipart upload parts. S3 needs at least MinPartSize;
// blobs up to this size go up in a single request.
func WithPartSize(n int64) S3Option {
	return func(s *S3) error {
		if n < MinPartSize || n > maxPartSize {
			return fmt.Errorf("part size %d outside [%d, %d]", n, MinPartSize, maxPartSize)
		}
		s.partSize = n
		return nil
	}
}

// WithoutConditionalWrites stops Put from sending If-None-Match: * for
// servers that reject it. Put then relies on its HeadObject check alone,
// which leaves a small window in which two Puts of one id both succeed.
func WithoutConditionalWrites() S3Option {
	return func(s *S3) error {
		s.conditional = false
		return nil
	}
}

// NewS3 returns a store in bucket, which must exist. A non-empty prefix
// keeps the blobs apart from other objects in the bucket; a trailing slash
// is added if missing.
func NewS3(client *s3.Client, bucket, prefix string, opts ...S3Option) (*S3, error) {
	const op = "blob.NewS3"
	if client == nil || bucket == "" {
		return nil, &tma.Error{Code: tma.EINVALID, Op: op, Message: "S3 client and bucket required."}
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	s := &S3{client: client, bucket: bucket, prefix: prefix, partSize: DefaultPartSize, conditional: true}
	for _, opt := range opts {
		if err := opt(s); err != nil {
			return nil, &tma.Error{Code: tma.EINVALID, Op: op, Message: "Invalid S3 blob store option.", Err: err}
		}
	}
	return s, nil
}

func (s *S3) key(id string) *string { return aws.String(s.prefix + id) }

// Put refuses an existing id up front with HeadObject, so that a conflict
// costs no upload, and again with If-None-Match on the write itself, so that
// a concurrent Put cannot slip in between.
func (s *S3) Put(ctx context.Context, id string, r io.Reader) (int64, error) {
	const op = "blob.S3.Put"
	if err := checkID(op, id); err != nil {
		return 0, err
	}
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: s.key(id)})
	if err == nil {
		return 0, errConflict(op, id)
	}
	if err := s3Error(op, id, err); tma.ErrorCode(err) != tma.ENOTFOUND {
		return 0, err
	}

	pr := &partReader{r: ctxReader{ctx: ctx, r: r}}
	buf := make([]byte, s.partSize)
	part, last, err := pr.next(buf)
	if err != nil {
		return 0, tma.Wrap(op, err)
	}
	if last {
		return s.putObject(ctx, op, id, part)
	}
	return s.putMultipart(ctx, op, id, pr, buf, part)
}

func (s *S3) putObject(ctx context.Context, op, id string, body []byte) (int64, error) {
	in := &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           s.key(id),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/octet-stream"),
	}
	if s.conditional {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := s.client.PutObject(ctx, in); err != nil {
		return 0, s3Error(op, id, err)
	}
	return int64(len(body)), nil
}

// putMultipart uploads first and the rest of pr one part at a time through
// buf, so that memory stays at one part whatever the blob's size.
func (s *S3) putMultipart(ctx context.Context, op, id string, pr *partReader, buf, first []byte) (n int64, err error) {
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      &s.bucket,
		Key:         s.key(id),
		ContentType: aws.String("application/octet-stream"),
	})
	if err != nil {
		return 0, s3Error(op, id, err)
	}
	uploadID := created.UploadId
	defer func() {
		if err == nil {
			return
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		_, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: &s.bucket, Key: s.key(id), UploadId: uploadID,
		})
		if aerr != nil {
			err = errors.Join(err, fmt.Errorf("abort multipart upload %s: %w", aws.ToString(uploadID), aerr))
		}
	}()

	var parts []types.CompletedPart
	part, last := first, false
	for num := int32(1); ; num++ {
		if num > maxParts {
			return 0, &tma.Error{Code: tma.ETOOLARGE, Op: op, Message: "Blob too large."}
		}
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        &s.bucket,
			Key:           s.key(id),
			UploadId:      uploadID,
			PartNumber:    aws.Int32(num),
			Body:          bytes.NewReader(part),
			ContentLength: aws.Int64(int64(len(part))),
		})
		if err != nil {
			return 0, s3Error(op, id, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		n += int64(len(part))
		if last {
			break
		}
		if part, last, err = pr.next(buf); err != nil {
			return 0, tma.Wrap(op, err)
		}
	}

	in := &s3.CompleteMultipartUploadInput{
		Bucket:          &s.bucket,
		Key:             s.key(id),
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if s.conditional {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, in); err != nil {
		return 0, s3Error(op, id, err)
	}
	return n, nil
}

// partReader cuts a stream into parts. It reads one byte ahead, because a
// part may only be sent once it is known whether it is the last one: a blob
// that fits in one part must go up with PutObject, and no part may be empty.
type partReader struct {
	r       io.Reader
	peek    byte
	hasPeek bool
}

// next fills buf as far as the stream allows and reports whether the stream
// ended with it.
func (p *partReader) next(buf []byte) (part []byte, last bool, err error) {
	i := 0
	if p.hasPeek {
		buf[0], p.hasPeek, i = p.peek, false, 1
	}
	n, err := io.ReadFull(p.r, buf[i:])
	n += i
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return buf[:n], true, nil
	} else if err != nil {
		return nil, false, err
	}
	var b [1]byte
	if _, err := io.ReadFull(p.r, b[:]); errors.Is(err, io.EOF) {
		return buf[:n], true, nil
	} else if err != nil {
		return nil, false, err
	}
	p.peek, p.hasPeek = b[0], true
	return buf[:n], false, nil
}

// Open streams the object; the caller must close it to free the connection.
func (s *S3) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	const op = "blob.S3.Open"
	if err := checkID(op, id); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.key(id)})
	if err != nil {
		return nil, s3Error(op, id, err)
	}
	return out.Body, nil
}

// OpenRange asks S3 for just the range so that only those bytes cross the
// network. It follows FS: an offset at the end of the blob gives an empty
// reader, an offset beyond it EINVALID. S3 answers both with 416, so a
// HeadObject tells them apart.
func (s *S3) OpenRange(ctx context.Context, id string, off, n int64) (io.ReadCloser, error) {
	const op = "blob.S3.OpenRange"
	if err := checkID(op, id); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, errRange(op)
	}
	if n == 0 {
		// HTTP cannot ask for zero bytes; still, the blob must exist.
		if _, err := s.stat(ctx, op, id); err != nil {
			return nil, err
		}
		return http.NoBody, nil
	}
	rng := fmt.Sprintf("bytes=%d-", off)
	if n > 0 && n <= math.MaxInt64-off {
		rng = fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.key(id), Range: &rng})
	if err == nil {
		return out.Body, nil
	}
	if err := s3Error(op, id, err); tma.ErrorCode(err) != tma.EINVALID {
		return nil, err
	}
	info, err := s.stat(ctx, op, id)
	if err != nil {
		return nil, err
	}
	if off == info.Size {
		return http.NoBody, nil
	}
	return nil, errRange(op)
}

// Stat reads the object's size and time without its body.
func (s *S3) Stat(ctx context.Context, id string) (tma.BlobInfo, error) {
	const op = "blob.S3.Stat"
	if err := checkID(op, id); err != nil {
		return tma.BlobInfo{}, err
	}
	return s.stat(ctx, op, id)
}

func (s *S3) stat(ctx context.Context, op, id string) (tma.BlobInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: s.key(id)})
	if err != nil {
		return tma.BlobInfo{}, s3Error(op, id, err)
	}
	return tma.BlobInfo{ID: id, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Delete removes the object. S3 itself accepts deleting a missing key; a
// 404 from a stricter server is accepted too.
func (s *S3) Delete(ctx context.Context, id string) error {
	const op = "blob.S3.Delete"
	if err := checkID(op, id); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: s.key(id)})
	if err := s3Error(op, id, err); err != nil && tma.ErrorCode(err) != tma.ENOTFOUND {
		return err
	}
	return nil
}

// List pages through the objects under the prefix. Keys that are not blob
// ids, such as objects in nested "directories", are skipped, so that a
// shared bucket cannot make List report foreign objects. Errors from fn are
// returned unchanged.
func (s *S3) List(ctx context.Context, fn func(tma.BlobInfo) error) error {
	const op = "blob.S3.List"
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket}
	if s.prefix != "" {
		in.Prefix = aws.String(s.prefix)
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return s3Error(op, "", err)
		}
		for _, obj := range page.Contents {
			id, ok := strings.CutPrefix(aws.ToString(obj.Key), s.prefix)
			if !ok || !tma.ValidID(id) {
				continue
			}
			info := tma.BlobInfo{ID: id, Size: aws.ToInt64(obj.Size), ModTime: aws.ToTime(obj.LastModified)}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// s3Error gives an SDK error its code. Callers see ENOTFOUND and ECONFLICT;
// EUNAVAILABLE marks what is worth retrying later (network, throttling, 5xx);
// anything else, such as denied access or a missing bucket, is a
// misconfiguration and stays EINTERNAL.
func s3Error(op, id string, err error) error {
	if err == nil {
		return nil
	}
	var (
		api  smithy.APIError
		send *smithyhttp.RequestSendError
		resp *smithyhttp.ResponseError
	)
	switch {
	case errors.Is(err, context.Canceled),
		errors.As(err, &api) && api.ErrorCode() == "NoSuchBucket":
		return tma.Wrap(op, err)
	case errors.As(err, &send), errors.Is(err, context.DeadlineExceeded):
		return &tma.Error{Code: tma.EUNAVAILABLE, Op: op, Message: msgUnavailable, Err: err}
	case !errors.As(err, &resp):
		return tma.Wrap(op, err)
	}
	if id != "" {
		err = fmt.Errorf("blob %s: %w", id, err)
	}
	switch code := resp.HTTPStatusCode(); {
	case code == http.StatusNotFound:
		return &tma.Error{Code: tma.ENOTFOUND, Op: op, Message: msgNotFound, Err: err}
	case code == http.StatusConflict || code == http.StatusPreconditionFailed:
		return &tma.Error{Code: tma.ECONFLICT, Op: op, Message: msgConflict, Err: err}
	case code == http.StatusRequestedRangeNotSatisfiable:
		return &tma.Error{Code: tma.EINVALID, Op: op, Message: msgRange, Err: err}
	case code == http.StatusTooManyRequests || code >= 500:
		return &tma.Error{Code: tma.EUNAVAILABLE, Op: op, Message: msgUnavailable, Err: err}
	}
	return tma.Wrap(op, err)
}
