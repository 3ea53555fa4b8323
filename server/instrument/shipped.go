package instrument

import (
	"embed"
	"io/fs"
	"path"
)

// ShippedFile is an instrument file that ships with TMA.
type ShippedFile struct {
	Name   string // file name, e.g. "trap18-screen.yaml"
	Source []byte
}

//go:embed shipped/*.yaml
var shipped embed.FS

// Shipped returns the instrument files that ship with TMA, by name. Every
// tenant gets them; each is valid (TestShippedInstrumentsValid).
func Shipped() []ShippedFile {
	names, err := fs.Glob(shipped, "shipped/*.yaml")
	if err != nil {
		panic(err) // the pattern is constant
	}
	out := make([]ShippedFile, 0, len(names))
	for _, name := range names {
		src, err := shipped.ReadFile(name)
		if err != nil {
			panic(err) // embedded files are always readable
		}
		out = append(out, ShippedFile{Name: path.Base(name), Source: src})
	}
	return out
}
