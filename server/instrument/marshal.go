package instrument

import (
	"github.com/goccy/go-yaml"

	"github.com/tma-portal/tma/server/tma"
)

// Marshal writes inst as an instrument file that Parse reads back into an
// equal instrument. Fields are named and ordered as in README.md; optional
// fields with their zero value are left out.
func Marshal(inst *tma.Instrument) ([]byte, error) {
	return yaml.MarshalWithOptions(inst, yaml.Indent(2), yaml.IndentSequence(true))
}
