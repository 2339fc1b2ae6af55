package clikit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// maxInputBytes bounds a file or standard input named on the command
// line. The inputs are base job templates, job variables and JSON exported
// from the API (a pool, deployment, flow or flow run): kilobytes, or a few
// megabytes for a flow run with large parameters, which the worker refuses
// past 8 MiB anyway. A bound keeps a wrong file (a disk image, /dev/zero,
// an endless pipe) from eating the machine's memory before any check runs.
const maxInputBytes = 16 << 20

// Inputs reads the files named on the command line; "-" is Stdin, which
// can be read only once.
type Inputs struct {
	Stdin     io.Reader
	stdinUsed string // the flag that took standard input
}

// Read reads the file path that flag names, or standard input for "-".
func (in *Inputs) Read(flag, path string) ([]byte, error) {
	if path == "-" {
		if in.stdinUsed != "" {
			return nil, Invalid("--%s and --%s cannot both read standard input (-)", in.stdinUsed, flag)
		}
		in.stdinUsed = flag
		b, err := readAtMost(in.Stdin, maxInputBytes)
		if errors.Is(err, errTooLarge) {
			return nil, Invalid("--%s -: standard input holds more than %d MiB, the most ecsworker reads from it; "+
				"give the file that holds the JSON instead", flag, maxInputBytes>>20)
		}
		if err != nil {
			return nil, Invalid("--%s: read standard input: %v", flag, err)
		}
		return b, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, Invalid("--%s: %v", flag, err)
	}
	defer func() { _ = f.Close() }() // read-only: Close cannot lose data
	b, err := readAtMost(f, maxInputBytes)
	if errors.Is(err, errTooLarge) {
		return nil, Invalid("--%s %s: the file is larger than %d MiB, the most ecsworker reads for it; "+
			"check that it is the JSON file you meant", flag, path, maxInputBytes>>20)
	}
	if err != nil {
		return nil, Invalid("--%s: %v", flag, err)
	}
	return b, nil
}

var errTooLarge = errors.New("too large")

// readAtMost reads r to its end, or fails with errTooLarge once it has
// given more than limit bytes.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

// Object reads a JSON object from the file a flag names.
func (in *Inputs) Object(flag, path string) (*jsonv.Object, error) {
	if path == "" {
		return nil, nil
	}
	b, err := in.Read(flag, path)
	if err != nil {
		return nil, err
	}
	o, err := jsonv.DecodeObject(b)
	if err != nil {
		return nil, Invalid("--%s %s: %v", flag, path, err)
	}
	return o, nil
}

// InlineOrFile reads a flag that takes JSON inline or @FILE (@- for
// standard input), the convention of the AWS CLI's file:// and curl's @.
func (in *Inputs) InlineOrFile(flag, value string) (*jsonv.Object, error) {
	if value == "" {
		return nil, nil
	}
	data := []byte(value)
	source := "the value"
	if strings.HasPrefix(value, "@") {
		var err error
		if data, err = in.Read(flag, value[1:]); err != nil {
			return nil, err
		}
		source = value[1:]
	}
	o, err := jsonv.DecodeObject(data)
	if err != nil {
		return nil, Invalid("--%s: %s is not a JSON object: %v (give JSON inline, or @FILE to read a file)", flag, source, err)
	}
	return o, nil
}

// WriteJSON writes v as indented JSON, keeping its key order and number
// literals.
func WriteJSON(w io.Writer, v any) error {
	b, err := jsonv.MarshalIndent(v)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = w.Write(b)
	return err
}
