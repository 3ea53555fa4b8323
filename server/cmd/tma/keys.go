package main

// PLACEHOLDER — replaced by the key-operations work (issue 3).

import (
	"context"
	"errors"
	"io"
)

var errTODO = errors.New("not built yet")

func initKeysAndBlobs(ctx context.Context, c *Config, w io.Writer) error { return nil }
func cmdKeysRotate(ctx context.Context, c *Config, args []string, w io.Writer) error {
	return errTODO
}
func cmdKeysShred(ctx context.Context, c *Config, args []string, w io.Writer) error {
	return errTODO
}
func cmdBlobsGC(ctx context.Context, c *Config, args []string, w io.Writer) error { return errTODO }
